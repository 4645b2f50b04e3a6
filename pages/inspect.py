"""Inspect: how a trained run does on the test set: its confusion matrix, its mistakes shown as
pictures, its per-class scores, and its layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from nnkit import data, metrics, models, paths, plots
from nnkit.runs import RunRecord, StoreError
from nnkit.training.status import ACTIVE
from pages import ui

GALLERY_MAX = 40  # images shown for one confusion cell
GRID = 20  # images in the "first predictions" and "first mistakes" grids
SCALE = 4  # 28x28 shown as 112x112 with sharp pixels
BORDER = 3  # white pixels around each picture


@st.cache_resource(show_spinner="Loading the test set…", max_entries=4)
def _test_split(dataset: str, root: str, toy_size: int, toy_noise: float,
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images (uint8 (N, C, H, W); toy sets: float (N, 2)) and labels a run saw."""
    if data.info(dataset).kind == "toy":  # regenerated from the run's own settings
        b = data.load_bundle(dataset, toy_size=toy_size, toy_noise=toy_noise, seed=seed)
        return b.test_x, b.test_y
    return data.load_split(dataset, train=False, root=root)


def test_split(run: RunRecord) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = run.config
    return _test_split(cfg.dataset, str(paths.data_dir()), cfg.toy_size, cfg.toy_noise, cfg.seed)


def explain_missing(run: RunRecord) -> None:
    """Why a run has no test results yet, in words."""
    live = ui.manager().live(run.id)
    if run.status in ACTIVE or (live is not None and live.active):
        st.info(f"**{ui.plain(run.name)}** is still {run.status}: its test results appear "
                "here when it ends. Watch it learn on the Train page.")
        st.page_link("pages/train.py", label="Train page", icon=":material/fitness_center:")
    elif run.status == "diverged":
        st.error(f"**{ui.plain(run.name)}** diverged, so it has no test results. {run.message}")
    elif run.status == "failed":
        st.error(f"**{ui.plain(run.name)}** failed before it was evaluated: {run.message}")
    else:
        st.warning(f"**{ui.plain(run.name)}** ({run.status}) has no saved test results. "
                   f"{run.message}")


def set_cell(true: int, pred: int) -> None:
    """Show the images of one confusion cell (a callback: runs before the script)."""
    st.session_state.cm_true, st.session_state.cm_pred = true, pred


def on_cell_click() -> None:
    """A click on the confusion matrix selects the invisible marker at the cell's centre."""
    state = st.session_state.get("confusion")
    points = (state or {}).get("selection", {}).get("points", [])
    if points:
        set_cell(int(round(points[0]["y"])), int(round(points[0]["x"])))


def gallery(images: torch.Tensor, captions: list[str]) -> None:
    """Images in a row that wraps, each at a fixed size (a long caption would stretch it)."""
    st.image(plots.pictures(images.numpy(), SCALE, BORDER), caption=captions,
             width=SCALE * images.shape[-1] + 2 * BORDER)


def model_summary(store, run: RunRecord, info: data.DatasetInfo) -> None:
    st.subheader("The model")
    try:
        rows = models.summary(run.config.model_spec(), info.input_shape, info.num_classes)
    except ValueError as e:
        st.warning(f"No summary for this model: {e}")
        return
    st.dataframe(pd.DataFrame([{"layer": r.name, "type": r.layer,
                                "output": " × ".join(map(str, r.output_shape)),
                                "parameters": r.params} for r in rows]), hide_index=True)
    st.caption(f"{sum(r.params for r in rows):,} parameters")
    if store.checkpoint_path(run.id).exists():
        st.download_button("ONNX model (.onnx)", data=ui.onnx_file(store, run.id),
                           file_name=f"{run.id}.onnx", mime="application/octet-stream",
                           on_click="ignore", help=ui.ONNX_HELP, key="inspect_onnx")


st.title("Inspect")
store = ui.store()
run = ui.choose_run("inspect_run", "No runs yet. Train one on the Train page: its test "
                   "results, mistakes and weights show up here.")
try:
    info = data.info(run.dataset)
except data.DataError as e:  # a user dataset deleted since this run trained on it
    st.error(f"{ui.plain(run.name)} was trained on {ui.plain(run.dataset)}, which is gone: {e}")
    st.stop()
classes = info.classes  # plain text: in figures, tables, captions and selectboxes
md = [ui.plain(c) for c in classes]  # the same in markdown (buttons, headings)
k = info.num_classes

# --- the run's evaluation on the test set ----------------------------------------------------
try:
    ev = store.load_arrays(run.id, "evaluation")
    if ev is not None:
        preds = torch.from_numpy(ev["preds"].astype(np.int64))  # (N,)
        probs = torch.from_numpy(ev["probs"].astype(np.float32))  # (N, K)
        cm = torch.from_numpy(ev["confusion"].astype(np.int64))  # (K, K)
        loss, acc = float(ev["loss"]), float(ev["accuracy"])
except (StoreError, KeyError) as e:
    name = store.run_dir(run.id) / "evaluation.npz"
    why = str(e) if isinstance(e, StoreError) else f"{name}: damaged (it lacks {e})"
    st.error(f"This run's test results cannot be read: {why}")
    model_summary(store, run, info)
    st.stop()
if ev is None:
    explain_missing(run)
    model_summary(store, run, info)
    st.stop()

c = st.columns(4)
c[0].metric("Test accuracy", ui.pct(acc))
c[1].metric("Test loss", f"{loss:.4f}")
c[2].metric("Mistakes", f"{len(preds) - int(cm.diagonal().sum()):,} of {len(preds):,}")
c[3].metric("Status", run.status)

try:
    test_x, test_y = test_split(run)
    if len(test_y) != len(preds):
        st.error(f"The test set on disk has {len(test_y):,} items but this run was evaluated "
                 f"on {len(preds):,}: the images cannot be matched to its predictions.")
        test_x = test_y = None
except data.DataError as e:
    st.warning(f"The test images are not available, so no pictures can be shown: {e}")
    test_x = test_y = None
pictures = test_x is not None and info.kind == "image"

# the shown cell lives in the selectboxes' state; a click or a pair button sets it
if (st.session_state.get("cm_for") != run.id or st.session_state.get("cm_true") not in range(k)
        or st.session_state.get("cm_pred") not in range(k)):
    pairs = metrics.most_confused_pairs(cm, 1)
    set_cell(*(pairs[0][:2] if pairs else (0, 0)))
    st.session_state.cm_for = run.id

left, right = st.columns([3, 2], gap="large")
with left:
    mode = st.radio("Cells show", ["counts", "row %"], horizontal=True, key="cm_mode",
                    help="Row %: each row (a true class) sums to 100; the diagonal is recall.")
    percent = metrics.row_normalize(cm).numpy() if mode == "row %" else None
    cell = (st.session_state.cm_true, st.session_state.cm_pred)
    st.plotly_chart(plots.confusion_heatmap(cm.numpy(), classes, percent, highlight=cell),
                    key="confusion", on_select=on_cell_click, selection_mode="points")
    st.caption("Click a cell to see its images, or pick it here:")
    s1, s2 = st.columns(2)
    true = s1.selectbox("True label", range(k), key="cm_true", format_func=lambda i: classes[i])
    pred = s2.selectbox("Predicted label", range(k), key="cm_pred",
                        format_func=lambda i: classes[i])

with right:
    st.subheader("Most confused")
    pairs = metrics.most_confused_pairs(cm, 8)
    if not pairs:
        st.markdown("No mistakes at all.")
    for t, p, n in pairs:  # each sentence is a button that shows that cell
        st.button(f"{md[t]} read as {md[p]}: {n} time{'s' * (n != 1)}",
                  key=f"pair_{t}_{p}", type="tertiary", on_click=set_cell, args=(t, p))
    st.subheader("Per class")
    report = metrics.per_class_report(cm)
    st.dataframe(pd.DataFrame({"class": classes,
                               "precision": [100 * v for v in report["precision"]],
                               "recall": [100 * v for v in report["recall"]],
                               "F1": [100 * v for v in report["f1"]],
                               "support": [int(v) for v in report["support"]]}),
                 hide_index=True, column_config={
                     name: st.column_config.NumberColumn(format="%.1f %%")
                     for name in ("precision", "recall", "F1")})
    st.caption("Precision: of the images read as this class, the share that are. Recall: of "
               "the images of this class, the share read right. F1: their harmonic mean.")

# --- the images of the chosen cell -------------------------------------------------------------
with left:
    n_cell = int(cm[true, pred])
    verb = "read right" if true == pred else f"read as {md[pred]}"
    st.subheader(f"True {md[true]}, {verb}: {n_cell:,} image{'s' * (n_cell != 1)}")
    if n_cell == 0:
        st.markdown("No test image falls in this cell.")
    elif pictures:
        idx = metrics.mistake_indices(preds, test_y, probs, true, pred)[:GALLERY_MAX]
        conf = probs[idx, pred].tolist()
        gallery(test_x[idx], [f"#{i} true {classes[true]} → predicted {classes[pred]} "
                              f"({100 * p:.0f}\u00a0%)"
                              for i, p in zip(idx.tolist(), conf, strict=True)])
        more = f"the {len(idx)} most confident of {n_cell:,}" if n_cell > len(idx) else "all"
        st.caption(f"Showing {more}, most confident first (the number is the model's "
                   "confidence in its answer).")
    elif info.kind != "image":
        st.markdown("A toy 2-D set has points, not pictures, to show.")

if pictures:
    st.subheader("First test images")
    a, b = st.columns(2, gap="large")
    with a:
        st.markdown(f"**The first {GRID} predictions**")
        first = torch.arange(min(GRID, len(preds)))
        gallery(test_x[first], [f"{'✓' if p == y else '✗'} pred {classes[p]} · label "
                                f"{classes[y]}" for p, y in zip(preds[first].tolist(),
                                                                test_y[first].tolist(),
                                                                strict=True)])
    with b:
        st.markdown(f"**The first {GRID} mistakes**")
        wrong = (preds != test_y).nonzero().flatten()[:GRID]
        if len(wrong):
            gallery(test_x[wrong], [f"#{i} pred {classes[p]} · label {classes[y]}" for i, p, y
                                    in zip(wrong.tolist(), preds[wrong].tolist(),
                                           test_y[wrong].tolist(), strict=True)])
        else:
            st.markdown("No mistakes.")

model_summary(store, run, info)

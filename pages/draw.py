"""Draw: draw a digit, have trained networks classify it, and see every step in between."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageOps
from streamlit_drawable_canvas import st_canvas

from nnkit import data, ood, predict
from nnkit.jobs.manager import POLICY
from nnkit.predict import Predictor
from nnkit.preprocess import Preprocessed, naive_resize, preprocess_drawing
from nnkit.runs import RunRecord, StoreError
from pages import ui

CANVAS = 280  # px, the drawing surface (10x MNIST's 28)
THUMB = 112  # px a preprocessing step is shown at
MARGIN = (71, 85, 105)  # slate: the tile around an image that is not square
LOAD_ERRORS = (StoreError, ValueError, TypeError, KeyError, OSError)  # a checkpoint that won't load

st.title("Draw")
st.caption("Draw a digit with the mouse. On release, the network classifies it: the drawing is "
           "cropped, scaled to 20×20 and centred by mass in 28×28, the way MNIST's digits were "
           "made, so it looks like what the network learned from.")
store = ui.store()


@st.cache_resource(show_spinner=False, max_entries=8)
def load_predictor(run_id: str, checkpoint_stamp: float) -> Predictor:
    """A run's model, loaded once per checkpoint version (the stamp is its mtime)."""
    return Predictor.load(store, run_id)


@st.cache_resource(show_spinner="Indexing the training images for the nearest-image search…")
def training_images(dataset: str) -> tuple[predict.PixelIndex, np.ndarray, np.ndarray]:
    """The dataset's training images (N, 28, 28) uint8, their labels, and a search index."""
    x, y = data.load_split(dataset, train=True)
    images = x[:, 0].numpy()
    return predict.PixelIndex(images), images, y.numpy()


@st.cache_resource(show_spinner="Learning what this run's training digits look like to it…",
                   max_entries=4)
def familiarity_index(run_id: str, checkpoint_stamp: float, dataset: str) -> ood.FeatureIndex:
    """The run's features of its training digits, calibrated on held-out test digits (~2 s)."""
    _, train, _ = training_images(dataset)
    test, _ = data.load_split(dataset, train=False)
    return load_predictor(run_id, checkpoint_stamp).familiarity_index(train, test[:, 0].numpy())


def familiarity(p: Predictor, image28: np.ndarray) -> ood.Familiarity | None:
    """How much the drawing looks like the run's training digits; None without the data."""
    path = store.checkpoint_path(p.run_id)
    try:
        index = familiarity_index(p.run_id, path.stat().st_mtime if path.exists() else 0.0,
                                  p.dataset)
    except data.DataError:
        return None
    return p.familiarity(index, image28)


def thumb(img: np.ndarray, side: int = THUMB) -> np.ndarray:
    """An image in [0, 1] (or uint8) on a side x side tile, longer side filling it, pixels kept
    square; slate margins show where the image ends (a cropped 1 is tall and thin)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    resample = Image.Resampling.NEAREST if side >= max(a.shape[:2]) else Image.Resampling.BOX
    return np.asarray(ImageOps.pad(Image.fromarray(a).convert("RGB"), (side, side),
                                   method=resample, color=MARGIN))


def big_label(label: str, sure: bool) -> None:
    """The predicted class, large; grey when the network is not sure."""
    size = "8rem" if len(label) <= 2 else "2.5rem"
    color = "inherit" if sure else "#9ca3af"
    st.markdown(f"<div style='font-size:{size};font-weight:700;line-height:1.05;"
                f"color:{color}'>{html.escape(label)}{'' if sure else '?'}</div>",
                unsafe_allow_html=True)


# --- which runs classify ----------------------------------------------------------------------
def choose_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """A multiselect of usable runs (best MNIST first); runs deleted meanwhile are dropped."""
    ids, by_id = [r.id for r in runs], {r.id: r for r in runs}
    names = st.session_state.setdefault("draw_run_names", {})
    names.update({r.id: r.name for r in runs})
    wanted = st.query_params.get("run")  # "Draw digits for it" on the Train page links here
    if wanted in by_id and (wanted != st.session_state.get("draw_link")
                            or "draw_runs" not in st.session_state):  # a new visit by the link
        st.session_state.draw_runs = [wanted]
    st.session_state.draw_link = wanted
    if "draw_runs" not in st.session_state:
        st.session_state.draw_runs = ids[:1]
    gone = [i for i in st.session_state.draw_runs if i not in by_id]
    if gone:
        st.warning(" ".join(f"Run **{names.get(i, i)}** ({i}) is gone: it was deleted or can no "
                            "longer classify, so it was dropped." for i in gone))
        kept = [i for i in st.session_state.draw_runs if i in by_id]
        st.session_state.draw_runs = kept or ids[:1]
    chosen = st.multiselect("Classify with", ids, key="draw_runs", format_func=lambda i:
                            ui.run_label(by_id[i]),
                            help="Trained runs whose input is a 28×28 grey image. Choose "
                                 "several to compare their predictions.")
    return [by_id[i] for i in chosen]


def load_predictors(chosen: list[RunRecord]) -> list[Predictor]:
    """The chosen runs' models; one that cannot be loaded is named with its file and skipped."""
    out = []
    for rec in chosen:
        path = store.checkpoint_path(rec.id)
        try:
            out.append(load_predictor(rec.id, path.stat().st_mtime if path.exists() else 0.0))
        except LOAD_ERRORS as e:
            st.error(f"**{ui.plain(rec.name)}** cannot classify: {e}")
    return out


@st.fragment(run_every=1.0)
def training_progress(run_id: str) -> None:
    """The one-click run's progress, redrawn each second; the whole page reruns when it ends."""
    live = ui.manager().live(run_id)
    if live is None or not live.active:
        st.rerun()  # the page now finds the finished run and classifies the drawing
    if live.status in ("queued", "loading"):
        st.progress(0.0, text=f"{live.status}: {live.message or 'waiting for the trainer'}…")
        return
    total = max(1, live.total_steps)
    st.progress(min(1.0, live.step / total),
                text=f"training {live.config.model} · epoch {live.epoch}/{live.epochs} · step "
                     f"{live.step}/{total} · {ui.duration(live.train_seconds)}")


def offer_training() -> None:
    """No run can classify yet: train the default in one click and follow it live."""
    mgr = ui.manager()
    run_id = st.session_state.get("draw_training")
    live = mgr.live(run_id) if run_id else None
    if live is not None and live.active:
        training_progress(run_id)
        return
    if live is not None:  # it ended, yet left no usable model
        st.error(f"The training run ended **{live.status}**: {live.message}")
    st.info("No trained model can classify drawings yet. Train the default (fast-cnn on MNIST, "
            "about 99 % on the test set) here; your drawing is classified when it is done.")
    if st.button("Train the fast-cnn default (about 15 s)", type="primary"):
        st.session_state.draw_training = mgr.submit(predict.FIRST_RUN)
        st.rerun()
    st.caption(f"It trains in the training process: {POLICY}.")


# Everything above the canvas sits in one container: what it holds changes (runs removed,
# the one-click run finishing) while the canvas keeps its place in the page, so the browser
# keeps the drawing on it; moved, the canvas was drawn anew and blank while Python went on
# classifying the drawing no longer shown.
with st.container():
    runs = predict.usable_runs(store)
    if runs:
        chosen = choose_runs(runs)
        predictors = load_predictors(chosen)
        if not chosen:
            st.info("Choose at least one run to classify with.")
    else:
        offer_training()
        predictors = []

# --- the canvas and the verdict ---------------------------------------------------------------
st.session_state.setdefault("canvas_n", 0)
# The naive-resize toggle is not drawn while the canvas is blank; re-setting its key keeps
# Streamlit from dropping its state then, so it stays as the user left it.
st.session_state.naive = st.session_state.get("naive", False)


def clear_canvas() -> None:
    st.session_state.canvas_n += 1  # a new key: a new, empty canvas


draw_col, verdict_col = st.columns([1, 1.4], gap="large")
with draw_col:
    stroke = st.slider("Stroke width", 5, 40, 20, key="stroke_width",
                       help="MNIST strokes are about 2 px of 28: 20 px of this 280 px canvas.")
    canvas = st_canvas(stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS, width=CANVAS, drawing_mode="freedraw",
                       update_streamlit=True,  # the drawing reaches Python on mouse-up
                       return_image_data=True, key=f"canvas_{st.session_state.canvas_n}")
    st.button("Clear", on_click=clear_canvas, icon=":material/ink_eraser:")
    st.caption("Hover over the canvas for its toolbar: **undo**, redo and reset.")

drawing = canvas.image_data  # (H, W, 4) uint8, None before the first stroke
primary = predictors[0] if predictors else None
pre: Preprocessed = (primary.preprocess(drawing) if primary
                     else preprocess_drawing(drawing))

with verdict_col:
    if pre.is_blank:
        st.info("Draw a digit on the black square: one digit, 0 to 9, as large as the square.")
        st.stop()
    if primary is None:
        st.caption("Choose a run above to classify your drawing." if runs else
                   "Your drawing is classified as soon as a trained run is available.")
        st.stop()
    probs = primary.probs(pre.model_input)  # (num_classes,)
    top = int(np.argmax(probs))
    label, confidence = primary.classes[top], float(probs[top])
    label_md = ui.plain(label)  # a user dataset's class is a folder name: shown as plain text
    reasons = predict.doubts(pre, confidence)
    known = familiarity(primary, pre.model_input)
    strange = known is not None and known.unfamiliar
    big_label(label, sure=not reasons and not strange)
    st.markdown(f"Prediction: **{label_md}** · confidence {ui.pct(confidence, 1)} · "
                f"by {primary.name}")
    if strange:
        st.warning(f"This doesn't look like a digit the network knows. Its best guess is "
                   f"**{label_md}** ({ui.pct(confidence, 1)}), but a network trained on ten "
                   "digits has no answer for “none of these”: its confidence says nothing here.")
    if known is not None:
        nearest = "nearest" if ood.K == 1 else f"{ood.K}th nearest"
        st.caption(f"Likeness to its training digits: {known.score:.3f}, the distance (1 − "
                   f"cosine) from the drawing to the {nearest} of {ood.TRAIN_IMAGES:,} "
                   "training digits in the network's own features (the input of its last "
                   f"layer). Real test digits: typically {known.typical:.3f}, and "
                   f"{ood.KEEP:.0%} of them at most {known.threshold:.3f}"
                   + (" — this drawing is beyond that." if strange else "."))
    if reasons:
        st.warning(f"Not sure: {'; '.join(reasons)}. Its best guess is **{label_md}** "
                   f"({ui.pct(confidence, 1)}).")
    st.plotly_chart(predict.probability_bars(probs, primary.classes), key="probs")
    if len(predictors) > 1:
        rows = []
        for p in predictors:
            pp = p.probs(p.preprocess(drawing).model_input)
            rows.append({"run": p.name, "id": p.run_id, "predicted": p.classes[int(pp.argmax())],
                         "confidence": ui.pct(float(pp.max()), 1)})
        st.markdown("**Every chosen run**")
        st.dataframe(pd.DataFrame(rows), hide_index=True)

# --- what the network sees ----------------------------------------------------------------
st.subheader("What the network sees")
lo, hi = float(pre.model_input.min()), float(pre.model_input.max())
h, w = pre.cropped.shape
steps = [
    (thumb(pre.ink), f"1 · ink: the {pre.ink.shape[1]}×{pre.ink.shape[0]} canvas in grey"),
    (thumb(pre.cropped), f"2 · cropped to the ink's box ({w}×{h} px)"),
    (thumb(pre.scaled), f"3 · scaled so the longer side is 20 px ({pre.scaled.shape[1]}×"
                        f"{pre.scaled.shape[0]}, anti-aliased)"),
    (thumb(pre.centered), "4 · centred by mass in 28×28"),
    (thumb((pre.model_input - lo) / ((hi - lo) or 1.0)),
     f"5 · normalized: (x − {primary.mean}) / {primary.std}, values {lo:.2f} to {hi:.2f}"
     if primary.normalize else "5 · model input (this run does not normalize)"),
]
for col, (img, caption) in zip(st.columns(len(steps)), steps, strict=False):
    col.image(img, caption=caption, width=THUMB)

if st.toggle("Compare with a naive resize", key="naive",
             help="Squeeze the whole canvas to 28×28 without cropping or centring."):
    naive_probs = primary.probs(primary.naive(drawing))
    n_top = int(naive_probs.argmax())
    c1, c2, c3 = st.columns([1, 1, 2])
    c1.image(thumb(naive_resize(drawing, normalize=False)), width=THUMB,
             caption="naive: the canvas squeezed to 28×28")
    c1.markdown(f"Naive: **{ui.plain(primary.classes[n_top])}** · "
                f"{ui.pct(float(naive_probs[n_top]), 1)}")
    c2.image(thumb(pre.centered), width=THUMB, caption="preprocessed: cropped, 20×20, centred")
    c2.markdown(f"Preprocessed: **{label_md}** · {ui.pct(confidence, 1)}")
    c3.caption("MNIST digits fill a 20×20 box centred in 28×28. A naive resize keeps the "
               "drawing's size and position on the canvas, so a small or off-centre digit "
               "reaches the network as something it never saw in training.")

st.subheader(f"Where the network looked for “{label}”")
sal = predict.saliency(primary.model, pre.model_input, top)  # (28, 28) in [0, 1]
s1, s2 = st.columns([1, 2])
s1.image(thumb(predict.saliency_overlay(pre.centered, sal), 224), width=224,
         caption=f"saliency for class {label} over the 28×28 input")
s2.markdown("Brighter pixels are those where a small change would move the score of "
            f"“{label}” most: the absolute gradient of that class's logit with respect to each "
            "input pixel, scaled so the largest is 1. Gradients are noisy: read the pattern, not "
            "single pixels.")

st.subheader("Nearest training images")
try:
    index, train_images, train_labels = training_images(primary.dataset)
except data.DataError as e:
    st.info(f"The nearest-image search needs the training images: {e}")
else:
    idx, dist = predict.nearest_training_images(pre.centered, index, k=5)
    for col, i, d in zip(st.columns(5), idx, dist, strict=False):
        col.image(thumb(train_images[i], 84), width=84,
                  caption=f"label {primary.classes[int(train_labels[i])]} · distance {d:.3f}")
    st.caption(f"The 5 of {len(index):,} training images closest to the centred drawing "
               "(cosine distance on pixels: 0 is the same picture).")

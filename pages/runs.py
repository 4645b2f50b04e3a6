"""Runs: every stored run in one sortable table; compare curves, rename, delete, download."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pandas as pd
import streamlit as st

from nnkit import plots
from nnkit.classroom.access import NotAllowed
from nnkit.runs import EPOCH_FIELDS, RunRecord, StoreError
from nnkit.training.status import ACTIVE
from pages import ui

METRICS = {"test_accuracy": "Test accuracy", "train_loss": "Train loss",
           "val_accuracy": "Val accuracy"}
STEP_FIELDS = ("step", "epoch", "loss", "lr")  # the columns of RunStore.steps
COLUMNS = {  # how the table shows each column; the values stay numbers, so sorting is numeric
    "final test acc": st.column_config.NumberColumn("final test acc", format="%.2f %%"),
    "best test acc": st.column_config.NumberColumn("best test acc", format="%.2f %%"),
    "lr": st.column_config.NumberColumn("lr", format="%g"),
    "batch size": st.column_config.NumberColumn("batch size", format="%d"),
    "epochs": st.column_config.NumberColumn("epochs", format="%d",
                                            help="Epochs asked for (the status says if it "
                                                 "ended sooner)."),
    "weight decay": st.column_config.NumberColumn("weight decay", format="%g"),
    "train time": st.column_config.NumberColumn("train time", format="%.1f s",
                                                help="Training time in seconds, pauses "
                                                     "excluded."),
    "images/s": st.column_config.NumberColumn("images/s", format="%,d"),
    "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm",
                                               help="Local time."),
}


def percent(x: float | None) -> float | None:
    """0.9916 -> 99.16 (the table shows percentages and sorts them as numbers)."""
    return None if x is None else 100 * x


def table(runs: list[RunRecord], names: dict[str, str] | None) -> pd.DataFrame:
    """One row per run: what it is, how it was trained, how it did (in a class: by whom)."""
    return pd.DataFrame([{  # results first: they are what a wide table must not scroll away
        "name": r.name, **({"by": names.get(r.owner, "")} if names is not None else {}),
        "status": r.status,
        "final test acc": percent(r.final_test_accuracy),
        "best test acc": percent(r.best_test_accuracy),
        "dataset": r.dataset, "model": r.model,
        "optimizer": r.config.optimizer, "lr": r.config.lr, "batch size": r.config.batch_size,
        "epochs": r.config.epochs, "weight decay": r.config.weight_decay,
        "train time": r.train_seconds,
        "images/s": round(r.images_per_second) if r.images_per_second else None,
        "device": r.device or None, "node": r.node or None,  # where it trained
        "created": datetime.fromtimestamp(r.created),  # local time
        "id": r.id,
    } for r in runs])


def snapshot(runs: list[RunRecord]) -> tuple:
    """What changes in the table while runs train: ids, statuses, epochs done."""
    return tuple((r.id, r.status, r.epochs_done) for r in runs)


def curve_labels(runs: list[RunRecord]) -> list[str]:
    """Legend labels: the run's name, with its id when two runs share a name."""
    names = [r.name for r in runs]
    return [f"{r.name} ({r.id})" if names.count(r.name) > 1 else r.name for r in runs]


def choices(present: set[str], key: str) -> list[str]:
    """A filter's options: the values present, plus those picked (a run that finishes must
    not take its old status out from under the filter)."""
    return sorted(present | set(st.session_state.get(key, [])))


def flash(kind: str, text: str) -> None:
    """A message shown once, after the rerun that follows an action."""
    st.session_state.runs_flash = (kind, text)


def watch(drawn: tuple, active_ids: list[str]) -> None:
    """While a run is active: say how far it is, and redraw the page when a run starts, ends
    or finishes an epoch."""
    try:
        now = snapshot(ui.store().unguarded.list())
    except StoreError:
        return  # the page below already shows the store's error on the next full run
    if now != drawn:
        st.rerun()
    lives = [live for live in map(ui.manager().live, active_ids) if live and live.active]
    progress = "; ".join(f"**{ui.plain(live.name)}** {live.status}, "
                         f"epoch {live.epoch}/{live.epochs}, "
                         f"step {live.step}/{live.total_steps}" for live in lives)
    st.caption(f"⏳ {len(active_ids)} run(s) queued or training, the table updates by itself"
               + (f": {progress}." if progress else "."))


st.title("Runs")
kind, text = st.session_state.pop("runs_flash", (None, None))
if kind:
    getattr(st, kind)(text)

store = ui.store().unguarded  # this page names each failure where it happens
runs = ui.list_runs()

if not runs:
    st.info("No runs yet. Train a network and it shows up here, with its curves, "
            "its checkpoint and its metrics to download.")
    st.page_link("pages/train.py", label="Train your first network",
                 icon=":material/fitness_center:")
    st.stop()

# --- filters ----------------------------------------------------------------------------
f1, f2, f3, f4 = st.columns([3, 2, 2, 1], vertical_alignment="bottom")
query = f1.text_input("Filter", placeholder="name, model or id contains…", key="runs_filter")
statuses = f2.multiselect("Status", choices({r.status for r in runs}, "runs_status"),
                          key="runs_status")
datasets = f3.multiselect("Dataset", choices({r.dataset for r in runs}, "runs_dataset"),
                          key="runs_dataset")
f4.button("Refresh", help="Read the store again.")
q = query.strip().lower()
shown = [r for r in runs
         if (not q or q in r.name.lower() or q in r.model.lower() or q in r.id.lower())
         and (not statuses or r.status in statuses)
         and (not datasets or r.dataset in datasets)]

active = [r for r in runs if r.status in ACTIVE]
if active:  # every 2 s while one trains; every 10 s while they all wait (a class: 30 pages)
    every = 10.0 if all(r.status == "queued" for r in active) else 2.0
    st.fragment(watch, run_every=every)(snapshot(runs), [r.id for r in active])
if not shown:
    st.info(f"No run matches these filters ({len(runs)} run(s) stored).")
    st.stop()

# The selection holds row positions: a new key whenever the rows change, so a run added on top
# (or a filter) never turns a selection into other runs.
rows_key = "runs_table_" + hashlib.sha1(" ".join(r.id for r in shown).encode()).hexdigest()[:10]
room = ui.classroom()
event = st.dataframe(table(shown, room.names() if room else None), key=rows_key,
                     on_select="rerun", selection_mode="multi-row",
                     hide_index=True, column_config=COLUMNS, placeholder="-")
selected = [shown[i] for i in event.selection.rows if i < len(shown)]
st.caption(f"{len(shown)} of {len(runs)} run(s). Click a header to sort; tick rows to compare "
           "their curves and to act on them below.")

# --- curves of the selected runs ---------------------------------------------------------
st.subheader("Compare")
if not selected:
    st.info("Select runs in the table (the boxes on the left) to overlay their curves.")
else:
    try:
        histories = [store.epochs(r.id) for r in selected]
    except StoreError as e:
        st.error(f"The metrics cannot be read: {e}")
        histories = []
    if histories:
        offered = [k for k in METRICS if k != "val_accuracy"
                   or any(h.get(k) is not None for hist in histories for h in hist)]
        if st.session_state.get("runs_metric") not in offered:  # e.g. no val curve any more
            st.session_state.runs_metric = offered[0]
        key = st.segmented_control("Metric", offered, required=True, format_func=METRICS.get,
                                   key="runs_metric") or offered[0]
        datasets_sel = {r.dataset for r in selected}
        fig = plots.overlay(list(zip(curve_labels(selected), histories, strict=True)), key,
                            dataset=datasets_sel.pop() if len(datasets_sel) == 1 else "")
        if max((len(h) for h in histories), default=0) <= 20:
            fig.update_xaxes(dtick=1)  # whole epochs
        st.plotly_chart(fig, key="runs_overlay")
        if key == "test_accuracy" and any(not r.config.eval_each_epoch for r in selected):
            st.caption("Runs trained without *Test every epoch* have no per-epoch test curve.")

# --- one run: rename, delete, download ----------------------------------------------------
st.subheader("One run")
candidates = {r.id: r for r in (selected or shown)}
if st.session_state.get("runs_pick") not in candidates:  # the first selected, or the newest
    st.session_state.runs_pick = next(iter(candidates))
run = candidates[st.selectbox("Run" + (" (from the selection)" if selected else ""),
                              list(candidates), key="runs_pick",
                              format_func=lambda i: ui.run_label(candidates[i]))]
if run.message:
    st.caption(f"{run.status}: {run.message}")
a1, a2, a3 = st.columns(3, gap="large")
mine = store.can_change(run.owner)  # checked again on the server when changed

with a1:
    st.markdown("**Rename**")
    if not mine:
        st.caption(f"This run is {ui.plain(ui.owner_name(run.owner))}'s: you can read it, "
                   "not change it.")
    new_name = st.text_input("New name", value=run.name, key=f"name_{run.id}")
    if st.button("Rename", key="rename", disabled=not mine):
        try:
            store.rename(run.id, new_name)
        except ValueError as e:
            st.error(f"Not renamed: {e}.")
        except (StoreError, NotAllowed) as e:
            st.error(f"Not renamed: {ui.plain(e)}")
        else:
            flash("success", f"Renamed to **{ui.plain(new_name.strip())}**.")
            st.rerun()

with a2:
    st.markdown("**Delete**")
    st.caption("Removes the run, its metrics and its checkpoint"
               + (" (it is stopped first)." if run.status in ACTIVE else "."))
    sure = st.checkbox("Yes, delete this run", key=f"confirm_delete_{run.id}", disabled=not mine)
    if st.button("Delete", key="delete", type="primary", disabled=not (sure and mine)):
        try:
            with st.spinner("Stopping and deleting…" if run.status in ACTIVE else "Deleting…"):
                ui.manager().unguarded.delete(run.id)
        except (StoreError, OSError, NotAllowed) as e:
            st.error(f"Not deleted: {ui.plain(e)}")
        else:
            flash("success", f"Deleted **{ui.plain(run.name)}** ({run.id}).")
            st.rerun()

with a3:
    st.markdown("**Download**")
    ckpt = store.checkpoint_path(run.id)
    if ckpt.exists():
        st.download_button("Checkpoint (.pt)", data=ckpt.read_bytes, file_name=f"{run.id}.pt",
                           mime="application/octet-stream", on_click="ignore",
                           help="The trained weights and the model spec (torch.load with "
                                "weights_only=True reads it).")
        st.download_button("ONNX model (.onnx)", data=ui.onnx_file(store, run.id),
                           file_name=f"{run.id}.onnx", mime="application/octet-stream",
                           on_click="ignore", help=ui.ONNX_HELP)
    else:
        st.caption("No checkpoint: this run saved none (yet).")
    try:
        epochs_csv = pd.DataFrame(store.epochs(run.id), columns=EPOCH_FIELDS).to_csv(index=False)
        steps_csv = pd.DataFrame(store.steps(run.id), columns=STEP_FIELDS).to_csv(index=False)
    except StoreError as e:
        st.error(f"The metrics cannot be read: {e}")
    else:
        st.download_button("Metrics per epoch (.csv)", data=epochs_csv,
                           file_name=f"{run.id}-epochs.csv", mime="text/csv", on_click="ignore")
        st.download_button("Loss per step (.csv)", data=steps_csv,
                           file_name=f"{run.id}-steps.csv", mime="text/csv", on_click="ignore")

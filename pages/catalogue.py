"""Catalogue: the seed assignments' experiments, each a card with the report's figure and ours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from nnkit import catalogue, data, paths, playground, plots, toy
from nnkit.catalogue import Experiment
from nnkit.config import RunConfig
from nnkit.jobs.manager import POLICY
from nnkit.runs import RunRecord, StoreError
from nnkit.training.runner import load_model
from nnkit.training.status import ACTIVE
from pages import ui

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

st.title("Catalogue")
st.markdown(
    "Every experiment of the seed assignments, ready to run again. **Run** queues an "
    "experiment's runs as one job (runs that differ only in learning rate, weight decay or seed "
    "train at once); when they finish, the card shows our figure beside the one the report "
    f"got. Each run opens live on the Train page. The queue: {POLICY}."
)
ui.where_jobs_train()
mgr, store = ui.manager(), ui.store()
mgr.warm(delay=3.0)  # as on Train: the training process starts while a card is read


def link(page: str, label: str, hint: str, **kwargs) -> None:
    """A link to a page of the app, or a hint in words when the navigation lacks that page."""
    try:
        st.page_link(page, label=label, **kwargs)
    except StreamlitPageNotFoundError:
        st.caption(hint)


def describe(cfg: RunConfig) -> str:
    """A config in one line: model, optimizer, rate, batch, epochs."""
    spec = cfg.model_spec()
    model = cfg.model if cfg.model != "custom" else (
        f"custom {spec.kind.upper()} {'-'.join(str(b.channels) for b in spec.conv)}"
        f"{' ' if spec.conv else ''}{'-'.join(map(str, spec.hidden))}")
    extra = [f"wd {cfg.weight_decay:g}" if cfg.weight_decay else "",
             "normalized" if cfg.normalize and data.info(cfg.dataset).kind == "image" else "",
             f"first {cfg.train_subset:,}" if cfg.train_subset else "",
             f"{cfg.val_fraction:.0%} validation" if cfg.val_fraction else ""]
    return " · ".join([model, f"{cfg.optimizer} lr {cfg.lr:g}", f"batch {cfg.batch_size}",
                       f"{cfg.epochs} epochs", *[e for e in extra if e]])


def latest_runs(exp: Experiment, records: list[RunRecord]) -> dict[str, RunRecord]:
    """The newest stored run of each of the experiment's labels (records come newest first)."""
    names = {exp.run_name(label): label for label, _ in exp.runs}
    found: dict[str, RunRecord] = {}
    for rec in records:
        label = names.get(rec.name)
        if rec.group_name == exp.group and label and label not in found:
            found[label] = rec
    return found


def submit(exp: Experiment) -> None:
    """Queue the experiment's runs as one job (runs that can train at once do)."""
    mgr.submit_group(exp.title, exp.group, [(exp.run_name(label), cfg) for label, cfg in exp.runs])


def stop(exp: Experiment) -> None:
    """Stop the experiment's queued and training runs (each keeps what it learned)."""
    for rec in latest_runs(exp, store.list()).values():
        if mgr.can_change(rec.owner):  # in a class: one's own (the teacher: any)
            mgr.stop(rec.id)


def status_of(rec: RunRecord) -> str:
    """The run's status; while it trains in this process, with its epoch."""
    live = mgr.live(rec.id)
    if live is not None and live.active:
        if live.status in ("running", "paused") and live.epochs:
            return f"{live.status} · epoch {live.epoch}/{live.epochs}"
        return live.status
    return rec.status


def results_table(exp: Experiment, runs: dict[str, RunRecord]) -> None:
    """Run, status, our accuracies, the report's figure; then a live-view link per run."""
    rows = []
    for label, _ in exp.runs:
        rec = runs.get(label)
        last = store.epochs(rec.id)[-1:] if rec else []
        epoch = last[0] if last else {}
        rows.append({"run": label, "status": status_of(rec) if rec else "not run",
                     "our test accuracy": ui.pct(rec.final_test_accuracy if rec else None),
                     "train accuracy": ui.pct(epoch.get("train_accuracy")),
                     "validation accuracy": ui.pct(epoch.get("val_accuracy")),
                     "reported": exp.reported_for(label)})
    table = pd.DataFrame(rows)
    if (table["validation accuracy"] == "-").all():
        table = table.drop(columns="validation accuracy")
    st.dataframe(table, hide_index=True)
    failed = [(label, rec) for label, rec in runs.items() if rec.status == "failed"]
    for label, rec in failed:
        st.error(f"**{label}** failed: {rec.message}")
    linked = [(label, runs[label]) for label, _ in exp.runs if label in runs]
    cols = st.columns(max(1, len(linked)))
    for col, (label, rec) in zip(cols, linked, strict=False):  # one column when none
        with col:
            link("pages/train.py", f"{label}: curves", f"{label}: run {rec.id}",
                 icon=":material/trending_up:", query_params={"run": rec.id})


def accuracy_charts(exp: Experiment, runs: dict[str, RunRecord]) -> None:
    """Test accuracy per epoch of every run; train against validation where runs hold some out."""
    histories = [(label, store.epochs(runs[label].id)) for label, _ in exp.runs if label in runs]
    if not any(h for _, h in histories):
        return
    dataset = exp.runs[0][1].dataset
    left, right = st.columns(2)
    left.plotly_chart(plots.overlay(histories, "test_accuracy", dataset), key=f"{exp.key}_test")
    if any(exp.configs()[label].val_fraction for label, _ in histories):
        parts = [(f"{label} · {part}", [{"epoch": h["epoch"], "accuracy": h[f"{part}_accuracy"]}
                                         for h in hist])
                 for label, hist in histories for part in ("train", "val")]
        fig = plots.overlay(parts, "accuracy")
        fig.update_layout(title="Train against validation accuracy")
        right.plotly_chart(fig, key=f"{exp.key}_gap")


def boundaries(exp: Experiment, runs: dict[str, RunRecord]) -> None:
    """The decision boundary each finished toy run learned, over its training and test points."""
    done = [(label, runs[label]) for label, _ in exp.runs
            if label in runs and runs[label].status in ("finished", "stopped")]
    cols = st.columns(max(1, len(done)))
    for col, (label, rec) in zip(cols, done, strict=False):  # one column when none
        cfg = rec.config
        try:
            model, _, _ = load_model(store, rec.id)
        except (StoreError, OSError) as e:
            col.warning(f"{label}: {e}")
            continue
        bundle = data.load_bundle(cfg.dataset, toy_size=cfg.toy_size, toy_noise=cfg.toy_noise,
                                  seed=cfg.seed)
        x_tr, y_tr = bundle.train_x.numpy(), bundle.train_y.numpy()
        x_te, y_te = bundle.test_x.numpy(), bundle.test_y.numpy()
        xx, yy, points = toy.decision_grid(toy.data_bounds(np.concatenate([x_tr, x_te])), 70)
        probs = playground.grid_probabilities(model, points)
        col.plotly_chart(playground.boundary_figure(xx, yy, probs, x_tr, y_tr, x_te, y_te,
                                                    title=label, height=380),
                         key=f"{exp.key}_{label}_map")


def results(exp: Experiment, records: list[RunRecord]) -> None:
    """Everything the card shows about its runs."""
    runs = latest_runs(exp, records)
    if not runs:
        return
    results_table(exp, runs)
    if exp.kind == "toy":
        boundaries(exp, runs)
    else:
        accuracy_charts(exp, runs)


@st.fragment(run_every=2.0)
def live_results(exp: Experiment) -> None:
    """results(), redrawn every 2 s while the experiment's runs train."""
    records = store.list()
    runs = latest_runs(exp, records)
    if not any(status_of(r).split(" ")[0] in ACTIVE for r in runs.values()):
        st.rerun()  # they have all ended: redraw the page once, without the timer
    results(exp, records)


def study(exp: Experiment) -> tuple[str, str, list[dict], list[int], str]:
    """The newest palindrome study: (job id, status, results, lengths, a line of progress);
    live from the queue while it trains here, else from the store."""
    jobs = [j for j in mgr.jobs("palindrome") if mgr.can_change(j.owner)]
    if jobs:
        job = next((j for j in reversed(jobs) if j.active), jobs[-1])
        lengths = list(job.settings.get("lengths", ()))
        if job.active:
            ahead = mgr.queue_position(job.id)
            line = (f"waiting: {ahead} job{'s' * (ahead != 1)} ahead" if ahead > 0 else
                    f"training length {job.current} · epoch {job.epoch}/"
                    f"{job.settings.get('epochs')} · {len(job.results)}/{len(lengths)} done"
                    if job.current else "starting")
            return job.id, job.status, job.results, lengths, line
    stored = [j for j in store.list_jobs("palindrome") if mgr.can_change(j.owner)]
    if not stored:
        return "", "idle", [], [], ""
    rec = stored[0]
    return (rec.id, rec.status, rec.result.get("results", []),
            list(rec.result.get("lengths", rec.spec.get("lengths", ()))), rec.message)


def palindrome_card(exp: Experiment) -> None:
    """The RNN study: one job in the queue, plotted as each length ends."""
    settings = dict(exp.settings)
    lengths = settings.pop("lengths")
    job_id, status, _, _, _ = study(exp)
    active = status in ACTIVE
    b1, b2, _ = st.columns([1, 1, 4])
    refused = None if active else mgr.refusal([])  # the class's caps
    b1.button("Run" if status == "idle" else "Run again", key=f"run_{exp.key}",
              type="primary", disabled=active or bool(refused), on_click=mgr.submit_study,
              help=refused,
              args=(exp.title, dict(exp.settings)))
    if active:
        b2.button("Stop", key=f"stop_{exp.key}", on_click=mgr.stop_job, args=(job_id,),
                  help="The length training now keeps its epochs; the others do not start.")
    st.caption(f"Lengths {', '.join(map(str, lengths))}; "
               + ", ".join(f"{k} {v}" for k, v in settings.items())
               + f". Trains in the training process: {POLICY}.")
    if active:
        live_palindrome(exp)
    else:
        palindrome_view(exp)


def palindrome_view(exp: Experiment) -> None:
    """The study's progress, its accuracy-against-length figure and table."""
    _, status, done, lengths, line = study(exp)
    if status == "idle":
        return
    if status in ACTIVE:
        st.progress(len(done) / max(1, len(lengths)), text=line)
    elif status in ("failed", "interrupted"):
        st.error(f"The study {status}: {line}")
    else:
        st.caption(f"{status}: {line}")
    if done:
        st.plotly_chart(playground.accuracy_length_figure(done, lengths), key="palindrome_acc")
        st.dataframe(pd.DataFrame([{"length": r["length"],
                                    "our test accuracy": ui.pct(r["test_accuracy"]),
                                    "epochs": len(r["epochs"]),
                                    "seconds": round(r["seconds"], 1)} for r in done]),
                     hide_index=True)


@st.fragment(run_every=1.0)
def live_palindrome(exp: Experiment) -> None:
    """palindrome_view(), redrawn every second while the study trains."""
    if study(exp)[1] not in ACTIVE:
        st.rerun()
    palindrome_view(exp)


def cifar_hint() -> None:
    """Where CIFAR-10's files go when they cannot be downloaded."""
    root = paths.data_dir()
    folder = data.files_folder("cifar10", root)
    if all((folder / name).is_file() for name in data.CIFAR_FILES):  # names only: no MD5 read
        st.caption(f"CIFAR-10 files found in {folder}.")
        return
    st.info(
        f"CIFAR-10 is not in the data folder yet. With internet the run downloads it "
        f"(163 MB). Offline: take **cifar-10-python.tar.gz** (the *python version*) from "
        f"{CIFAR_URL} and unpack it into `{root}`, so that "
        f"`{folder}` holds data_batch_1 … data_batch_5, test_batch and "
        f"batches.meta (torchvision checks their MD5 sums)."
    )


def card(number: int, exp: Experiment, records: list[RunRecord]) -> None:
    """One experiment: its story, the report's figure, Run, and what its runs got."""
    st.subheader(f"{number}. {exp.title}")
    st.markdown(exp.story)
    st.markdown(f"**The report:** {exp.reported}")
    if exp.kind == "palindrome":
        palindrome_card(exp)
        return
    with st.expander("Runs and settings"):
        st.dataframe(pd.DataFrame([{"run": label, "settings": describe(cfg)}
                                   for label, cfg in exp.runs]), hide_index=True)
    if exp.key == "cifar10":
        cifar_hint()
    if exp.kind == "sweep":
        link("pages/experiments.py", "Sweep it on the Experiments page", "The Experiments page "
             "sweeps a setting over many runs and overlays their curves.",
             icon=":material/science:")
    if exp.kind == "toy":
        link("pages/playground.py", "Train one live in the Playground",
             "The Playground trains such networks live on any toy set.", icon=":material/tune:")
    runs = latest_runs(exp, records)
    active = any(status_of(r).split(" ")[0] in ACTIVE for r in runs.values())
    refused = None if active else mgr.refusal([cfg for _, cfg in exp.runs])  # the class's caps
    b1, b2, _ = st.columns([1, 1, 4])
    b1.button("Run" if not runs else "Run again", key=f"run_{exp.key}", type="primary",
              disabled=active or bool(refused), on_click=submit, args=(exp,), help=refused)
    if active:
        b2.button("Stop", key=f"stop_{exp.key}", on_click=stop, args=(exp,))
        live_results(exp)
    else:
        results(exp, records)


all_records = store.list()  # newest first; read once for every card
for i, exp in enumerate(catalogue.EXPERIMENTS.values(), 1):
    with st.container(border=True):
        card(i, exp, all_records)

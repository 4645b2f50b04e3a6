"""Experiments: one setting at several values, each trained a few times, with error bars."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from nnkit import data, models, plots
from nnkit.config import OPTIMIZERS, SCHEDULES, SWEEP_PARAMS, ConfigError, RunConfig
from nnkit.jobs.manager import POLICY
from nnkit.runs import RunRecord
from nnkit.training import sweep
from pages import ui

SOURCES = ("A preset", "A saved run")
KINDS = {"list": "List", "log": "Log range", "linear": "Linear range"}
VALUES = {  # what each setting's values start as: (kind, start, stop, count, list text)
    "weight_decay": ("log", 1e-6, 1e-3, 4, "1e-6, 1e-5, 1e-4, 1e-3"),
    "lr": ("log", 1e-3, 1e-1, 3, "0.001, 0.01, 0.1"),
    "batch_size": ("list", 32.0, 256.0, 4, "32, 64, 128, 256"),
    "epochs": ("list", 1.0, 4.0, 3, "1, 2, 4"),
    "train_subset": ("list", 1000.0, 20000.0, 3, "1000, 5000, 20000"),
    "dropout": ("linear", 0.0, 0.5, 3, "0, 0.25, 0.5"),
    "hidden": ("list", 32.0, 128.0, 3, "32, 64, 128"),
}
DEFAULT = RunConfig()
HINTON = {"exp_source": SOURCES[0], "exp_dataset": "mnist", "exp_model": "mlp-500-300",
          "exp_optimizer": "sgd", "exp_schedule": "cosine", "exp_lr": 0.1, "exp_wd": 1e-4,
          "exp_bs": 128, "exp_epochs": 40, "exp_param": "weight_decay", "exp_kind": "log",
          "exp_start": 1e-6, "exp_stop": 1e-3, "exp_count": 5, "exp_replicates": 3}


def set_values_for(param: str) -> None:
    """Fill the value fields with the setting's usual values."""
    kind, start, stop, count, text = VALUES[param]
    st.session_state.update(exp_kind=kind, exp_start=start, exp_stop=stop, exp_count=count,
                            exp_values_text=text)


def copy_run_config() -> None:
    """Take the chosen saved run's settings into the fields."""
    rec = ui.store().get(st.session_state.get("exp_run", ""))
    if rec is not None:
        c = rec.config
        st.session_state.update(exp_optimizer=c.optimizer, exp_schedule=c.schedule,
                                exp_lr=float(c.lr), exp_wd=float(c.weight_decay),
                                exp_bs=int(c.batch_size), exp_epochs=int(c.epochs))


def results(result: sweep.SweepResult, dataset: str, key: str, ended: bool = False) -> None:
    """The error-bar chart and the table of a sweep's finished members."""
    agg = result.aggregate()
    if not agg:
        st.info("No member finished, so there is nothing to compare (stopped, diverged and "
                "failed members are left out)." if ended else
                "No member has finished yet: results appear as members finish.")
        return
    best = sweep.best_value(agg)
    fig = plots.sweep_errorbars(agg, SWEEP_PARAMS.get(result.param, result.param),
                                sweep.log_axis(result.param, [a["value"] for a in agg]),
                                dataset, best)
    st.plotly_chart(fig, key=f"{key}_chart")
    st.dataframe(pd.DataFrame([{
        result.param: f"{a['value']:g}" + ("  ★" if a["value"] == best else ""),
        "mean": ui.pct(a["mean"]), "std": ui.pct(a["std"]), "n": a["n"],
        "replicates": "  ".join(ui.pct(v) for v in a["values"])} for a in agg]),
        hide_index=True, key=f"{key}_table")
    st.caption("Final test accuracy per value: mean ± sample standard deviation (n − 1); "
               "★ the best mean. Stopped, diverged and failed members are left out.")


st.title("Experiments")
st.caption("Vary one setting, train every value a few times with different seeds, and see how "
           "much of a difference is real. Every member is an ordinary run on the Runs page.")
store, mgr = ui.store(), ui.manager()
mgr.warm(delay=3.0)  # as on Train: the training process starts while the form is filled in
runs = ui.list_runs()

defaults = {"exp_source": SOURCES[0], "exp_dataset": "mnist", "exp_model": "mlp-64-64",
            "exp_optimizer": DEFAULT.optimizer, "exp_schedule": DEFAULT.schedule,
            "exp_lr": DEFAULT.lr, "exp_wd": DEFAULT.weight_decay, "exp_bs": DEFAULT.batch_size,
            "exp_epochs": DEFAULT.epochs, "exp_param": "weight_decay", "exp_replicates": 3}
for key, value in defaults.items():
    if key not in st.session_state:
        st.session_state[key] = value
usual = dict(zip(("exp_kind", "exp_start", "exp_stop", "exp_count", "exp_values_text"),
                 VALUES[st.session_state.exp_param], strict=False))
for key, value in usual.items():  # also when Streamlit dropped a field it did not draw
    if key not in st.session_state:
        st.session_state[key] = value

# --- the sweep's settings -----------------------------------------------------------------
p1, p2 = st.columns([1, 3], vertical_alignment="center")
p1.button("Hinton's weight-decay sweep", icon=":material/school:", on_click=st.session_state.update,
          kwargs=HINTON, help="Fill the form; nothing starts until you press Run.")
p2.caption("LeCun's table lists 784-500-300-10 with weight decay at 98.47 %: mlp-500-300 on "
           "MNIST, SGD with a cosine schedule, weight decay 1e-6 … 1e-3 (five log-spaced "
           "values), 3 replicates, 40 epochs.")

source = st.radio("Start from", SOURCES, key="exp_source", horizontal=True)
c1, c2 = st.columns(2)
if source == SOURCES[1] and runs:
    by_id = {r.id: r for r in runs}
    if st.session_state.get("exp_run") not in by_id:
        st.session_state.exp_run = runs[0].id
        copy_run_config()
    rec: RunRecord = by_id[c1.selectbox("Saved run", list(by_id), key="exp_run",
                                        format_func=lambda i: ui.run_label(by_id[i]),
                                        on_change=copy_run_config)]
    base0 = rec.config
    c2.caption(f"{rec.config.model} on {rec.config.dataset}; its other settings are kept.")
else:
    if source == SOURCES[1]:
        c1.info("No saved runs yet: start from a preset.")
    names = data.names()
    if st.session_state.get("exp_dataset") not in names:  # a user dataset deleted meanwhile
        st.session_state.pop("exp_dataset", None)
    dataset = c1.selectbox("Dataset", names, key="exp_dataset",
                           format_func=lambda n: data.info(n).title)
    presets = [m for m in models.PRESETS if m != "vgg-small" or dataset == "cifar10"]
    if st.session_state.exp_model not in presets:
        st.session_state.exp_model = presets[0]
    model = c2.selectbox("Model", presets, key="exp_model",
                         format_func=lambda n: f"{n} — {models.PRESETS[n][1].split(':')[0]}")
    base0 = RunConfig(dataset=dataset, model=model)

h = st.columns(6)
optimizer = h[0].selectbox("Optimizer", OPTIMIZERS, key="exp_optimizer")
schedule = h[1].selectbox("LR schedule", SCHEDULES, key="exp_schedule")
# Numbers have no min/max in the widget (a browser keeps the last valid value behind a red
# out-of-range one): each member's settings are checked below, and Run waits for a fix.
lr = h[2].number_input("Learning rate", key="exp_lr", format="%g", step=1e-3)
wd = h[3].number_input("Weight decay", key="exp_wd", format="%g", step=1e-4)
bs = h[4].number_input("Batch size", key="exp_bs", step=32)
epochs = h[5].number_input("Epochs", key="exp_epochs", step=1)
base = base0.with_changes(optimizer=optimizer, schedule=schedule, lr=lr, weight_decay=wd,
                          batch_size=bs, epochs=epochs)

v = st.columns([2, 2, 3, 1])
param = v[0].selectbox("Vary", list(SWEEP_PARAMS), key="exp_param",
                       format_func=SWEEP_PARAMS.get,
                       on_change=lambda: set_values_for(st.session_state.exp_param))
kind = v[1].radio("Values", list(KINDS), key="exp_kind", format_func=KINDS.get,
                  horizontal=True)
replicates = v[3].number_input("Replicates", key="exp_replicates", step=1,
                               help="Trainings per value, seeds 0, 1, 2, …")
problem = ""
try:
    integer = param in sweep.INTEGER
    if kind == "list":
        text = v[2].text_input("Values (comma-separated)", key="exp_values_text")
        values = sweep.values_from_range("list", text=text, integer=integer)
    else:
        r = v[2].columns(3)
        start = r[0].number_input("From", key="exp_start", format="%g", step=0.01)
        stop = r[1].number_input("To", key="exp_stop", format="%g", step=0.01)
        count = r[2].number_input("Count", key="exp_count", step=1)
        if None in (start, stop, count):
            raise ConfigError("values", "fill in From, To and Count")
        values = sweep.values_from_range(kind, start, stop, count, integer=integer)
    if replicates is None:
        raise ConfigError("replicates", "fill in how many trainings per value")
    spec = sweep.SweepSpec(base, param, values, replicates)
    n_runs = len(sweep.members(spec))
except (ConfigError, models.SpecError) as e:
    problem, spec = str(e), None

training = [j for j in mgr.jobs("sweep") if j.active]  # every session's, oldest first
if not problem:
    problem = mgr.refusal([cfg for _, _, cfg in sweep.members(spec)])  # the class's caps
if problem:
    st.error(problem)
else:
    st.info(f"**{len(values)} values × {replicates} replicates = {n_runs} runs**, "
            f"{', '.join(f'{x:g}' for x in values)} · trains {sweep.describe_plan(spec)} · "
            f"about **{ui.duration(sweep.estimate_seconds(spec))}** on a 2-core CPU.")
if st.button("Run", type="primary", disabled=bool(problem),
             help=f"Queues the sweep: {POLICY}."):
    try:
        job_id = mgr.submit_sweep(spec)
    except data.DataError as e:  # the dataset's files are missing and cannot be fetched
        st.error(f"The sweep could not start: {e}")
    else:
        training.append(mgr.job(job_id))
        st.session_state.exp_follow = training[-1].name  # show its results once it ends
st.caption(f"In the training process, like every run: {POLICY}.")
ui.where_jobs_train()


def member_rows(job_id: str) -> tuple[str, list[dict]]:
    """The sweep's param and, per member, its value, replicate and live progress."""
    rec = store.get_job(job_id)
    rows = []
    for run_id, value, replicate in rec.spec["members"] if rec else []:
        live = mgr.live(run_id)
        if live is None:
            continue
        frac = (live.step / live.total_steps if live.total_steps
                else float(not live.active))
        acc = live.end.test_accuracy if live.end else (
            live.history[-1].test_accuracy if live.history else None)
        rows.append({"run_id": run_id, "value": value, "replicate": replicate,
                     "status": live.status, "epoch": f"{live.epoch}/{live.config.epochs}",
                     "progress": frac, "test acc": acc, "started": live.started,
                     "dataset": live.config.dataset})
    return (rec.spec["param"] if rec else ""), rows


# --- the sweeps training now ----------------------------------------------------------------
@st.fragment(run_every=2.0)
def live(job_id: str) -> None:
    """Progress of every member, and the results so far, redrawn every second."""
    job = mgr.job(job_id)
    if job is None or not job.active:
        st.rerun()  # once: the whole page, without the timer
    param, rows = member_rows(job_id)
    if not rows:
        return
    starts = [r["started"] for r in rows if r["started"]]
    done = sum(r["progress"] for r in rows) / len(rows)
    elapsed = time.time() - min(starts) if starts else 0.0  # since it started, not queued
    left = elapsed / done * (1 - done) if done > 0.02 else None
    finished = sum(r["status"] == "finished" for r in rows)
    ahead = mgr.queue_position(job_id)
    where = (f"waiting: {ahead} job{'s' * (ahead != 1)} ahead" if ahead > 0
             else f"{ui.duration(elapsed)} elapsed · {ui.duration(left)} left")
    st.progress(min(1.0, done), text=f"{job.name} · {finished}/{len(rows)} finished · {where}")
    st.button("Stop", on_click=mgr.stop_job, args=(job_id,), key=f"exp_stop_{job_id}",
              disabled=not mgr.can_change(job.owner),
              help="Members training now stop and keep what they learned; finished ones stay.")
    # what changes once an epoch, not every step: an unchanged table is not drawn again
    st.dataframe(pd.DataFrame([{
        param: f"{r['value']:g}", "replicate": r["replicate"] + 1, "status": r["status"],
        "epoch": r["epoch"], "test acc": float("nan") if r["test acc"] is None else r["test acc"]}
        for r in rows]), hide_index=True, key=f"exp_members_{job_id}", placeholder="-",
        column_config={"test acc": st.column_config.NumberColumn(format="percent")})
    partial = [sweep.MemberResult(i, r["value"], r["replicate"], r["run_id"], r["status"],
                                  r["test acc"]) for i, r in enumerate(rows)]
    results(sweep.SweepResult(job.name, param, partial, False, elapsed), rows[0]["dataset"],
            f"exp_live_{job_id}")


if training:
    st.subheader("Training")
    with st.container(key="exp_live"):
        st.html(ui.still_css("exp_live"))  # no animations: Chromium's CPU is training's
        for job in training:
            with st.container(border=len(training) > 1):
                live(job.id)
ended = [j for j in mgr.jobs("sweep") if not j.active]
if ended and ended[-1].status == "failed":
    st.error(f"The sweep {ui.plain(ended[-1].name)} broke: {ended[-1].message}")

# --- stored sweeps -----------------------------------------------------------------------
st.subheader("Results")
groups = [g for g in sweep.stored_sweeps(store) if g not in {j.name for j in training}]
if not groups:
    st.info("No finished sweep yet. Press **Run** above: results appear here.")
else:
    if st.session_state.get("exp_follow") in groups:  # the sweep this session started ended
        st.session_state.exp_shown = st.session_state.pop("exp_follow")
    if st.session_state.get("exp_shown") not in groups:
        st.session_state.exp_shown = groups[0]
    shown = st.selectbox("Sweep", groups, key="exp_shown")
    result = sweep.load_sweep(store, shown)
    statuses = pd.Series([m.status for m in result.members]).value_counts()
    ended = all(m.status == "finished" for m in result.members)
    (st.success if ended else st.warning)(
               f"Sweep {'finished' if ended else 'ended'}: {len(result.members)} runs ("
               + ", ".join(f"{n} {s}" for s, n in statuses.items())
               + f") in {ui.duration(result.seconds)}"
               + (", trained at once with torch.func." if result.batched else "."))
    member_runs = [r for r in runs if r.group_name == shown]
    results(result, member_runs[0].dataset if member_runs else "", "exp_stored", ended=True)
    st.button("Compare these runs below", key="exp_pick_group", on_click=st.session_state.update,
              kwargs={"exp_compare": [m.run_id for m in result.members]})

# --- compare any runs ---------------------------------------------------------------------
st.subheader("Compare runs")
by_id = {r.id: r for r in runs}
if "exp_compare" in st.session_state:
    st.session_state.exp_compare = [i for i in st.session_state.exp_compare if i in by_id]
chosen = st.multiselect("Runs", list(by_id), key="exp_compare",
                        format_func=lambda i: ui.run_label(by_id[i]),
                        placeholder="Pick runs to overlay their curves")
if chosen:
    picked = [by_id[i] for i in chosen]
    histories = [store.epochs(r.id) for r in picked]
    short = [r.name.removeprefix(f"{r.group_name}: ") if r.group_name else r.name
             for r in picked]  # a sweep member by its value and replicate
    labels = [f"{n} ({r.id[-6:]})" if short.count(n) > 1 else n
              for n, r in zip(short, picked, strict=True)]
    datasets = {r.dataset for r in picked}
    ds = datasets.pop() if len(datasets) == 1 else ""
    held_out = "val_accuracy" if any(h.get("val_accuracy") is not None
                                     for hist in histories for h in hist) else "test_accuracy"
    left, right = st.columns(2)
    curves = list(zip(labels, histories, strict=True))
    left.plotly_chart(plots.overlay(curves, "train_accuracy", ds),
                      key="exp_overlay_train")
    right.plotly_chart(plots.overlay(curves, held_out, ds),
                       key="exp_overlay_held_out")
    if held_out == "val_accuracy":
        st.plotly_chart(plots.overlay(curves, "test_accuracy", ds),
                        key="exp_overlay_test")
    if len(picked) > 1:
        diff = sweep.differing_fields([r.config for r in picked])
        if diff:
            st.markdown("**Settings that differ**")
            show = lambda x: f"{x:g}" if isinstance(x, float) else str(x)
            st.dataframe(pd.DataFrame({"run": labels, **{k: [show(x) for x in xs]
                                                         for k, xs in diff.items()}}),
                         hide_index=True, key="exp_diff")
        else:
            st.info("These runs share every setting.")

"""Train: configure a network, start it, and watch it learn live."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from nnkit import codegen, datainfo, device, plots, specs, templates
from nnkit.config import (
    DEVICES,
    OPTIMIZERS,
    SCHEDULES,
    ConfigError,
    RunConfig,
    from_query,
    to_query,
    validate,
)
from nnkit.jobs.manager import POLICY  # none of these imports torch (~3 s of CPU to import)
from nnkit.runs import RunRecord
from pages import charts, ui

# Seconds between updates of the live charts (the progress bar: every second). Each update
# still costs the browser a Streamlit rerun and a Plotly redraw; on 2 cores, charts every 2 s
# took Chromium 15-16 % of a core against 13-14 % every 5 s (pages/charts.py has the history).
CHARTS_EVERY = 5.0 if (os.cpu_count() or 1) <= 4 else 2.0
# A waiting run's notice is redrawn this often: in a class thirty pages wait at once, and each
# redraw costs the browser (on the same few cores as the server, in the load benchmark).
QUEUED_EVERY = 5.0

HELP = {
    "dataset": "What to learn. MNIST: 70,000 handwritten digits. Toy sets are 2-D points.",
    "model": "A preset architecture, or 'custom' to build one layer by layer.",
    "optimizer": "How the weights move: SGD (with momentum), Adam, AdamW (decoupled weight "
                 "decay) or RMSprop.",
    "lr": "Learning rate: the step size. Too high diverges, too low crawls.",
    "momentum": "SGD/RMSprop: how much of the previous step is kept.",
    "nesterov": "SGD only: look ahead before stepping (Nesterov momentum).",
    "weight_decay": "L2 regularization: pulls weights towards zero (Hinton's net used it).",
    "batch_size": "Images per step.",
    "epochs": "Passes over the training set.",
    "schedule": "How the learning rate changes during training.",
    "label_smoothing": "Targets of 1 - e for the true class: a milder, better-calibrated loss.",
    "seed": "Same seed and settings on the CPU give exactly the same curves.",
    "device": "auto uses a GPU when there is one.",
    "normalize": "Subtract the dataset mean and divide by its std before the network sees it.",
    "train_subset": "Train on only the first N images (0 = all): watch a network overfit.",
    "val_fraction": "Hold out this share of the training images to validate on.",
    "eval_each_epoch": "Evaluate on the test set after every epoch (cheap for MNIST).",
}

st.title("Train")
mgr = ui.manager()

# --- the form's state starts from the URL, once per session ---------------------------------
if "cfg" not in st.session_state:
    cfg0, notices = from_query(dict(st.query_params))
    st.session_state.cfg = cfg0
    st.session_state.url_notices = notices
cfg: RunConfig = st.session_state.cfg
errors: dict[str, str] = {}


slots: dict = {}  # field -> a place right under its widget for its validation message


def slot(name: str, where=None) -> None:
    """Reserve the place under a field's widget where its message will go."""
    slots[name] = (where or st).empty()


def form_values(cfg: RunConfig) -> dict:
    """Each form widget's key and the value it starts from: the config's."""
    spec = cfg.spec or (specs.preset(cfg.model) if cfg.model != "custom" else specs.ModelSpec())
    values = {f"f_{name}": getattr(cfg, name) for name in FIELDS}
    values.update(f_kind=spec.kind, f_activation=spec.activation, f_dropout=float(spec.dropout),
                  f_batch_norm=spec.batch_norm, f_hidden=", ".join(map(str, spec.hidden)),
                  f_conv_base=spec.conv or specs.preset("fast-cnn").conv)
    return values


# The form's fields, by RunConfig name. Each widget has a key whose session value is its state:
# a widget without a key whose default is rewritten on every run is rebuilt by Streamlit at the
# next change, and in a browser every second edit was lost. Numbers have no min/max in the
# widget: a browser refuses an out-of-range number there and silently keeps the old one, while
# here validate() shows it in red next to its field and Train stays disabled until it is fixed.
FIELDS = ("dataset", "model", "optimizer", "lr", "batch_size", "epochs", "schedule",
          "weight_decay", "momentum", "nesterov", "label_smoothing", "seed", "device",
          "step_size", "normalize", "eval_each_epoch", "train_subset", "val_fraction", "gamma",
          "toy_noise", "toy_size")


def configure() -> None:
    """The form: dataset, model (a preset or built layer by layer), hyperparameters, the
    model's summary, Copy as Python, and the Train button."""
    ui.seed(form_values(cfg))  # fields not drawn last time (the form was folded) start again
    state = st.session_state
    form, summary_col = st.columns([3, 2], gap="large")
    with form:
        c1, c2 = st.columns(2)
        names = datainfo.names()  # the built-in datasets, then the user's own
        if state.f_dataset not in names:  # a user dataset deleted meanwhile
            state.f_dataset = "mnist"
        dataset = c1.selectbox("Dataset", names, key="f_dataset",
                               format_func=lambda n: datainfo.info(n).title,
                               help=HELP["dataset"])
        slot("dataset", c1)
        model = c2.selectbox("Model", [*specs.PRESETS, "custom"], key="f_model",
                             help=HELP["model"], format_func=lambda n: n if n == "custom" else
                             f"{n} — {specs.PRESETS[n][1].split(':')[0]}")
        slot("model", c2)
        info = datainfo.info(dataset)
        spec = None
        if model == "custom":
            with st.container(border=True):
                st.markdown("**Build the network**")
                b1, b2, b3, b4 = st.columns(4)
                kinds = ["mlp", "cnn"] if info.kind == "image" else ["mlp"]
                if state.f_kind not in kinds:
                    state.f_kind = kinds[0]
                kind = b1.radio("Kind", kinds, key="f_kind", horizontal=True,
                                format_func=str.upper)
                activation = b2.selectbox("Activation", list(specs.ACTIVATIONS),
                                          key="f_activation")
                dropout = b3.number_input("Dropout", key="f_dropout", step=0.05)
                slot("dropout", b3)
                batch_norm = b4.checkbox("Batch norm (dense)", key="f_batch_norm")
                conv = ()
                if kind == "cnn":
                    if "conv_editor" not in state:  # a new editor starts from the config's
                        state.f_conv_base = form_values(cfg)["f_conv_base"]
                    # The table handed to the editor stays the same while it is shown: the
                    # editor keeps the user's edits as changes to that table, and a table
                    # rebuilt from them would get each added row again on every rerun.
                    table = pd.DataFrame([vars(b) for b in state.f_conv_base])
                    edited = st.data_editor(
                        table, num_rows="dynamic", hide_index=True, key="conv_editor",
                        column_config={
                            "channels": st.column_config.NumberColumn(min_value=1, max_value=512,
                                                                      step=1, required=True),
                            "kernel": st.column_config.NumberColumn(min_value=1, max_value=11,
                                                                    step=1, required=True),
                            "stride": st.column_config.NumberColumn(min_value=1, max_value=4,
                                                                    step=1, required=True),
                            "padding": st.column_config.NumberColumn(min_value=0, max_value=5,
                                                                     step=1, required=True),
                            "pool": st.column_config.SelectboxColumn(options=specs.POOLS,
                                                                     required=True),
                            "batch_norm": st.column_config.CheckboxColumn(),
                        })
                    st.caption("Conv blocks, in order: add a row for a block, select rows "
                               "and press Delete to remove. Each block: conv → (BN) → "
                               "activation → pool.")
                    conv = tuple(specs.ConvBlock(int(r.channels), int(r.kernel), int(r.stride),
                                                  int(r.padding), str(r.pool), bool(r.batch_norm))
                                 for r in edited.dropna().itertuples())
                hidden_text = st.text_input("Dense hidden widths", key="f_hidden",
                                            help="Comma-separated, e.g. 500, 300 (empty: none).")
                slot("hidden")
                slot("spec")
                try:
                    hidden = tuple(int(h) for h in hidden_text.replace(" ", "").split(",") if h)
                except ValueError:
                    hidden = ()
                    errors["hidden"] = ("widths must be whole numbers like 500, 300 "
                                        f"(got {hidden_text!r})")
                if dropout is None:  # a cleared field; its range is check_spec's to name
                    errors["dropout"] = "dropout must be a number in [0, 1)"
                    dropout = 0.0
                spec = specs.ModelSpec(kind, hidden, activation, float(dropout), batch_norm, conv)

        st.markdown("**Optimization**")
        h1, h2, h3, h4 = st.columns(4)
        optimizer = h1.selectbox("Optimizer", OPTIMIZERS, key="f_optimizer",
                                 help=HELP["optimizer"])
        slot("optimizer", h1)
        lr = h2.number_input("Learning rate", key="f_lr", format="%g", step=1e-3,
                             help=HELP["lr"])
        slot("lr", h2)
        batch_size = h3.number_input("Batch size", key="f_batch_size", step=32,
                                     help=HELP["batch_size"])
        slot("batch_size", h3)
        epochs = h4.number_input("Epochs", key="f_epochs", step=1, help=HELP["epochs"])
        slot("epochs", h4)
        h5, h6, h7, h8 = st.columns(4)
        schedule = h5.selectbox("LR schedule", SCHEDULES, key="f_schedule",
                                help=HELP["schedule"])
        weight_decay = h6.number_input("Weight decay", key="f_weight_decay", format="%g",
                                       step=1e-4, help=HELP["weight_decay"])
        slot("weight_decay", h6)
        momentum = h7.number_input("Momentum", key="f_momentum", step=0.05,
                                   disabled=optimizer not in ("sgd", "rmsprop"),
                                   help=HELP["momentum"])
        slot("momentum", h7)
        nesterov = h8.checkbox("Nesterov", key="f_nesterov", disabled=optimizer != "sgd",
                               help=HELP["nesterov"]) and optimizer == "sgd"
        slot("nesterov", h8)
        with st.expander("More settings"):
            m1, m2, m3, m4 = st.columns(4)
            label_smoothing = m1.number_input("Label smoothing", key="f_label_smoothing",
                                              step=0.05, help=HELP["label_smoothing"])
            slot("label_smoothing", m1)
            seed = m2.number_input("Seed", key="f_seed", step=1, help=HELP["seed"])
            slot("seed", m2)
            device_choice = m3.selectbox("Device", DEVICES, key="f_device", help=HELP["device"])
            step_size = m4.number_input("Step every (epochs)", key="f_step_size", step=1,
                                        disabled=schedule != "step")
            slot("step_size", m4)
            m5, m6, m7, m8 = st.columns(4)
            normalize = m5.checkbox("Normalize inputs", key="f_normalize",
                                    help=HELP["normalize"])
            eval_each_epoch = m6.checkbox("Test every epoch", key="f_eval_each_epoch",
                                          help=HELP["eval_each_epoch"])
            train_subset = m7.number_input("Training subset (0 = all)", key="f_train_subset",
                                           step=500, help=HELP["train_subset"])
            slot("train_subset", m7)
            val_fraction = m8.number_input("Validation share", key="f_val_fraction", step=0.05,
                                           help=HELP["val_fraction"])
            slot("val_fraction", m8)
            gamma = m1.number_input("Step decay factor", key="f_gamma", step=0.05,
                                    disabled=schedule != "step")
            slot("gamma", m1)
            toy_noise = m2.number_input("Toy noise", key="f_toy_noise", step=0.05,
                                        disabled=info.kind != "toy")
            slot("toy_noise", m2)
            toy_size = m3.number_input("Toy points", key="f_toy_size", step=100,
                                       disabled=info.kind != "toy")
            slot("toy_size", m3)

    # The values as the widgets hold them (a cleared number is None): validate() names each
    # problem next to its field, and Train stays disabled until there is none.
    new_cfg = RunConfig(dataset=dataset, normalize=normalize, train_subset=train_subset,
                        val_fraction=val_fraction, toy_size=toy_size, toy_noise=toy_noise,
                        model=model, spec=spec, optimizer=optimizer, lr=lr, momentum=momentum,
                        nesterov=bool(nesterov), weight_decay=weight_decay,
                        batch_size=batch_size, epochs=epochs, schedule=schedule,
                        step_size=step_size, gamma=gamma, label_smoothing=label_smoothing,
                        seed=seed, device=device_choice, eval_each_epoch=eval_each_epoch)
    for err in validate(new_cfg):
        errors.setdefault(err.field, str(err))
    st.session_state.cfg = new_cfg
    if not errors:
        keep = {k: v for k, v in st.query_params.items() if k == "run"}
        st.query_params.from_dict({**to_query(new_cfg), **keep})  # the link reproduces it

    try:
        layers = specs.summary(new_cfg.model_spec(), info.input_shape, info.num_classes)
    except (specs.SpecError, ConfigError) as e:
        layers = []
        errors.setdefault("spec", str(e))

    for name, message in errors.items():  # next to the field when it has a place, else here
        place = slots.get(name) or (slots.get("model") if name == "spec" else None) or st
        place.error(f"**{name}**: {message.split(': ', 1)[-1]}")

    if new_cfg.device not in ("auto", "cpu") and new_cfg.device not in device.available():
        st.warning(f"{new_cfg.device} is not available here; the run will train on the CPU.")

    refused = None if errors else mgr.refusal([new_cfg])  # the class's caps
    if refused:
        st.warning(refused)
    if st.button("Train", type="primary", disabled=bool(errors or refused)):
        run_id = mgr.submit(new_cfg)
        st.session_state.run_id = run_id
        st.session_state.show_form = False
        st.query_params["run"] = run_id
        st.rerun()  # the form folds away: the new run's live view takes its place
    st.caption(f"Runs: {POLICY}.")
    ui.where_jobs_train()

    with summary_col:  # after the Train button, and a plain table: a data grid cost ~0.7 s
        st.markdown("**Model summary**")
        if layers:
            st.table(pd.DataFrame([{"layer": r.name, "type": r.layer,
                                    "output": " × ".join(map(str, r.output_shape)),
                                    "parameters": f"{r.params:,}"} for r in layers]),
                     hide_index=True, height=min(360, 40 * (len(layers) + 1)))  # scrolls beyond
            st.metric("Parameters", f"{sum(r.params for r in layers):,}")
        copy = st.popover("Copy as Python", on_change="rerun", key="copy_python")
        with copy:
            st.caption("A standalone PyTorch script that trains this configuration.")
            if copy.open and errors:
                st.caption("Fix the settings marked in red first.")
            elif copy.open:  # highlighting the script cost the first page ~0.4 s when unseen
                st.code(codegen.script(new_cfg), language="python")


def describe(cfg: RunConfig) -> str:
    """A run's configuration in one line."""
    opt = f"{cfg.optimizer} lr {cfg.lr:g}"
    if cfg.optimizer in ("sgd", "rmsprop") and cfg.momentum:
        opt += f" momentum {cfg.momentum:g}" + (" Nesterov" if cfg.nesterov else "")
    parts = [ui.plain(ui.dataset_title(cfg.dataset)), cfg.model, opt, f"batch {cfg.batch_size}",
             f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}"]
    if cfg.weight_decay:
        parts.append(f"weight decay {cfg.weight_decay:g}")
    if cfg.schedule != "none":
        parts.append(f"{cfg.schedule} schedule")
    if cfg.train_subset:
        parts.append(f"first {cfg.train_subset:,} images")
    return " · ".join(parts) + f" · seed {cfg.seed}"


def show_form(on: bool) -> None:
    st.session_state.show_form = on


# --- which run the page shows: its URL's (?run=ID, kept through a reload) or this tab's own --
# Never another tab's run: a tab that took whatever was active showed someone else's run as its
# own, Stop button included. Runs training meanwhile are named above the form instead.
run_id = st.query_params.get("run") or st.session_state.get("run_id")  # a link wins
shown = ui.store().get(run_id) if run_id else None  # its record, read once per page run
if run_id is not None and shown is None:  # deleted meanwhile, or a wrong link
    st.session_state.gone = run_id
    st.session_state.pop("run_id", None)
    st.query_params.pop("run", None)
    st.session_state.show_form = True
    run_id = None
if run_id is not None:
    st.session_state.run_id = run_id
live_now = mgr.live(run_id) if run_id else None
training = live_now is not None and live_now.active


def controls(run_id: str, paused: bool) -> None:
    """Pause / Resume / Stop buttons for an active run (a click reruns the page); a
    classmate's run shows whose it is instead."""
    if shown is not None and not mgr.can_change(shown.owner):
        st.caption(f"This run is {ui.plain(ui.owner_name(shown.owner))}'s: you can watch it, "
                   "not change it.")
        return
    b1, b2, b3, _ = st.columns([1, 1, 1, 5])
    if paused:
        b1.button("Resume", key="resume", on_click=mgr.resume, args=(run_id,))
    else:
        b1.button("Pause", key="pause", on_click=mgr.pause, args=(run_id,))
    b3.button("Stop", key="stop", on_click=mgr.stop, args=(run_id,))


def finished_summary(rec: RunRecord | None) -> None:
    """The end of a run: its results."""
    if rec is None:
        st.warning("This run was deleted.")
        return
    box = {"finished": st.success, "stopped": st.info, "diverged": st.error,
           "failed": st.error, "interrupted": st.warning}.get(rec.status, st.info)
    box(f"**{rec.name}** — {rec.status}: {rec.message}")
    c = st.columns(4)
    c[0].metric("Final test accuracy", ui.pct(rec.final_test_accuracy))
    c[1].metric("Best test accuracy", ui.pct(rec.best_test_accuracy))
    c[2].metric("Training time", ui.duration(rec.train_seconds))
    c[3].metric("Parameters", f"{rec.num_params:,}" if rec.num_params else "-")


def cached_item(name: str, signature, build):
    """The chart built last time while its inputs' signature is unchanged: the server skips
    rebuilding it and the browser, seeing the same revision, skips redrawing it."""
    cache = st.session_state.setdefault("_charts", {})
    if name not in cache or cache[name][0] != signature:
        cache[name] = (signature, charts.figure(name, build(), signature))
    return cache[name][1]


def show_charts(cfg: RunConfig, steps, history: list[dict], steps_per_epoch: int, weights,
                run_id: str, weights_step: int = 0) -> None:
    """Loss per step, accuracy and loss per epoch, and the first-layer templates."""
    epochs_sig = (run_id, len(history), history[-1]["epoch"] if history else 0)
    items = [cached_item("loss", (run_id, len(steps)), lambda: plots.loss_per_step(
        steps, steps_per_epoch=steps_per_epoch))]
    if history:
        items.append(cached_item("acc", epochs_sig, lambda: plots.epoch_curves(
            history, "accuracy", cfg.dataset)))
        items.append(cached_item("eloss", epochs_sig, lambda: plots.epoch_curves(
            history, "loss", cfg.dataset)))
    else:  # two empty charts would say nothing
        items.append(charts.note("acc", "Accuracy and loss per epoch appear here when the "
                                        "first epoch ends."))
    if weights is not None:
        shape = ui.dataset_shape(cfg.dataset)
        try:
            grid = templates.template_grid(templates.templates_from_weight(weights, shape)[:64])
        except ValueError:
            grid = None
        if grid is not None:
            items.append(charts.picture(
                "weights", plots.weight_picture(grid, scale=1), "First-layer weights (live)",
                f"step {weights_step}: red < 0 < blue", scale=max(1, 256 // grid.shape[1])))
    charts.show(items, key="charts")  # one frame for every run: see charts_view


def queue_notice(where: str, first_id: str) -> None:
    """Where a run stands in the queue, the policy, and a link to the run training first."""
    st.info(f"{where} {POLICY[:1].upper()}{POLICY[1:]}.")
    first = mgr.live(first_id)
    if first is not None:  # the one training now, to watch meanwhile
        st.page_link("pages/train.py", label=f"Watch the run training now: {first.name}",
                     query_params={"run": first.run_id})


def live_progress(run_id: str, queued: bool) -> None:
    """The progress bar, every second (the buttons sit outside: redrawing them each second
    cost the browser more than the bar itself); every QUEUED_EVERY seconds while it waits."""
    live = mgr.live(run_id)
    if live is None or not live.active:  # it ended, or was deleted on the Runs page
        if st.session_state.get("_was_active") == run_id:
            st.session_state._was_active = None
            st.rerun()  # once: redraw the whole page without the timers
        return
    st.session_state._was_active = run_id
    if queued and live.status != "queued":
        st.rerun()  # its turn came: redraw the page with the one-second timer
    if live.status == "queued":
        ahead, wait = mgr.queue_position(run_id), mgr.starts_in(run_id)
        if ahead > 0:
            eta = f" It should start in about {ui.duration(wait)}." if wait else ""
            queue_notice(f"Queued: {ahead} job(s) ahead of it.{eta}", mgr.active_ids()[0])
        else:
            st.info("Queued: it starts next.")
        return
    if live.status == "loading":
        st.info("Loading the data (preparing it first if needed)…")
        return
    total = max(1, live.total_steps)
    elapsed = live.train_seconds
    remaining = elapsed / live.step * (total - live.step) if live.step else None
    st.progress(min(1.0, live.step / total),
                text=f"{live.status} · epoch {live.epoch}/{live.epochs} · step {live.step}/"
                     f"{total} · {ui.duration(elapsed)} elapsed · "
                     f"{ui.duration(remaining)} left · "
                     f"{live.images_per_second():,.0f} images/s · {live.device}")


def charts_view(run_id: str | None) -> None:
    """The charts: of the run training, every few seconds (redrawing them is what costs, server
    and browser), or of a run that has ended, from the store. With no run yet, an empty frame:
    the browser loads Plotly (~1 s of its CPU) while the form is filled in, and the same frame
    then shows the run, as it sits at the same place in the page."""
    if run_id is None:
        charts.show([], key="charts")
        return
    live = mgr.live(run_id)
    if live is not None and live.active:
        history = [vars(h) for h in live.history]
        show_charts(live.config, live.steps, history, live.steps_per_epoch, live.weights,
                    run_id, live.weights_step)
    else:
        rec = ui.store().get(run_id)
        if rec is None:
            return
        history = ui.store().epochs(run_id)
        rows = ui.store().steps(run_id)
        steps = [(s["step"], s["loss"]) for s in rows]
        show_charts(rec.config, steps, history,
                    plots.steps_per_epoch(rows, rec.epochs_done or 0), None, run_id)


# The page is two places, in the same order whatever it shows, so that the charts' frame
# stays the same one from the form to the live run to its end.
top = st.container()
view = st.container(key="live")

# Once a run is started, the form folds away: the run is what there is to watch, and a form
# left on the page is redrawn by the browser with every second's progress update (on 2 cores,
# about half of what the live page cost Chromium). It stays folded when the run ends, so that
# the results take the curves' place. A button brings it back to set up the next run (which
# waits in the queue if one still trains).
with top:
    for notice in st.session_state.pop("url_notices", []):
        st.warning(f"Link: {notice}")
    if gone := st.session_state.pop("gone", None):
        st.warning(f"Run {gone} is not in the store: it was deleted, or the link is wrong.")
    others = mgr.active_ids()
    if run_id is None and others:  # someone else's runs: the queue this tab's run joins
        queue_notice(f"{len(mgr.active_jobs())} job(s) queued or training already.", others[0])
    if run_id is not None and not st.session_state.get("show_form"):
        st.button("Set up another run", on_click=show_form, args=(True,),
                  help="Opens the form again" + (f". {POLICY}." if training else "."))
    else:
        if run_id is not None:
            st.button("Fold the form away", on_click=show_form, args=(False,))
        configure()

# The training process imports torch while the form is filled in: 3 s from now, once the browser
# has drawn the page (begun at once, on 2 cores, it held the Train button back by ~0.5 s).
mgr.warm(delay=3.0)

with view:
    head, body, tail = st.container(), st.container(), st.container()
    with head:
        if run_id is None:
            st.info("Press **Train** to start. Charts appear here and grow on their own.")
        elif training:
            st.html(ui.still_css("live"))
            st.subheader(ui.plain(live_now.name))
            st.caption(describe(live_now.config))
            queued = live_now.status == "queued"
            st.fragment(live_progress, run_every=QUEUED_EVERY if queued else 1.0)(run_id,
                                                                                  queued)
            controls(run_id, live_now.paused)
        else:
            finished_summary(shown)
    with body:
        st.fragment(charts_view, run_every=CHARTS_EVERY if training else None)(run_id)
    rec = None if training else shown
    if rec is not None and rec.status in ("finished", "stopped", "interrupted"):
        with tail:
            n1, n2, n3, n4 = st.columns(4)
            q = {"run": run_id}
            n1.page_link("pages/inspect.py", label="Inspect this run", icon=":material/search:",
                         query_params=q)
            n2.page_link("pages/weights.py", label="See its weights", icon=":material/grid_view:",
                         query_params=q)
            if ui.dataset_shape(rec.config.dataset) == (1, 28, 28):
                n3.page_link("pages/draw.py", label="Draw digits for it", icon=":material/edit:",
                             query_params=q)
            n4.page_link("pages/runs.py", label="All runs", icon=":material/list_alt:")

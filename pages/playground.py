"""Playground: a small MLP learns a 2-D toy set while its decision map redraws live."""

from __future__ import annotations

import numpy as np
import streamlit as st

from nnkit import models, toy
from nnkit.config import OPTIMIZERS
from nnkit.playground import (
    MULTI_CLASS,
    PlaygroundConfig,
    ToyTrainer,
    boundary_figure,
    check_config,
    curve_figure,
)
from pages import ui

RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
BATCHES = (1, 4, 8, 16, 32, 64, 128, 256, 512)

st.title("Playground")
st.markdown(
    "A small network learns to tell 2-D points apart while you watch. The plane is coloured by "
    "the class the network predicts there, paler where it is unsure; filled dots are the "
    "training points, hollow ones the test points it never trains on."
)

# Each widget has a key: its session value is its state, so no edit is rebuilt away. Numbers
# have no min/max in the widget (a browser keeps the last valid value behind a red one):
# check_config names the problem and Start waits for a fix.
ui.seed({"pg_dataset": toy.TOY_NAMES[0], "pg_classes": 3, "pg_train": 500, "pg_noise": 0.2,
         "pg_hidden": "16, 16", "pg_activation": "tanh", "pg_optimizer": "adam", "pg_lr": 1e-2,
         "pg_batch": 32, "pg_steps": 2000, "pg_slow": 0})
settings, view_col = st.columns([1, 2], gap="large")
with settings:
    dataset = st.selectbox("Dataset", toy.TOY_NAMES, key="pg_dataset")
    many = dataset in MULTI_CLASS
    classes = st.slider("Classes", 2, 6, key="pg_classes", disabled=not many,
                        help="Spiral arms or Gaussian blobs; the other sets have two classes.")
    n_train = st.slider("Training points", 50, 2000, step=50, key="pg_train")
    noise = st.slider("Noise", 0.0, 1.0, step=0.05, key="pg_noise",
                      help="Std of the jitter added to each point.")
    hidden_text = st.text_input("Hidden widths", key="pg_hidden",
                                help="Comma-separated, e.g. 32, 32. Empty: a linear model.")
    c1, c2 = st.columns(2)
    activation = c1.selectbox("Activation", list(models.ACTIVATIONS), key="pg_activation")
    optimizer = c2.selectbox("Optimizer", OPTIMIZERS, key="pg_optimizer")
    lr = st.select_slider("Learning rate", RATES, key="pg_lr", format_func=lambda v: f"{v:g}")
    batch_size = st.select_slider("Batch size", BATCHES, key="pg_batch")
    c3, c4 = st.columns(2)
    steps = c3.number_input("Steps", key="pg_steps", step=100)
    slow = c4.number_input("Slow motion (ms/step)", key="pg_slow", step=1,
                           help="Sleep after each step, to watch the boundary move.")

error = ""
try:
    hidden = tuple(int(h) for h in hidden_text.replace(" ", "").split(",") if h)
except ValueError:
    hidden, error = (), f"hidden widths must be whole numbers like 16, 16 (got {hidden_text!r})"
if steps is None or not 10 <= steps <= 200_000:
    error = error or f"steps must be a whole number from 10 to 200,000 (got {steps})"
if slow is None or not 0 <= slow <= 50:
    error = error or f"slow motion must be 0 to 50 ms per step (got {slow})"
cfg = PlaygroundConfig(dataset=dataset, n_train=int(n_train), n_test=max(100, int(n_train) // 2),
                       noise=float(noise), classes=int(classes), hidden=hidden,
                       activation=activation, optimizer=optimizer, lr=float(lr),
                       batch_size=int(batch_size), steps=int(steps or 0),
                       step_delay=int(slow or 0) / 1000)
if not error:
    try:
        check_config(cfg)
    except ValueError as e:
        error = str(e)

with settings:
    if error:
        st.error(error)
    b1, b2 = st.columns(2)
    start = b1.button("Start", type="primary", disabled=bool(error))
    trainer: ToyTrainer | None = st.session_state.get("playground")
    if start:
        if trainer is not None:
            trainer.stop()
        trainer = st.session_state.playground = ToyTrainer(cfg).start()
    b2.button("Stop", disabled=trainer is None or not trainer.active,
              on_click=trainer.stop if trainer is not None else None)


def show(trainer: ToyTrainer, started: bool) -> None:
    """The decision map, the numbers and the curves of a trainer (or a preview of its data)."""
    snap = trainer.latest()
    classes = trainer.cfg.num_classes
    probs = snap.probs if snap is not None else np.full((len(trainer.points), classes),
                                                        1 / classes, np.float32)
    if started:
        status, message = trainer.status()
        m = st.columns(4)
        m[0].metric(f"Step (of {trainer.cfg.steps:,})", f"{snap.step if snap else 0:,}")
        m[1].metric("Loss", "-" if snap is None or np.isnan(snap.loss) else f"{snap.loss:.3f}")
        m[2].metric("Train accuracy", ui.pct(snap.train_accuracy if snap else None, 1))
        m[3].metric("Test accuracy", ui.pct(snap.test_accuracy if snap else None, 1))
        if status in ("finished", "stopped"):
            st.success(f"{status}: {message}")
        elif status in ("diverged", "failed"):
            st.error(f"{status}: {message}")
    st.plotly_chart(boundary_figure(trainer.xx, trainer.yy, probs, trainer.x_train,
                                    trainer.y_train, trainer.x_test, trainer.y_test),
                    key="pg_map")
    if started:
        st.plotly_chart(curve_figure(trainer.curve()), key="pg_curve")


@st.fragment(run_every=0.5)
def live(trainer: ToyTrainer) -> None:
    """show(), redrawn twice a second while the trainer runs."""
    if not trainer.active:
        st.rerun()  # it has ended: redraw the page once, without the timer
    show(trainer, True)


with view_col:
    if trainer is not None and trainer.active:
        live(trainer)
    elif trainer is not None and trainer.cfg == cfg:
        show(trainer, True)
    else:
        if error:
            st.info("Fix the settings to see the data.")
        else:
            show(ToyTrainer(cfg), False)
            st.caption("Press **Start** to train.")

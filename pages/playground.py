"""Playground: a small MLP learns a 2-D toy set while its decision map redraws live."""

from __future__ import annotations

import numpy as np
import streamlit as st

from nnkit import models, toy
from nnkit.config import OPTIMIZERS
from nnkit.playground import (MULTI_CLASS, PlaygroundConfig, ToyTrainer, boundary_figure,
                              check_config, curve_figure)
from pages import ui

RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
BATCHES = (1, 4, 8, 16, 32, 64, 128, 256, 512)

st.title("Playground")
st.markdown(
    "A small network learns to tell 2-D points apart while you watch. The plane is coloured by "
    "the class the network predicts there, paler where it is unsure; filled dots are the "
    "training points, hollow ones the test points it never trains on."
)

settings, view_col = st.columns([1, 2], gap="large")
with settings:
    dataset = st.selectbox("Dataset", toy.TOY_NAMES, index=0)
    many = dataset in MULTI_CLASS
    classes = st.slider("Classes", 2, 6, 3, disabled=not many,
                        help="Spiral arms or Gaussian blobs; the other sets have two classes.")
    n_train = st.slider("Training points", 50, 2000, 500, 50)
    noise = st.slider("Noise", 0.0, 1.0, 0.2, 0.05, help="Std of the jitter added to each point.")
    hidden_text = st.text_input("Hidden widths", "16, 16",
                                help="Comma-separated, e.g. 32, 32. Empty: a linear model.")
    c1, c2 = st.columns(2)
    acts = list(models.ACTIVATIONS)
    activation = c1.selectbox("Activation", acts, index=acts.index("tanh"))
    optimizer = c2.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index("adam"))
    lr = st.select_slider("Learning rate", RATES, value=1e-2, format_func=lambda v: f"{v:g}")
    batch_size = st.select_slider("Batch size", BATCHES, value=32)
    c3, c4 = st.columns(2)
    steps = c3.number_input("Steps", 10, 200_000, 2000, 100)
    slow = c4.number_input("Slow motion (ms/step)", 0, 50, 0, 1,
                           help="Sleep after each step, to watch the boundary move.")

error = ""
try:
    hidden = tuple(int(h) for h in hidden_text.replace(" ", "").split(",") if h)
except ValueError:
    hidden, error = (), f"hidden widths must be whole numbers like 16, 16 (got {hidden_text!r})"
cfg = PlaygroundConfig(dataset=dataset, n_train=int(n_train), n_test=max(100, int(n_train) // 2),
                       noise=float(noise), classes=int(classes), hidden=hidden,
                       activation=activation, optimizer=optimizer, lr=float(lr),
                       batch_size=int(batch_size), steps=int(steps),
                       step_delay=int(slow) / 1000)
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

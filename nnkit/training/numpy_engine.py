"""Runs the from-scratch NumPy MLP under a RunConfig, speaking the PyTorch trainer's language.

Its checkpoints are translated into the equivalent torch MLP's state dict (Linear weight =
W transposed), so the store, the inspect pages and the Draw page treat both engines alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from nnkit import models
from nnkit.config import RunConfig
from nnkit.data import DataBundle
from nnkit.training.control import RunControl
from nnkit.training.events import Callback, Callbacks, EpochEnd
from nnkit.training.numpy_mlp import NumpyMLP, train_numpy_mlp
from nnkit.training.results import Evaluation, TrainResult


def torch_state(spec: models.ModelSpec, state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The NumpyMLP state {"W0", "b0", ...} as the state dict of build_model(spec)."""
    names = [f"fc{i}" for i in range(1, len(spec.hidden) + 1)] + ["out"]
    out = {}
    for i, name in enumerate(names):
        out[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(state[f"W{i}"].T)).float()
        out[f"{name}.bias"] = torch.from_numpy(np.asarray(state[f"b{i}"])).float()
    return out


class _Translate(Callbacks):
    """Passes events on, turning NumPy checkpoints into torch state dicts."""

    def __init__(self, spec: models.ModelSpec, callbacks: Sequence[Callback]) -> None:
        super().__init__(callbacks)
        self.spec = spec
        self.history: list[EpochEnd] = []

    def on_checkpoint(self, epoch: int, state: dict) -> None:
        super().on_checkpoint(epoch, torch_state(self.spec, state))

    def on_epoch_end(self, e: EpochEnd) -> None:
        self.history.append(e)
        super().on_epoch_end(e)


def _flat(bundle: DataBundle, x: torch.Tensor | None) -> np.ndarray | None:
    return None if x is None else bundle.as_float(x).reshape(len(x), -1).numpy()


def train_numpy(cfg: RunConfig, bundle: DataBundle, callbacks: Sequence[Callback] = (),
                control: RunControl | None = None, run_id: str = "") -> TrainResult:
    """Train the NumPy engine's MLP on the CPU and return a TrainResult like train()'s."""
    spec = cfg.model_spec()
    sizes = [math.prod(bundle.info.input_shape), *spec.hidden, bundle.info.num_classes]
    net = NumpyMLP(sizes, activation=spec.activation, seed=cfg.seed)
    translate = _Translate(spec, callbacks)
    x_train, x_test = _flat(bundle, bundle.train_x), _flat(bundle, bundle.test_x)
    end = train_numpy_mlp(net, x_train, bundle.train_y.numpy(), x_test, bundle.test_y.numpy(),
                          epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                          weight_decay=cfg.weight_decay, seed=cfg.seed, callbacks=[translate],
                          control=control, run_id=run_id)
    model = models.build_model(spec, bundle.info.input_shape, bundle.info.num_classes)
    model.load_state_dict(torch_state(spec, net.state_dict()))
    evaluation = None
    if end.status != "diverged":
        probs = net.predict_proba(x_test).astype(np.float32)
        preds = probs.argmax(1)
        y = bundle.test_y.numpy()
        cm = np.zeros((bundle.info.num_classes,) * 2, dtype=np.int64)
        np.add.at(cm, (y, preds), 1)
        loss = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None)).mean())
        evaluation = Evaluation(loss, float((preds == y).mean()), preds.astype(np.int64), probs, cm)
    return TrainResult(end, model.eval(), evaluation, translate.history, "cpu (numpy)")

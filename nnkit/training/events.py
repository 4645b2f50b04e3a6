"""Events the training loop emits, and the callback interface that listens to them.

The loop knows nothing of who listens: the CLI's progress printer, the run store's writer and
the dashboard's live view are all just callbacks. Events carry plain numbers, never tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RunStart:
    run_id: str
    device: str
    num_params: int
    epochs: int
    steps_per_epoch: int
    train_size: int


@dataclass(frozen=True)
class StepEnd:
    epoch: int  # 1-based
    step: int  # global step, 1-based
    loss: float
    lr: float


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    images_per_second: float
    seconds: float  # training seconds so far, evaluation excluded


@dataclass(frozen=True)
class RunEnd:
    status: str  # "finished" | "stopped" | "diverged" | "failed"
    message: str
    train_seconds: float
    test_loss: float | None
    test_accuracy: float | None
    metrics: dict = field(default_factory=dict)


class Callback:
    """Typed no-op hooks; subclass and override what you need."""

    def on_run_start(self, event: RunStart) -> None:
        """Called once before the first step."""

    def on_step_end(self, event: StepEnd) -> None:
        """Called after every optimizer step."""

    def on_epoch_end(self, event: EpochEnd) -> None:
        """Called after every epoch, once its evaluation is done."""

    def on_weights(self, step: int, first_layer: np.ndarray) -> None:
        """Called every few seconds with a copy of the first layer's weights (for live views)."""

    def on_checkpoint(self, epoch: int, state: dict) -> None:
        """Called with a CPU copy of the model state at the end of an epoch."""

    def on_run_end(self, event: RunEnd) -> None:
        """Called once when the run ends, whatever the outcome."""


class Callbacks(Callback):
    """Several callbacks heard as one, in order: what every trainer calls. At the end each
    one hears how the run ended even if another raises; the first error is raised after."""

    def __init__(self, callbacks: Sequence[Callback] = ()) -> None:
        self.members = list(callbacks)

    def on_run_start(self, event: RunStart) -> None:
        for cb in self.members:
            cb.on_run_start(event)

    def on_step_end(self, event: StepEnd) -> None:
        for cb in self.members:
            cb.on_step_end(event)

    def on_epoch_end(self, event: EpochEnd) -> None:
        for cb in self.members:
            cb.on_epoch_end(event)

    def on_weights(self, step: int, first_layer: np.ndarray) -> None:
        for cb in self.members:
            cb.on_weights(step, first_layer)

    def on_checkpoint(self, epoch: int, state: dict) -> None:
        for cb in self.members:
            cb.on_checkpoint(epoch, state)

    def on_run_end(self, event: RunEnd) -> None:
        errors = []
        for cb in self.members:
            try:
                cb.on_run_end(event)
            except Exception as e:  # the others must still hear of the end
                errors.append(e)
        if errors:
            raise errors[0]

"""What training returns: the evaluation, the result, and the error of a run that broke."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from nnkit.training.events import EpochEnd, RunEnd


@dataclass
class Evaluation:
    """A model's results on a labelled set; preds and probs kept for the inspect pages."""

    loss: float
    accuracy: float
    preds: np.ndarray  # (N,) int64
    probs: np.ndarray  # (N, classes) float32
    confusion: np.ndarray  # (classes, classes) int64, rows = true label


@dataclass
class TrainResult:
    end: RunEnd
    model: nn.Module  # on the CPU
    evaluation: Evaluation | None
    history: list[EpochEnd] = field(default_factory=list)
    device: str = ""
    notice: str = ""  # e.g. a fallback to the CPU


class TrainingFailed(RuntimeError):
    """The run broke on an unexpected error; its message says which."""

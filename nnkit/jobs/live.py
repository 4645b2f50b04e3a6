"""What the pages show of work queued or training: copies of these, kept by the job queue.

A LiveRun follows one run from its events (steps, epochs, the first layer's weights); a
LiveJob one job (a run, a sweep, a Catalogue experiment, the palindrome study). The store
holds the same facts for good; these only make the live view cheap. No torch.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from nnkit.config import RunConfig
from nnkit.training.events import EpochEnd, RunEnd
from nnkit.training.status import is_active


@dataclass
class LiveRun:
    """What the dashboard shows of a run while it is queued or training."""

    run_id: str
    name: str
    config: RunConfig
    # queued | loading | running | paused | finished | stopped | diverged | failed
    status: str = "queued"
    paused: bool = False  # a pause was asked for (it holds from the next step, or the first)
    message: str = ""
    device: str = ""
    num_params: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    train_size: int = 0
    step: int = 0
    epoch: int = 0
    started: float = 0.0  # wall clock when training began
    train_seconds: float = 0.0  # training time so far, pauses excluded
    steps: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    history: list[EpochEnd] = field(default_factory=list)
    weights: np.ndarray | None = None  # latest first-layer copy
    weights_step: int = 0
    end: RunEnd | None = None

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def active(self) -> bool:
        return is_active(self.status)

    def copy(self) -> LiveRun:
        """A copy whose lists the queue's thread no longer appends to."""
        return dataclasses.replace(self, steps=list(self.steps), history=list(self.history))

    def images_per_second(self) -> float:
        """Training speed so far."""
        if self.history:
            return self.history[-1].images_per_second
        done = self.step * self.config.batch_size
        return done / self.train_seconds if self.train_seconds > 0 else 0.0


@dataclass
class LiveJob:
    """What the dashboard shows of a job: its kind, member runs and, for a study, results."""

    id: str
    kind: str  # run | sweep | experiment | palindrome
    name: str
    runs: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    status: str = "queued"  # queued | running | paused | finished | stopped | failed
    message: str = ""
    created: float = field(default_factory=time.time)
    results: list[dict] = field(default_factory=list)  # a study's lengths done so far
    owner: str = ""  # who queued it ('' when the app has one user)
    current: int | None = None  # the length a study trains now
    epoch: int = 0  # and the epochs of it done

    @property
    def active(self) -> bool:
        return is_active(self.status)

    def copy(self) -> LiveJob:
        """A copy whose lists the queue's thread no longer changes."""
        return dataclasses.replace(self, runs=list(self.runs), results=list(self.results))

"""What a run or a job is doing, and why a run diverged, in one place: the store, the job
queue, the pages and every trainer (torch, batched, NumPy, the Playground's) use these. No torch.
"""

from __future__ import annotations

import math
from enum import StrEnum


class Status(StrEnum):
    """A run's or a job's status; a plain string wherever it is stored or compared."""

    QUEUED = "queued"
    LOADING = "loading"  # the live view only: its data or the training process is loading
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"  # by the user or a shutdown; what it learned is kept
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the process training it ended before it did


ACTIVE = frozenset({Status.QUEUED, Status.LOADING, Status.RUNNING, Status.PAUSED})
SQL_ACTIVE = "(" + ", ".join(f"'{s.value}'" for s in sorted(ACTIVE)) + ")"  # for WHERE ... IN

# learning rates that train the presets here, per optimizer
SAFE_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-2, "rmsprop": 1e-3}


def is_active(status: str) -> bool:
    """Queued, loading, running or paused: not ended yet."""
    return status in ACTIVE


def divergence_message(optimizer: str, lr: float, loss: float, step: int,
                       epoch: int | None = None) -> str:
    """Why a run diverged, in words a student can act on (every trainer says it this way)."""
    what = "nan" if math.isnan(loss) else "infinite"
    hint = f"the learning rate {lr:g} is likely too high for {optimizer}"
    safe = SAFE_LR.get(optimizer)
    if safe is not None and lr > safe:
        hint += f"; try {safe:g} or lower"
    else:
        hint += "; try a lower learning rate, batch norm, or input normalization"
    where = f"epoch {epoch}, step {step}" if epoch is not None else f"step {step}"
    return f"the loss became {what} at {where}: {hint}"

"""Where nnkit keeps its files: one folder holds the run store and checkpoints, and by default
the datasets too ($NNKIT_DATA may put them elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The nnkit folder: $NNKIT_HOME, or ~/.nnkit."""
    return Path(os.environ.get("NNKIT_HOME") or Path.home() / ".nnkit").expanduser()


def data_dir() -> Path:
    """Where datasets live: $NNKIT_DATA, or <home>/data (torchvision's layout under it)."""
    return Path(os.environ.get("NNKIT_DATA") or home() / "data").expanduser()


def store_path() -> Path:
    """The SQLite run store."""
    return home() / "runs.sqlite"


def runs_dir() -> Path:
    """Per-run files: checkpoints, evaluation arrays, weight snapshots."""
    return home() / "runs"


def offline() -> bool:
    """True when $NNKIT_OFFLINE asks never to try a download."""
    return os.environ.get("NNKIT_OFFLINE", "") not in ("", "0", "false", "no")

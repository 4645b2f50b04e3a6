"""TensorBoard event files for a run, written by just another callback into the run's folder.

`tensorboard --logdir ~/.nnkit/runs` then shows every run (each folder is one TensorBoard run,
named by its id). TensorBoard is imported when a run starts, not when this module is.

Tags: step/loss and step/learning_rate against the global step (every `step_stride(n)`-th
step: writing an event costs ~0.15 ms, as much as a small net's step); loss/*, accuracy/* and
speed/images_per_second against the epoch; first_layer/weights as an image per epoch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nnkit import diskerrors, templates
from nnkit.config import RunConfig
from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd

STEPS_PER_EPOCH_WRITTEN = 100  # at most this many step losses per epoch (about 1 % slower)
IMAGE_SIDE = 256  # first-layer grids smaller than this are scaled up (nearest pixel)
EPOCH_TAGS = {  # tag -> EpochEnd field, plotted against the epoch
    "loss/train": "train_loss", "loss/validation": "val_loss", "loss/test": "test_loss",
    "accuracy/train": "train_accuracy", "accuracy/validation": "val_accuracy",
    "accuracy/test": "test_accuracy", "speed/images_per_second": "images_per_second",
}


def step_stride(steps_per_epoch: int) -> int:
    """Every how many steps a step loss is written: all of them for short epochs."""
    return max(1, steps_per_epoch // STEPS_PER_EPOCH_WRITTEN)


def weights_image(weight: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """A first-layer weight as one float image in [0, 1] (HW or HWC): 0.5 is zero, white gaps."""
    tiles = templates.templates_from_weight(weight, input_shape)  # (n, h, w[, 3])
    grid = templates.template_grid(tiles)
    limit = templates.symmetric_limit(grid) or 1.0
    image = np.nan_to_num(grid / (2 * limit) + 0.5, nan=1.0)
    scale = max(1, IMAGE_SIDE // max(image.shape[:2]))
    image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


class TensorBoardWriter(Callback):
    """Writes a run's losses, rate, accuracies and first-layer weights as TensorBoard events."""

    def __init__(self, folder: Path, cfg: RunConfig, input_shape: tuple[int, ...]) -> None:
        self.folder, self.cfg, self.input_shape = Path(folder), cfg, tuple(input_shape)
        self.writer = None  # a torch SummaryWriter once the run starts
        self.stride = 1

    def _call(self, do, *args, **kwargs):
        """do(*args, **kwargs); a full disk or an unwritable folder raised as DiskError."""
        try:
            return do(*args, **kwargs)
        except Exception as e:
            message = diskerrors.describe(e, self.folder)
            if message is None:
                raise
            from nnkit.runs import DiskError

            raise DiskError(message) from e

    def _write(self, method: str, *args, **kwargs) -> None:
        """One SummaryWriter call (none before the run started, or without TensorBoard)."""
        if self.writer is not None:
            self._call(getattr(self.writer, method), *args, **kwargs)

    def on_run_start(self, event: RunStart) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # the run still trains; only the event files are missing
            print(f"nnkit: no TensorBoard events for this run ({e}); pip install "
                  "tensorboard==2.21.0", file=sys.stderr)
            return
        self.writer = self._call(SummaryWriter, str(self.folder), flush_secs=10)
        self.stride = step_stride(event.steps_per_epoch)
        self._write("add_text", "run/config", f"```\n{self.cfg.to_json()}"
                    "\n```", 0)

    def on_step_end(self, event: StepEnd) -> None:
        if (event.step - 1) % self.stride:
            return
        self._write("add_scalar", "step/loss", event.loss, event.step)
        self._write("add_scalar", "step/learning_rate", event.lr, event.step)

    def on_checkpoint(self, epoch: int, state: dict) -> None:
        for key, value in state.items():  # conv1 or the first dense layer
            if key.endswith("weight") and value.ndim in (2, 4):
                weight = value.detach().float().cpu().numpy()
                break
        else:
            return
        try:
            image = weights_image(weight, self.input_shape)
        except ValueError:  # e.g. a toy set's (2,) input: no picture to make
            return
        self._write("add_image", "first_layer/weights", image, epoch,
                    dataformats="HWC" if image.ndim == 3 else "HW")

    def on_epoch_end(self, event: EpochEnd) -> None:
        for tag, name in EPOCH_TAGS.items():
            value = getattr(event, name)
            if value is not None:
                self._write("add_scalar", tag, value, event.epoch)

    def on_run_end(self, event: RunEnd) -> None:
        self._write("add_text", "run/end", f"{event.status}: {event.message}", 0)
        self._write("close")
        self.writer = None

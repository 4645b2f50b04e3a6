"""The step and epoch bookkeeping every trainer shares: batches per epoch, and training time
with pauses and evaluation left out."""

from __future__ import annotations

import time


def batching(n: int, batch_size: int) -> tuple[int, int]:
    """(batch size, steps per epoch) for n training images; a last batch of one image is
    dropped (batch norm cannot train on it)."""
    bs = max(1, min(batch_size, n))
    return bs, n // bs + (1 if n % bs >= 2 else 0)


class Clock:
    """Counts steps and training seconds: time spent paused (before a step starts) and
    evaluating (after an epoch ends) is not training time."""

    def __init__(self) -> None:
        self.step = 0  # steps done, over every epoch
        self.images = 0  # images trained on, over every epoch
        self.seconds = 0.0  # training seconds of the epochs ended
        self._epoch = 0.0  # training seconds of the epoch under way
        self._t0 = 0.0
        self._seen = 0  # images of the epoch under way

    @property
    def total(self) -> float:
        """Training seconds so far, the epoch under way included."""
        return self.seconds + self._epoch

    def start_step(self) -> None:
        """A step begins (after any pause): `step` is its number from now on."""
        self._t0 = time.perf_counter()
        self.step += 1

    def end_step(self, images: int) -> None:
        """After everything the step does, its listeners included (their cost is the run's)."""
        self._epoch += time.perf_counter() - self._t0
        self.images += images
        self._seen += images

    def end_epoch(self) -> tuple[int, float]:
        """(images this epoch, its images per second); the epoch's time joins the total."""
        seen, seconds = self._seen, self._epoch
        self.seconds, self._epoch, self._seen = self.seconds + seconds, 0.0, 0
        return seen, seen / max(seconds, 1e-9)

    def cut_short(self) -> None:
        """A stop mid-epoch: the part trained counts."""
        self.seconds, self._epoch, self._seen = self.seconds + self._epoch, 0.0, 0

    def images_per_second(self) -> float:
        """Over the whole run so far."""
        return self.images / self.seconds if self.seconds else 0.0

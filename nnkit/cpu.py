"""CPU threads for training: as many torch threads as there are cores nobody else is using.

OpenMP's waiting is set once, before torch loads (nnkit/__init__): threads spin a bounded
while at each barrier, then sleep. Spinning without bound (OMP_WAIT_POLICY=ACTIVE) trained
fast-cnn at ~9,800 images/s on a quiet 2-core machine against ~5,600 passive, and stalled
(~1,000) with a busy process beside it: a spinning thread then waits on its partner, which the
kernel has descheduled. So the count of threads follows the load instead: a governor, called
after every step, looks at how much CPU other processes took over the last second and keeps
the torch threads to the cores left. One thread alone never waits on another.
"""

from __future__ import annotations

import os
import time

from nnkit.events import Callback, StepEnd

CHECK_EVERY = 1.0  # seconds between looks at the load
FIRST_CHECK = 0.25  # seconds from the start to the first look
STAY = 0.75  # cores: how far the free cores may drift from the thread count before it follows


def cpu_seconds_busy() -> float | None:
    """Seconds of CPU time the whole machine has spent busy since boot (None off Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time this process (all its threads) has used."""
    t = os.times()
    return t.user + t.system


def threads_for(cores: int, others: float, most: int, current: int | None = None) -> int:
    """Torch threads for `cores` cores of which other processes use `others`: the cores left,
    rounded to the nearest, at least 1 and at most `most`. While the cores left stay within
    STAY of `current`, it stays: the dashboard and a browser beside a run (~0.5 of a core)
    would otherwise flip it between 1 and 2 every second."""
    left = cores - others
    if current is not None and abs(left - current) < STAY:
        return max(1, min(most, current))
    return max(1, min(most, int(left + 0.5)))


class ThreadGovernor(Callback):
    """Keeps torch's intra-op threads to the cores other processes leave free."""

    def __init__(self, most: int | None = None, every: float = CHECK_EVERY) -> None:
        import torch

        self.torch = torch
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)  # the cores this process may run on
        self.most = most or torch.get_num_threads()
        self.every = every
        self.last = self._sample()
        self.next_check = self.last[0] + FIRST_CHECK  # soon: 2 threads on a loaded CPU crawl
        self.changes: list[tuple[float, int]] = []  # (time, threads) whenever it changed

    def _sample(self) -> tuple[float, float | None, float]:
        return time.monotonic(), cpu_seconds_busy(), own_cpu_seconds()

    def on_step_end(self, e: StepEnd) -> None:
        self.tick()

    def tick(self) -> None:
        """Look at the load, once per `every` seconds; cheap in between (one clock read)."""
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + self.every
        sample = self._sample()
        (t0, busy0, own0), (t1, busy1, own1) = self.last, sample
        self.last = sample
        if busy0 is None or busy1 is None:
            return
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)  # in cores
        current = self.torch.get_num_threads()
        want = threads_for(self.cores, others, self.most, current)
        if want != current:
            self.torch.set_num_threads(want)
            self.changes.append((now, want))


_START_THREADS: list[int] = []  # torch's thread count before any governor changed it


def governors(device) -> list[ThreadGovernor]:
    """[a governor] for a run on a CPU with several cores; [] on a GPU, or when
    NNKIT_TORCH_THREADS fixes the count (set here, for the CLI and the training process alike).
    """
    import torch

    if not _START_THREADS:
        _START_THREADS.append(torch.get_num_threads())
    fixed = os.environ.get("NNKIT_TORCH_THREADS", "").strip()
    if fixed.isdigit() and int(fixed) > 0:  # e.g. 1 on a machine shared with much else
        torch.set_num_threads(int(fixed))
        return []
    if device.type != "cpu" or _START_THREADS[0] < 2:
        return []
    torch.set_num_threads(_START_THREADS[0])  # each run starts from all of them
    return [ThreadGovernor(most=_START_THREADS[0])]

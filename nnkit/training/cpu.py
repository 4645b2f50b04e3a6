"""CPU threads for training: as many torch threads as there are cores nobody else is using.

OpenMP's waiting is set once, before torch loads (nnkit/__init__): threads spin a bounded
while at each barrier, then sleep. Spinning without bound (OMP_WAIT_POLICY=ACTIVE) trained
fast-cnn at ~9,800 images/s on a quiet 2-core machine against ~5,600 passive, and stalled
(~1,000) with a busy process beside it: a spinning thread then waits on its partner, which the
kernel has descheduled. So the count of threads follows the load instead: a governor, called
after every step, looks once a second at how idle the machine was, how much CPU the run got
and how many steps it made, gives up a thread when another process takes its core and takes
one back when a core sits idle (next_threads). One thread alone never waits on another.

Whether two threads beside a light load (a browser drawing a live page: a quarter of a core)
beat one depends on the network: fast-cnn trained faster on one beside 0.4 of a core, twelve
MLPs at once (a sweep) on two. So the governor also measures: it remembers each thread
count's steps per second, keeps two threads when one was measured slower, and from one thread
tries two again now and then while some of a core is idle (a probe, backing off while probes
lose).
"""

from __future__ import annotations

import os
import time

from nnkit.training.events import Callback, StepEnd

CHECK_EVERY = 1.0  # seconds between looks at the load
FIRST_CHECK = 0.25  # seconds from the start to the first look
SATURATED = 0.25  # idle cores below which the machine counts as saturated
# Cores two threads may fall short of before one is given up. fast-cnn beside a process using
# 0.15 / 0.25 / 0.4 of a core: two threads got 1.84 / 1.77 / 1.58 cores, and one thread was
# slower (9-11k against 14.9k images/s) at 0.15, faster (9.5-10.2k against 8.4-9.2k) at 0.4.
SHORT = 0.3
FREE = 0.75  # idle cores that let the thread count grow by one
PROBE_IDLE = 0.4  # idle cores that let the governor try one more thread, to measure it
PROBE_FIRST, PROBE_MOST = 4.0, 64.0  # seconds to the first probe; the longest wait between
KEEP = 0.95  # fewer threads must step at least this share of the rate to be chosen
RATE_AGE = 30.0  # seconds a measured rate is trusted (the load beside it changes)


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


def next_threads(current: int, most: int, idle: float, own: float,
                 rates: dict[int, float] | None = None, probe: bool = False) -> int:
    """The torch thread count for the next second, from the last one's: `idle` cores of the
    machine were idle and this process used `own` cores. One fewer when the machine was
    saturated and the process got SHORT of a core less than its threads asked for (another
    process took it: with two threads both then wait at every barrier for the one that was
    descheduled), unless `rates` (steps per second measured at each count) show fewer
    threads slower; one more while a core sat idle, or when a `probe` is due and some of a
    core is idle. What others use is no signal: under contention they get less than they
    want, and a busy process beside two threads showed as half a core."""
    rates = rates or {}
    if current > 1 and idle < SATURATED and own < current - SHORT:
        fewer, now = rates.get(current - 1), rates.get(current)
        if fewer is None or now is None or fewer >= KEEP * now:
            return current - 1
    if current < most and (idle >= FREE or (probe and idle >= PROBE_IDLE)):
        return current + 1
    return current


class ThreadGovernor(Callback):
    """Keeps torch's intra-op threads to the cores the run can have (next_threads)."""

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
        self.steps = 0  # since the last look
        self.rates: dict[int, float] = {}  # threads -> steps per second, the latest measured
        self.measured: dict[int, float] = {}  # threads -> when that rate was measured
        self.probe_wait = PROBE_FIRST
        self.probe_at = self.last[0] + PROBE_FIRST
        self.probing = False  # the last change up was a probe

    def _sample(self) -> tuple[float, float | None, float]:
        return time.monotonic(), cpu_seconds_busy(), own_cpu_seconds()

    def on_step_end(self, e: StepEnd) -> None:
        self.tick()

    def tick(self) -> None:
        """Called once per step: look at the load once per `every` seconds; cheap in between
        (a count and one clock read)."""
        self.steps += 1
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + self.every
        sample = self._sample()
        (t0, busy0, own0), (t1, busy1, own1) = self.last, sample
        self.last, steps, self.steps = sample, self.steps, 0
        if busy0 is None or busy1 is None or t1 <= t0:
            return
        wall = t1 - t0
        idle = max(0.0, self.cores - (busy1 - busy0) / wall)  # in cores
        current = self.torch.get_num_threads()
        if wall <= 2 * self.every:  # a longer window held a pause or an evaluation: no rate
            self.rates[current], self.measured[current] = steps / wall, t1
        fresh = {n: r for n, r in self.rates.items() if t1 - self.measured[n] <= RATE_AGE}
        probe = t1 >= self.probe_at
        want = next_threads(current, self.most, idle, (own1 - own0) / wall, fresh, probe)
        if want < current and self.probing:  # the probe lost: wait longer for the next
            self.probe_wait = min(PROBE_MOST, self.probe_wait * 2)
        if want != current:
            self.probing = want > current and idle < FREE
            self.probe_at = t1 + self.probe_wait
            self.torch.set_num_threads(want)
            self.changes.append((now, want))
            return
        self.probing = False  # a probe that held is the new normal
        if probe:
            self.probe_at = t1 + self.probe_wait


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

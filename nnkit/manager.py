"""One process-wide run manager: a queue, a background worker, and live progress to read.

The worker thread writes progress into LiveRun objects it owns (guarded by a lock); pages read
copies of them. Nothing here calls Streamlit. Runs also go to the store, so a reload or a
restart loses nothing: the store is the truth, LiveRun only makes the live view cheap.
"""

from __future__ import annotations

import atexit
import copy
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from nnkit import data
from nnkit.config import RunConfig, check
from nnkit.control import RunControl
from nnkit.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.runner import load_bundle_for, run_and_store
from nnkit.runs import RunStore

POLICY = "one run trains at a time; runs started meanwhile wait in a queue, in order"


@dataclass
class LiveRun:
    """What the dashboard shows of a run while it is queued or training."""

    run_id: str
    name: str
    config: RunConfig
    status: str = "queued"  # queued | loading | running | paused | finished | stopped | diverged | failed
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
        return self.status in ("queued", "loading", "running", "paused")

    def images_per_second(self) -> float:
        """Training speed so far."""
        if self.history:
            return self.history[-1].images_per_second
        done = self.step * self.config.batch_size
        return done / self.train_seconds if self.train_seconds > 0 else 0.0


class _LiveRecorder(Callback):
    """Copies events into a LiveRun under the manager's lock."""

    def __init__(self, live: LiveRun, lock: threading.Lock, control: RunControl) -> None:
        self.live, self.lock, self.control = live, lock, control
        self._t = 0.0

    def on_run_start(self, e: RunStart) -> None:
        with self.lock:
            self.live.status, self.live.device, self.live.num_params = "running", e.device, e.num_params
            self.live.epochs, self.live.steps_per_epoch = e.epochs, e.steps_per_epoch
            self.live.train_size, self.live.started = e.train_size, time.time()
        self._t = time.perf_counter()

    def on_step_end(self, e: StepEnd) -> None:
        now = time.perf_counter()
        with self.lock:
            live = self.live
            live.step, live.epoch = e.step, e.epoch
            live.steps.append((e.step, e.loss))
            if now - self._t < 1.0:  # pauses are not training time
                live.train_seconds += now - self._t
            live.status = "paused" if self.control.paused else "running"
        self._t = now

    def on_weights(self, step: int, first_layer: np.ndarray) -> None:
        with self.lock:
            self.live.weights, self.live.weights_step = first_layer, step

    def on_epoch_end(self, e: EpochEnd) -> None:
        with self.lock:
            self.live.history.append(e)
            self.live.train_seconds = e.seconds
        self._t = time.perf_counter()  # evaluation is not training time

    def on_run_end(self, e: RunEnd) -> None:
        with self.lock:
            self.live.status, self.live.message, self.live.end = e.status, e.message, e
            self.live.train_seconds = e.train_seconds or self.live.train_seconds


class RunManager:
    """Queue of runs trained one at a time by a background worker thread."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        self._queue: queue.Queue[str] = queue.Queue()
        self._live: dict[str, LiveRun] = {}
        self._controls: dict[str, RunControl] = {}
        self._done: dict[str, threading.Event] = {}
        self._worker_idle = threading.Event()
        self._worker_idle.set()
        self._worker = threading.Thread(target=self._work, name="nnkit-trainer", daemon=True)
        self._worker.start()
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 20.0) -> None:
        """Stop every run (each keeps what it learned) and let the worker finish its writes."""
        with self.lock:
            controls = [self._controls[r] for r, live in self._live.items() if live.active]
        for control in controls:
            control.stop("stopped because the app shut down")
        if controls:
            self._worker_idle.wait(timeout)

    # --- what pages call --------------------------------------------------------------
    def submit(self, cfg: RunConfig, name: str = "") -> str:
        """Queue a run; returns its id at once (it is in the store from now on)."""
        check(cfg)
        run_id = self.store.create_run(cfg, name=name, status="queued")
        rec = self.store.get(run_id)
        with self.lock:
            self._live[run_id] = LiveRun(run_id, rec.name if rec else run_id, cfg)
            self._controls[run_id] = RunControl()
            self._done[run_id] = threading.Event()
        self._queue.put(run_id)
        return run_id

    def live(self, run_id: str) -> LiveRun | None:
        """A consistent copy of a run's live state (None if this process never ran it)."""
        with self.lock:
            live = self._live.get(run_id)
            if live is None:
                return None
            snap = copy.copy(live)
            snap.steps, snap.history = list(live.steps), list(live.history)
        return snap

    def active_ids(self) -> list[str]:
        """Runs queued or training in this process, oldest first."""
        with self.lock:
            return [r for r, live in self._live.items() if live.active]

    def latest_id(self) -> str | None:
        """The run most recently submitted in this process."""
        with self.lock:
            return next(reversed(self._live), None)

    def queue_position(self, run_id: str) -> int:
        """0 if training, k if k runs are ahead of it in the queue, -1 if not waiting."""
        ids = self.active_ids()
        return ids.index(run_id) if run_id in ids else -1

    def pause(self, run_id: str) -> None:
        if run_id in self._controls:
            self._controls[run_id].pause()
            self._set(run_id, "paused")
            self.store.update(run_id, status="paused")

    def resume(self, run_id: str) -> None:
        if run_id in self._controls:
            self._controls[run_id].resume()
            self._set(run_id, "running")
            self.store.update(run_id, status="running")

    def stop(self, run_id: str) -> None:
        """Ask a run to stop; a queued run is dropped before it starts."""
        if run_id in self._controls:
            self._controls[run_id].stop()

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run has ended; False on timeout."""
        done = self._done.get(run_id)
        return True if done is None else done.wait(timeout)

    def delete(self, run_id: str) -> None:
        """Stop a run if it trains, then remove it from the store."""
        self.stop(run_id)
        self.wait(run_id, timeout=30)
        with self.lock:
            self._live.pop(run_id, None)
        self.store.delete(run_id)

    # --- the worker -------------------------------------------------------------------
    def _set(self, run_id: str, status: str, message: str | None = None) -> None:
        with self.lock:
            live = self._live.get(run_id)
            if live is not None:
                live.status = status
                if message is not None:
                    live.message = message

    def _work(self) -> None:
        while True:
            run_id = self._queue.get()
            self._worker_idle.clear()
            try:
                self._train_one(run_id)
            finally:
                self._done[run_id].set()
                if self._queue.empty():
                    self._worker_idle.set()

    def _train_one(self, run_id: str) -> None:
        live, control = self._live.get(run_id), self._controls[run_id]
        if live is None:  # deleted while queued
            return
        if control.stop_requested:
            self._set(run_id, "stopped", "stopped before it started")
            self.store.update(run_id, status="stopped", message="stopped before it started")
            return
        self._set(run_id, "loading", "loading the data")
        try:
            bundle = load_bundle_for(live.config)
            recorder = _LiveRecorder(live, self.lock, control)
            run_and_store(live.config, self.store, run_id=run_id, callbacks=[recorder],
                          control=control, bundle=bundle)
        except data.DataError as e:
            self._fail(run_id, str(e))
        except Exception as e:  # noqa: BLE001 - the run fails, the app goes on
            self._fail(run_id, f"{type(e).__name__}: {e}")

    def _fail(self, run_id: str, message: str) -> None:
        self._set(run_id, "failed", message)
        self.store.update(run_id, status="failed", message=message)

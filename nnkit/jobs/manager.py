"""One process-wide run manager: a queue, a training process, and live progress to read.

Runs train one at a time in a separate process (`nnkit.jobs.worker`), so the trainer and the
dashboard's server do not share one interpreter lock. The manager sends it commands, and a
reader thread turns its events into LiveRun objects (guarded by a lock) that pages read copies
of. Nothing here calls Streamlit. Everything also goes to the store, so a reload or a restart
loses nothing: the store is the truth, LiveRun only makes the live view cheap.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnkit.config import RunConfig, check
from nnkit.jobs.worker import SHUTDOWN_REASON, decode_array
from nnkit.runs import RunStore, StoreError
from nnkit.training.control import RunControl
from nnkit.training.events import EpochEnd, RunEnd

POLICY = "one run trains at a time; runs started meanwhile wait in a queue, in order"
IDLE_SECONDS = 600.0  # a training process idle this long exits (NNKIT_WORKER_IDLE overrides)


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
        return self.status in ("queued", "loading", "running", "paused")

    def images_per_second(self) -> float:
        """Training speed so far."""
        if self.history:
            return self.history[-1].images_per_second
        done = self.step * self.config.batch_size
        return done / self.train_seconds if self.train_seconds > 0 else 0.0


def _seconds(text: str | None, default: float) -> float:
    """A positive number of seconds from an environment variable, else the default."""
    try:
        value = float(text or default)
    except ValueError:
        return default
    return value if value > 0 else default


class _Worker:
    """One training process, and a thread that hands each of its events to on_event."""

    def __init__(self, store: RunStore, on_event) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nnkit.jobs.worker", "--store", str(store.path),
             "--runs-dir", str(store.runs_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", env=env,
            start_new_session=True)  # Ctrl+C reaches the app, which then stops it cleanly
        self.on_event = on_event
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name="nnkit-worker-events", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, cmd: str, run_id: str, **fields) -> bool:
        """Send a command; False if the process is gone."""
        with self._send_lock:
            try:
                self.proc.stdin.write(json.dumps({"cmd": cmd, "run_id": run_id, **fields}) + "\n")
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def close(self, timeout: float = 0.0) -> None:
        """Close its stdin (it stops its run and exits); wait up to timeout seconds."""
        with self._send_lock:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.on_event(self, msg)
        self.on_event(self, {"ev": "exit", "code": self.proc.wait()})


class RunManager:
    """Queue of runs trained one at a time by a training process it starts when needed."""

    def __init__(self, store: RunStore, idle_seconds: float | None = None) -> None:
        self.store = store
        self.idle_seconds = idle_seconds or _seconds(os.environ.get("NNKIT_WORKER_IDLE"),
                                                     IDLE_SECONDS)
        self.lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._live: dict[str, LiveRun] = {}
        self._controls: dict[str, RunControl] = {}
        self._done: dict[str, threading.Event] = {}
        self._ended: dict[str, threading.Event] = {}
        self._current: str | None = None
        self._worker: _Worker | None = None
        self._worker_lock = threading.Lock()
        self._warming = False  # a delayed warm() is pending
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._dispatcher = threading.Thread(target=self._dispatch, name="nnkit-run-queue",
                                            daemon=True)
        self._dispatcher.start()
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 20.0, wait_for_exit: bool = True) -> None:
        """Stop every run (each keeps what it learned), let them finish their writes, and end
        the training process."""
        self._closed = True
        for run_id in self.active_ids():
            self.stop(run_id, SHUTDOWN_REASON)
        self._idle.wait(timeout)
        self._queue.put(None)
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close(timeout=5 if wait_for_exit else 0)

    # --- what pages call --------------------------------------------------------------
    def warm(self, delay: float = 0.0) -> None:
        """Start the training process (it imports torch: ~3 s of a core) so that the first run
        starts without that wait; `delay` seconds from now, to leave the CPU meanwhile to a
        browser drawing the page. A run submitted first starts it at once anyway."""
        if delay <= 0:
            self._ensure_worker()
            return
        with self._worker_lock:
            if self._warming or self._closed or (self._worker and self._worker.alive):
                return
            self._warming = True
        timer = threading.Timer(delay, self._warm_now)
        timer.daemon = True
        timer.start()

    def _warm_now(self) -> None:
        with self._worker_lock:
            self._warming = False
            if not self._closed and (self._worker is None or not self._worker.alive):
                self._worker = _Worker(self.store, self._on_event)

    def submit(self, cfg: RunConfig, name: str = "") -> str:
        """Queue a run; returns its id at once (it is in the store from now on)."""
        check(cfg)
        run_id = self.store.create_run(cfg, name=name, status="queued")
        rec = self.store.get(run_id)
        with self.lock:
            self._live[run_id] = LiveRun(run_id, rec.name if rec else run_id, cfg)
            self._controls[run_id] = RunControl()
            self._done[run_id] = threading.Event()
            self._ended[run_id] = threading.Event()
            self._idle.clear()
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
        self._command(run_id, "pause", "paused")

    def resume(self, run_id: str) -> None:
        self._command(run_id, "resume", "running")

    def stop(self, run_id: str, reason: str = "stopped by the user") -> None:
        """Ask a run to stop; a queued run is dropped before it starts."""
        self._command(run_id, "stop", reason=reason)

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

    # --- commands to the training process ----------------------------------------------
    def _command(self, run_id: str, cmd: str, status: str | None = None, **fields) -> None:
        with self.lock:
            control, live = self._controls.get(run_id), self._live.get(run_id)
            if control is None or live is None or not live.active:
                return
            {"pause": control.pause, "resume": control.resume,
             "stop": lambda: control.stop(fields["reason"])}[cmd]()
            if cmd in ("pause", "resume"):
                live.paused = cmd == "pause"
            if status and live.status in ("running", "paused"):
                live.status = status
            dropped = cmd == "stop" and live.status == "queued"  # ends now, not at its turn
            if dropped:
                live.status, live.message = "stopped", "stopped before it started"
            worker = self._worker if self._current == run_id else None
        if worker is not None:
            worker.send(cmd, run_id, **fields)
        if status and live.status in ("running", "paused"):
            self._save(run_id, status=status)
        if dropped:
            self._save(run_id, status="stopped", message="stopped before it started")
            self._done[run_id].set()

    def _ensure_worker(self) -> _Worker:
        with self._worker_lock:
            if self._worker is None or not self._worker.alive:
                self._worker = _Worker(self.store, self._on_event)
            return self._worker

    def _dispatch(self) -> None:
        while True:
            try:
                run_id = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:  # idle: give the memory back; a new run starts a new one
                with self._worker_lock:
                    worker, self._worker = self._worker, None
                if worker is not None:
                    worker.close()
                continue
            if run_id is None:
                return
            try:
                self._train_one(run_id)
            except Exception as e:  # noqa: BLE001 - this run fails, the queue goes on
                why = str(e) if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
                self._fail(run_id, f"it could not be trained: {why}")
            finally:
                with self.lock:
                    self._current = None
                self._done[run_id].set()
                with self.lock:
                    if not any(live.active for live in self._live.values()):
                        self._idle.set()

    def _train_one(self, run_id: str) -> None:
        with self.lock:  # one step: a Stop in between would be undone by "loading"
            live, control = self._live.get(run_id), self._controls[run_id]
            if live is None or not live.active:  # deleted, or dropped, while queued
                return
            if not control.stop_requested:
                live.status, live.message = "loading", "starting the training process"
        if control.stop_requested:
            self._set(run_id, "stopped", "stopped before it started")
            self._save(run_id, status="stopped", message="stopped before it started")
            return
        try:
            worker = self._ensure_worker()
        except OSError as e:
            return self._fail(run_id, f"the training process could not start ({e})")
        with self.lock:
            self._current = run_id
        worker.send("train", run_id)
        if control.paused:  # paused while it waited
            worker.send("pause", run_id)
        if control.stop_requested:  # stopped between the check above and now
            worker.send("stop", run_id, reason=control.reason)
        self._ended[run_id].wait()

    # --- events from the training process ----------------------------------------------
    def _on_event(self, worker: _Worker, msg: dict) -> None:
        """Handle one event; one that cannot be handled fails its run, naming the event and
        why, and never ends the thread reading them (the queue would wait forever)."""
        try:
            self._handle_event(worker, msg)
        except Exception as e:  # noqa: BLE001
            ev = msg.get("ev") if isinstance(msg, dict) else None
            run_id = msg.get("run_id") if isinstance(msg, dict) else None
            with self.lock:
                if run_id not in self._live:
                    run_id = self._current
                current = self._worker if run_id == self._current else None
            why = str(e) if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
            print(f"nnkit: the training process's {ev!r} event could not be handled: {why}",
                  file=sys.stderr)
            if run_id is None or self._ended[run_id].is_set():
                return
            message = f"the app could not follow the training process ({ev!r} event: {why})"
            self._fail(run_id, message)
            self._ended[run_id].set()
            if current is not None and ev != "exit":  # it must not go on training it unseen
                current.send("stop", run_id, reason=message)

    def _handle_event(self, worker: _Worker, msg: dict) -> None:
        ev, run_id = msg.get("ev"), msg.get("run_id")
        if ev == "exit":
            return self._worker_exited(worker, msg["code"])
        if run_id in self._ended and self._ended[run_id].is_set():
            return  # ended here already (it failed on an event): later news is not shown
        if ev == "start" and self._controls[run_id].paused:  # paused before its first step
            self._save(run_id, status="paused")
        with self.lock:
            live = self._live.get(run_id)
            if live is None:
                return
            if ev == "status":
                live.status, live.message = msg["status"], msg["message"]
            elif ev == "start":
                for key in ("device", "num_params", "epochs", "steps_per_epoch", "train_size"):
                    setattr(live, key, msg[key])
                live.started = time.time()
                live.status = "paused" if self._controls[run_id].paused else "running"
            elif ev == "steps" and msg["steps"]:
                live.steps.extend((s, loss) for s, _, loss in msg["steps"])
                live.step, live.epoch = msg["steps"][-1][0], msg["steps"][-1][1]
                live.train_seconds = msg["train_seconds"]
            elif ev == "weights":
                live.weights, live.weights_step = decode_array(msg["weights"]), msg["step"]
            elif ev == "epoch":
                event = EpochEnd(**{k: v for k, v in msg.items() if k not in ("ev", "run_id")})
                live.history.append(event)
                live.train_seconds = event.seconds
            elif ev == "end":
                live.end = RunEnd(msg["status"], msg["message"],
                                  msg.get("train_seconds") or live.train_seconds,
                                  msg.get("test_loss"), msg.get("test_accuracy"))
                live.status, live.message = msg["status"], msg["message"]
                live.train_seconds = live.end.train_seconds
                self._ended[run_id].set()

    def _worker_exited(self, worker: _Worker, code: int) -> None:
        """The training process ended: if it was training a run, that run failed."""
        with self._worker_lock:
            if self._worker is worker:
                self._worker = None
        with self.lock:
            run_id = self._current
        if run_id is None or self._ended[run_id].is_set():
            return
        try:
            rec = self.store.get(run_id)
        except StoreError:
            rec = None  # unreadable now: it did not end well
        if rec is None or rec.status in ("queued", "running", "paused"):
            checkpoint = ("its last checkpoint is usable" if self.store.checkpoint_path(run_id)
                          .exists() else "no checkpoint was saved")
            self._fail(run_id, f"the training process ended unexpectedly (exit code {code}); "
                               + checkpoint)
        else:
            self._set(run_id, rec.status, rec.message)
        self._ended[run_id].set()

    def _set(self, run_id: str, status: str, message: str | None = None) -> None:
        with self.lock:
            live = self._live.get(run_id)
            if live is not None:
                live.status = status
                if message is not None:
                    live.message = message

    def _fail(self, run_id: str, message: str) -> None:
        self._set(run_id, "failed", message)
        self._save(run_id, status="failed", message=message)

    def _save(self, run_id: str, **values) -> bool:
        """Write a run's columns; False (and a line on stderr) if the store cannot take them,
        e.g. on a full disk: the live view still shows them, and the queue goes on."""
        try:
            self.store.update(run_id, **values)
        except StoreError as e:
            print(f"nnkit: run {run_id} could not be saved as {values}: {e}", file=sys.stderr)
            return False
        return True

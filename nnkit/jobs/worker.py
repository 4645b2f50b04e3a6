"""The training process the run manager starts: it trains the runs it is told to, one at a time.

Commands come as JSON lines on stdin, events go out as JSON lines on stdout (a private copy of
it: anything printed goes to stderr). Everything a run produces goes to the run store as well,
which stays the truth; the events only keep the dashboard's live view cheap. When stdin closes
(the app quit, or was killed) or SIGTERM arrives, the run in progress stops, keeping what it
learned, and the process exits.

Training in its own process keeps the trainer and the dashboard's server off one interpreter
lock: on 2 cores a run in a server thread trained at about half its headless speed.

    python -m nnkit.jobs.worker --store PATH --runs-dir DIR
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import queue
import signal
import sys
import threading
import time

import numpy as np

from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd

SHUTDOWN_REASON = "stopped because the app shut down"
SEND_EVERY = 0.25  # seconds between batches of step losses sent to the app


class Emitter:
    """Writes one JSON event per line; safe to call from several threads."""

    def __init__(self, stream) -> None:
        self.stream, self.lock = stream, threading.Lock()

    def __call__(self, ev: str, **fields) -> None:
        line = json.dumps({"ev": ev, **fields}, separators=(",", ":"))
        with self.lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # the app is gone; the store still has it all
                pass


def encode_array(a) -> dict:
    """A float array as base64 float16 with its shape (the live view needs no more)."""
    a = np.ascontiguousarray(a, dtype=np.float16)
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict) -> np.ndarray:
    """The inverse of encode_array, as float32."""
    raw = np.frombuffer(base64.b64decode(d["data"]), dtype=np.float16)
    return raw.reshape(d["shape"]).astype(np.float32)


class PipeRecorder(Callback):
    """Sends a run's progress to the app (steps batched every SEND_EVERY seconds)."""

    def __init__(self, emit: Emitter, run_id: str) -> None:
        self.emit, self.run_id = emit, run_id
        self.steps: list[list] = []
        self.sent = time.perf_counter()
        self.last = 0.0
        self.train_seconds = 0.0

    def flush(self) -> None:
        self.emit("steps", run_id=self.run_id, steps=self.steps,
                  train_seconds=self.train_seconds)
        self.steps, self.sent = [], time.perf_counter()

    def on_run_start(self, e: RunStart) -> None:
        self.emit("start", run_id=self.run_id, device=e.device, num_params=e.num_params,
                  epochs=e.epochs, steps_per_epoch=e.steps_per_epoch, train_size=e.train_size)
        self.last = time.perf_counter()

    def on_step_end(self, e: StepEnd) -> None:
        now = time.perf_counter()
        if now - self.last < 1.0:  # a longer gap was a pause: not training time
            self.train_seconds += now - self.last
        self.last = now
        self.steps.append([e.step, e.epoch, e.loss])
        if now - self.sent > SEND_EVERY:
            self.flush()

    def on_weights(self, step: int, first_layer: np.ndarray) -> None:
        self.emit("weights", run_id=self.run_id, step=step, weights=encode_array(first_layer))

    def on_epoch_end(self, e: EpochEnd) -> None:
        self.train_seconds = e.seconds
        self.flush()
        self.emit("epoch", run_id=self.run_id, **vars(e))
        self.last = time.perf_counter()  # evaluation is not training time

    def on_run_end(self, e: RunEnd) -> None:
        self.train_seconds = e.train_seconds or self.train_seconds
        self.flush()


def save_endings(store, unsaved: dict[str, dict]) -> None:
    """Write the endings the store could not take when they happened (a full disk, say)."""
    from nnkit.runs import StoreError

    for run_id, values in list(unsaved.items()):
        try:
            store.update(run_id, **values)
        except StoreError:
            continue
        del unsaved[run_id]


def train_one(store, run_id: str, control, emit: Emitter, unsaved: dict[str, dict]) -> None:
    """Train one stored run; the last event about it is always 'end', sent once it is saved
    (or, if the store cannot be written, once its ending is in unsaved to be written later)."""
    from nnkit import data, diskerrors
    from nnkit.runs import StoreError
    from nnkit.training.runner import load_bundle_for, run_and_store

    def end(status: str, message: str, **more) -> None:
        emit("end", run_id=run_id, status=status, message=message, **more)

    def record(**values) -> None:
        try:
            store.update(run_id, **values)
        except StoreError as e:  # the run still ends; its ending is written when it can be
            unsaved[run_id] = values
            print(f"nnkit worker: run {run_id}'s ending is not saved yet: {e}", file=sys.stderr)

    try:
        rec = store.get(run_id)
        if rec is None:
            return end("failed", "the run was deleted before it started")
        if control.stop_requested:
            record(status="stopped", message="stopped before it started")
            return end("stopped", "stopped before it started")
        emit("status", run_id=run_id, status="loading", message="loading the data")
        bundle = load_bundle_for(rec.config)
        _, result = run_and_store(rec.config, store, run_id=run_id, control=control,
                                  bundle=bundle, callbacks=[PipeRecorder(emit, run_id)])
    except (data.DataError, StoreError) as e:  # StoreError includes a full disk, in words
        message = str(e)
    except Exception as e:  # noqa: BLE001 - the run fails, the process goes on
        message = diskerrors.describe(e, store.runs_dir) or f"{type(e).__name__}: {e}"
    else:
        e = result.end
        return end(e.status, e.message, train_seconds=e.train_seconds,
                   test_accuracy=e.test_accuracy, test_loss=e.test_loss)
    record(status="failed", message=message)
    end("failed", message)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="nnkit's training process (started by the app)")
    p.add_argument("--store", required=True)
    p.add_argument("--runs-dir", required=True)
    args = p.parse_args(argv)
    events = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the app's channel, kept private
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    emit = Emitter(events)

    from nnkit import device
    from nnkit.runs import RunStore
    from nnkit.training import runner  # noqa: F401  (torch: imported before the first run)
    from nnkit.training.control import RunControl

    device.pick("auto")  # the first CUDA query is slow; pay it while nothing waits
    store = RunStore(args.store, args.runs_dir)
    todo: queue.Queue[str | None] = queue.Queue()
    controls: dict[str, RunControl] = {}
    unsaved: dict[str, dict] = {}  # run id -> the ending the store could not take yet

    def stop_all() -> None:
        for control in list(controls.values()):
            control.stop(SHUTDOWN_REASON)
        todo.put(None)

    def read_commands() -> None:
        for line in sys.stdin:
            try:
                msg = json.loads(line)
                cmd, run_id = msg["cmd"], msg["run_id"]
            except (ValueError, KeyError, TypeError):
                print(f"nnkit worker: ignored a malformed command {line!r}", file=sys.stderr)
                continue
            control = controls.setdefault(run_id, RunControl())
            if cmd == "train":
                todo.put(run_id)
            elif cmd == "pause":
                control.pause()
            elif cmd == "resume":
                control.resume()
            elif cmd == "stop":
                control.stop(msg.get("reason") or "stopped by the user")
        stop_all()  # stdin closed: the app is gone

    signal.signal(signal.SIGTERM, lambda *_: stop_all())  # the run keeps what it learned

    threading.Thread(target=read_commands, name="nnkit-worker-commands", daemon=True).start()
    emit("ready", pid=os.getpid())
    while (run_id := todo.get()) is not None:
        save_endings(store, unsaved)
        try:
            train_one(store, run_id, controls[run_id], emit, unsaved)
        except Exception as e:  # noqa: BLE001 - never reached by design; the queue goes on
            emit("end", run_id=run_id, status="failed",
                 message=f"the training process failed ({type(e).__name__}: {e})")
        controls.pop(run_id, None)
    save_endings(store, unsaved)


if __name__ == "__main__":
    main()

"""The training process the job queue starts: it trains the jobs it is told to, one at a time.

Commands come as JSON lines on stdin, events go out as JSON lines on stdout (a private copy of
it: anything printed goes to stderr); protocol.py has both. Everything a job produces goes to
the run store as well, which stays the truth; the events only keep the dashboard's live view
cheap. When stdin closes (the app quit, or was killed) or SIGTERM arrives, the job in progress
stops, keeping what it learned, and the process exits.

Training in its own process keeps the trainer and the dashboard's server off one interpreter
lock: on 2 cores a run in a server thread trained at about half its headless speed.

    python -m nnkit.jobs.worker --store PATH --runs-dir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import socket
import sys
import threading
import time

import numpy as np

from nnkit.jobs.protocol import SHUTDOWN_REASON, Emitter, Job, encode_array
from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd

SEND_EVERY = 0.25  # seconds between batches of step losses sent to the app


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

    def end(status: str, message: str, **more) -> tuple[str, str]:
        emit("end", run_id=run_id, status=status, message=message, **more)
        return status, message

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
    except Exception as e:  # the run fails, the process goes on
        message = diskerrors.describe(e, store.runs_dir) or f"{type(e).__name__}: {e}"
    else:
        e = result.end
        return end(e.status, e.message, train_seconds=e.train_seconds,
                   test_accuracy=e.test_accuracy, test_loss=e.test_loss)
    record(status="failed", message=message)
    return end("failed", message)


def train_group(store, job: Job, control, emit: Emitter) -> tuple[str, str]:
    """A sweep's or an experiment's member runs, batched where they can be (sweep.py)."""
    from nnkit.training import sweep

    def member_end(run_id: str, res) -> None:
        rec = store.get(run_id)
        e = res.end if res is not None else None
        emit("end", run_id=run_id, status=e.status if e else (rec.status if rec else "failed"),
             message=e.message if e else (rec.message if rec else "the run was deleted"),
             train_seconds=e.train_seconds if e else 0.0,
             test_accuracy=e.test_accuracy if e else None, test_loss=e.test_loss if e else None)

    store.update_job(job.id, status="running", pid=os.getpid())
    out = sweep.train_members(store, job.runs, control,
                              callbacks_for=lambda r: [PipeRecorder(emit, r)],
                              on_member_end=member_end)
    counts: dict[str, int] = {}
    for run_id in job.runs:
        rec = store.get(run_id)
        status = rec.status if rec else "deleted"
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    if control.stop_requested:
        return "stopped", f"{control.reason} ({summary})"
    return ("finished" if all(r is not None for r in out.values()) else "failed"), summary


def train_study(store, job: Job, control, emit: Emitter) -> tuple[str, str]:
    """The palindrome RNN at each length; results and models kept as each length ends."""
    from nnkit.training import palindrome

    settings = dict(job.settings)
    lengths = [int(n) for n in settings.pop("lengths")]
    folder = store.job_dir(job.id)
    done: list[dict] = []
    store.update_job(job.id, status="running", pid=os.getpid())
    for length in lengths:
        emit("progress", job_id=job.id, results=done, current=length, epoch=0)
        result = palindrome.train_palindrome(
            length, control=control, save_to=folder / f"length_{length}.pt",
            on_epoch=lambda row, n=length: emit("progress", job_id=job.id, results=done,
                                                current=n, epoch=row["epoch"]), **settings)
        if result["epochs"]:  # a length stopped before its first epoch has nothing to show
            done.append(result)
        store.update_job(job.id, result={"lengths": lengths, "results": done})
        if result["status"] == "stopped":
            return "stopped", f"{control.reason} after {len(done)} of {len(lengths)} lengths"
    emit("progress", job_id=job.id, results=done, current=None)
    return "finished", f"{len(lengths)} lengths trained"


def record_node(store, run_ids, node: str) -> None:
    """Name the machine (or Ray node) that trains these runs in their records."""
    from nnkit.runs import StoreError

    for run_id in run_ids:
        with contextlib.suppress(StoreError):
            store.update(run_id, node=node)


def run_job(store, job: Job, control, emit: Emitter, unsaved: dict[str, dict]) -> None:
    """Train one job; its last event is always 'job_end', once its ending is saved."""
    from nnkit import diskerrors
    from nnkit.runs import StoreError
    from nnkit.training.status import is_active

    if job.kind == "run":
        status, message = train_one(store, job.id, control, emit, unsaved)
        return emit("job_end", job_id=job.id, status=status, message=message)
    try:
        if control.stop_requested:
            status, message = "stopped", "stopped before it started"
            for run_id in job.runs:
                store.update(run_id, status="stopped", message=message)
                emit("end", run_id=run_id, status="stopped", message=message)
        elif job.kind == "palindrome":
            status, message = train_study(store, job, control, emit)
        else:
            status, message = train_group(store, job, control, emit)
    except StoreError as e:
        status, message = "failed", str(e)
    except Exception as e:  # the job fails, the process goes on
        status = "failed"
        message = diskerrors.describe(e, store.runs_dir) or f"{type(e).__name__}: {e}"
    if status == "failed":  # members it did not get to end with it
        for run_id in job.runs:
            with contextlib.suppress(StoreError):
                rec = store.get(run_id)
                if rec is not None and is_active(rec.status):
                    store.update(run_id, status="failed", message=message)
    try:
        store.update_job(job.id, status=status, message=message)
    except StoreError as e:
        print(f"nnkit worker: job {job.id}'s ending is not saved: {e}", file=sys.stderr)
    emit("job_end", job_id=job.id, status=status, message=message)


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
    todo: queue.Queue[Job | None] = queue.Queue()
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
                cmd = msg["cmd"]
                job = Job.from_dict(msg["job"]) if cmd == "job" else None
                job_id = job.id if job else msg["job_id"]
            except (ValueError, KeyError, TypeError):
                print(f"nnkit worker: ignored a malformed command {line!r}", file=sys.stderr)
                continue
            control = controls.setdefault(job_id, RunControl())
            if cmd == "job":
                todo.put(job)
            elif cmd == "pause":
                control.pause()
            elif cmd == "resume":
                control.resume()
            elif cmd == "stop":
                control.stop(msg.get("reason") or "stopped by the user")
        stop_all()  # stdin closed: the app is gone

    signal.signal(signal.SIGTERM, lambda *_: stop_all())  # the job keeps what it learned

    threading.Thread(target=read_commands, name="nnkit-worker-commands", daemon=True).start()
    emit("ready", pid=os.getpid())
    while (job := todo.get()) is not None:
        save_endings(store, unsaved)
        record_node(store, job.runs, f"local {socket.gethostname()}")
        try:
            run_job(store, job, controls[job.id], emit, unsaved)
        except Exception as e:  # never reached by design; the queue goes on
            emit("job_end", job_id=job.id, status="failed",
                 message=f"the training process failed ({type(e).__name__}: {e})")
        controls.pop(job.id, None)
    save_endings(store, unsaved)


if __name__ == "__main__":
    main()

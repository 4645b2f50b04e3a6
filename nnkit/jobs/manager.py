"""One process-wide job queue: every job that trains goes through it, a slot at a time.

A job is one run, a group of runs trained together (a sweep, a Catalogue experiment; members
that differ only in lr, weight decay and seed train at once) or the palindrome study. The queue
hands each job to an executor (jobs/local.py: one training process, so the trainer and the
dashboard's server do not share one interpreter lock): one per slot, one slot on a CPU and
several on a GPU (jobs/slots.py), each slot taking the next job when its own ends. It turns
the executors' events into LiveRun and LiveJob objects (guarded by a lock) that pages read
copies of. Nothing here calls Streamlit. Everything also goes to the store, so a reload or a
restart loses nothing: the store is the truth, the live objects only make the live view cheap.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time

from nnkit.config import RunConfig, check
from nnkit.jobs import slots as slotcount
from nnkit.jobs.executors import make_executor
from nnkit.jobs.fair import FairQueue
from nnkit.jobs.live import LiveJob, LiveRun
from nnkit.jobs.protocol import SHUTDOWN_REASON, Job, decode_array
from nnkit.runs import RunStore, StoreError
from nnkit.training.control import RunControl
from nnkit.training.events import EpochEnd, RunEnd
from nnkit.training.status import is_active

POLICY = slotcount.policy(slotcount.default())  # true of the manager the app makes
PALINDROME_SECONDS = 120.0  # the palindrome study's usual length on a 2-core CPU
IDLE_SECONDS = 600.0  # a training process idle this long exits (NNKIT_WORKER_IDLE overrides)


def _seconds(text: str | None, default: float) -> float:
    """A positive number of seconds from an environment variable, else the default."""
    try:
        value = float(text or default)
    except ValueError:
        return default
    return value if value > 0 else default


class RunManager:
    """The queue of jobs, trained `slots` at a time by executors it starts when needed."""

    def __init__(self, store: RunStore, idle_seconds: float | None = None,
                 executor=make_executor, slots: int | None = None) -> None:
        self.store = store
        self.slots = slots or slotcount.default()
        self.idle_seconds = idle_seconds or _seconds(os.environ.get("NNKIT_WORKER_IDLE"),
                                                     IDLE_SECONDS)
        self._make_executor = executor
        self.lock = threading.Lock()
        self._queue = FairQueue()
        self._jobs: dict[str, LiveJob] = {}
        self._job_of: dict[str, str] = {}  # run id -> job id
        self._live: dict[str, LiveRun] = {}
        self._controls: dict[str, RunControl] = {}  # per job
        self._done: dict[str, threading.Event] = {}  # per job: it has ended here
        self._ended: dict[str, threading.Event] = {}  # per job: its executor is done with it
        self._running: dict[str, object] = {}  # job id -> the executor training it
        self._executors: list = [None] * self.slots  # per slot, started when needed
        self._executor_lock = threading.Lock()
        self._warming = False  # a delayed warm() is pending
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        for slot in range(self.slots):
            threading.Thread(target=self._dispatch, args=(slot,), daemon=True,
                             name=f"nnkit-job-queue-{slot}").start()
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 20.0, wait_for_exit: bool = True) -> None:
        """Stop every job (each keeps what it learned), let them finish their writes, and end
        the training process."""
        self._closed = True
        for job_id in self.active_jobs():
            self.stop_job(job_id, SHUTDOWN_REASON)
        self._idle.wait(timeout)
        self._queue.close()
        with self._executor_lock:
            executors, self._executors = self._executors, [None] * self.slots
        for executor in executors:  # each stops its job and exits: close them all, then wait
            if executor is not None:
                executor.close(timeout=0)
        for executor in executors if wait_for_exit else ():
            if executor is not None:
                executor.close(timeout=5)

    # --- submitting -------------------------------------------------------------------
    def warm(self, delay: float = 0.0) -> None:
        """Start the training process (it imports torch: ~3 s of a core) so that the first job
        starts without that wait; `delay` seconds from now, to leave the CPU meanwhile to a
        browser drawing the page. A job submitted first starts it at once anyway."""
        if delay <= 0:
            self._ensure_executor()
            return
        with self._executor_lock:
            first = self._executors[0]
            if self._warming or self._closed or (first is not None and first.alive):
                return
            self._warming = True
        timer = threading.Timer(delay, self._warm_now)
        timer.daemon = True
        timer.start()

    def _warm_now(self) -> None:
        with self._executor_lock:
            self._warming = False
            first = self._executors[0]
            if not self._closed and (first is None or not first.alive):
                self._executors[0] = self._make_executor(self.store, self._on_event)

    def submit(self, cfg: RunConfig, name: str = "", owner: str = "") -> str:
        """Queue one run; returns its id at once (it is in the store from now on). A run's job
        id is its run id. Jobs of several owners take turns (jobs/fair.py)."""
        check(cfg)
        run_id = self.store.create_run(cfg, name=name, status="queued", owner=owner)
        self._enqueue(LiveJob(run_id, "run", name, [run_id], owner=owner))
        return run_id

    def submit_sweep(self, spec, owner: str = "") -> str:
        """Queue a sweep (nnkit.training.sweep.SweepSpec): its members are stored runs from now
        on, its settings a job record. Returns the job id."""
        from nnkit.training import sweep  # torch: only pages that sweep need it

        job_id, run_ids = sweep.create(spec, self.store, owner=owner)
        rec = self.store.get_job(job_id)
        self._enqueue(LiveJob(job_id, "sweep", rec.name, run_ids, owner=owner))
        return job_id

    def submit_group(self, name: str, group: str, runs: list[tuple[str, RunConfig]],
                     owner: str = "") -> str:
        """Queue runs that train as one job (a Catalogue experiment): [(run name, config)],
        stored with group_name `group`. Returns the job id."""
        for _, cfg in runs:
            check(cfg)
        run_ids = [self.store.create_run(cfg, run_name, "queued", group=group, owner=owner)
                   for run_name, cfg in runs]
        job_id = self.store.create_job("experiment", name, {"group": group}, run_ids,
                                       owner=owner)
        self._enqueue(LiveJob(job_id, "experiment", name, run_ids, owner=owner))
        return job_id

    def submit_study(self, name: str, settings: dict, owner: str = "") -> str:
        """Queue the palindrome study (train_palindrome's settings, with `lengths`)."""
        job_id = self.store.create_job("palindrome", name, settings, owner=owner)
        self._enqueue(LiveJob(job_id, "palindrome", name, settings=dict(settings), owner=owner))
        return job_id

    def _enqueue(self, job: LiveJob) -> None:
        recs = {r: self.store.get(r) for r in job.runs}
        with self.lock:
            self._jobs[job.id] = job
            for run_id, rec in recs.items():
                self._live[run_id] = LiveRun(run_id, rec.name if rec else run_id,
                                             rec.config if rec else RunConfig())
                self._job_of[run_id] = job.id
            self._controls[job.id] = RunControl()
            self._done[job.id] = threading.Event()
            self._ended[job.id] = threading.Event()
            self._idle.clear()
        self._queue.put(job.id, job.owner)

    # --- reading ----------------------------------------------------------------------
    def live(self, run_id: str) -> LiveRun | None:
        """A consistent copy of a run's live state (None if this process never ran it)."""
        with self.lock:
            live = self._live.get(run_id)
            return live.copy() if live is not None else None

    def job(self, job_id: str) -> LiveJob | None:
        """A copy of a job's live state (None if this process never queued it)."""
        with self.lock:
            job = self._jobs.get(job_id)
            return job.copy() if job is not None else None

    def jobs(self, kind: str | None = None) -> list[LiveJob]:
        """Copies of the jobs queued in this process, oldest first (of one kind if given)."""
        with self.lock:
            ids = [j.id for j in self._jobs.values() if kind in (None, j.kind)]
        return [job for job in map(self.job, ids) if job is not None]

    def job_of(self, run_id: str) -> str | None:
        """The id of the job a run belongs to (its own id for a single run)."""
        with self.lock:
            return self._job_of.get(run_id)

    def active_jobs(self) -> list[str]:
        """Jobs queued or training, oldest first."""
        with self.lock:
            return [j for j, job in self._jobs.items() if job.active]

    def active_ids(self) -> list[str]:
        """Runs queued or training in this process, oldest first."""
        with self.lock:
            return [r for r, live in self._live.items() if live.active]

    def queue_position(self, run_or_job_id: str) -> int:
        """0 if its job trains, k if k jobs will start before it, -1 if not waiting."""
        job_id = self.job_of(run_or_job_id) or run_or_job_id
        with self.lock:
            job = self._jobs.get(job_id)
        return self._queue.position(job_id) if job is not None and job.active else -1

    def starts_in(self, run_or_job_id: str) -> float | None:
        """Rough seconds until a waiting job starts: the slots' training jobs' time left, then
        each job ahead of it taking the first slot free (training/estimate.py, a 2-core CPU's
        figures); None if it is not waiting."""
        from nnkit.training import estimate  # torch-free for presets

        job_id = self.job_of(run_or_job_id) or run_or_job_id
        order = self._queue.order()
        if job_id not in order:
            return None
        with self.lock:
            free = sorted(self._seconds_left(self._jobs[j], estimate) for j in self._running)
            free += [0.0] * (self.slots - len(free))
            for ahead in order[:order.index(job_id)]:
                if ahead in self._jobs:
                    free[0] += self._seconds_left(self._jobs[ahead], estimate)
                    free.sort()
            return free[0]

    def _seconds_left(self, job: LiveJob, estimate) -> float:
        """Under the lock: a job's training time still to come, roughly."""
        if not job.runs:
            return PALINDROME_SECONDS
        left = 0.0
        for run_id in job.runs:
            live = self._live.get(run_id)
            if live is None or not live.active:
                continue
            if live.step and live.total_steps:
                left += live.train_seconds / live.step * (live.total_steps - live.step)
            else:
                left += estimate.run_seconds(live.config)
        return left

    # --- control ----------------------------------------------------------------------
    def pause(self, run_id: str) -> None:
        """Pause the job a run belongs to (a sweep's members train together)."""
        self._command(self.job_of(run_id) or run_id, "pause")

    def resume(self, run_id: str) -> None:
        self._command(self.job_of(run_id) or run_id, "resume")

    def stop(self, run_id: str, reason: str = "stopped by the user") -> None:
        """Stop the job a run belongs to; a queued job is dropped before it starts."""
        self.stop_job(self.job_of(run_id) or run_id, reason)

    def stop_job(self, job_id: str, reason: str = "stopped by the user") -> None:
        """Stop a job: runs training keep what they learned, ones not started end as stopped."""
        self._command(job_id, "stop", reason=reason)

    def wait(self, run_or_job_id: str, timeout: float | None = None) -> bool:
        """Block until the job (of a run) has ended; False on timeout."""
        done = self._done.get(self.job_of(run_or_job_id) or run_or_job_id)
        return True if done is None else done.wait(timeout)

    def delete(self, run_id: str) -> None:
        """Stop a run's job if it trains (a sweep member's: the whole sweep), then remove the
        run from the store; its live view goes once the job has ended."""
        self.stop(run_id)
        ended = self.wait(run_id, timeout=60)
        if ended:
            with self.lock:
                self._live.pop(run_id, None)
        self.store.delete(run_id)

    def _command(self, job_id: str, cmd: str, **fields) -> None:
        with self.lock:
            control, job = self._controls.get(job_id), self._jobs.get(job_id)
            if control is None or job is None or not job.active:
                return
            {"pause": control.pause, "resume": control.resume,
             "stop": lambda: control.stop(fields["reason"])}[cmd]()
            changed = []
            if cmd in ("pause", "resume"):
                status = "paused" if cmd == "pause" else "running"
                if job.status in ("running", "paused"):
                    job.status = status
                for run_id in job.runs:
                    live = self._live.get(run_id)
                    if live is None:
                        continue
                    live.paused = cmd == "pause"
                    if live.status in ("running", "paused"):
                        live.status = status
                        changed.append((run_id, status))
            dropped = cmd == "stop" and job.status == "queued"  # ends now, not at its turn
            why = "stopped before it started"
            if dropped and fields["reason"] not in ("stopped by the user", SHUTDOWN_REASON):
                why = f"{fields['reason']}, before it started"  # e.g. by the teacher
            if dropped:
                self._end_here(job, "stopped", why)
            executor = self._running.get(job_id)
        if executor is not None:
            executor.send(cmd, job_id, **fields)
        for run_id, status in changed:
            self._save_status(run_id, status)
        if dropped:
            self._queue.remove(job_id)  # its turn is given to the next
            self._save_ending(job, "stopped", why)
            self._done[job_id].set()
            with self.lock:
                if not any(j.active for j in self._jobs.values()):
                    self._idle.set()

    def _end_here(self, job: LiveJob, status: str, message: str) -> None:
        """Under the lock: end a job and its runs still active in the live view."""
        job.status, job.message = status, message
        for run_id in job.runs:
            live = self._live.get(run_id)
            if live is not None and live.active:
                live.status, live.message = status, message

    def _save_ending(self, job: LiveJob, status: str, message: str) -> None:
        """Write a job's ending (and its unfinished runs') when the executor could not."""
        for run_id in job.runs:
            try:
                rec = self.store.get(run_id)
            except StoreError:
                rec = None
            if rec is None or is_active(rec.status):
                self._save(run_id, status=status, message=message)
        if job.kind != "run":
            try:
                self.store.update_job(job.id, status=status, message=message)
            except StoreError as e:
                print(f"nnkit: job {job.id} could not be saved as {status}: {e}", file=sys.stderr)

    # --- the queue --------------------------------------------------------------------
    def _ensure_executor(self, slot: int = 0):
        with self._executor_lock:
            executor = self._executors[slot]
            if executor is None or not executor.alive:
                executor = self._executors[slot] = self._make_executor(self.store,
                                                                       self._on_event)
            return executor

    def _dispatch(self, slot: int) -> None:
        while True:
            try:
                job_id = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:  # idle: give the memory back; a new job starts a new one
                with self._executor_lock:
                    executor, self._executors[slot] = self._executors[slot], None
                if executor is not None:
                    executor.close()
                continue
            if job_id is None:
                return
            try:
                self._train(job_id, slot)
            except Exception as e:  # this job fails, the queue goes on
                why = str(e) if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
                self._fail(job_id, f"it could not be trained: {why}")
            finally:
                with self.lock:
                    self._running.pop(job_id, None)
                self._queue.done(job_id)
                self._done[job_id].set()
                with self.lock:
                    if not any(job.active for job in self._jobs.values()):
                        self._idle.set()

    def _train(self, job_id: str, slot: int) -> None:
        with self.lock:  # one step: a Stop in between would be undone by "loading"
            job, control = self._jobs.get(job_id), self._controls[job_id]
            if job is None or not job.active:  # dropped while queued
                return
            if not control.stop_requested:
                job.status = "running"
                for run_id in job.runs[:1] if job.kind == "run" else ():
                    self._live[run_id].status = "loading"
                    self._live[run_id].message = "starting the training process"
        if control.stop_requested:
            with self.lock:
                self._end_here(job, "stopped", "stopped before it started")
            return self._save_ending(job, "stopped", "stopped before it started")
        try:
            executor = self._ensure_executor(slot)
        except OSError as e:
            return self._fail(job_id, f"the training process could not start ({e})")
        with self.lock:
            self._running[job_id] = executor
        if not executor.start(Job(job.id, job.kind, list(job.runs), dict(job.settings))):
            return self._fail(job_id, "the training process could not be reached")
        if control.paused:  # paused while it waited
            executor.send("pause", job_id)
        if control.stop_requested:  # stopped between the check above and now
            executor.send("stop", job_id, reason=control.reason)
        self._ended[job_id].wait()

    # --- events from the executor -----------------------------------------------------
    def _on_event(self, executor, msg: dict) -> None:
        """Handle one event; one that cannot be handled fails its job, naming the event and
        why, and never ends the thread reading them (the queue would wait forever)."""
        try:
            self._handle_event(executor, msg)
        except Exception as e:
            ev = msg.get("ev") if isinstance(msg, dict) else None
            with self.lock:
                job_id = self._training_on(executor)
                current = executor if job_id is not None else None
            why = str(e) if isinstance(e, StoreError) else f"{type(e).__name__}: {e}"
            print(f"nnkit: the training process's {ev!r} event could not be handled: {why}",
                  file=sys.stderr)
            if job_id is None or self._ended[job_id].is_set():
                return
            message = f"the app could not follow the training process ({ev!r} event: {why})"
            self._fail(job_id, message)
            self._ended[job_id].set()
            if current is not None and ev != "exit":  # it must not go on training it unseen
                current.send("stop", job_id, reason=message)

    def _handle_event(self, executor, msg: dict) -> None:
        ev = msg.get("ev")
        if ev == "exit":
            return self._executor_exited(executor, msg["code"])
        if ev in ("progress", "job_end"):
            return self._job_event(msg)
        run_id = msg.get("run_id")
        job_id = self.job_of(run_id)
        if job_id is None or self._ended[job_id].is_set():
            return  # ended here already (it failed on an event): later news is not shown
        paused = self._controls[job_id].paused
        if ev == "start" and paused:  # paused before its first step
            self._save_status(run_id, "paused")
        with self.lock:
            live = self._live.get(run_id)
            if live is None:  # deleted meanwhile
                return
            if ev == "status":
                live.status, live.message = msg["status"], msg["message"]
            elif ev == "start":
                for key in ("device", "num_params", "epochs", "steps_per_epoch", "train_size"):
                    setattr(live, key, msg[key])
                live.started = time.time()
                live.status = "paused" if paused else "running"
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

    def _job_event(self, msg: dict) -> None:
        job_id = msg["job_id"]
        if job_id not in self._ended or self._ended[job_id].is_set():
            return
        with self.lock:
            job = self._jobs[job_id]
            if msg["ev"] == "progress":
                job.results, job.current = list(msg["results"]), msg.get("current")
                job.epoch = msg.get("epoch", 0)
                return
            job.current = None
            status, message = msg["status"], msg["message"]
            if is_active(status):  # the process could not say how it ended
                status, message = "failed", f"it ended without a final status ({message})"
            self._end_here(job, status, message)
        self._save_ending(job, status, message)  # runs the process could not end in the store
        self._ended[job_id].set()

    def _executor_exited(self, executor, code: int) -> None:
        """The training process ended: if it was training a job, that job failed."""
        with self._executor_lock:
            self._executors = [None if e is executor else e for e in self._executors]
        with self.lock:
            job_id = self._training_on(executor)
        if job_id is None or self._ended[job_id].is_set():
            return  # not training anything (an idle process closed), or done with it
        job = self._jobs[job_id]
        ended = True
        for run_id in job.runs:
            try:
                rec = self.store.get(run_id)
            except StoreError:
                rec = None  # unreadable now: it did not end well
            if rec is None or is_active(rec.status):
                ended = False
                checkpoint = ("its last checkpoint is usable" if self.store.checkpoint_path(
                    run_id).exists() else "no checkpoint was saved")
                why = (f"the training process ended unexpectedly (exit code {code}); "
                       + checkpoint)
                self._set(run_id, "failed", why)
                self._save(run_id, status="failed", message=why)
            else:
                self._set(run_id, rec.status, rec.message)
        if job.kind != "run" or not ended:
            why = f"the training process ended unexpectedly (exit code {code})"
            with self.lock:
                job.status, job.message = "failed", why
            if job.kind != "run":
                self._save_ending(job, "failed", why)
        else:
            with self.lock:
                live = self._live.get(job.id)
                job.status = live.status if live is not None else job.status
        self._ended[job_id].set()

    def _training_on(self, executor) -> str | None:
        """Under the lock: the job an executor trains, if any."""
        return next((j for j, e in self._running.items() if e is executor), None)

    def _set(self, run_id: str, status: str, message: str | None = None) -> None:
        with self.lock:
            live = self._live.get(run_id)
            if live is not None:
                live.status = status
                if message is not None:
                    live.message = message

    def _fail(self, job_id: str, message: str) -> None:
        with self.lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._end_here(job, "failed", message)
        if job is not None:
            self._save_ending(job, "failed", message)

    def _save_status(self, run_id: str, status: str) -> None:
        """paused or running, only while it trains: never over the ending it reached."""
        try:
            self.store.set_status_if(run_id, status, ("running", "paused"))
        except StoreError as e:
            print(f"nnkit: run {run_id} could not be saved as {status}: {e}", file=sys.stderr)

    def _save(self, run_id: str, **values) -> bool:
        """Write a run's columns; False (and a line on stderr) if the store cannot take them,
        e.g. on a full disk: the live view still shows them, and the queue goes on."""
        try:
            self.store.update(run_id, **values)
        except StoreError as e:
            print(f"nnkit: run {run_id} could not be saved as {values}: {e}", file=sys.stderr)
            return False
        return True

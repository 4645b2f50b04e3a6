"""The Ray executor: the queue's jobs as Ray tasks on a cluster, with LocalExecutor's shape.

A run or a study is one task; a sweep's or an experiment's members are split into their
batched groups (sweep.groups_of), each cut into as many tasks as the cluster trains at once
(or into NNKIT_RAY_MEMBERS_PER_TASK members each), so they spread over the cluster. A task
runs the training process's own code (worker.py) and writes the same store and runs folder
(on another machine: the nnkit folder on a shared filesystem, docs/cluster.md); its events
come back through one small actor (Relay) that also carries pause, resume and stop to it.
Tasks never retry (max_retries=0): a job is never run twice. A task whose worker dies ends
its runs as failed, naming the cause; a lost cluster ends every job it had, and the executor
with it (the queue then makes a new one, local if need be).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import threading
import time
from pathlib import Path

import ray

from nnkit.jobs import executors
from nnkit.jobs.protocol import SHUTDOWN_REASON, Job
from nnkit.runs import RunStore, StoreError

ROOT = str(Path(__file__).resolve().parents[2])
POLL = 0.1  # seconds between looks at the relay and the tasks
_connected: list[str] = []  # the address this process's Ray connection is to


class ClusterUnreachable(Exception):
    """The Ray cluster named cannot be reached; the message says why."""


def connect(address: str) -> None:
    """Connect this process to the cluster at address (host:port of `ray start --head`)."""
    if why := executors.silent(address, timeout=2.0):  # in seconds, not Ray's long retries
        raise ClusterUnreachable(why)
    if ray.is_initialized():
        if _connected == [address]:
            return
        ray.shutdown()
    try:
        ray.init(address=address, namespace="nnkit", log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
    except Exception as e:  # any failure to connect is "unreachable", in words
        raise ClusterUnreachable(f"{type(e).__name__}: {e}") from None
    _connected[:] = [address]


def disconnect() -> None:
    """Drop this process's Ray connection (after the cluster was lost: the next connect is new)."""
    _connected.clear()
    with contextlib.suppress(Exception):
        ray.shutdown()


def describe_cluster() -> str:
    """'2 nodes, 4 CPUs, 1 GPU' for the connected cluster."""
    res, nodes = ray.cluster_resources(), [n for n in ray.nodes() if n.get("Alive")]
    gpus = res.get("GPU", 0)
    return (f"{len(nodes)} node{'s' * (len(nodes) != 1)}, {res.get('CPU', 0):g} CPUs"
            + (f", {gpus:g} GPUs" if gpus else ""))


def _number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value >= 0 else default


@ray.remote(num_cpus=0, max_restarts=0)
class Relay:
    """Events from tasks to the app and commands from the app to tasks; one submitter's calls
    run in the order sent (a single-threaded actor), so a run's events stay in order."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.commands: dict[str, list[dict]] = {}

    def put(self, msg: dict) -> None:
        self.events.append(msg)

    def take(self) -> list[dict]:
        out, self.events = self.events, []
        return out

    def command(self, job_id: str, msg: dict) -> None:
        self.commands.setdefault(job_id, []).append(msg)

    def commands_since(self, job_id: str, seen: int) -> list[dict]:
        return self.commands.get(job_id, [])[seen:]

    def forget(self, job_id: str) -> None:
        self.commands.pop(job_id, None)


class ServerOwnedStore(RunStore):
    """The store as a task writes it: a run's pid is the server's, whose end ends the task
    (Ray stops a driver's tasks with it), so recover_interrupted stays right on any node."""

    def __init__(self, path, runs_dir, owner_pid: int) -> None:
        super().__init__(path, runs_dir)
        self.owner_pid = owner_pid

    def update(self, run_id: str, **values) -> None:
        super().update(run_id, **({**values, "pid": self.owner_pid} if "pid" in values
                                  else values))

    def update_job(self, job_id: str, **values) -> None:
        super().update_job(job_id, **({**values, "pid": self.owner_pid} if "pid" in values
                                      else values))


def node_name() -> str:
    """This Ray node as a run's record names it."""
    ctx = ray.get_runtime_context()
    return f"ray {socket.gethostname()} {ray.util.get_node_ip_address()} ({ctx.get_node_id()[:8]})"


@ray.remote(max_retries=0)
def train_part(store_path: str, runs_dir: str, job: dict, relay, env: dict,
               owner_pid: int) -> tuple[str, str, str]:
    """Train a job, or a part of a sweep's members, with the training process's code; returns
    (status, message, node). Its events go to the relay, its commands come from it."""
    os.environ.update(env)
    from nnkit.jobs import worker
    from nnkit.training.control import RunControl

    job = Job.from_dict(job)
    node = node_name()
    store = ServerOwnedStore(store_path, runs_dir, owner_pid)
    worker.record_node(store, job.runs, node)
    control, seen, done = RunControl(), [0], threading.Event()

    def follow() -> None:
        for msg in ray.get(relay.commands_since.remote(job.id, seen[0])):
            seen[0] += 1
            {"pause": control.pause, "resume": control.resume,
             "stop": lambda m=msg: control.stop(m.get("reason") or "stopped by the user")
             }.get(msg["cmd"], lambda: None)()

    def keep_following() -> None:
        while not done.wait(0.2):
            with contextlib.suppress(Exception):  # the app gone: Ray ends this task anyway
                follow()

    follow()  # a pause or stop sent while it waited for a worker counts from the start
    threading.Thread(target=keep_following, daemon=True).start()
    emit = lambda ev, **fields: relay.put.remote({"ev": ev, **fields})
    try:
        if job.kind == "run":
            status, message = worker.train_one(store, job.id, control, emit, {})
        elif job.kind == "palindrome":
            status, message = worker.train_study(store, job, control, emit)
        else:
            status, message = worker.train_group(store, job, control, emit)
    finally:
        done.set()
        ray.get(relay.put.remote({"ev": "part_done"}))  # every event before it has arrived
    return status, message, node


@ray.remote(max_retries=0)
def ready_worker(env: dict) -> str:
    """Import the training code on a worker (torch: ~3 s of a core) and ask for the device:
    Ray hands a later task to this idle worker, which then starts training at once."""
    os.environ.update(env)
    from nnkit import device
    from nnkit.jobs import worker  # noqa: F401  (imported for its import time)
    from nnkit.training import runner, sweep  # noqa: F401

    device.pick("auto")
    return node_name()


def nnkit_env() -> dict:
    """The NNKIT_ settings a task trains with (the server's)."""
    return {k: v for k, v in os.environ.items() if k.startswith("NNKIT_")}


class RayExecutor:
    """Jobs as Ray tasks, and a thread that hands their events to on_event."""

    warm_workers = 8  # at most this many workers are readied when the executor starts

    name = "ray"

    def __init__(self, store: RunStore, on_event, address: str) -> None:
        connect(address)
        self.store, self.on_event, self.address = store, on_event, address
        try:
            self.relay = Relay.remote()
            ray.get(self.relay.take.remote(), timeout=60)
            gpus = ray.cluster_resources().get("GPU", 0)
        except Exception as e:
            raise ClusterUnreachable(f"{type(e).__name__}: {e}") from None
        self.cpus = _number("NNKIT_RAY_CPUS_PER_TASK", 1)
        self.gpus = _number("NNKIT_RAY_GPUS_PER_TASK", 0.25 if gpus else 0)
        # A batched group is cut into as many tasks as the cluster trains at once, unless
        # NNKIT_RAY_MEMBERS_PER_TASK caps a task's members (more members per task: fewer
        # processes and copies of the data; fewer: more of the cluster used).
        res = ray.cluster_resources()
        at_once = (res.get("GPU", 0) / self.gpus if self.gpus
                   else res.get("CPU", 1) / max(self.cpus, 1e-3))
        self.at_once = max(1, int(at_once))
        self.members = int(_number("NNKIT_RAY_MEMBERS_PER_TASK", 0))  # 0: chosen per group
        self.lock = threading.Lock()
        self.jobs: dict[str, tuple[Job, dict]] = {}  # job id -> (job, {task ref: its runs})
        self.results: dict[str, list] = {}  # job id -> its tasks' endings so far
        self._alive, self._closing = True, False
        threading.Thread(target=self._pump, name="nnkit-ray-events", daemon=True).start()
        # Workers shaped like the tasks to come, spread over the nodes, ready the training
        # code while the page's form is filled in (the server starts this on a page's load).
        self.warming = [ready_worker.options(num_cpus=self.cpus, num_gpus=self.gpus,
                                             scheduling_strategy="SPREAD").remote(nnkit_env())
                        for _ in range(min(self.at_once, self.warm_workers))]

    @property
    def alive(self) -> bool:
        return self._alive

    def parts(self, job: Job) -> list[list[str]]:
        """The runs of each task: one task for a run or a study; for a group, each of its
        batched groups cut into as many tasks as the cluster trains at once (or into tasks of
        NNKIT_RAY_MEMBERS_PER_TASK members)."""
        if job.kind in ("run", "palindrome") or len(job.runs) <= 1:
            return [list(job.runs)]
        from nnkit.training import sweep

        recs = [(r, self.store.get(r)) for r in job.runs]
        present = [(r, rec) for r, rec in recs if rec is not None]
        if not present:
            return [list(job.runs)]
        out = []
        for group in sweep.groups_of([rec.config for _, rec in present]):
            ids = [present[i][0] for i in group]
            per_task = self.members or math.ceil(len(ids) / self.at_once)
            n = math.ceil(len(ids) / per_task)
            out += [ids[k::n] for k in range(n)]  # even parts: 9 by 8 is 5 + 4, not 8 + 1
        return out

    def start(self, job: Job) -> bool:
        """Hand a job over as its tasks; False if the cluster cannot take it."""
        if not self._alive:
            return False
        env = nnkit_env()
        try:
            refs = {}
            for runs in self.parts(job):
                part = Job(job.id, job.kind, runs, dict(job.settings))
                ref = train_part.options(
                    num_cpus=self.cpus, num_gpus=self.gpus, name=f"nnkit {job.kind} {job.id}"
                ).remote(str(self.store.path), str(self.store.runs_dir), part.to_dict(),
                         self.relay, env, os.getpid())
                refs[ref] = runs
        except Exception as e:
            print(f"nnkit: the Ray cluster could not take job {job.id}: {e}", file=sys.stderr)
            return False
        with self.lock:
            self.jobs[job.id] = (job, refs)
            self.results[job.id] = []
        return True

    def send(self, cmd: str, job_id: str, **fields) -> bool:
        """pause, resume or stop a job (all its tasks); False if the cluster is gone."""
        if not self._alive:
            return False
        try:
            self.relay.command.remote(job_id, {"cmd": cmd, **fields})
        except Exception:
            return False
        return True

    def close(self, timeout: float = 0.0) -> None:
        """Stop its jobs (each keeps what it learned), wait up to timeout seconds, then cancel
        what is left and end the relay."""
        with self.lock:
            running = list(self.jobs)
        for job_id in running:
            self.send("stop", job_id, reason=SHUTDOWN_REASON)
        deadline = time.monotonic() + timeout
        while self.jobs and self._alive and time.monotonic() < deadline:
            time.sleep(POLL)
        self._closing = True

    # --- the thread ---------------------------------------------------------------------
    def _pump(self) -> None:
        code = 0
        try:
            while not self._closing:
                with self.lock:
                    refs = [ref for _, parts in self.jobs.values() for ref in parts]
                ready = ray.wait(refs, num_returns=len(refs), timeout=0)[0] if refs else []
                for msg in ray.get(self.relay.take.remote(), timeout=30):
                    if msg.get("ev") != "part_done":
                        self.on_event(self, msg)
                for ref in ready:
                    self._part_ended(ref)
                time.sleep(POLL)
        except Exception as e:  # the relay or the cluster is gone
            code = -1
            self._lost(f"the Ray cluster at {self.address} was lost ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else ''})")
        self._alive = False
        with self.lock:
            left = [ref for _, parts in self.jobs.values() for ref in parts]
        for ref in left:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        with contextlib.suppress(Exception):
            ray.kill(self.relay)
        self.on_event(self, {"ev": "exit", "code": code})

    def _part_ended(self, ref) -> None:
        """One task is done: note how; when it was its job's last, end the job."""
        with self.lock:
            job_id = next(j for j, (_, parts) in self.jobs.items() if ref in parts)
            job, parts = self.jobs[job_id]
        try:
            status, message, _ = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # the job's code raised: it failed
            cause = e.cause if getattr(e, "cause", None) is not None else e
            status, message = "failed", f"{type(cause).__name__}: {cause}"
            self._fail_runs(parts[ref], message)
        except Exception as e:  # the worker or its node died
            status, message = "failed", self._death(e)
            self._fail_runs(parts[ref], message)
        with self.lock:
            del parts[ref]
            self.results[job_id].append((status, message))
            if parts:
                return
            del self.jobs[job_id]
            results = self.results.pop(job_id)
        with contextlib.suppress(Exception):
            self.relay.forget.remote(job_id)
        status, message = self._ending(job, results)
        self.on_event(self, {"ev": "job_end", "job_id": job_id, "status": status,
                             "message": message})

    def _ending(self, job: Job, results: list) -> tuple[str, str]:
        """A job's status and message from its tasks' (a group's: counted over its runs)."""
        if len(results) == 1 and job.kind in ("run", "palindrome"):
            return results[0]
        counts: dict[str, int] = {}
        for run_id in job.runs:
            with contextlib.suppress(StoreError):
                rec = self.store.get(run_id)
                status = rec.status if rec else "deleted"
                counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in counts.items())
        statuses = {s for s, _ in results}
        failed = [m for s, m in results if s == "failed"]
        if "stopped" in statuses and not failed:
            reason = next(m for s, m in results if s == "stopped").split(" (")[0]
            return "stopped", f"{reason} ({summary})"
        if failed:
            return "failed", f"{summary}; {failed[0]}" if failed[0] not in summary else summary
        return "finished", summary

    @staticmethod
    def _death(e: Exception) -> str:
        """A dead task's cause in words."""
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if isinstance(e, ray.exceptions.NodeDiedError):
            return f"the Ray node training it died ({first})"
        if isinstance(e, ray.exceptions.TaskCancelledError):
            return "its Ray task was cancelled"
        return f"the Ray worker training it died ({type(e).__name__}: {first})"

    def _fail_runs(self, run_ids: list[str], why: str) -> None:
        """End a dead task's unfinished runs as failed, saying whether a checkpoint is kept."""
        from nnkit.training.status import is_active

        for run_id in run_ids:
            try:
                rec = self.store.get(run_id)
            except StoreError:
                rec = None
            if rec is None or not is_active(rec.status):
                continue
            has = self.store.checkpoint_path(run_id).exists()
            message = why + ("; its last checkpoint is usable" if has
                             else "; no checkpoint was saved")
            with contextlib.suppress(StoreError):
                self.store.update(run_id, status="failed", message=message)
            self.on_event(self, {"ev": "end", "run_id": run_id, "status": "failed",
                                 "message": message})

    def _lost(self, why: str) -> None:
        """The cluster is gone: every job it had ends as failed, named so."""
        print(f"nnkit: {why}", file=sys.stderr)
        executors.note_lost(self.address, why)
        with self.lock:
            jobs, self.jobs = dict(self.jobs), {}
            self.results.clear()
        for job_id, (job, _) in jobs.items():
            self._fail_runs(job.runs, why)
            self.on_event(self, {"ev": "job_end", "job_id": job_id, "status": "failed",
                                 "message": why})
        disconnect()

"""The run manager and its training process, for real: a child process, its pipes, the store."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnkit.config import RunConfig
from nnkit.jobs.manager import RunManager
from nnkit.runs import DiskError, RunStore

pytestmark = pytest.mark.slow  # training processes or a cluster: scheduled first

ROOT = Path(__file__).resolve().parents[1]
SHORT = RunConfig(dataset="moons", model="mlp-64-64", epochs=3, toy_size=400)
LONG = SHORT.with_changes(epochs=1000, toy_size=20000, batch_size=16, schedule="none")


def until(predicate, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


def training(mgr: RunManager, run_id: str, steps: int = 1) -> bool:
    live = mgr.live(run_id)
    return live is not None and live.status == "running" and live.step >= steps


def test_a_run_trains_in_its_own_process_and_reaches_the_store(mgr, store):
    run_id = mgr.submit(SHORT)
    assert mgr.wait(run_id, timeout=120)
    live, rec = mgr.live(run_id), store.get(run_id)
    assert live.status == rec.status == "finished"
    assert rec.pid != os.getpid()  # the training process wrote it
    assert len(live.history) == 3 and live.steps and live.step == live.total_steps
    assert live.end.test_accuracy == pytest.approx(rec.final_test_accuracy)
    assert rec.final_test_accuracy > 0.8
    assert store.checkpoint_path(run_id).exists()


def test_live_weights_arrive_while_training(mgr):
    run_id = mgr.submit(LONG)
    until(lambda: mgr.live(run_id).weights is not None, what="the first-layer weights")
    assert mgr.live(run_id).weights.shape == (64, 2)  # the first dense layer of 2-64-64-2


def test_pause_holds_resume_goes_on_stop_keeps_what_was_learned(mgr, store):
    run_id = mgr.submit(LONG)
    until(lambda: training(mgr, run_id, 20), what="training")
    mgr.pause(run_id)
    assert mgr.live(run_id).status == "paused" and store.get(run_id).status == "paused"
    time.sleep(0.5)  # steps already on their way arrive
    held = mgr.live(run_id).step
    time.sleep(1.0)
    assert mgr.live(run_id).step == held
    mgr.resume(run_id)
    until(lambda: mgr.live(run_id).step > held + 10, what="steps after resuming")
    mgr.stop(run_id)
    assert mgr.wait(run_id, timeout=60)
    rec = store.get(run_id)
    assert rec.status == "stopped" and "stopped by the user" in rec.message
    assert store.checkpoint_path(run_id).exists() and rec.final_test_accuracy is not None


def test_runs_wait_in_a_queue_and_a_queued_run_can_be_dropped(mgr, store):
    first, second, third = mgr.submit(LONG), mgr.submit(SHORT), mgr.submit(SHORT)
    until(lambda: training(mgr, first), what="the first run")
    assert [mgr.queue_position(r) for r in (first, second, third)] == [0, 1, 2]
    assert mgr.live(second).status == "queued"
    mgr.stop(second)  # it ends at once, while the first still trains: not at its turn
    assert mgr.live(second).status == "stopped" and store.get(second).status == "stopped"
    assert training(mgr, first) and mgr.queue_position(third) == 1
    mgr.stop(first)
    assert mgr.wait(third, timeout=120)
    assert store.get(first).status == "stopped"
    assert store.get(second).status == "stopped"
    assert store.get(second).message == "stopped before it started"
    assert store.get(third).status == "finished"


def test_a_dead_training_process_fails_its_run_and_the_next_run_gets_a_new_one(mgr, store):
    run_id = mgr.submit(LONG)
    until(lambda: training(mgr, run_id), what="training")
    pid = store.get(run_id).pid
    os.kill(pid, signal.SIGKILL)
    assert mgr.wait(run_id, timeout=30)
    rec = store.get(run_id)
    assert rec.status == "failed" and "ended unexpectedly" in rec.message
    assert mgr.live(run_id).status == "failed"
    after = mgr.submit(SHORT)
    assert mgr.wait(after, timeout=120)
    assert store.get(after).status == "finished" and store.get(after).pid != pid


def test_a_delayed_warm_up_starts_the_training_process_later_once(mgr):
    mgr.warm(delay=1.0)
    mgr.warm(delay=1.0)  # already pending: no second timer
    assert mgr._executors[0] is None  # not yet: the browser has the CPU for the page meanwhile
    until(lambda: mgr._executors[0] is not None and mgr._executors[0].alive, timeout=10,
          what="the training process")
    first = mgr._executors[0]
    mgr.warm(delay=0.1)
    time.sleep(0.5)
    assert mgr._executors[0] is first  # one process, not a new one per call


def test_a_delayed_warm_up_after_shutdown_starts_nothing(store):
    mgr = RunManager(store)
    mgr.warm(delay=0.3)
    mgr.shutdown(timeout=5)
    time.sleep(0.8)
    assert mgr._executors[0] is None


def test_shutdown_stops_the_run_and_ends_the_process(store):
    mgr = RunManager(store)
    run_id = mgr.submit(LONG)
    until(lambda: training(mgr, run_id), what="training")
    pid = store.get(run_id).pid
    mgr.shutdown(timeout=60)
    rec = store.get(run_id)
    assert rec.status == "stopped" and "app shut down" in rec.message
    until(lambda: not _alive(pid), timeout=15, what="the training process to exit")


def test_a_killed_app_loses_no_run_its_training_process_stops_and_saves_it(store):
    """kill -9 of the app's process: the pipe closes, the run stops cleanly, nothing is lost."""
    app = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from nnkit.config import RunConfig\n"
        "from nnkit.jobs.manager import RunManager\n"
        "from nnkit.runs import RunStore\n"
        f"cfg = RunConfig.from_json({LONG.to_json()!r})\n"
        "mgr = RunManager(RunStore())\n"
        "print(mgr.submit(cfg), flush=True)\n"
        "time.sleep(600)\n")], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        run_id = app.stdout.readline().strip()
        until(lambda: (store.get(run_id).status == "running"
                       and len(store.steps(run_id)) > 0), what="training")
        app.kill()
        app.wait()
        until(lambda: store.get(run_id).status not in ("queued", "running"), timeout=60,
              what="the run to end")
    finally:
        app.kill()
    rec = store.get(run_id)
    assert rec.status == "stopped" and "app shut down" in rec.message
    assert store.checkpoint_path(run_id).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone for our purposes
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_run_whose_folder_cannot_be_written_fails_by_name_and_the_queue_goes_on(mgr, store):
    first, second = mgr.submit(SHORT), mgr.submit(SHORT)
    store.runs_dir.mkdir(parents=True, exist_ok=True)
    store.run_dir(first).write_text("a file where the run's folder goes")  # a real failed write
    assert mgr.wait(first, timeout=120) and mgr.wait(second, timeout=120)
    failed, finished = store.get(first), store.get(second)
    why = f"the folder {store.run_dir(first)} cannot be written (a file of that name is in the way)"
    assert (failed.status, failed.message) == ("failed", why)
    assert (mgr.live(first).status, mgr.live(first).message) == ("failed", why)
    assert finished.status == "finished"
    assert finished.pid == failed.pid  # the same training process trained the next run
    assert not list(store.runs_dir.rglob("*.tmp*"))


def test_a_store_the_app_cannot_write_does_not_jam_the_queue(mgr, store, monkeypatch):
    """The training process dies while the disk is full: the app cannot record the failure
    either, and the queue still goes on (it used to wait for that run forever)."""
    run_id = mgr.submit(LONG)
    until(lambda: training(mgr, run_id), what="training")
    full = DiskError(f"the disk is full (0 MB free in {store.path.parent})")

    def update(*args, **kwargs):  # the app's own writes to the store fail
        raise full

    monkeypatch.setattr(store, "update", update)
    os.kill(store.get(run_id).pid, signal.SIGKILL)
    assert mgr.wait(run_id, timeout=30)
    live = mgr.live(run_id)
    assert live.status == "failed" and "ended unexpectedly" in live.message
    monkeypatch.undo()  # space freed
    after = mgr.submit(SHORT)
    assert mgr.wait(after, timeout=120) and store.get(after).status == "finished"


def test_an_event_the_app_cannot_take_fails_its_run_and_the_queue_goes_on(mgr, store):
    first, second = mgr.submit(LONG), mgr.submit(LONG)
    until(lambda: training(mgr, first), what="training")
    mgr._on_event(mgr._executors[0], {"ev": "epoch", "run_id": first, "not_a_field": 1})  # as read
    assert mgr.wait(first, timeout=30)
    live = mgr.live(first)
    assert live.status == "failed"
    assert live.message.startswith("the app could not follow the training process ('epoch' "
                                   "event: TypeError")
    until(lambda: training(mgr, second), what="the next run")  # the worker stopped the first
    t0 = time.monotonic()
    mgr.shutdown(timeout=30)  # what the server runs on SIGTERM
    assert time.monotonic() - t0 < 10
    assert store.get(second).status == "stopped" and store.get(first).status != "running"


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True)
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True).returncode == 0
    except OSError:
        return False


def _fill(folder: Path) -> Path:
    """Write a file until the disk holding folder has no byte left; returns it."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
    return filler


def test_a_full_disk_fails_the_run_by_name_and_the_queue_goes_on_once_space_is_freed(tmp_path):
    """A real full disk: the store on a small tmpfs (needs root's mount; skipped elsewhere)."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "16m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        store = RunStore(disk / "runs.sqlite")
        mgr = RunManager(store)
        try:
            first = mgr.submit(LONG)
            until(lambda: training(mgr, first, 20), what="training")
            filler = _fill(disk)
            until(lambda: not mgr.live(first).active, timeout=60, what="the run to end")
            live = mgr.live(first)
            assert live.status == "failed"
            assert re.fullmatch(r"the disk is full \(0 MB free in \S+\)", live.message)
            filler.unlink()  # space freed
            second = mgr.submit(SHORT)
            assert mgr.wait(second, timeout=120)
            assert store.get(second).status == "finished"
            rec = store.get(first)  # written once it could be
            assert (rec.status, rec.message) == ("failed", live.message)
            assert rec.pid == store.get(second).pid  # the training process lived on
            assert not list(store.runs_dir.rglob("*.tmp*"))
        finally:
            mgr.shutdown(timeout=30)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)

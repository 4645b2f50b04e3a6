"""The Ray executor against a real local Ray cluster (`ray start --head` in a subprocess, no
mock): runs and a sweep go through Ray tasks into the store, stop reaches the task, a killed
Ray worker fails its run naming the cause, and a server that dies takes its tasks with it.
The data is a toy set (no files needed)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt "
                          "(CI installs it)")

import streamlit as st
from apptest import button, open_page, rerun_until, texts

from nnkit.config import RunConfig
from nnkit.jobs import executors, rayexec
from nnkit.jobs.manager import RunManager
from nnkit.runs import RunStore
from nnkit.training import sweep

pytestmark = pytest.mark.slow  # training processes or a cluster: scheduled first

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
SHORT = RunConfig(dataset="moons", model="mlp-64-64", epochs=3, toy_size=200, batch_size=32,
                  device="cpu")
LONG = SHORT.with_changes(epochs=500, toy_size=4000)  # minutes: stopped or killed long before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A one-node Ray cluster of 2 CPUs, started the way Ray documents; its address."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="nnray", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", f"--port={port}",
                             "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                             "--disable-usage-stats", "--object-store-memory=100000000",
                             f"--temp-dir={temp}"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            break
        assert head.poll() is None, "ray start --head exited"
        assert time.monotonic() < deadline, "the Ray head did not come up in 120 s"
        time.sleep(0.5)
    yield address
    rayexec.disconnect()
    # The whole cluster at once: its processes share the session `ray start` began (a SIGTERM
    # has Ray shut down in order, ~30 s of the suite). The temp folder goes with it.
    os.killpg(head.pid, signal.SIGKILL)
    head.wait(60)
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def on_ray(cluster, monkeypatch, tmp_path):
    """A queue whose jobs go to the cluster, over a store in tmp_path."""
    monkeypatch.setenv(executors.ADDRESS_VAR, cluster)
    monkeypatch.setenv("NNKIT_RAY_MEMBERS_PER_TASK", "2")
    store = RunStore(tmp_path / "runs.sqlite", tmp_path / "runs")
    mgr = RunManager(store, slots=2)
    yield store, mgr
    mgr.shutdown(timeout=60)


def task_pids(run_id: str) -> list[int]:
    """Processes whose title names the run (Ray titles a worker by its task's name)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if run_id in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(proc.name))
    return pids


def wait_until_training(mgr: RunManager, run_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (live := mgr.live(run_id)) is None or live.step < 5:
        assert live is None or live.active, f"it ended: {live.status} {live.message}"
        assert time.monotonic() < deadline, "the run did not start training on Ray"
        time.sleep(0.2)


def test_a_run_and_a_sweep_train_as_ray_tasks_and_land_in_the_store(on_ray):
    store, mgr = on_ray
    run_id = mgr.submit(SHORT, name="on ray")
    spec = sweep.SweepSpec(SHORT, "lr", (0.05, 0.2), replicates=2, name="ray sweep")
    job_id = mgr.submit_sweep(spec)
    assert mgr.wait(run_id, 300) and mgr.wait(job_id, 300)

    assert "connected to the Ray cluster" in executors.cluster_status().text
    members = store.get_job(job_id).runs
    assert len(members) == 4
    for rid in [run_id, *members]:
        rec = store.get(rid)
        assert rec.status == "finished", rec.message
        assert rec.node.startswith("ray "), rec.node  # where it trained, named
        assert [e["epoch"] for e in store.epochs(rid)] == [1, 2, 3]  # its events, stored
        assert store.checkpoint_path(rid).exists()
        assert store.load_arrays(rid, "first_layer_e003") is not None  # the Weights snapshots
    live = mgr.live(run_id)  # the events came back live through the relay, as from a process
    assert [e.epoch for e in live.history] == [1, 2, 3] and live.steps
    assert mgr.job(job_id).status == "finished"
    assert store.get_job(job_id).status == "finished"


def test_stop_on_the_train_page_stops_the_ray_task_and_keeps_what_it_learned(cluster,
                                                                            monkeypatch):
    """The real Train page (AppTest) on a server pointed at the cluster: Train, then Stop."""
    monkeypatch.setenv(executors.ADDRESS_VAR, cluster)
    at = open_page("train", {"dataset": "moons", "model": "mlp-64-64", "epochs": "500",
                             "toy_size": "4000", "batch_size": "32", "schedule": "none"})
    assert not at.exception
    button(at, "Train").click().run()
    [run] = RunStore().list()
    at = rerun_until(at, lambda a: RunStore().get(run.id).status == "running"
                     and len(RunStore().steps(run.id)) > 0, timeout=120)
    assert RunStore().get(run.id).node.startswith("ray "), RunStore().get(run.id).node
    assert task_pids(run.id), "no Ray worker titled with the run's task"
    button(at, "Stop").click().run()
    at = rerun_until(at, lambda a: "stopped" in texts(a), timeout=120)
    rec = RunStore().get(run.id)
    assert rec.status == "stopped", rec.message
    assert RunStore().checkpoint_path(run.id).exists()  # what it learned is kept
    assert rec.epochs_done < 500
    deadline = time.monotonic() + 30
    while task_pids(run.id):  # the Ray worker is no longer on that task
        assert time.monotonic() < deadline, "the Ray task still runs after Stop"
        time.sleep(0.3)
    st.cache_resource.clear()  # the server's end: its queue shuts down


def test_a_killed_ray_worker_fails_its_run_and_the_queue_goes_on(on_ray):
    store, mgr = on_ray
    run_id = mgr.submit(LONG)
    wait_until_training(mgr, run_id)
    pids = task_pids(run_id)
    assert pids, "no process titled with the run's task"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert mgr.wait(run_id, 120)
    rec = store.get(run_id)
    assert rec.status == "failed"
    assert "Ray worker" in rec.message and "died" in rec.message, rec.message
    assert "checkpoint" in rec.message  # whether one is kept, said
    after = mgr.submit(SHORT)  # the server and the queue go on
    assert mgr.wait(after, 300)
    assert store.get(after).status == "finished"


DRIVER = textwrap.dedent("""
    import sys, time
    from nnkit.config import RunConfig
    from nnkit.jobs.manager import RunManager
    from nnkit.runs import RunStore
    store = RunStore(sys.argv[1], sys.argv[2])
    mgr = RunManager(store, slots=1)
    run_id = mgr.submit(RunConfig(dataset="moons", model="mlp-64-64", epochs=500,
                                  toy_size=4000, batch_size=32, device="cpu"))
    while (live := mgr.live(run_id)) is None or live.step < 5:
        time.sleep(0.2)
    print(run_id, flush=True)
    time.sleep(600)
""")


def test_a_server_that_dies_takes_its_ray_tasks_with_it(cluster, tmp_path):
    """The server killed while its run trains on Ray: the task ends with it, and the next
    server start finds the run interrupted, never running forever."""
    env = {**os.environ, executors.ADDRESS_VAR: cluster, "PYTHONPATH": str(ROOT)}
    paths = [str(tmp_path / "runs.sqlite"), str(tmp_path / "runs")]
    server = subprocess.Popen([sys.executable, "-c", DRIVER, *paths], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        run_id = server.stdout.readline().strip()
        assert run_id, "the server process did not start its run"
        assert task_pids(run_id)
    finally:
        server.kill()
        server.wait(30)
    deadline = time.monotonic() + 60
    while task_pids(run_id):
        assert time.monotonic() < deadline, "the Ray task outlived its server"
        time.sleep(0.5)
    store = RunStore(*paths)
    assert store.recover_interrupted() == [run_id]  # what the app does when it starts
    assert store.get(run_id).status == "interrupted"

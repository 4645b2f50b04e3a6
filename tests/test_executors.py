"""Which executor trains the queue's jobs: the local process without NNKIT_RAY_ADDRESS, and
also when the cluster it names cannot be reached (said in words, no job lost). Needs no Ray."""

from __future__ import annotations

import socket

from nnkit.config import RunConfig
from nnkit.jobs import executors
from nnkit.jobs.manager import RunManager


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing answers there


def test_without_the_setting_jobs_train_locally(monkeypatch):
    monkeypatch.delenv(executors.ADDRESS_VAR, raising=False)
    status = executors.cluster_status()
    assert not status.trouble and "local training process" in status.text


def test_an_unreachable_cluster_is_said_and_the_run_trains_locally(monkeypatch, store):
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv(executors.ADDRESS_VAR, address)
    before = executors.cluster_status()  # Home, before any job: nothing answers there
    assert before.trouble and address in before.text and "local" in before.text

    mgr = RunManager(store, slots=1)
    try:
        run_id = mgr.submit(RunConfig(dataset="moons", model="mlp-64-64", epochs=1,
                                      toy_size=100, device="cpu"))
        assert mgr.wait(run_id, 300)
    finally:
        mgr.shutdown()
    rec = store.get(run_id)
    assert rec.status == "finished", rec.message
    assert rec.node.startswith("local ")
    after = executors.cluster_status()
    assert after.trouble and "local training process instead" in after.text

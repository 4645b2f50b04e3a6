"""Several jobs at once: one training process per slot (a GPU's default), for real on the CPU."""

from __future__ import annotations

import os
import signal

import pytest
from test_manager import LONG, SHORT, training, until

from nnkit.jobs import slots
from nnkit.jobs.fair import FairQueue
from nnkit.jobs.manager import RunManager

pytestmark = pytest.mark.slow  # training processes or a cluster: scheduled first


def test_the_slot_count_comes_from_the_setting_or_the_gpus_free_memory(monkeypatch, capsys):
    assert [slots.parse(t) for t in ("4", " 1 ", "0", "33", "two", None)] == [
        4, 1, None, None, None, None]
    assert slots.for_gpu(None) == 1  # no GPU: one at a time
    assert slots.for_gpu(1000) == 1 and slots.for_gpu(5 * slots.MIB_PER_SLOT + 1) == 5
    assert slots.for_gpu(140_000) == slots.MAX_SLOTS
    slots.default.cache_clear()
    monkeypatch.setenv("NNKIT_SLOTS", "3")
    assert slots.default() == 3
    slots.default.cache_clear()
    monkeypatch.setenv("NNKIT_SLOTS", "lots")
    assert slots.default() == slots.for_gpu(slots.gpu_free_mib())
    assert "NNKIT_SLOTS='lots' is not a whole number" in capsys.readouterr().err
    slots.default.cache_clear()
    assert "one job trains at a time" in slots.policy(1)
    assert "3 jobs train at once" in slots.policy(3)


def test_positions_count_every_job_training_and_every_one_due_before():
    q = FairQueue()
    for job_id, owner in (("a1", "a"), ("a2", "a"), ("b1", "b"), ("a3", "a")):
        q.put(job_id, owner)
    assert q.get() == "a1" and q.get() == "b1"  # two slots take one each, in turn
    assert [q.position(j) for j in ("a1", "b1", "a2", "a3")] == [0, 0, 2, 3]
    q.done("a1")
    assert q.position("a2") == 1


@pytest.fixture
def two(store):
    mgr = RunManager(store, slots=2)
    yield mgr
    mgr.shutdown(timeout=20)


def test_two_slots_train_two_jobs_at_once_and_the_third_waits(two, store):
    first, second, third = two.submit(LONG), two.submit(LONG), two.submit(SHORT)
    until(lambda: training(two, first, 5) and training(two, second, 5), timeout=90,
          what="both runs training at once")
    assert [two.queue_position(r) for r in (first, second, third)] == [0, 0, 2]
    assert two.starts_in(third) > 0
    assert store.get(first).pid != store.get(second).pid  # each in its own process
    two.stop(first)
    assert two.wait(first, timeout=60) and store.get(first).status == "stopped"
    until(lambda: store.get(third).status != "queued", timeout=60, what="the third to start")
    assert two.live(second).status == "running"  # untouched
    assert two.wait(third, timeout=120) and store.get(third).status == "finished"
    two.stop(second)
    assert two.wait(second, timeout=60) and store.get(second).status == "stopped"


def test_a_slots_process_that_dies_fails_only_its_own_job(two, store):
    first, second = two.submit(LONG), two.submit(LONG)
    until(lambda: training(two, first) and training(two, second), timeout=90,
          what="both runs training")
    os.kill(store.get(first).pid, signal.SIGKILL)
    assert two.wait(first, timeout=30)
    assert store.get(first).status == "failed" and "ended unexpectedly" in store.get(first).message
    step = two.live(second).step
    until(lambda: two.live(second).step > step, timeout=30, what="the other run going on")
    after = two.submit(SHORT)  # the dead slot starts a new process for the next job
    assert two.wait(after, timeout=120) and store.get(after).status == "finished"
    two.stop(second)
    assert two.wait(second, timeout=60)

"""The queue takes people in turn: whoever started a job least recently goes next."""

from __future__ import annotations

import queue
import threading

import pytest

from nnkit.jobs.fair import FairQueue


def test_alone_it_is_first_come_first_served():
    q = FairQueue()
    for i in range(4):
        q.put(f"j{i}")
    assert q.order() == ["j0", "j1", "j2", "j3"]
    assert [q.get() for _ in range(4)] == ["j0", "j1", "j2", "j3"]


def test_a_queues_five_then_b_one_b_starts_second():
    q = FairQueue()
    q.put("a1", "A")
    assert q.get() == "a1"  # training
    for i in range(2, 6):
        q.put(f"a{i}", "A")
    q.put("b1", "B")
    assert q.order() == ["b1", "a2", "a3", "a4", "a5"]
    assert [q.position(j) for j in ("a1", "b1", "a2", "zz")] == [0, 1, 2, -1]
    q.done("a1")
    assert q.position("b1") == 0 and q.position("a2") == 1  # nothing trains: b1 is next
    assert [q.get() for _ in range(5)] == ["b1", "a2", "a3", "a4", "a5"]


def test_three_people_take_turns_each_in_their_own_order():
    q = FairQueue()
    for job, owner in [("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B"), ("b2", "B"),
                       ("c1", "C")]:
        q.put(job, owner)
    assert q.order() == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert [q.get() for _ in range(6)] == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_removed_job_gives_its_turn_away_and_get_waits_then_closes():
    q = FairQueue()
    q.put("a1", "A")
    q.put("b1", "B")
    assert q.remove("a1") and not q.remove("a1")
    assert q.get() == "b1"
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    threading.Timer(0.05, q.close).start()
    assert q.get(timeout=5) is None

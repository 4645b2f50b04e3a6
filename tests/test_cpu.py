"""The torch thread count follows the load: as many threads as cores other processes leave."""

from __future__ import annotations

import time

import pytest
import torch

from nnkit.training import cpu


@pytest.mark.parametrize("current, idle, own, want", [
    (2, 0.1, 1.9, 2),  # alone: both threads get their cores
    (2, 0.0, 1.2, 1),  # a busy process takes a core from two threads
    (2, 0.0, 1.8, 2),  # a browser and the server beside it: a little short, kept
    (2, 0.0, 1.58, 1),  # 0.4 of a core beside it: one thread trains faster
    (2, 0.6, 1.0, 2),  # loading data in one thread, the other core idle: kept
    (1, 0.0, 1.0, 1),  # one thread beside a busy process: kept
    (1, 0.9, 1.0, 2),  # the busy process ended: a core is idle again
    (2, 1.0, 1.0, 2)])  # never more than most
def test_a_thread_goes_when_its_core_is_taken_and_comes_back_when_one_is_idle(
        current, idle, own, want):
    assert cpu.next_threads(current, 2, idle, own) == want


def test_the_machine_busy_seconds_grow_with_work():
    before = cpu.cpu_seconds_busy()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    assert cpu.cpu_seconds_busy() - before >= 0.2  # this loop's own 0.3 s, give or take


def test_a_busy_process_beside_the_run_takes_a_thread_and_gives_it_back():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    gov = cpu.ThreadGovernor(most=2)
    gov.cores, gov.last = 2, (0.0, 0.0, 0.0)
    # (clock, the machine's busy CPU seconds, this process's), one second apart: a busy
    # process beside two threads (saturated, the run got 1.1 cores), then beside one, then gone
    samples = iter([(1.0, 2.0, 1.1), (2.0, 4.0, 2.1), (3.0, 5.0, 3.1)])
    gov._sample = lambda: next(samples)
    try:
        seen = []
        for _ in range(3):
            gov.next_check = 0.0  # due now
            gov.tick()
            seen.append(torch.get_num_threads())
        gov.tick()  # not due: no look at the load (a fourth sample would raise)
        assert seen == [1, 1, 2]
        assert [n for _, n in gov.changes] == [1, 2]
    finally:
        torch.set_num_threads(threads)


def test_a_fixed_thread_count_is_set_and_a_gpu_gets_no_governor(monkeypatch):
    threads = torch.get_num_threads()
    try:
        monkeypatch.setenv("NNKIT_TORCH_THREADS", "1")
        torch.set_num_threads(2)
        assert cpu.governors(torch.device("cpu")) == []
        assert torch.get_num_threads() == 1  # what the variable says, for CLI runs too
        monkeypatch.delenv("NNKIT_TORCH_THREADS")
        assert cpu.governors(torch.device("meta")) == []
    finally:
        torch.set_num_threads(threads)

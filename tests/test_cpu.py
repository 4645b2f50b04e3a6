"""The torch thread count follows the load: as many threads as cores other processes leave."""

from __future__ import annotations

import time

import pytest
import torch

from nnkit import cpu


@pytest.mark.parametrize("cores, others, most, want", [
    (2, 0.0, 2, 2), (2, 0.3, 2, 2), (2, 1.0, 2, 1), (2, 1.9, 2, 1), (2, 3.0, 2, 1),
    (8, 2.2, 8, 6), (8, 0.0, 4, 4), (1, 0.0, 1, 1)])
def test_threads_are_the_cores_left_at_least_one(cores, others, most, want):
    assert cpu.threads_for(cores, others, most) == want


@pytest.mark.parametrize("others, current, want", [
    (0.5, 2, 2), (0.5, 1, 1),  # a browser beside the run: no flipping either way
    (1.0, 2, 1), (0.0, 1, 2), (0.2, 1, 2)])
def test_the_count_stays_until_the_free_cores_move_well_away(others, current, want):
    assert cpu.threads_for(2, others, 2, current) == want


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
    # (clock, the machine's busy CPU seconds, this process's), one second apart: another
    # process takes a whole core, then half a core, then none
    samples = iter([(1.0, 2.0, 1.0), (2.0, 3.0, 1.5), (3.0, 4.0, 2.5)])
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

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


def test_two_threads_stay_where_one_was_measured_slower_and_go_where_it_was_not():
    # a browser beside a sweep: saturated, two threads a little short of two cores
    assert cpu.next_threads(2, 2, 0.0, 1.6, {1: 60.0, 2: 90.0}) == 2  # one was slower: kept
    assert cpu.next_threads(2, 2, 0.0, 1.6, {1: 88.0, 2: 90.0}) == 1  # as fast: one thread
    assert cpu.next_threads(2, 2, 0.0, 1.6, {2: 90.0}) == 1  # one never measured: the rule


def test_a_probe_tries_one_more_thread_only_when_some_of_a_core_is_idle():
    assert cpu.next_threads(1, 2, 0.6, 1.0, probe=True) == 2  # a light load beside it
    assert cpu.next_threads(1, 2, 0.6, 1.0, probe=False) == 1
    assert cpu.next_threads(1, 2, 0.1, 1.0, probe=True) == 1  # a busy process: no probe


def test_a_lost_probe_goes_back_and_waits_longer_a_won_one_stays():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gov = cpu.ThreadGovernor(most=2)
    gov.cores, gov.last, gov.probe_at = 2, (0.0, 0.0, 0.0), 0.5
    # (clock, machine busy, own) a second apart, and the steps made in each second: one
    # thread beside 0.4 of a core (idle 0.6: a probe), two threads stepping slower (lost),
    # one again; later a probe where two threads step faster (won, kept)
    windows = [((1.0, 1.4, 1.0), 100), ((2.0, 3.4, 2.6), 80), ((3.0, 4.8, 3.6), 100)]
    samples = iter([w for w, _ in windows])
    gov._sample = lambda: next(samples)
    try:
        seen = []
        for _, steps in windows:
            gov.steps, gov.next_check = steps - 1, 0.0  # tick() counts its own step
            gov.tick()
            seen.append(torch.get_num_threads())
        assert seen == [2, 1, 1] and gov.rates == {1: 100.0, 2: 80.0}
        assert gov.probe_wait == 2 * cpu.PROBE_FIRST and gov.probe_at == 2.0 + gov.probe_wait
        more = [((12.0, 13.4, 13.0), 100), ((13.0, 15.4, 14.6), 150), ((14.0, 17.4, 16.2), 150)]
        samples = iter([w for w, _ in more])
        gov._sample, gov.last = (lambda: next(samples)), (11.0, 12.0, 12.0)
        seen = []
        for _, steps in more:
            gov.steps, gov.next_check = steps - 1, 0.0
            gov.tick()
            seen.append(torch.get_num_threads())
        assert seen == [2, 2, 2]  # 150 steps/s on two threads against 100 on one: kept
    finally:
        torch.set_num_threads(threads)


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

"""The torch thread count follows the load: as many threads as cores other processes leave."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from nnkit import cpu


@pytest.mark.parametrize("cores, others, most, want", [
    (2, 0.0, 2, 2), (2, 0.3, 2, 2), (2, 1.0, 2, 1), (2, 1.9, 2, 1), (2, 3.0, 2, 1),
    (8, 2.2, 8, 6), (8, 0.0, 4, 4), (1, 0.0, 1, 1)])
def test_threads_are_the_cores_left_at_least_one(cores, others, most, want):
    assert cpu.threads_for(cores, others, most) == want


def test_the_machine_busy_seconds_grow_with_work():
    before = cpu.cpu_seconds_busy()
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    assert cpu.cpu_seconds_busy() - before >= 0.2  # this loop's own 0.3 s, give or take


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_a_busy_process_beside_the_run_takes_a_thread_and_gives_it_back():
    threads = torch.get_num_threads()
    gov = cpu.ThreadGovernor(most=2, every=0.5)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        gov.on_step_end(None)  # the busy process used about a core of the two
        assert torch.get_num_threads() == 1
    finally:
        busy.kill()
        busy.wait()
    try:
        time.sleep(1.0)
        gov.on_step_end(None)  # nothing else runs now
        assert torch.get_num_threads() == 2
        assert [n for _, n in gov.changes] == [1, 2]
    finally:
        torch.set_num_threads(threads)


def test_a_fixed_thread_count_or_a_gpu_gets_no_governor(monkeypatch):
    monkeypatch.setenv("NNKIT_TORCH_THREADS", "1")
    assert cpu.governors(torch.device("cpu")) == []
    monkeypatch.delenv("NNKIT_TORCH_THREADS")
    assert cpu.governors(torch.device("meta")) == []

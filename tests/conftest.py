"""Every test gets its own nnkit folder; only smoke tests see the real data folder."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_bundle as _tiny_bundle

from nnkit import paths
from nnkit.jobs.manager import RunManager
from nnkit.runs import RunStore

# Evaluated at import, before any test changes the environment: ~/.nnkit/data by default.
REAL_DATA_DIR = paths.data_dir()


def pytest_collection_modifyitems(items):
    """Browser and slow modules first: with parallel workers (test.sh) each worker takes a
    module at a time, and the long ones started last would leave the other worker idle."""
    items.sort(key=lambda item: not (item.get_closest_marker("browser")
                                     or item.get_closest_marker("slow")))


@pytest.fixture(autouse=True)
def nnkit_home(request, tmp_path, monkeypatch):
    """NNKIT_HOME in a tmp folder; offline with an empty data folder unless marked smoke."""
    home = tmp_path / "nnkit-home"
    monkeypatch.setenv("NNKIT_HOME", str(home))
    monkeypatch.setenv("NNKIT_TORCH_THREADS", "1")  # training processes the tests start
    if request.node.get_closest_marker("smoke"):
        monkeypatch.setenv("NNKIT_DATA", str(REAL_DATA_DIR))
    else:
        monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "nnkit-data"))
        monkeypatch.setenv("NNKIT_OFFLINE", "1")
    return home


@pytest.fixture
def store(nnkit_home):
    """The run store in this test's nnkit folder."""
    return RunStore()


@pytest.fixture
def mgr(store):
    """A job queue over it, with its training process; shut down (its jobs stopped) after."""
    m = RunManager(store)
    yield m
    m.shutdown(timeout=60)


@pytest.fixture
def tiny_bundle():
    """The builder of tiny synthetic bundles (see tests/helpers.py)."""
    return _tiny_bundle


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for the test: on two loaded cores, two threads stall on every tiny
    op (a 2 ms step of a small net takes 200 ms); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

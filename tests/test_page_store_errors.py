"""A run store that breaks while the server runs: every page says so, none shows a traceback."""

from __future__ import annotations

import pytest
from apptest import button, open_page

from nnkit import paths
from nnkit.config import RunConfig
from nnkit.runs import RunStore

PAGES = ("home", "train", "runs", "inspect", "weights", "draw", "experiments", "catalogue")


def _damage_store() -> None:
    """Garbage over the SQLite file (and its WAL), as a disk fault or a stray write leaves it."""
    path = paths.store_path()
    for extra in ("-wal", "-shm"):
        path.with_name(path.name + extra).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database " * 200)


def _said(at) -> str:
    return " ".join(str(e.value) for e in at.error)


@pytest.mark.parametrize("page", PAGES)
def test_a_store_damaged_while_the_server_runs_is_a_message_on_every_page(page):
    run_id = RunStore().create_run(RunConfig(dataset="moons", model="custom"),
                                   status="finished")
    at = open_page(page, {"run": run_id})  # the store opens, kept for the next script runs
    assert not at.exception
    _damage_store()
    at.run()
    assert not at.exception, at.exception
    assert "not a usable nnkit run store" in _said(at), _said(at)


def test_pressing_train_on_a_damaged_store_is_a_message():
    at = open_page("train")
    assert not at.exception
    _damage_store()
    button(at, "Train").click()
    at.run()
    assert not at.exception, at.exception
    assert "not a usable nnkit run store" in _said(at), _said(at)

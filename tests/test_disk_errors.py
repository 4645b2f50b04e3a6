"""A full disk or an unwritable folder, where the store and its checkpoints are written: the
run fails by name ("the disk is full (N MB free in ...)"), nothing temporary is left behind.

A real full disk is not at hand here; the failures come from the real write calls: torch.save
raising what it raises on a full disk, SQLite refusing to grow the store (max_page_count gives a
real SQLITE_FULL), a plain file where a run's folder should be. The run manager's tests in
test_manager.py go through the training process (and a real full tmpfs where mounting works).
"""

from __future__ import annotations

import errno
import re
import sqlite3
from pathlib import Path

import pytest
import torch
from helpers import tiny_bundle

from nnkit import cli, diskerrors, runs
from nnkit.config import RunConfig
from nnkit.models import ModelSpec
from nnkit.runs import DiskError, RunStore
from nnkit.training.runner import run_and_store

CFG = RunConfig(dataset="mnist", model="custom", spec=ModelSpec("mlp", (16,)), optimizer="adam",
                lr=1e-2, batch_size=32, epochs=2, schedule="none", device="cpu")
# what torch 2.14's zip writer raises when the disk fills under torch.save (seen on a full tmpfs)
TORCH_FULL = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
ENOSPC = OSError(errno.ENOSPC, "No space left on device")
FULL = r"the disk is full \(\d+ MB free in "


def full_disk_save(error: Exception):
    """A torch.save that writes part of the file, then fails the way a full disk makes it."""
    def save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 torn")  # a real full disk leaves such a torn file
        raise error
    return save


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.sqlite")


def test_describe_names_a_full_disk_an_unwritable_folder_and_nothing_else(tmp_path,
                                                                          monkeypatch):
    # the real free space moves while the suite writes; the words are checked against a fixed one
    asked = []
    real_usage = diskerrors.shutil.disk_usage

    def usage(path):
        asked.append(Path(path))
        return real_usage(path)._replace(free=1234 << 20)
    monkeypatch.setattr(diskerrors.shutil, "disk_usage", usage)
    free = 1234
    assert diskerrors.describe(ENOSPC, tmp_path) == (
        f"the disk is full ({free} MB free in {tmp_path})")
    assert diskerrors.describe(TORCH_FULL, tmp_path).startswith("the disk is full (")
    assert diskerrors.describe(RuntimeError("PytorchStreamWriter failed writing file data/0: "
                                            "file write failed"), tmp_path).startswith("the disk")
    named = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "sub" / "x.npz"))
    assert diskerrors.describe(named, "/elsewhere").endswith(f"free in {tmp_path / 'sub'})")
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x.pt"))
    assert (diskerrors.describe(denied, "/elsewhere")
            == f"the folder {tmp_path} cannot be written (Permission denied)")
    in_the_way = FileExistsError(errno.EEXIST, "File exists", str(tmp_path / "run"))
    assert diskerrors.describe(in_the_way, tmp_path) == (
        f"the folder {tmp_path / 'run'} cannot be written (a file of that name is in the way)")
    db = sqlite3.connect(tmp_path / "full.sqlite")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.OperationalError) as full:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert re.match(FULL, diskerrors.describe(full.value, tmp_path))
    for other in (ValueError("bad"), RuntimeError("CUDA error"), OSError(errno.EIO, "I/O"),
                  sqlite3.OperationalError("database is locked")):
        assert diskerrors.describe(other, tmp_path) is None
    asked.clear()
    assert diskerrors.free_mb(tmp_path / "not" / "yet") == free
    assert asked == [tmp_path]  # its nearest existing parent


@pytest.mark.parametrize("error", [TORCH_FULL, ENOSPC], ids=["torch-zip-writer", "enospc"])
def test_a_checkpoint_on_a_full_disk_is_refused_by_name_and_leaves_no_tmp(store, monkeypatch,
                                                                          error):
    run_id = store.create_run(CFG)
    monkeypatch.setattr(torch, "save", full_disk_save(error))
    folder = store.run_dir(run_id)
    with pytest.raises(DiskError, match=FULL + re.escape(f"{folder})")):
        store.save_checkpoint(run_id, {"w": torch.ones(2)}, CFG.spec.to_dict(), (1, 8, 8), 3, 1)
    assert list(folder.iterdir()) == []  # neither checkpoint.tmp nor checkpoint.pt


def test_a_full_store_says_so_and_not_that_it_is_damaged(store, monkeypatch):
    run_id = store.create_run(CFG)
    connect = sqlite3.connect

    def full(*args, **kwargs):  # the store file cannot grow by a page: a real SQLITE_FULL
        db = connect(*args, **kwargs)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        return db

    monkeypatch.setattr(runs.sqlite3, "connect", full)
    rows = [(s, 1, 1.0, 0.1) for s in range(1, 20_001)]
    with pytest.raises(DiskError, match=FULL + re.escape(f"{store.path.parent})")) as e:
        store.add_steps(run_id, rows)
    assert "Move it aside" not in str(e.value)
    monkeypatch.undo()
    assert store.get(run_id).status == "queued"  # not damaged: it reads as before


def test_a_run_whose_checkpoint_hits_a_full_disk_fails_by_name(store, monkeypatch):
    monkeypatch.setattr(torch, "save", full_disk_save(ENOSPC))
    with pytest.raises(DiskError, match=FULL) as e:
        run_and_store(CFG, store, bundle=tiny_bundle())
    [rec] = store.list()
    assert rec.status == "failed" and rec.message == str(e.value)
    assert rec.epochs_done == 0  # it failed at the first epoch's checkpoint
    assert not list(store.runs_dir.rglob("*.tmp*"))


def test_the_cli_says_the_disk_is_full_in_one_line(nnkit_home, monkeypatch, capsys):
    monkeypatch.setattr(torch, "save", full_disk_save(TORCH_FULL))
    code = cli.main(["train", "--dataset", "moons", "--model", "mlp-64-64", "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_ERROR
    last = err.strip().splitlines()[-1]
    assert re.match("error: " + FULL + re.escape(str(nnkit_home / "runs")), last), err
    assert "enforce fail" not in err and "Traceback" not in err
    assert not list(nnkit_home.rglob("*.tmp*"))
    [rec] = RunStore().list()
    assert rec.status == "failed" and rec.message == last.removeprefix("error: ")


def test_the_cli_names_a_full_disk_outside_the_store(monkeypatch, capsys, tmp_path):
    def fail(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "MNIST" / "x"))

    monkeypatch.setattr(cli, "cmd_models", fail)
    assert cli.main(["models"]) == cli.EXIT_ERROR
    assert capsys.readouterr().err == (f"error: the disk is full ({diskerrors.free_mb(tmp_path)}"
                                       f" MB free in {tmp_path / 'MNIST'})\n")

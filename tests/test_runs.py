"""The run store: round trips, WAL reads while writing, recovery after a real SIGKILL, and
refusal of damaged, foreign and malicious files."""

from __future__ import annotations

import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_bundle

from nnkit import data, paths
from nnkit.config import RunConfig
from nnkit.models import ModelSpec
from nnkit.runs import CHECKPOINT_FORMAT, RunStore, StoreError, load_checkpoint_file
from nnkit.training.events import EpochEnd, RunEnd
from nnkit.training.runner import load_model, run_and_store

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ATOL = 1e-12
CFG = RunConfig(dataset="mnist", model="custom", spec=ModelSpec("mlp", (16,)), optimizer="adam",
                lr=1e-2, batch_size=32, epochs=2, schedule="none", device="cpu")
CFG_NAME = "custom on mnist"  # the name a run gets by default


def _epoch(n: int, test_accuracy: float) -> EpochEnd:
    return EpochEnd(n, 1.0 / n, 0.5 + n / 10, None, None, 0.9 / n, test_accuracy, 1000.0 * n,
                    2.0 * n)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.sqlite")


def test_store_lives_in_nnkit_home(nnkit_home):
    s = RunStore()
    assert s.path == nnkit_home / "runs.sqlite" == paths.store_path()
    assert s.runs_dir == nnkit_home / "runs"


def test_round_trip(store):
    first = store.create_run(CFG, name="first")
    second = store.create_run(CFG.with_changes(dataset="fashion-mnist"))
    rec = store.get(first)
    assert rec.name == "first" and rec.status == "queued" and rec.config == CFG
    assert rec.pid == os.getpid() and rec.epochs_done == 0 and rec.final_test_accuracy is None
    assert store.get(second).name == "custom on fashion-mnist"
    assert [r.id for r in store.list()] == [second, first]  # newest first
    assert [r.id for r in store.list(dataset="mnist")] == [first]

    store.update(first, status="running")
    store.add_epoch(first, _epoch(1, 0.8))
    store.add_epoch(first, _epoch(2, 0.7))
    store.add_steps(first, [(1, 1, 2.5, 0.01), (2, 1, 2.0, 0.01), (3, 2, 1.5, 0.005)])
    epochs = store.epochs(first)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1] == {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.7, "val_loss": None,
                         "val_accuracy": None, "test_loss": 0.45, "test_accuracy": 0.7,
                         "images_per_second": 2000.0, "seconds": 4.0}
    assert store.steps(first, after=1) == [{"step": 2, "epoch": 1, "loss": 2.0, "lr": 0.01},
                                           {"step": 3, "epoch": 2, "loss": 1.5, "lr": 0.005}]
    rec = store.get(first)
    assert rec.epochs_done == 2 and rec.best_test_accuracy == pytest.approx(0.8, abs=ATOL)

    store.finish(first, RunEnd("finished", "finished 2 epochs", 4.0, 0.45, 0.75,
                               {"images_per_second": 1500.0}))
    rec = store.get(first)
    assert (rec.status, rec.message, rec.final_test_accuracy) == ("finished", "finished 2 epochs",
                                                                  0.75)
    assert rec.best_test_accuracy == pytest.approx(0.8, abs=ATOL)  # the best epoch, not the last
    assert rec.images_per_second == pytest.approx(1500.0, abs=ATOL)
    assert [r.id for r in store.list(status="finished")] == [first]

    store.rename(first, "  renamed  ")
    assert store.get(first).name == "renamed"
    with pytest.raises(ValueError, match="a run name cannot be empty"):
        store.rename(first, "   ")

    store.save_checkpoint(first, {"w": torch.ones(2)}, CFG.spec.to_dict(), (1, 8, 8), 3, 2)
    store.save_arrays(first, "evaluation", preds=np.arange(3))
    assert store.run_dir(first).is_dir()
    store.delete(first)
    assert store.get(first) is None and store.epochs(first) == [] and store.steps(first) == []
    assert not store.run_dir(first).exists()
    assert [r.id for r in store.list()] == [second]
    assert store.get("nope") is None


def test_checkpoint_round_trip(store):
    run_id = store.create_run(CFG)
    state = {"fc1.weight": torch.arange(6.0).view(2, 3), "fc1.bias": torch.zeros(2)}
    path = store.save_checkpoint(run_id, state, CFG.spec.to_dict(), (1, 8, 8), 3, epoch=4)
    assert path == store.checkpoint_path(run_id) and not path.with_suffix(".tmp").exists()
    ckpt = store.load_checkpoint(run_id)
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["epoch"] == 4
    assert ModelSpec.from_dict(ckpt["spec"]) == CFG.spec and ckpt["input_shape"] == [1, 8, 8]
    assert ckpt["num_classes"] == 3 and torch.equal(ckpt["state_dict"]["fc1.weight"],
                                                    state["fc1.weight"])


def test_wal_readers_see_committed_state_while_another_writes(store):
    run_id = store.create_run(CFG)
    raw = sqlite3.connect(store.path, timeout=0, isolation_level=None)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other = RunStore(store.path)  # a second instance, as another process would open
        raw.execute("BEGIN")
        assert raw.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0  # snapshot taken
        store.add_epoch(run_id, _epoch(1, 0.5))  # commits while the reader holds its snapshot
        store.add_steps(run_id, [(1, 1, 2.0, 0.01)])
        assert raw.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 0  # still its snapshot
        assert [e["epoch"] for e in other.epochs(run_id)] == [1]
        assert other.get(run_id).epochs_done == 1
        raw.execute("COMMIT")
        assert raw.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 1
        # and a writer's open transaction does not block readers either
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE runs SET name = 'uncommitted' WHERE id = ?", (run_id,))
        assert other.get(run_id).name == CFG_NAME
        raw.execute("ROLLBACK")
    finally:
        raw.close()


_CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
from helpers import tiny_bundle
from nnkit.config import RunConfig
from nnkit.models import ModelSpec
from nnkit.training.runner import run_and_store
from nnkit.runs import RunStore

cfg = RunConfig(dataset="mnist", model="custom", spec=ModelSpec("mlp", (16,)), optimizer="adam",
                lr=1e-3, batch_size=64, epochs=1000, schedule="none", device="cpu",
                eval_each_epoch=False)
store = RunStore()
run_id = store.create_run(cfg, name="to be killed")
print(run_id, flush=True)
run_and_store(cfg, store, run_id=run_id, bundle=tiny_bundle(n_train=512, n_test=64))
"""


def test_interrupted_run_recovered_after_sigkill(nnkit_home):
    env = {**os.environ, "NNKIT_HOME": str(nnkit_home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD.format(tests=str(TESTS))], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        store = RunStore()
        deadline = time.monotonic() + 60
        while True:  # wait until it is mid-run with a checkpoint on disk
            rec = store.get(run_id)
            if rec.status == "running" and rec.epochs_done >= 2:
                break
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the child never got going"
            time.sleep(0.05)
        assert store.checkpoint_path(run_id).exists()
        assert store.recover_interrupted() == []  # its process is alive: left alone
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert store.get(run_id).status == "running"  # nobody told the store
    assert store.recover_interrupted() == [run_id]
    rec = store.get(run_id)
    assert rec.status == "interrupted"
    assert rec.message.endswith("its last checkpoint is usable")
    assert store.recover_interrupted() == []  # once only
    model, spec, ckpt = load_model(store, run_id)
    assert spec == ModelSpec("mlp", (16,)) and ckpt["epoch"] >= 2 and not model.training
    bundle = tiny_bundle(n_train=512, n_test=64)
    with torch.no_grad():
        out = model(bundle.as_float(bundle.test_x))
    assert tuple(out.shape) == (64, 3) and torch.isfinite(out).all()


def test_recover_marks_a_run_without_checkpoint(store):
    run_id = store.create_run(CFG, status="running")
    live = store.create_run(CFG, status="running")
    store.update(run_id, pid=2**22 + 12345)  # above Linux's pid_max default: no such process
    assert store.recover_interrupted() == [run_id]
    assert store.get(run_id).message.endswith("no checkpoint was saved")
    assert store.get(live).status == "running"


def test_run_and_store_writes_everything(store):
    bundle = tiny_bundle()
    run_id, result = run_and_store(CFG, store, bundle=bundle, name="stored")
    rec = store.get(run_id)
    assert rec.status == "finished" and rec.name == "stored" and rec.epochs_done == 2
    assert rec.final_test_accuracy == result.end.test_accuracy
    assert len(store.epochs(run_id)) == 2
    assert len(store.steps(run_id)) == 2 * (256 // 32)
    ev = store.load_arrays(run_id, "evaluation")
    np.testing.assert_array_equal(ev["confusion"], result.evaluation.confusion)
    assert store.load_arrays(run_id, "first_layer_e002")["weight"].shape == (16, 64)
    model, _, _ = load_model(store, run_id)
    for key, value in model.state_dict().items():
        assert torch.equal(value, result.model.state_dict()[key])


def test_run_and_store_leaves_no_run_when_the_data_is_missing(store):
    with pytest.raises(data.DataError, match="Fashion-MNIST is not available"):
        run_and_store(CFG.with_changes(dataset="fashion-mnist", model="mlp-64-64"), store)
    assert store.list() == []


def test_corrupted_database_refused_by_name(tmp_path):
    path = tmp_path / "runs.sqlite"
    junk = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(junk)
    with pytest.raises(StoreError, match=re.escape(f"{path}: not a usable nnkit run store")):
        RunStore(path)
    assert path.read_bytes() == junk  # nothing was changed


class _RunsShell:
    """Unpickling this runs a shell command: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


@pytest.fixture
def saved_checkpoint(store):
    run_id = store.create_run(CFG)
    return store.save_checkpoint(run_id, {"w": torch.ones(64, 16)}, CFG.spec.to_dict(),
                                 (1, 8, 8), 3, 1)


def test_truncated_checkpoint_refused(saved_checkpoint):
    raw = saved_checkpoint.read_bytes()
    saved_checkpoint.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(StoreError, match=re.escape(f"{saved_checkpoint}: refused, not a readable")):
        load_checkpoint_file(saved_checkpoint)


def test_foreign_torch_file_refused(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(StoreError, match=re.escape(f"{path}: refused, not an nnkit checkpoint")):
        load_checkpoint_file(path)
    torch.save({"format": CHECKPOINT_FORMAT, "spec": "{not json", "state_dict": {}}, path)
    with pytest.raises(StoreError, match=re.escape(f"{path}: refused, its model spec is")):
        load_checkpoint_file(path)
    with pytest.raises(StoreError, match=re.escape(f"{tmp_path / 'none.pt'}: no checkpoint")):
        load_checkpoint_file(tmp_path / "none.pt")


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_malicious_checkpoint_refused_without_running_it(tmp_path, writer):
    path, marker = tmp_path / "checkpoint.pt", tmp_path / "pwned"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(_RunsShell(marker), protocol=2))  # torch.load's own
    else:
        torch.save({"format": CHECKPOINT_FORMAT, "payload": _RunsShell(marker)}, path)
    with pytest.raises(StoreError, match=re.escape(f"{path}: refused: it holds more than plain "
                                                   "weights (a pickle that could run code)")):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_arrays_round_trip_and_damage(store):
    run_id = store.create_run(CFG)
    probs = np.random.default_rng(0).random((5, 3)).astype(np.float16)
    store.save_arrays(run_id, "evaluation", preds=np.array([0, 2, 1], dtype=np.int16),
                      probs=probs, accuracy=np.float64(0.5))
    got = store.load_arrays(run_id, "evaluation")
    assert sorted(got) == ["accuracy", "preds", "probs"]
    np.testing.assert_array_equal(got["preds"], [0, 2, 1])
    assert got["preds"].dtype == np.int16 and got["accuracy"] == 0.5
    np.testing.assert_array_equal(got["probs"], probs)
    assert store.load_arrays(run_id, "absent") is None
    assert not list(store.run_dir(run_id).glob("*.tmp*"))

    path = store.run_dir(run_id) / "evaluation.npz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(StoreError, match=re.escape(f"{path}: damaged or not an nnkit file")):
        store.load_arrays(run_id, "evaluation")
    np.savez(store.run_dir(run_id) / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(StoreError, match="objects.npz: damaged or not an nnkit file"):
        store.load_arrays(run_id, "objects")

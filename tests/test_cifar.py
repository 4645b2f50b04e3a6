"""CIFAR-10 files written in the dataset's own format load through the real loader path.

torchvision.datasets.CIFAR10 compares each file's MD5 with the original dataset's, which small
test files cannot match. The tests that load them switch that one check to "the file exists"
(monkeypatching torchvision's check_integrity inside its cifar module, for the test only);
everything else, the pickles, torchvision's reading of them and nnkit's loader, is the real
code. A test without the patch shows the check refusing them.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar
from cifar_fixture import FOLDER, write_cifar10_files
from torchvision.datasets.utils import check_integrity

from nnkit import data, inspect, paths
from nnkit.config import RunConfig
from nnkit.runs import RunStore
from nnkit.training.runner import run_and_store

N_TRAIN, N_TEST = 24, 8  # images; the training ones spread over 5 batches


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),  # (N, H, W, C)
            rng.integers(0, 10, n))


@pytest.fixture
def cifar_root(tmp_path):
    x, y = _images(N_TRAIN, 0)
    tx, ty = _images(N_TEST, 1)
    write_cifar10_files(tmp_path, x, y, tx, ty)
    return tmp_path, (x, y, tx, ty)


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision's MD5 comparison, for this test only, reduced to 'the file exists'."""
    monkeypatch.setattr(tv_cifar, "check_integrity",
                        lambda fpath, md5=None: check_integrity(fpath, None))


def test_files_are_laid_out_as_torchvision_reads_them(cifar_root):
    root, (x, y, _, _) = cifar_root
    folder = root / FOLDER
    assert sorted(os.listdir(folder)) == sorted(data.CIFAR_FILES)  # what the Catalogue looks for
    batch = pickle.loads((folder / "data_batch_1").read_bytes(), encoding="latin1")
    n = len(batch["labels"])
    assert batch["data"].shape == (n, 3072) and batch["data"].dtype == np.uint8
    # each row: the red plane, then green, then blue, each 32x32 row-major
    np.testing.assert_array_equal(batch["data"][0, :1024].reshape(32, 32), x[0, :, :, 0])
    np.testing.assert_array_equal(batch["data"][0, 2048:].reshape(32, 32), x[0, :, :, 2])
    assert batch["labels"] == [int(v) for v in y[:n]]
    meta = pickle.loads((folder / "batches.meta").read_bytes(), encoding="latin1")
    assert meta["label_names"] == list(data.CIFAR)


def test_torchvision_refuses_them_without_the_original_md5s(cifar_root):
    root, _ = cifar_root
    assert not data.is_prepared("cifar10", root)
    with pytest.raises(data.DataError, match="missing or damaged"):
        data.load_split("cifar10", True, root)


def test_load_split_reads_them_exactly(cifar_root, no_md5):
    root, (x, y, tx, ty) = cifar_root
    assert data.is_prepared("cifar10", root)
    images, labels = data.load_split("cifar10", True, root)
    assert images.shape == (N_TRAIN, 3, 32, 32) and images.dtype == torch.uint8
    np.testing.assert_array_equal(images.permute(0, 2, 3, 1).numpy(), x)  # order kept
    np.testing.assert_array_equal(labels.numpy(), y)
    test_images, test_labels = data.load_split("cifar10", False, root)
    np.testing.assert_array_equal(test_images.permute(0, 2, 3, 1).numpy(), tx)
    np.testing.assert_array_equal(test_labels.numpy(), ty)


def test_vgg_small_trains_a_step_on_them_and_gives_colour_templates(tmp_path, no_md5):
    x, y = _images(N_TRAIN, 0)
    tx, ty = _images(N_TEST, 1)
    write_cifar10_files(paths.data_dir(), x, y, tx, ty)  # the test's data folder
    cfg = RunConfig(dataset="cifar10", model="vgg-small", optimizer="adam", lr=1e-3,
                    batch_size=N_TRAIN, epochs=1, schedule="none", device="cpu")
    run_id, result = run_and_store(cfg, RunStore())
    assert result.end.status == "finished" and result.end.metrics["steps"] == 1
    assert result.evaluation.confusion.sum() == N_TEST
    templates = inspect.weight_templates(result.model, (3, 32, 32))
    assert templates.shape == (32, 3, 3, 3)  # (N, kh, kw, 3)

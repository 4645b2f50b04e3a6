"""Smoke test on the real MNIST files: one short epoch of fast-cnn through the run store."""

from __future__ import annotations

import pytest

from nnkit import data, paths
from nnkit.config import RunConfig
from nnkit.runs import RunStore
from nnkit.training.runner import load_model, run_and_store

pytestmark = pytest.mark.smoke

TRAIN_SUBSET = 6000
TEST_SIZE = 10_000
MIN_ACCURACY = 0.90


def test_fast_cnn_one_epoch_on_6000_images():
    if not data.is_prepared("mnist"):
        pytest.fail(f"MNIST is not prepared in {paths.data_dir()}: run "
                    "`python -m nnkit data prepare` first (it fetches about 20 MB once)")
    cfg = RunConfig(dataset="mnist", model="fast-cnn", train_subset=TRAIN_SUBSET, epochs=1,
                    batch_size=64, device="cpu")
    store = RunStore()
    run_id, result = run_and_store(cfg, store)
    assert result.end.status == "finished"
    assert result.evaluation.confusion.sum() == TEST_SIZE  # the full official test set
    assert result.end.test_accuracy > MIN_ACCURACY
    rec = store.get(run_id)
    assert rec.status == "finished" and rec.final_test_accuracy == result.end.test_accuracy
    model, spec, ckpt = load_model(store, run_id)
    assert ckpt["input_shape"] == [1, 28, 28] and ckpt["num_classes"] == 10

"""Tests for nnkit.predict: probabilities, saliency, nearest training images, usable runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torch import nn

from nnkit import models
from nnkit.config import RunConfig
from nnkit.predict import (
    PixelIndex,
    Predictor,
    doubts,
    nearest_training_images,
    predict,
    saliency,
    usable_runs,
)
from nnkit.preprocess import preprocess_drawing
from nnkit.runs import RunStore, StoreError

SEED = 0
N_IMAGES = 40  # tiny "training set" for the nearest-image search
K = 5
FP16_ATOL = 2e-3  # the index stores unit vectors in float16
MLP = models.ModelSpec("mlp", (16,))
MNIST_CFG = RunConfig(model="custom", spec=MLP)


def sparse_images(n: int, rng: np.random.Generator) -> np.ndarray:
    """n uint8 (n, 28, 28) images with ~8 % ink: far apart in cosine, unlike dense noise."""
    ink = rng.random((n, 28, 28)) < 0.08
    return (ink * rng.integers(100, 256, size=(n, 28, 28))).astype(np.uint8)


def brute_force_cosine(query: np.ndarray, images: np.ndarray) -> np.ndarray:
    """1 - cos(query, image) for every image, one at a time in float64."""
    q = query.astype(np.float64).ravel()
    out = []
    for img in images:
        v = img.astype(np.float64).ravel() / 255.0
        out.append(1.0 - q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))
    return np.array(out)


def tiny_cnn(seed: int = SEED) -> nn.Module:
    torch.manual_seed(seed)
    return models.build_model(models.preset("cnn-10-20"), (1, 28, 28), 10).eval()


# --- nearest training images ----------------------------------------------------------------


def test_nearest_matches_brute_force():
    rng = np.random.default_rng(SEED)
    images = sparse_images(N_IMAGES, rng)
    query = np.clip(images[7] / 255.0 + rng.normal(0, 0.05, (28, 28)), 0, 1).astype(np.float32)
    ref = brute_force_cosine(query, images)  # (N_IMAGES,)
    idx, dist = nearest_training_images(query, images, k=K)
    assert idx.shape == dist.shape == (K,)
    assert idx[0] == int(np.argmin(ref)) == 7
    np.testing.assert_allclose(dist, ref[idx], atol=FP16_ATOL)
    assert (np.diff(dist) >= 0).all()  # closest first
    kth = np.sort(ref)[K - 1]
    assert (ref[idx] <= kth + FP16_ATOL).all()  # the brute-force top k, up to float16 ties


def test_prebuilt_index_and_channel_axis_give_the_same_answer():
    rng = np.random.default_rng(SEED + 1)
    images = sparse_images(N_IMAGES, rng)
    query = images[3] / 255.0
    index = PixelIndex(images[:, None])  # (N, 1, 28, 28), as load_split gives them
    assert len(index) == N_IMAGES
    idx_a, dist_a = nearest_training_images(query, index, k=K)
    idx_b, dist_b = nearest_training_images(query, images, k=K)
    np.testing.assert_array_equal(idx_a, idx_b)
    np.testing.assert_allclose(dist_a, dist_b, atol=0)
    assert idx_a[0] == 3 and dist_a[0] == pytest.approx(0.0, abs=FP16_ATOL)


def test_nearest_refuses_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        PixelIndex(np.zeros((3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="pixels"):
        PixelIndex(np.zeros((3, 28, 28), np.uint8)).nearest(np.zeros((20, 20)))


# --- predictions and saliency -------------------------------------------------------------


def test_predict_is_the_softmax_of_the_model():
    model = tiny_cnn()
    x = np.random.default_rng(SEED).normal(size=(28, 28)).astype(np.float32)
    threads = torch.get_num_threads()
    probs = predict(model, x)
    assert torch.get_num_threads() == threads  # one_thread() puts the count back
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(x)[None, None]), dim=1)[0].numpy()
    assert probs.shape == (10,) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, ref, atol=1e-6)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="28x28"):
        predict(model, np.zeros((1, 28, 28, 1)))


def test_saliency_shape_range_and_weights_untouched():
    model = tiny_cnn()
    x = np.random.default_rng(SEED).normal(size=(28, 28)).astype(np.float32)
    sal = saliency(model, x, class_idx=3)
    assert sal.shape == (28, 28) and sal.dtype == np.float32
    assert sal.min() >= 0.0 and sal.max() == pytest.approx(1.0)
    assert all(p.grad is None for p in model.parameters())


def test_saliency_of_a_linear_model_is_its_weight_row():
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    x = np.zeros((28, 28), np.float32)
    w = model[1].weight.detach()[4].abs().reshape(28, 28).numpy()  # d logit_4 / d x = W[4]
    np.testing.assert_allclose(saliency(model, x, 4), w / w.max(), atol=1e-6)


# --- runs a drawing can go to -------------------------------------------------------------


def _run(store: RunStore, cfg: RunConfig, status: str = "finished", best: float | None = None,
         checkpoint: bool = True, input_shape=(1, 28, 28)) -> str:
    run_id = store.create_run(cfg)
    store.update(run_id, status=status, best_test_accuracy=best)
    if checkpoint:
        torch.manual_seed(SEED)
        model = models.build_model(cfg.model_spec(), input_shape, 10)
        store.save_checkpoint(run_id, model.state_dict(), cfg.model_spec().to_dict(),
                              input_shape, 10, epoch=1)
    return run_id


def test_usable_runs_keep_grey_28x28_checkpoints_best_mnist_first(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    good = _run(store, MNIST_CFG, best=0.97)
    best = _run(store, MNIST_CFG, status="stopped", best=0.99)
    lost = _run(store, MNIST_CFG, status="interrupted", best=0.95)
    fashion = _run(store, MNIST_CFG.with_changes(dataset="fashion-mnist"), best=0.995)
    _run(store, MNIST_CFG.with_changes(dataset="moons"), best=1.0, input_shape=(2,))  # toy
    _run(store, RunConfig(dataset="cifar10", model="custom", spec=MLP), best=0.5,
         input_shape=(3, 32, 32))  # cifar-like
    _run(store, MNIST_CFG, status="failed", best=0.99)
    _run(store, MNIST_CFG, status="running", best=0.99)
    _run(store, MNIST_CFG, best=0.99, checkpoint=False)
    assert [r.id for r in usable_runs(store)] == [best, good, lost, fashion]


def test_predictor_loads_a_run_and_refuses_bad_ones(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = _run(store, MNIST_CFG, best=0.9)
    p = Predictor.load(store, run_id)
    assert p.classes == tuple("0123456789") and (p.mean, p.std) == (0.1307, 0.3081)
    x = np.random.default_rng(SEED).normal(size=(28, 28)).astype(np.float32)
    np.testing.assert_allclose(p.probs(x), predict(p.model, x), atol=0)

    cifar = _run(store, RunConfig(dataset="cifar10", model="custom", spec=MLP),
                 input_shape=(3, 32, 32))
    with pytest.raises(StoreError, match="not a 28x28 grey drawing"):
        Predictor.load(store, cifar)
    store.checkpoint_path(run_id).write_bytes(b"not a checkpoint")
    with pytest.raises(StoreError, match="checkpoint.pt"):
        Predictor.load(store, run_id)
    store.delete(run_id)
    with pytest.raises(StoreError, match="deleted"):
        Predictor.load(store, run_id)


def test_predictor_of_a_run_that_trained_unnormalized():
    store = RunStore()
    run_id = _run(store, MNIST_CFG.with_changes(normalize=False))
    p = Predictor.load(store, run_id)
    grey = np.zeros((280, 280), np.uint8)
    grey[40:240, 130:150] = 255
    np.testing.assert_array_equal(p.preprocess(grey).model_input, p.preprocess(grey).centered)


# --- when to say "not sure" ---------------------------------------------------------------


def _canvas(draw) -> np.ndarray:
    im = Image.new("L", (280, 280))
    draw(ImageDraw.Draw(im))
    return np.asarray(im)


def test_doubts_name_crowded_tiny_and_unsure_drawings():
    one = preprocess_drawing(_canvas(lambda d: d.line([(140, 40), (140, 240)], 255, 20)))
    assert doubts(one, 0.98) == []
    assert "50%" in doubts(one, 0.5 - 1e-9)[0]
    full = preprocess_drawing(np.full((280, 280), 255, np.uint8))
    assert "ink covers 100%" in doubts(full, 0.99)[0]
    dot = preprocess_drawing(_canvas(lambda d: d.ellipse([100, 100, 119, 119], 255)))
    assert "tiny" in doubts(dot, 0.99)[0]

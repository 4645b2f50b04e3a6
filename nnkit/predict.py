"""Classify one drawn digit: a run's model loaded once, its probabilities, a saliency map, the
nearest training images, and which stored runs can classify a 28x28 grey drawing at all."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from nnkit import data, ood
from nnkit.config import RunConfig
from nnkit.preprocess import Preprocessed, naive_resize, preprocess_drawing
from nnkit.runs import RunRecord, RunStore, StoreError
from nnkit.training.runner import load_model

FIRST_RUN = RunConfig()  # what the Draw page offers to train when no run can classify yet
GREY_28 = (1, 28, 28)  # the input shape a drawing is turned into
USABLE_STATUSES = ("finished", "stopped", "interrupted")  # ended runs that may hold weights
UNSURE_CONFIDENCE = 0.5  # below this the page says "not sure"
CROWDED_INK = 0.6  # more of the canvas inked than this is not a digit
TINY_SHARE = 0.15  # an ink box whose longer side is below this share of the canvas is a dot


@dataclass(frozen=True)
class Predictor:
    """A run's trained model with what it needs to see a drawing as its training data."""

    run_id: str
    name: str
    model: nn.Module  # eval mode, CPU
    classes: tuple[str, ...]
    dataset: str
    mean: float
    std: float
    normalize: bool

    @staticmethod
    def load(store: RunStore, run_id: str) -> Predictor:
        """Load the run's checkpoint once; StoreError (naming the file) if it is gone or bad."""
        rec = store.get(run_id)
        if rec is None:
            raise StoreError(f"run {run_id} no longer exists (it was deleted)")
        model, _, ckpt = load_model(store, run_id)
        if tuple(ckpt["input_shape"]) != GREY_28:
            raise StoreError(f"{store.checkpoint_path(run_id)}: the model takes "
                             f"{tuple(ckpt['input_shape'])} inputs, not a 28x28 grey drawing")
        info = data.info(rec.dataset)
        return Predictor(run_id, rec.name, model, info.classes, rec.dataset, info.mean[0],
                         info.std[0], rec.config.normalize)

    def preprocess(self, rgba: np.ndarray | None) -> Preprocessed:
        """The drawing as this model's training images looked (its mean/std, if it normalized)."""
        return preprocess_drawing(rgba, self.mean, self.std, self.normalize)

    def naive(self, rgba: np.ndarray | None) -> np.ndarray:
        """The whole canvas squeezed to 28x28 for this model, without crop or centring."""
        return naive_resize(rgba, self.mean, self.std, self.normalize)

    def probs(self, image28: np.ndarray) -> np.ndarray:
        """Class probabilities (num_classes,) for one model-ready 28x28 image."""
        return predict(self.model, image28)

    def familiarity_index(self, train_uint8, test_uint8) -> ood.FeatureIndex:
        """What this model's training digits look like to it, calibrated on test digits (25k
        images through the model: once per run, on every thread torch has)."""
        with torch.inference_mode():
            return ood.index_for(self.model, train_uint8, test_uint8, self.mean, self.std,
                                 self.normalize)

    def familiarity(self, index: ood.FeatureIndex, image28: np.ndarray) -> ood.Familiarity:
        """Does this model-ready drawing look like the digits the model learned from?"""
        with torch.inference_mode(), one_thread():
            return index.check(image28)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run this thread's torch ops on one intra-op thread, then restore the count.

    One 28x28 image is too little work to share: on 2 busy cores a batch-1 forward took
    70-170 ms with 2 threads (they wait on each other) and ~1 ms with one. The count is
    per thread once set, so a training thread already running keeps its own.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _as_batch(image28: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(28, 28) -> float32 (1, 1, 28, 28)."""
    x = torch.as_tensor(np.asarray(image28, dtype=np.float32))
    if x.shape != (28, 28):
        raise ValueError(f"expected a 28x28 image, got shape {tuple(x.shape)}")
    return x.reshape(1, *GREY_28)


def predict(model: nn.Module, image28_normalized: np.ndarray) -> np.ndarray:
    """Softmax probabilities (num_classes,) float32 of one 28x28 model-ready image (batch 1)."""
    with torch.inference_mode(), one_thread():
        logits = model(_as_batch(image28_normalized))  # (1, num_classes)
        return torch.softmax(logits.float(), dim=1)[0].numpy()


def saliency(model: nn.Module, x: np.ndarray, class_idx: int) -> np.ndarray:
    """|d logit[class_idx] / d input| as a (28, 28) float32 map scaled to max 1 (zeros if flat)."""
    with torch.inference_mode(False), torch.enable_grad(), one_thread():
        inp = _as_batch(x).clone().requires_grad_(True)  # (1, 1, 28, 28)
        logit = model(inp)[0, class_idx]
        (grad,) = torch.autograd.grad(logit, inp)  # only the input's gradient, weights untouched
    sal = grad[0, 0].abs().numpy()  # (28, 28)
    top = float(sal.max())
    return (sal / top if top > 0 else sal).astype(np.float32)


class PixelIndex:
    """Training images as unit-length pixel vectors (float16, built once) for cosine search."""

    def __init__(self, images_uint8: np.ndarray | torch.Tensor) -> None:
        x = torch.as_tensor(np.asarray(images_uint8))
        if x.dtype != torch.uint8:
            raise ValueError(f"training images must be uint8, got {x.dtype}")
        v = x.reshape(len(x), -1).float().div_(255.0)  # (N, H*W) in [0, 1]
        v.div_(v.norm(dim=1, keepdim=True).clamp_min(1e-12))
        self.vectors = v.half()  # (N, H*W): 60k MNIST images take 94 MB
        self.shape = tuple(x.shape[-2:])

    def __len__(self) -> int:
        return len(self.vectors)

    def nearest(self, image: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine distances (1 - cos) of the k closest images, closest first."""
        q = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(-1)  # (H*W,)
        if q.numel() != self.vectors.shape[1]:
            raise ValueError(f"image has {q.numel()} pixels, the index {self.vectors.shape[1]}")
        q = q.clamp(0, 1) / q.norm().clamp_min(1e-12)
        dist = 1.0 - (self.vectors @ q.half()).float()  # (N,)
        k = min(k, len(dist))
        d, idx = torch.topk(dist, k, largest=False, sorted=True)
        return idx.numpy(), d.numpy()


def nearest_training_images(centered28: np.ndarray, train_images_uint8, k: int = 5
                            ) -> tuple[np.ndarray, np.ndarray]:
    """The k training images closest to a centred 28x28 drawing in [0, 1] (cosine on pixels).

    Pass a PixelIndex to search many times; raw uint8 images (N, [1,] 28, 28) build one first.
    """
    index = (train_images_uint8 if isinstance(train_images_uint8, PixelIndex)
             else PixelIndex(train_images_uint8))
    return index.nearest(centered28, k)


def _has_grey_28_input(rec: RunRecord) -> bool:
    try:
        info = data.info(rec.dataset)
    except data.DataError:  # a user dataset deleted since
        return False
    return info.kind == "image" and info.input_shape == GREY_28


def usable_runs(store: RunStore) -> list[RunRecord]:
    """Ended runs with a checkpoint whose input is a 28x28 grey image, best MNIST first."""
    runs = [r for r in store.list() if r.status in USABLE_STATUSES and _has_grey_28_input(r)
            and store.checkpoint_path(r.id).exists()]
    return sorted(runs, key=lambda r: (r.dataset != "mnist", -(r.best_test_accuracy or 0.0)))


def doubts(pre: Preprocessed, confidence: float) -> list[str]:
    """Why a prediction should not be trusted (empty when it looks like a fair digit)."""
    reasons = []
    if pre.ink_fraction > CROWDED_INK:
        reasons.append(f"ink covers {pre.ink_fraction:.0%} of the canvas; a digit is thinner")
    if pre.bbox is not None:
        top, left, bottom, right = pre.bbox
        side = max(pre.ink.shape)
        if max(bottom - top, right - left) < TINY_SHARE * side:
            reasons.append(f"the drawing is tiny ({right - left}x{bottom - top} px of "
                           f"{side}x{side}); draw the digit larger")
    if confidence < UNSURE_CONFIDENCE:
        reasons.append(f"the network is only {confidence:.0%} confident")
    return reasons


def probability_bars(probs: np.ndarray, classes: tuple[str, ...], title: str = "",
                     height: int = 260) -> go.Figure:
    """A bar per class, the most probable highlighted."""
    top = int(np.argmax(probs))
    colors = ["#2563eb" if i == top else "#cbd5e1" for i in range(len(probs))]
    fig = go.Figure(go.Bar(x=list(classes), y=[float(p) for p in probs], marker_color=colors,
                           text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs],
                           textposition="outside", hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", title="probability")
    fig.update_xaxes(type="category", title="class")
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=30 if title else 10,
                      b=10), template="plotly_white", showlegend=False)
    return fig


def saliency_overlay(image01: np.ndarray, sal: np.ndarray) -> np.ndarray:
    """The input in grey with the saliency in red-yellow on top: uint8 RGB (28, 28, 3)."""
    grey = np.clip(np.asarray(image01, dtype=np.float32), 0, 1)[..., None] * 0.55  # (28, 28, 1)
    s = np.clip(sal, 0, 1)[..., None]  # (28, 28, 1)
    heat = np.concatenate([np.ones_like(s), s * 0.85, np.zeros_like(s)], axis=-1)  # red->yellow
    rgb = grey * (1 - s) + heat * s
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)

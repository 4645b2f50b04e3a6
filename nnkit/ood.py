"""Is a drawing a digit the network knows? Distance to its training digits in its own features.

A network trained on ten classes has no "none of these", and its softmax confidence says
nothing about inputs unlike anything it saw: a drawn house came out as a 0 at 98 %. The check
here is deep nearest neighbours (Sun, Ming, Zhu and Li, "Out-of-distribution detection with
deep nearest neighbors", ICML 2022): the input of the network's last linear layer, scaled to
unit length, is compared with the same features of training digits; the score is the cosine
distance to the k-th nearest. It needs no retraining and no outlier data, and it fits a
teaching tool: the nearest training digits are something the page can show.

The threshold is calibrated on held-out MNIST test digits (the score below which 98 % of them
fall), never on drawings. benchmarks/draw_ood.py on the default fast-cnn: 87 % of 25 shapes
that are no digit flagged (maximum softmax probability, calibrated the same way: 22 %), 1.2 %
of the other 8,000 real test digits and 1.4 % of canvas-drawn test digits. k = 1, 3, 10 and
50 flagged 90, 82, 79 and 76 % of the shapes with a trained run, at the same share of digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

K = 1  # the k-th nearest training digit's distance is the score (k = 1, 3, 10, 50 tried)
KEEP = 0.98  # share of held-out test digits the threshold lets through
TRAIN_IMAGES = 20_000  # training digits indexed (60k: ~5 s of CPU per run, hardly better)
CALIBRATION_IMAGES = 2_000  # the first test digits; benchmarks measure on the others
BATCH = 1000


def last_linear(model: nn.Module) -> nn.Linear:
    """The layer whose input is the network's penultimate features."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("the model has no linear layer to read features before")
    return layers[-1]


@torch.no_grad()
def features(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Unit-length penultimate features (N, D) of model-ready inputs (N, C, H, W)."""
    seen: list[torch.Tensor] = []
    hook = last_linear(model).register_forward_hook(lambda m, i, o: seen.append(i[0]))
    try:
        for start in range(0, len(inputs), BATCH):
            model(inputs[start:start + BATCH])
    finally:
        hook.remove()
    f = torch.cat(seen).reshape(len(inputs), -1).float()
    return nn.functional.normalize(f, dim=1)


@dataclass(frozen=True)
class Familiarity:
    """A drawing's score against the range of real test digits."""

    score: float  # cosine distance to the k-th nearest training digit's features (K)
    threshold: float  # KEEP of held-out test digits score at most this
    typical: float  # the median test digit's score
    unfamiliar: bool


class FeatureIndex:
    """Training digits' features for one model, and the threshold calibrated for them."""

    def __init__(self, model: nn.Module, train_inputs: torch.Tensor,
                 calibration_inputs: torch.Tensor, k: int = K, keep: float = KEEP) -> None:
        self.model, self.k = model, min(k, len(train_inputs))
        self.train = features(model, train_inputs)  # (N, D): 20k x 512 take 40 MB
        calibration = self.scores(calibration_inputs)
        self.threshold = float(np.quantile(calibration, keep))
        self.typical = float(np.median(calibration))

    def scores(self, inputs: torch.Tensor) -> np.ndarray:
        """The score of each model-ready input (N,): higher is less like the training digits."""
        f = features(self.model, inputs)  # float32: CPUs multiply half precision slowly
        out = []
        for start in range(0, len(f), BATCH):
            sims = f[start:start + BATCH] @ self.train.T  # (B, N)
            out.append(1.0 - sims.topk(self.k, dim=1).values[:, -1])
        return torch.cat(out).numpy()

    def check(self, model_input: np.ndarray) -> Familiarity:
        """One model-ready 28x28 drawing (or (C, H, W) image) against the threshold."""
        x = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        x = x.reshape(1, *([1] * (3 - x.dim())), *x.shape)  # (1, C, H, W)
        score = float(self.scores(x)[0])
        return Familiarity(score, self.threshold, self.typical, score > self.threshold)


def model_inputs(images_uint8, mean: float, std: float, normalize: bool) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, C, H, W) as a model that saw them so takes them."""
    x = torch.as_tensor(np.asarray(images_uint8)).float().div_(255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x  # (N, C, H, W)
    return (x - mean) / std if normalize else x


def index_for(model: nn.Module, train_uint8, test_uint8, mean: float, std: float,
              normalize: bool) -> FeatureIndex:
    """A FeatureIndex over the first TRAIN_IMAGES training digits, calibrated on the first
    CALIBRATION_IMAGES test digits."""
    prep = lambda x: model_inputs(x, mean, std, normalize)
    return FeatureIndex(model, prep(train_uint8[:TRAIN_IMAGES]),
                        prep(test_uint8[:CALIBRATION_IMAGES]))

"""The drawing check's score (deep nearest neighbours) against a plain reference, and its
threshold's calibration on a small held-out split of tiny synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nnkit import ood

N_TRAIN, N_CAL, N_HELD, DIM = 300, 200, 400, 16  # tiny 4x4 "images", three classes


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(DIM, 8), nn.ReLU(), nn.Linear(8, 3)).eval()


def _digits(n: int, seed: int) -> torch.Tensor:
    """Three blob classes around fixed centres: what the model 'knows'. (n, 1, 4, 4)"""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, DIM, generator=torch.Generator().manual_seed(99)) * 2
    return (centres[torch.arange(n) % 3] + 0.3 * torch.randn(n, DIM, generator=g)).reshape(
        n, 1, 4, 4)


def test_the_score_is_the_distance_to_the_kth_nearest_training_feature():
    model, train, query = _model(), _digits(N_TRAIN, 1), _digits(7, 2)
    index = ood.FeatureIndex(model, train, _digits(N_CAL, 3), k=5)
    with torch.no_grad():
        f_train = model[:-1](train).numpy()  # the input of the last linear layer
        f_query = model[:-1](query).numpy()
    f_train /= np.linalg.norm(f_train, axis=1, keepdims=True)
    f_query /= np.linalg.norm(f_query, axis=1, keepdims=True)
    want = 1.0 - np.sort(f_query @ f_train.T, axis=1)[:, -5]  # 5th largest cosine
    np.testing.assert_allclose(index.scores(query), want, atol=1e-5)


def test_the_threshold_lets_through_the_share_of_held_out_digits_it_was_calibrated_for():
    model = _model()
    index = ood.FeatureIndex(model, _digits(N_TRAIN, 1), _digits(N_CAL, 3), keep=0.9)
    calibration = index.scores(_digits(N_CAL, 3))
    assert np.mean(calibration > index.threshold) <= 0.1 + 1 / N_CAL  # the quantile itself
    held = index.scores(_digits(N_HELD, 4))  # same kind, never seen in calibration
    assert np.mean(held > index.threshold) <= 0.2  # 0.1 expected; a small split wobbles
    assert index.typical <= index.threshold


def test_an_input_unlike_the_training_digits_is_flagged_and_a_digit_is_not():
    model = _model()
    index = ood.FeatureIndex(model, _digits(N_TRAIN, 1), _digits(N_CAL, 3))
    digit = _digits(1, 5)[0, 0].numpy()
    strange = -3 * digit  # nothing the model was shown looks like it
    assert not index.check(digit).unfamiliar
    verdict = index.check(strange)
    assert verdict.unfamiliar and verdict.score > verdict.threshold


def test_model_inputs_scale_and_normalize_like_training():
    x = np.array([[[0, 255]]], np.uint8)  # (1, 1, 2)
    np.testing.assert_allclose(ood.model_inputs(x, 0.5, 0.25, True).numpy(), [[[[-2.0, 2.0]]]])
    np.testing.assert_allclose(ood.model_inputs(x, 0.5, 0.25, False).numpy(), [[[[0.0, 1.0]]]])


def test_a_model_without_a_linear_layer_is_refused_by_name():
    with pytest.raises(ValueError, match="no linear layer"):
        ood.last_linear(nn.Sequential(nn.Conv2d(1, 2, 3)))

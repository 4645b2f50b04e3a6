"""Inspection on tiny hand-built models whose weights, and so templates, are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnkit import plots
from nnkit.inspect import (
    feature_maps,
    first_layer,
    layer_activations,
    top_activating,
    weight_templates,
)
from nnkit.templates import symmetric_limit, template_grid

SIDE = 4  # tiny grey images are (1, SIDE, SIDE)
UNITS = 3
N_IMAGES = 50


def _linear_model() -> nn.Sequential:
    """Flatten + Linear(16, 3): unit j's template is (j + 1) * arange(16) as 4x4, bias j."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, UNITS), nn.ReLU(),
                          nn.Linear(UNITS, 2))
    with torch.no_grad():
        pattern = torch.arange(SIDE * SIDE, dtype=torch.float32)
        model[1].weight.copy_(torch.stack([(j + 1) * pattern for j in range(UNITS)]))
        model[1].bias.copy_(torch.arange(UNITS, dtype=torch.float32))
    return model


def _conv_model(in_ch: int = 1) -> nn.Sequential:
    """conv(in->4, 5)+BN+ReLU, pool, conv(4->6, 3)+ReLU, linear: seeded weights."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(in_ch, 4, 5), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 10))
    with torch.no_grad():  # non-trivial running statistics, so eval-mode BN is visible
        model[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        model[1].running_var.copy_(torch.tensor([0.5, 2.0, 1.0, 4.0]))
    return model


def _uint8_images(n: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)


def test_first_layer():
    model = _conv_model()
    assert first_layer(model) is model[0]
    lin = _linear_model()
    assert first_layer(lin) is lin[1]
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        first_layer(nn.Sequential(nn.ReLU()))


def test_linear_templates_exact():
    t = weight_templates(_linear_model(), (1, SIDE, SIDE))
    assert t.shape == (UNITS, SIDE, SIDE) and t.dtype == np.float32
    pattern = np.arange(SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    for j in range(UNITS):
        np.testing.assert_array_equal(t[j], (j + 1) * pattern)


def test_linear_template_dot_image_is_unit_output():
    model = _linear_model()
    t = weight_templates(model, (1, SIDE, SIDE))  # (units, 4, 4)
    x = torch.rand(5, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    expected = model[1](model[0](x)) - model[1].bias  # (5, units)
    got = np.einsum("uhw,nhw->nu", t, x[:, 0].numpy())
    np.testing.assert_allclose(got, expected.detach().numpy(), atol=1e-4)


def test_rgb_linear_templates_are_channel_last():
    layer = nn.Linear(3 * 2 * 2, 2)
    with torch.no_grad():
        # input index c*4 + y*2 + x (Flatten of (C, H, W)); weight value 10*c + (y*2 + x)
        w = torch.tensor([10.0 * c + p for c in range(3) for p in range(4)])
        layer.weight.copy_(torch.stack([w, -w]))
    t = weight_templates(nn.Sequential(nn.Flatten(), layer), (3, 2, 2))
    assert t.shape == (2, 2, 2, 3)
    expected = np.array([[[0, 10, 20], [1, 11, 21]],
                         [[2, 12, 22], [3, 13, 23]]], dtype=np.float32)  # [y, x, c]
    np.testing.assert_array_equal(t[0], expected)
    np.testing.assert_array_equal(t[1], -expected)


def test_conv_filters():
    model = _conv_model()
    t = weight_templates(model, (1, 16, 16))  # input size does not matter for a conv
    assert t.shape == (4, 5, 5)
    np.testing.assert_array_equal(t, model[0].weight.detach()[:, 0].numpy())
    conv = nn.Conv2d(3, 2, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2))
    rgb = weight_templates(nn.Sequential(conv), (3, 8, 8))
    assert rgb.shape == (2, 2, 2, 3)
    # filter 0, pixel (y=0, x=1): channels c at flat index c*4 + 1
    np.testing.assert_array_equal(rgb[0, 0, 1], [1.0, 5.0, 9.0])
    np.testing.assert_array_equal(rgb[1, 1, 0], [14.0, 18.0, 22.0])


@pytest.mark.parametrize(("model", "shape", "match"), [
    (_linear_model(), (1, 5, 5), "takes 16 inputs, but input_shape"),
    (_linear_model(), (3, SIDE, SIDE), "takes 16 inputs"),
    (_conv_model(in_ch=1), (3, 16, 16), "takes 1 channels"),
    (_linear_model(), (2, 2, 4), "1 or 3 input channels"),
    (_linear_model(), (16,), r"must be \(C, H, W\)"),
])
def test_templates_reject_mismatched_input_shape(model, shape, match):
    with pytest.raises(ValueError, match=match):
        weight_templates(model, shape)


def _tiles(n: int, h: int = 2, w: int = 3) -> np.ndarray:
    return np.arange(n * h * w, dtype=np.float32).reshape(n, h, w) - 7.0


def test_template_grid_positions_and_nan_padding():
    t = _tiles(5)  # default ncols = ceil(sqrt(5)) = 3 -> 2 rows
    grid = template_grid(t)
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2) and grid.dtype == np.float32
    for i in range(5):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(grid[r * 3:r * 3 + 2, c * 4:c * 4 + 3], t[i])
    assert np.isnan(grid[2]).all()  # padding row
    assert np.isnan(grid[:, 3]).all() and np.isnan(grid[:, 7]).all()  # padding columns
    assert np.isnan(grid[3:, 8:]).all()  # the unused sixth cell
    assert np.isnan(grid).sum() == grid.size - t.size  # everything else is a tile value


def test_template_grid_layouts():
    t = _tiles(4)
    np.testing.assert_array_equal(template_grid(t, ncols=4, pad=0), np.concatenate(t, axis=1))
    np.testing.assert_array_equal(template_grid(t, ncols=1, pad=0), np.concatenate(t, axis=0))
    assert template_grid(t, ncols=10, pad=2).shape == (2, 4 * 3 + 3 * 2)  # ncols capped at n
    assert template_grid(t[:1]).shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(n, h, w\)"):
        template_grid(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="empty"):
        template_grid(np.zeros((0, 2, 2)))


def test_template_grid_rgb():
    t = np.stack([np.full((2, 2, 3), [i, 10 + i, 20 + i], dtype=np.float32) for i in range(3)])
    grid = template_grid(t, ncols=2)  # 2 rows x 2 cols, pad 1
    assert grid.shape == (5, 5, 3)
    np.testing.assert_array_equal(grid[0, 3], [1, 11, 21])  # tile 1, top-left pixel
    np.testing.assert_array_equal(grid[3, 0], [2, 12, 22])  # tile 2
    assert np.isnan(grid[3:, 3:]).all() and np.isnan(grid[2]).all()


def test_template_grid_scales():
    t = np.stack([np.full((2, 2), 4.0), np.full((2, 2), -0.5), np.zeros((2, 2))])
    t[0, 0, 0] = -8.0
    kept = template_grid(t, ncols=3)
    assert symmetric_limit(kept) == 8.0  # global scale: values untouched
    scaled = template_grid(t, ncols=3, per_tile_scale=True)
    np.testing.assert_allclose(scaled[:, 0:2], t[0] / 8.0, atol=0)
    np.testing.assert_allclose(scaled[:, 3:5], np.full((2, 2), -1.0), atol=0)
    np.testing.assert_array_equal(scaled[:, 6:8], np.zeros((2, 2)))  # zero tile stays zero


def test_template_grid_of_500_mnist_units_has_one_tile_each():
    t = np.random.default_rng(0).standard_normal((500, 28, 28)).astype(np.float32)
    grid = template_grid(t)  # 23 columns, 22 rows; speed is measured by benchmarks/, not here
    assert grid.shape == (22 * 29 - 1, 23 * 29 - 1)
    assert np.isfinite(grid).sum() == 500 * 28 * 28


def test_symmetric_limit():
    assert symmetric_limit(np.array([np.nan, -3.0, 2.0])) == 3.0
    assert symmetric_limit(torch.tensor([0.5, -0.25])) == 0.5
    assert symmetric_limit(np.full(3, np.nan)) == 0.0


def test_layer_activations_batches_and_restores_mode():
    model = _conv_model()
    model.train()
    images = _uint8_images(N_IMAGES, (1, 16, 16))
    whole = layer_activations(model, images, model[2])
    batched = layer_activations(model, images, model[2], batch_size=7)
    assert whole.shape == (N_IMAGES, 4, 12, 12)
    torch.testing.assert_close(batched, whole, atol=1e-5, rtol=0)
    assert model.training and model[1].training  # mode restored
    model.eval()
    with torch.no_grad():
        expected = model[2](model[1](model[0](images.float() / 255)))  # eval-mode BN
    torch.testing.assert_close(whole, expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="run once per forward pass"):
        layer_activations(model, images, nn.ReLU())


def test_top_activating_linear_matches_brute_force():
    model = _linear_model()
    images = _uint8_images(N_IMAGES, (1, SIDE, SIDE))
    w, b = model[1].weight.detach(), model[1].bias.detach()
    for unit in range(UNITS):
        scores = [float(images[i].flatten().float() / 255 @ w[unit] + b[unit])
                  for i in range(N_IMAGES)]
        ref = sorted(range(N_IMAGES), key=lambda i: -scores[i])[:5]
        idx, vals = top_activating(model, images, unit, k=5)
        assert idx.tolist() == ref
        np.testing.assert_allclose(vals.numpy(), [scores[i] for i in ref], atol=1e-4)
    with pytest.raises(ValueError, match=r"unit must be in \[0, 3\)"):
        top_activating(model, images, UNITS)


def test_top_activating_conv_uses_mean_of_feature_map():
    model = _conv_model()
    images = _uint8_images(N_IMAGES, (1, 16, 16), seed=2)
    conv = model[0]
    unit = 2
    with torch.no_grad():
        scores = [float(F.conv2d(images[i:i + 1].float() / 255, conv.weight, conv.bias)[0, unit]
                        .mean()) for i in range(N_IMAGES)]
    ref = sorted(range(N_IMAGES), key=lambda i: -scores[i])[:9]
    idx, vals = top_activating(model, images, unit)
    assert idx.tolist() == ref
    np.testing.assert_allclose(vals.numpy(), [scores[i] for i in ref], atol=1e-4)
    idx_all, _ = top_activating(model, images, unit, k=1000)  # k larger than N
    assert len(idx_all) == N_IMAGES


def test_feature_maps_shapes_names_and_values():
    model = _conv_model()
    image = torch.randn(1, 16, 16, generator=torch.Generator().manual_seed(4))
    maps = feature_maps(model, image)
    assert [name for name, _ in maps] == ["conv1 (4x12x12)", "conv2 (6x4x4)"]
    assert [tuple(m.shape) for _, m in maps] == [(4, 12, 12), (6, 4, 4)]
    model.eval()
    with torch.no_grad():
        x = image.unsqueeze(0)
        after1 = model[2](model[1](model[0](x)))  # conv1 + BN + ReLU
        after2 = model[5](model[4](model[3](after1)))  # pool, conv2 + ReLU
    torch.testing.assert_close(maps[0][1], after1[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(maps[1][1], after2[0], atol=1e-5, rtol=0)
    assert feature_maps(_linear_model(), torch.zeros(1, SIDE, SIDE)) == []
    with pytest.raises(ValueError, match=r"one float \(C, H, W\)"):
        feature_maps(model, torch.zeros(1, 16, 16, dtype=torch.uint8))


def test_feature_maps_with_inplace_relu():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True), nn.Conv2d(2, 2, 3))
    image = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(5))
    maps = dict(feature_maps(model, image))
    with torch.no_grad():
        expected = torch.relu(model[0](image.unsqueeze(0)))[0]
    torch.testing.assert_close(maps["conv1 (2x6x6)"], expected, atol=1e-6, rtol=0)
    assert "conv2 (2x4x4)" in maps


def test_weight_picture_uses_the_heatmaps_diverging_scale():
    grid = np.array([[-2.0, 0.0, 2.0, np.nan], [1.0, -1.0, 0.5, 0.0]], dtype=np.float32)
    img = plots.weight_picture(grid, scale=3)
    assert img.shape == (6, 12, 3) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == (103, 0, 31)  # most negative: RdBu's dark red (as weight_grid)
    assert tuple(img[0, 3]) == (247, 247, 247)  # zero: white
    assert tuple(img[0, 6]) == (5, 48, 97)  # most positive: dark blue
    assert tuple(img[0, 9]) == (225, 225, 225)  # NaN padding between tiles: light grey
    assert (img[:3, :3] == img[0, 0]).all()  # sharp, blown-up pixels

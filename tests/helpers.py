"""Tiny seeded synthetic data the unit tests train on (no files, no network)."""

from __future__ import annotations

import torch

from nnkit.data import DataBundle, DatasetInfo

NOISE_STD = 40.0  # pixel noise on the 0..255 scale; the class patterns differ by 150


def tiny_images(n: int, classes: int, shape: tuple[int, ...], g: torch.Generator,
                prototypes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """n uint8 images (n, *shape), each its class's prototype plus noise, balanced labels."""
    y = (torch.arange(n) % classes)[torch.randperm(n, generator=g)]  # (n,) int64, balanced
    x = prototypes[y] + torch.randn(n, *shape, generator=g) * NOISE_STD
    return x.round().clamp(0, 255).to(torch.uint8), y


def tiny_bundle(n_train: int = 256, n_test: int = 128, classes: int = 3,
                shape: tuple[int, ...] = (1, 8, 8), seed: int = 0,
                normalize: bool = True) -> DataBundle:
    """A DataBundle of class-dependent patterns plus noise that a small model learns in a few
    epochs; the same seed gives the same tensors."""
    g = torch.Generator().manual_seed(seed)
    # each class: a random on/off pattern, "on" pixels 200 and "off" pixels 50
    prototypes = (torch.rand(classes, *shape, generator=g) > 0.5).float() * 150.0 + 50.0
    train_x, train_y = tiny_images(n_train, classes, shape, g, prototypes)
    test_x, test_y = tiny_images(n_test, classes, shape, g, prototypes)
    channels = shape[0]
    info = DatasetInfo("tiny", "tiny synthetic patterns", tuple(shape),
                       tuple(str(i) for i in range(classes)), (0.5,) * channels,
                       (0.25,) * channels, "image")
    return DataBundle(info, train_x, train_y, None, None, test_x, test_y, normalize)

"""Torch modules built from the architecture specs of `nnkit.specs` (re-exported here)."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from nnkit.specs import (
    ACTIVATIONS,
    POOLS,
    PRESETS,
    ConvBlock,
    LayerRow,
    ModelSpec,
    SpecError,
    check_spec,
    conv_output_shape,
    numpy_param_count,
    preset,
    summary,
    with_overrides,
)

_ACTIVATION_LAYERS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    """An nn.Sequential for the spec; layers are named conv1, bn1, act1, pool1, ..., fc1, ..."""
    check_spec(spec, input_shape)
    act = _ACTIVATION_LAYERS[spec.activation]
    layers: list[tuple[str, nn.Module]] = []
    if spec.kind == "cnn":
        c = input_shape[0]
        for i, b in enumerate(spec.conv, 1):
            layers.append((f"conv{i}", nn.Conv2d(c, b.channels, b.kernel, b.stride, b.padding)))
            if b.batch_norm:
                layers.append((f"bn{i}", nn.BatchNorm2d(b.channels)))
            layers.append((f"act{i}", act()))
            if b.pool != "none":
                layers.append((f"pool{i}", nn.MaxPool2d(2) if b.pool == "max" else nn.AvgPool2d(2)))
            c = b.channels
    layers.append(("flatten", nn.Flatten()))
    features = math.prod(conv_output_shape(spec, input_shape))
    for i, width in enumerate(spec.hidden, 1):
        layers.append((f"fc{i}", nn.Linear(features, width)))
        if spec.batch_norm:
            layers.append((f"fc_bn{i}", nn.BatchNorm1d(width)))
        layers.append((f"fc_act{i}", act()))
        if spec.dropout > 0:
            layers.append((f"dropout{i}", nn.Dropout(spec.dropout)))
        features = width
    layers.append(("out", nn.Linear(features, num_classes)))
    return nn.Sequential(OrderedDict(layers))


def num_params(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["ACTIVATIONS", "POOLS", "PRESETS", "ConvBlock", "LayerRow", "ModelSpec", "SpecError",
           "build_model", "check_spec", "conv_output_shape", "num_params", "numpy_param_count",
           "preset", "summary", "with_overrides"]

"""Torch modules built from the architecture specs of `nnkit.specs` (re-exported here)."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from nnkit.specs import (
    ACTIVATIONS,
    POOLS,
    PRESETS,
    ConvBlock,
    Layer,
    LayerRow,
    ModelSpec,
    SpecError,
    check_spec,
    conv_output_shape,
    layers,
    preset,
    summary,
    with_overrides,
)

_MODULES = {m.__name__: m for m in (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d,
                                     nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.Dropout, nn.ReLU,
                                     nn.Sigmoid, nn.Tanh, nn.GELU)}


def build_model(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    """An nn.Sequential for the spec; layers are named conv1, bn1, act1, pool1, ..., fc1, ..."""
    return nn.Sequential(OrderedDict((x.name, _MODULES[x.module](*x.args))
                                     for x in layers(spec, input_shape, num_classes)))


def num_params(model: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["ACTIVATIONS", "POOLS", "PRESETS", "ConvBlock", "Layer", "LayerRow", "ModelSpec",
           "SpecError", "build_model", "check_spec", "conv_output_shape", "layers", "num_params",
           "preset", "summary", "with_overrides"]

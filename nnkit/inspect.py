"""Looking inside a trained model: first-layer templates, activations, feature maps.

Pure functions over torch modules and tensors; the views decide how to draw the arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models.feature_extraction import create_feature_extractor

from nnkit.templates import templates_from_weight

# Modules that may follow a Conv2d inside its block; feature_maps shows the map after them.
_CONV_FOLLOWERS = (nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh,
                   nn.Sigmoid)


def first_layer(model: nn.Module) -> nn.Module:
    """The first nn.Linear or nn.Conv2d in model.modules() order."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            return m
    raise ValueError("model has no nn.Linear or nn.Conv2d layer")


def weight_templates(model: nn.Module, input_shape: tuple[int, int, int]) -> np.ndarray:
    """First-layer weights as images: Linear (units, H, W[, 3]), Conv2d (out, kh, kw[, 3])."""
    layer = first_layer(model)
    if isinstance(layer, nn.Conv2d) and layer.groups != 1:
        raise ValueError(f"first Conv2d layer has groups={layer.groups}; templates need 1")
    return templates_from_weight(layer.weight, input_shape)


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU when it has none)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _default_transform(x: Tensor) -> Tensor:
    """uint8 -> float in [0, 1]; anything else -> float unchanged."""
    return x.float().div(255.0) if x.dtype == torch.uint8 else x.float()


def layer_activations(model: nn.Module, images: Tensor, layer: nn.Module,
                      batch_size: int = 1000,
                      transform: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """Output of `layer` for every image, via a forward hook, in eval mode without gradients.

    Each batch is moved to the model's device and passed through `transform` first (default:
    uint8 -> [0, 1]; pass e.g. DataBundle.as_float to normalize like training). Returns a CPU
    tensor (N, ...) in input order; the model's train/eval mode is restored afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    transform = transform or _default_transform
    device = _model_device(model)
    outputs: list[Tensor] = []
    hook = layer.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach().cpu()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                model(transform(images[start:start + batch_size].to(device)))
    finally:
        hook.remove()
        model.train(was_training)
    if len(outputs) != math.ceil(len(images) / batch_size):
        raise ValueError(f"layer ran {len(outputs)} times for "
                         f"{math.ceil(len(images) / batch_size)} batches; it must be part of "
                         f"the model and run once per forward pass")
    return torch.cat(outputs) if outputs else torch.empty(0)


def top_activating(model: nn.Module, images: Tensor, unit: int, k: int = 9,
                   layer: nn.Module | None = None, batch_size: int = 1000,
                   transform: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """(indices, activations) of the k images that most excite `unit`, highest first.

    The activation is the layer's output (before any ReLU); for a conv layer it is the mean of
    the unit's channel over its feature map. `layer` defaults to first_layer(model); ties keep
    index order.
    """
    layer = layer if layer is not None else first_layer(model)
    acts = layer_activations(model, images, layer, batch_size, transform)  # (N, units[, h, w])
    if acts.ndim > 2:
        acts = acts.flatten(2).mean(dim=2)  # (N, channels): mean over each feature map
    if not 0 <= unit < acts.shape[1]:
        raise ValueError(f"unit must be in [0, {acts.shape[1]}), got {unit}")
    values = acts[:, unit]  # (N,)
    order = torch.sort(values, descending=True, stable=True).indices[:k]
    return order, values[order]


def _conv_followers(model: nn.Module) -> dict[nn.Conv2d, list[nn.Module]]:
    """For each Conv2d inside an nn.Sequential, the BatchNorm/activation modules right after it."""
    followers: dict[nn.Conv2d, list[nn.Module]] = {}
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.children())
        for i, m in enumerate(children):
            if isinstance(m, nn.Conv2d):
                after = []
                for nxt in children[i + 1:]:
                    if not isinstance(nxt, _CONV_FOLLOWERS):
                        break
                    after.append(nxt)
                followers[m] = after
    return followers


def feature_maps(model: nn.Module, image: Tensor) -> list[tuple[str, Tensor]]:
    """Every Conv2d's maps for one normalized float image (C, H, W), as ("conv1 (16x24x24)", maps).

    Each map is shown after the BatchNorm/activation modules that directly follow its conv in
    an nn.Sequential (what the next layer sees); maps are float CPU tensors (channels, h, w).
    torchvision's feature extractor (an FX trace of the model) returns those nodes' outputs:
    no forward hooks, and an inplace ReLU later on cannot change what it returned.
    """
    if image.ndim != 3 or not image.dtype.is_floating_point:
        raise ValueError(f"image must be one float (C, H, W) tensor, got {image.dtype} "
                         f"{tuple(image.shape)}")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        return []
    followers = _conv_followers(model)
    name_of = {m: name for name, m in model.named_modules()}
    nodes = {name_of[(followers.get(c) or [c])[-1]]: f"conv{i + 1}" for i, c in enumerate(convs)}
    was_training = model.training
    model.eval()
    try:
        extractor = create_feature_extractor(model, return_nodes=nodes)
        with torch.no_grad():
            out = extractor(image.unsqueeze(0).to(_model_device(model)))  # (1, C, H, W)
    finally:
        model.train(was_training)
    maps = [(label, out[label][0].float().cpu()) for label in nodes.values()]  # (channels, h, w)
    return [(f"{label} ({'x'.join(str(s) for s in m.shape)})", m) for label, m in maps]


def truncated_at(model: nn.Module, layer: nn.Module) -> nn.Module:
    """The leading children of an nn.Sequential model through `layer`: all its output needs.

    Running only that part makes top_activating on a first layer several times cheaper. The
    part shares the model's modules (nothing is copied) and keeps its train/eval mode; a model
    that is not an nn.Sequential with `layer` as a direct child is returned whole.
    """
    if isinstance(model, nn.Sequential):
        children = list(model.children())
        for i, child in enumerate(children):
            if child is layer:
                return nn.Sequential(*children[: i + 1]).train(model.training)
    return model

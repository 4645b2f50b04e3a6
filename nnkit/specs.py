"""Architectures as frozen, JSON-serializable specs: presets, checks and a layer summary.

Plain Python, no torch: the Train page draws its form and the model summary before torch is
imported (importing it takes ~3 s of a 2-core machine). `nnkit.models` builds the modules.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu")
POOLS = ("max", "avg", "none")


@dataclass(frozen=True)
class ConvBlock:
    channels: int  # output channels
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    pool: str = "max"  # "max" | "avg" | "none", a 2x2 pooling after the activation
    batch_norm: bool = False


@dataclass(frozen=True)
class ModelSpec:
    kind: str = "mlp"  # "mlp" | "cnn"
    hidden: tuple[int, ...] = (64, 64)  # dense hidden widths (after the conv blocks for a CNN)
    activation: str = "relu"  # relu | sigmoid | tanh | gelu
    dropout: float = 0.0  # after each hidden dense layer
    batch_norm: bool = False  # BatchNorm1d after each hidden dense layer
    conv: tuple[ConvBlock, ...] = ()  # CNN only
    engine: str = "torch"  # "torch" | "numpy" (the from-scratch NumPy MLP)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ModelSpec:
        """Inverse of to_dict; unknown keys are refused."""
        d = dict(d)
        d["hidden"] = tuple(int(h) for h in d.get("hidden", ()))
        d["conv"] = tuple(ConvBlock(**c) for c in d.get("conv", ()))
        return ModelSpec(**d)


def _c(ch, k, pool="max", pad=0, bn=False, stride=1):
    return ConvBlock(channels=ch, kernel=k, stride=stride, padding=pad, pool=pool, batch_norm=bn)


PRESETS: dict[str, tuple[ModelSpec, str]] = {
    "mlp-64-64": (ModelSpec("mlp", (64, 64)), "Keras notebook MLP 784-64-64-10"),
    "mlp-128": (ModelSpec("mlp", (128,)), "one hidden layer of 128"),
    "mlp-500-300": (ModelSpec("mlp", (500, 300)),
                    "Hinton's 784-500-300-10 from LeCun's table (98.47 % with weight decay)"),
    "lenet5": (ModelSpec("cnn", (120, 84), conv=(_c(6, 5, "avg", pad=2), _c(16, 5, "avg"))),
               "LeNet-5: conv 6@5x5 pad 2, avg pool, conv 16@5x5, avg pool, 120, 84"),
    "cnn-10-20": (ModelSpec("cnn", (), conv=(_c(10, 5), _c(20, 5))),
                  "conv 10@5x5, conv 20@5x5, fc 320->10 (8,490 parameters)"),
    "fast-cnn": (ModelSpec("cnn", (), conv=(_c(16, 5, bn=True), _c(32, 5, bn=True))),
                 "conv 16@5x5+BN, conv 32@5x5+BN, fc 512->10: 99 % in ~10 s on a CPU"),
    "vgg-small": (ModelSpec("cnn", (256,), dropout=0.5, conv=(
        _c(32, 3, "none", 1, True), _c(32, 3, "max", 1, True),
        _c(64, 3, "none", 1, True), _c(64, 3, "max", 1, True),
        _c(128, 3, "none", 1, True), _c(128, 3, "max", 1, True))),
        "small VGG for CIFAR-10: 3 x (two 3x3 convs + BN, max pool), 256, dropout"),
    "numpy-mlp-100": (ModelSpec("mlp", (100,), activation="sigmoid", engine="numpy"),
                      "from-scratch NumPy MLP 784-100-10, sigmoid"),
}


class SpecError(ValueError):
    """A model spec that cannot be built for the given input."""


def preset(name: str) -> ModelSpec:
    """The spec of a named preset, or SpecError naming the valid ones."""
    try:
        return PRESETS[name][0]
    except KeyError:
        raise SpecError(f"unknown model preset {name!r}; "
                        f"choose one of {', '.join(PRESETS)}") from None


def check_spec(spec: ModelSpec, input_shape: tuple[int, ...]) -> None:
    """Refuse a spec that cannot be built, with a message naming the field."""
    if spec.kind not in ("mlp", "cnn"):
        raise SpecError(f"model kind must be 'mlp' or 'cnn' (got {spec.kind!r})")
    if spec.activation not in ACTIVATIONS:
        raise SpecError(f"activation must be one of {', '.join(ACTIVATIONS)} "
                        f"(got {spec.activation!r})")
    if not 0.0 <= spec.dropout < 1.0:
        raise SpecError(f"dropout must be in [0, 1) (got {spec.dropout})")
    if any(h < 1 or h > 100_000 for h in spec.hidden):
        raise SpecError(f"hidden widths must be between 1 and 100000 (got {list(spec.hidden)})")
    if spec.engine not in ("torch", "numpy"):
        raise SpecError(f"engine must be 'torch' or 'numpy' (got {spec.engine!r})")
    if spec.engine == "numpy" and (spec.kind != "mlp" or spec.batch_norm or spec.dropout):
        raise SpecError("the NumPy engine builds plain MLPs only (no conv, batch norm or dropout)")
    if spec.kind == "cnn":
        if len(input_shape) != 3:
            raise SpecError("a CNN needs image input; this dataset has 2-D points: use an MLP")
        if not spec.conv:
            raise SpecError("a CNN needs at least one conv block")
        for i, b in enumerate(spec.conv, 1):
            if b.channels < 1 or b.kernel < 1 or b.stride < 1 or b.padding < 0:
                raise SpecError(f"conv block {i}: channels, kernel and stride must be >= 1")
            if b.pool not in POOLS:
                raise SpecError(f"conv block {i}: pool must be one of {', '.join(POOLS)}")
            _, h, w = conv_output_shape(replace(spec, conv=spec.conv[:i]), input_shape)
            if h < 1 or w < 1:
                raise SpecError(f"conv block {i}: the image shrinks to nothing ({h}x{w}); "
                                "use fewer blocks, smaller kernels or padding")


def conv_output_shape(spec: ModelSpec, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of what reaches the first dense layer (the input itself for an MLP)."""
    if spec.kind != "cnn":
        return tuple(input_shape)
    _, h, w = input_shape
    for b in spec.conv:
        h = (h + 2 * b.padding - b.kernel) // b.stride + 1
        w = (w + 2 * b.padding - b.kernel) // b.stride + 1
        if b.pool != "none":
            h, w = h // 2, w // 2
    return (spec.conv[-1].channels, h, w)


@dataclass(frozen=True)
class Layer:
    """One layer of a spec's network, as the torch.nn class and arguments that build it."""

    name: str  # conv1, bn1, act1, pool1, ..., flatten, fc1, fc_bn1, fc_act1, dropout1, ..., out
    module: str  # the torch.nn class name, e.g. "Conv2d"
    args: tuple  # its positional arguments, e.g. (1, 16, 5, 1, 0): in, out, kernel, stride, pad
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int


_ACTIVATION_MODULES = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU"}


def layers(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> list[Layer]:
    """The network of a spec, layer by layer: what build_model builds, summary lists and
    'Copy as Python' writes out."""
    check_spec(spec, input_shape)
    act = _ACTIVATION_MODULES[spec.activation]
    out: list[Layer] = []
    if spec.kind == "cnn":
        c, h, w = input_shape
        for i, b in enumerate(spec.conv, 1):
            h = (h + 2 * b.padding - b.kernel) // b.stride + 1
            w = (w + 2 * b.padding - b.kernel) // b.stride + 1
            out.append(Layer(f"conv{i}", "Conv2d", (c, b.channels, b.kernel, b.stride, b.padding),
                             (b.channels, h, w), c * b.channels * b.kernel ** 2 + b.channels))
            c = b.channels
            if b.batch_norm:
                out.append(Layer(f"bn{i}", "BatchNorm2d", (c,), (c, h, w), 2 * c))
            out.append(Layer(f"act{i}", act, (), (c, h, w), 0))
            if b.pool != "none":
                h, w = h // 2, w // 2
                out.append(Layer(f"pool{i}", f"{b.pool.title()}Pool2d", (2,), (c, h, w), 0))
    features = math.prod(conv_output_shape(spec, input_shape))
    out.append(Layer("flatten", "Flatten", (), (features,), 0))
    for i, width in enumerate(spec.hidden, 1):
        out.append(Layer(f"fc{i}", "Linear", (features, width), (width,),
                         features * width + width))
        if spec.batch_norm:
            out.append(Layer(f"fc_bn{i}", "BatchNorm1d", (width,), (width,), 2 * width))
        out.append(Layer(f"fc_act{i}", act, (), (width,), 0))
        if spec.dropout > 0:
            out.append(Layer(f"dropout{i}", "Dropout", (spec.dropout,), (width,), 0))
        features = width
    out.append(Layer("out", "Linear", (features, num_classes), (num_classes,),
                     features * num_classes + num_classes))
    return out


@dataclass(frozen=True)
class LayerRow:
    name: str
    layer: str  # e.g. "Conv2d(1->16, 5x5, stride 1, pad 0)"
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int


def _describe(layer: Layer) -> str:
    a = layer.args
    if layer.module == "Conv2d":
        return f"Conv2d({a[0]}->{a[1]}, {a[2]}x{a[2]}, stride {a[3]}, pad {a[4]})"
    if layer.module == "Linear":
        return f"Linear({a[0]}->{a[1]})"
    if layer.module in ("MaxPool2d", "AvgPool2d", "Dropout"):
        return f"{layer.module}({a[0]})"
    return layer.module


def summary(spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> list[LayerRow]:
    """One row per layer of build_model's network: name, layer, output shape, parameters."""
    return [LayerRow("input", "", tuple(input_shape), 0)] + [
        LayerRow(x.name, _describe(x), x.output_shape, x.params)
        for x in layers(spec, input_shape, num_classes)]


def with_overrides(spec: ModelSpec, **changes) -> ModelSpec:
    """A copy of the spec with fields replaced (hidden given as a list is made a tuple)."""
    if "hidden" in changes:
        changes["hidden"] = tuple(int(h) for h in changes["hidden"])
    return replace(spec, **changes)

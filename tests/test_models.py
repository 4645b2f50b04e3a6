"""Models: exact parameter counts of the presets, the layer summary, spec JSON and spec errors."""

from __future__ import annotations

import json

import pytest
import torch

from nnkit import models
from nnkit.models import ConvBlock, ModelSpec, SpecError, build_model, num_params, summary

MNIST_SHAPE = (1, 28, 28)
CIFAR_SHAPE = (3, 32, 32)
CLASSES = 10

# Counted by hand from the layer sizes (weights + biases, BatchNorm's scale + shift).
EXPECTED_PARAMS = {
    "mlp-64-64": 55_050,  # 784*64+64 + 64*64+64 + 64*10+10
    "mlp-128": 101_770,  # 784*128+128 + 128*10+10
    "cnn-10-20": 8_490,  # 1*10*25+10 + 10*20*25+20 + 320*10+10
    "mlp-500-300": 545_810,  # 784*500+500 + 500*300+300 + 300*10+10
    "fast-cnn": 18_474,  # 416 + 32 (BN) + 12,832 + 64 (BN) + 512*10+10
    "lenet5": 61_706,  # 156 + 2,416 + 400*120+120 + 120*84+84 + 84*10+10
}
VGG_SMALL_PARAMS = 815_018  # convs 896+9,248+18,496+36,928+73,856+147,584, BN 896, fc 524,544+2,570


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_preset_parameter_counts(name):
    model = build_model(models.preset(name), MNIST_SHAPE, CLASSES)
    assert num_params(model) == EXPECTED_PARAMS[name]


@pytest.mark.parametrize("name, shape", [("lenet5", MNIST_SHAPE), ("vgg-small", CIFAR_SHAPE),
                                         ("fast-cnn", MNIST_SHAPE), ("mlp-64-64", MNIST_SHAPE)])
def test_presets_forward(name, shape):
    model = build_model(models.preset(name), shape, CLASSES).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape, generator=torch.Generator().manual_seed(0)))
    assert tuple(out.shape) == (2, CLASSES) and torch.isfinite(out).all()


def test_vgg_small_parameter_count():
    model = build_model(models.preset("vgg-small"), CIFAR_SHAPE, CLASSES)
    assert num_params(model) == VGG_SMALL_PARAMS


def test_layer_names():
    model = build_model(models.preset("fast-cnn"), MNIST_SHAPE, CLASSES)
    assert [n for n, _ in model.named_children()] == [
        "conv1", "bn1", "act1", "pool1", "conv2", "bn2", "act2", "pool2", "flatten", "out"]
    mlp = build_model(ModelSpec("mlp", (8,), dropout=0.5, batch_norm=True), (2,), 2)
    assert [n for n, _ in mlp.named_children()] == [
        "flatten", "fc1", "fc_bn1", "fc_act1", "dropout1", "out"]


SUMMARY_CASES = [
    (models.preset("fast-cnn"), MNIST_SHAPE), (models.preset("lenet5"), MNIST_SHAPE),
    (models.preset("mlp-64-64"), MNIST_SHAPE), (models.preset("vgg-small"), CIFAR_SHAPE),
    (models.preset("numpy-mlp-100"), MNIST_SHAPE),
    (ModelSpec("mlp", (8, 4), activation="gelu", dropout=0.25, batch_norm=True), (2,)),
    (ModelSpec("cnn", (12,), activation="tanh", dropout=0.5, batch_norm=True,
               conv=(ConvBlock(5, 3, 2, 1, "avg", True), ConvBlock(7, 2, 1, 0, "none"))),
     CIFAR_SHAPE),
]


@pytest.mark.parametrize("spec, shape", SUMMARY_CASES)
def test_summary_matches_the_torch_model_layer_by_layer(spec, shape):
    """The summary is computed without torch; every row must agree with the built module."""
    rows = summary(spec, shape, CLASSES)
    model = build_model(spec, shape, CLASSES).eval()
    assert rows[0].name == "input" and rows[0].output_shape == shape and rows[0].params == 0
    assert [r.name for r in rows[1:]] == [n for n, _ in model.named_children()]
    x = torch.zeros(2, *shape)
    with torch.no_grad():
        for row, (name, layer) in zip(rows[1:], model.named_children(), strict=True):
            x = layer(x)
            assert row.output_shape == tuple(x.shape[1:]), name
            assert row.params == num_params(layer), name
            assert row.layer.split("(")[0] == type(layer).__name__, name
    assert sum(r.params for r in rows) == num_params(model)
    assert rows[-1].output_shape == (CLASSES,)


def test_summary_rows_of_fast_cnn():
    rows = {r.name: r for r in summary(models.preset("fast-cnn"), MNIST_SHAPE, CLASSES)}
    assert rows["conv1"].output_shape == (16, 24, 24) and rows["conv1"].params == 416
    assert rows["conv1"].layer == "Conv2d(1->16, 5x5, stride 1, pad 0)"
    assert rows["pool1"].output_shape == (16, 12, 12) and rows["pool1"].layer == "MaxPool2d(2)"
    assert rows["bn1"].params == 32
    assert rows["conv2"].output_shape == (32, 8, 8)
    assert rows["pool2"].output_shape == (32, 4, 4)
    assert rows["flatten"].output_shape == (512,)
    assert rows["out"].layer == "Linear(512->10)" and rows["out"].params == 5_130


@pytest.mark.parametrize("name", sorted(models.PRESETS))
def test_spec_json_round_trip_presets(name):
    spec = models.preset(name)
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert isinstance(again.hidden, tuple) and all(isinstance(b, ConvBlock) for b in again.conv)


def test_spec_json_round_trip_custom():
    spec = ModelSpec("cnn", (32, 16), activation="gelu", dropout=0.25, batch_norm=True,
                     conv=(ConvBlock(8, 3, 1, 1, "avg", True), ConvBlock(4, 3, 2, 0, "none")))
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_spec_from_dict_refuses_unknown_keys():
    d = ModelSpec().to_dict() | {"width": 3}
    with pytest.raises(TypeError, match="unexpected keyword argument 'width'"):
        ModelSpec.from_dict(d)


def test_cnn_on_toy_points_refused():
    with pytest.raises(SpecError, match="a CNN needs image input; this dataset has 2-D points: "
                                        "use an MLP"):
        build_model(models.preset("cnn-10-20"), (2,), 2)


def test_too_many_blocks_shrink_the_image():
    # 28 -> conv 24 -> pool 12 -> conv 8 -> pool 4 -> conv 0: block 3 is one too many
    spec = ModelSpec("cnn", (), conv=(ConvBlock(4, 5),) * 3)
    with pytest.raises(SpecError, match=r"conv block 3: the image shrinks to nothing \(0x0\); "
                                        "use fewer blocks"):
        build_model(spec, MNIST_SHAPE, CLASSES)
    models.check_spec(ModelSpec("cnn", (), conv=(ConvBlock(4, 5),) * 2), MNIST_SHAPE)  # fits


@pytest.mark.parametrize("spec, message", [
    (ModelSpec(activation="swish"),
     r"activation must be one of relu, sigmoid, tanh, gelu \(got 'swish'\)"),
    (ModelSpec(kind="rnn"), r"model kind must be 'mlp' or 'cnn' \(got 'rnn'\)"),
    (ModelSpec(dropout=1.0), r"dropout must be in \[0, 1\) \(got 1.0\)"),
    (ModelSpec(hidden=(64, 0)), r"hidden widths must be between 1 and 100000 \(got \[64, 0\]\)"),
    (ModelSpec(kind="cnn"), "a CNN needs at least one conv block"),
    (ModelSpec(kind="cnn", conv=(ConvBlock(4, 3, pool="sum"),)),
     "conv block 1: pool must be one of max, avg, none"),
    (ModelSpec(engine="numpy", batch_norm=True), "the NumPy engine builds plain MLPs only"),
])
def test_spec_errors_name_the_field(spec, message):
    with pytest.raises(SpecError, match=message):
        build_model(spec, MNIST_SHAPE, CLASSES)


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(SpecError, match=r"unknown model preset 'resnet'; choose one of mlp-64"):
        models.preset("resnet")


def test_with_overrides_makes_hidden_a_tuple():
    spec = models.with_overrides(models.preset("mlp-64-64"), hidden=[500, 300], activation="tanh")
    assert spec.hidden == (500, 300) and spec.activation == "tanh"
    assert num_params(build_model(spec, MNIST_SHAPE, CLASSES)) == EXPECTED_PARAMS["mlp-500-300"]

"""RunConfig: validation messages name the field and its range; JSON round trips."""

from __future__ import annotations

import json
import math

import pytest

from nnkit.config import ConfigError, RunConfig, check, validate
from nnkit.models import ConvBlock, ModelSpec


def test_defaults_are_valid():
    assert validate(RunConfig()) == []
    assert check(RunConfig()) == RunConfig()


@pytest.mark.parametrize("changes, field, message", [
    ({"lr": 0.0}, "lr", r"lr: must be a number in \(0, 10\] \(got 0.0\)"),
    ({"lr": -0.1}, "lr", r"lr: must be a number in \(0, 10\] \(got -0.1\)"),
    ({"lr": 10.5}, "lr", r"lr: must be a number in \(0, 10\] \(got 10.5\)"),
    ({"lr": math.nan}, "lr", r"lr: must be a number in \(0, 10\] \(got nan\)"),
    ({"epochs": 0}, "epochs", r"epochs: must be a whole number in \[1, 1000\] \(got 0\)"),
    ({"epochs": 2.0}, "epochs", r"epochs: must be a whole number in \[1, 1000\] \(got 2.0\)"),
    ({"batch_size": 0}, "batch_size",
     r"batch_size: must be a whole number in \[1, 65536\] \(got 0\)"),
    ({"weight_decay": -1e-4}, "weight_decay",
     r"weight_decay: must be a number in \[0, 1\] \(got -0.0001\)"),
    ({"momentum": True}, "momentum", r"momentum: must be a number in \[0, 0.999\] \(got True\)"),
    ({"val_fraction": 0.6}, "val_fraction", r"val_fraction: must be a number in \[0, 0.5\]"),
    ({"optimizer": "lbfgs"}, "optimizer",
     r"optimizer: must be one of sgd, adam, adamw, rmsprop \(got 'lbfgs'\)"),
    ({"schedule": "linear"}, "schedule", r"schedule: must be one of none, step, cosine, onecycle"),
    ({"dataset": "imagenet"}, "dataset", r"dataset: must be one of mnist, fashion-mnist, cifar10"),
    ({"model": "resnet"}, "model", r"model: must be a preset \(mlp-64-64, .*\) or 'custom'"),
    ({"nesterov": True, "optimizer": "adam"}, "nesterov",
     "nesterov: needs the sgd optimizer with momentum > 0"),
    ({"nesterov": True, "optimizer": "sgd", "momentum": 0.0}, "nesterov",
     "nesterov: needs the sgd optimizer with momentum > 0"),
    ({"dataset": "moons", "model": "fast-cnn"}, "spec", "spec: a CNN needs image input"),
    ({"model": "custom"}, "spec", "spec: a custom model needs a spec"),
    ({"model": "numpy-mlp-100", "optimizer": "adam"}, "optimizer",
     "optimizer: the NumPy engine trains with plain sgd and no schedule"),
])
def test_validate_names_field_and_range(changes, field, message):
    cfg = RunConfig(**changes)
    errors = validate(cfg)
    assert [e.field for e in errors] == [field]
    with pytest.raises(ConfigError, match=f"^{message}"):
        check(cfg)


def test_validate_reports_every_problem_in_order():
    errors = validate(RunConfig(lr=0.0, epochs=0, batch_size=0, optimizer="x"))
    assert [e.field for e in errors] == ["optimizer", "lr", "batch_size", "epochs"]


def test_range_edges_are_accepted():
    assert validate(RunConfig(lr=10.0, epochs=1000, batch_size=1, weight_decay=0.0,
                              nesterov=True, optimizer="sgd", momentum=0.9)) == []
    assert validate(RunConfig(model="numpy-mlp-100", optimizer="sgd", schedule="none")) == []


def test_json_round_trip_with_custom_spec():
    spec = ModelSpec("cnn", (64,), activation="tanh", dropout=0.1,
                     conv=(ConvBlock(8, 3, padding=1, batch_norm=True), ConvBlock(16, 3)))
    cfg = RunConfig(dataset="fashion-mnist", model="custom", spec=spec, optimizer="sgd",
                    lr=0.05, nesterov=True, epochs=3, schedule="step", gamma=0.25, seed=7)
    text = cfg.to_json()
    assert json.loads(text)["spec"]["conv"][0]["channels"] == 8  # plain JSON
    again = RunConfig.from_json(text)
    assert again == cfg and again.model_spec() == spec
    assert RunConfig.from_json(RunConfig().to_json()) == RunConfig()


def test_from_dict_refuses_unknown_key():
    with pytest.raises(ConfigError, match="^learning_rate: is not a run setting$"):
        RunConfig.from_dict({"lr": 0.1, "learning_rate": 0.1})


def test_with_changes_leaves_the_original():
    cfg = RunConfig()
    other = cfg.with_changes(lr=0.5)
    assert other.lr == 0.5 and cfg.lr == RunConfig().lr

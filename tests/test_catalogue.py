"""The catalogue's experiments: every config validates, builds and trains one step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nnkit import catalogue, data, models
from nnkit.config import validate
from nnkit.training.loop import train
from nnkit.training.numpy_engine import torch_state
from nnkit.training.numpy_mlp import NumpyMLP
from nnkit.training.palindrome import accuracy_vs_length

RUNS = [pytest.param(exp, label, cfg, id=f"{exp.key}/{label}")
        for exp in catalogue.EXPERIMENTS.values() for label, cfg in exp.runs]
TINY = 8  # images in a one-step bundle (the batch is the whole set)
ATOL = 1e-6  # float32 forward passes of the same weights


def test_ten_experiments_with_known_kinds_and_figures():
    exps = list(catalogue.EXPERIMENTS.values())
    assert len(exps) == 10
    assert len({e.key for e in exps}) == 10
    for exp in exps:
        assert exp.kind in catalogue.KINDS
        assert exp.title and exp.story and exp.reported
        assert exp.reference_accuracy is None or 0 < exp.reference_accuracy < 1
        assert len({label for label, _ in exp.runs}) == len(exp.runs)
        assert exp.runs or exp.kind == "palindrome"
    assert catalogue.experiment("keras-mlp").reference_accuracy == 0.973
    assert catalogue.experiment("lenet5-like").reference_accuracy == 0.9919
    assert catalogue.experiment("hinton-sweep").kind == "sweep"
    small = catalogue.experiment("small-lenet")
    assert small.reported_for("SGD 0.001") == "95.56 % test with SGD 0.001"
    assert small.reported_for("Adam 0.001") == "not in the report"
    with pytest.raises(KeyError, match="choose one of keras-mlp"):
        catalogue.experiment("alexnet")


@pytest.mark.parametrize("exp, label, cfg", RUNS)
def test_every_config_validates(exp, label, cfg):
    assert validate(cfg) == []


@pytest.mark.parametrize("exp, label, cfg", RUNS)
def test_every_run_builds_and_trains_one_step(exp, label, cfg, tiny_bundle):
    info = data.info(cfg.dataset)
    if info.kind == "toy":
        bundle = data.load_bundle(cfg.dataset, toy_size=20, toy_noise=cfg.toy_noise)
    else:
        bundle = tiny_bundle(n_train=TINY, n_test=TINY, classes=info.num_classes,
                             shape=info.input_shape, normalize=cfg.normalize)
    n = len(bundle.train_y)
    result = train(cfg.with_changes(epochs=1, batch_size=n, val_fraction=0.0, device="cpu"),
                   bundle)
    assert result.end.status == "finished", result.end.message
    assert result.end.metrics["steps"] == 1
    assert result.evaluation.probs.shape == (len(bundle.test_y), info.num_classes)


def test_small_lenet_flattens_to_400_and_lenet5_like_matches_the_report():
    assert models.conv_output_shape(catalogue.SMALL_LENET, (1, 28, 28)) == (16, 5, 5)
    assert [b.channels for b in catalogue.SMALL_LENET.conv] == [4, 8, 16]
    assert {b.kernel for b in catalogue.SMALL_LENET.conv} == {3}
    rows = {r.name: r.layer for r in models.summary(catalogue.LENET5_LIKE, (1, 28, 28), 10)}
    assert rows["conv1"] == "Conv2d(1->6, 5x5, stride 1, pad 2)"
    assert rows["pool1"] == rows["pool2"] == "AvgPool2d(2)"
    assert rows["fc1"] == "Linear(400->120)" and rows["fc2"] == "Linear(120->84)"
    assert rows["dropout1"] == "Dropout(0.5)"
    [(_, cfg)] = catalogue.experiment("lenet5-like").runs
    assert (cfg.optimizer, cfg.lr, cfg.batch_size, cfg.weight_decay > 0) == ("adam", 1e-3, 128,
                                                                              True)


def test_normalization_has_four_runs_and_overfitting_holds_out_validation():
    runs = catalogue.experiment("normalization").configs()
    assert sorted((c.model, c.normalize) for c in runs.values()) == [
        ("cnn-10-20", False), ("cnn-10-20", True), ("mlp-128", False), ("mlp-128", True)]
    small, whole = catalogue.experiment("overfitting").configs().values()
    assert (small.train_subset, whole.train_subset) == (2000, 0)
    assert small.val_fraction == whole.val_fraction > 0
    assert small.with_changes(train_subset=0) == whole  # the same net and training


@pytest.mark.parametrize("key", ["numpy-vs-torch", "moons"])
def test_numpy_and_torch_twins_differ_only_in_the_engine(key):
    (_, a), (_, b) = catalogue.experiment(key).runs
    spec_a, spec_b = a.model_spec(), b.model_spec()
    assert (spec_a.engine, spec_b.engine) == ("numpy", "torch")
    assert (spec_a.hidden, spec_a.activation) == (spec_b.hidden, spec_b.activation)
    assert a.with_changes(model=b.model, spec=b.spec) == b


def test_numpy_mlp_and_its_torch_twin_give_the_same_forward_output():
    spec = catalogue.TORCH_MLP_100
    net = NumpyMLP([784, 100, 10], activation="sigmoid", seed=3)
    model = models.build_model(spec, (1, 28, 28), 10).eval()
    model.load_state_dict(torch_state(spec, net.state_dict()))
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # (16, 1, 28, 28)
    with torch.no_grad():
        torch_probs = model(x).softmax(1).numpy()
    numpy_probs = net.predict_proba(x.reshape(16, -1).numpy())
    np.testing.assert_allclose(numpy_probs, torch_probs, atol=ATOL)


def test_palindrome_settings_are_accuracy_vs_length_arguments():
    exp = catalogue.experiment("palindrome")
    settings = dict(exp.settings)
    lengths = settings.pop("lengths")
    assert list(lengths) == sorted(lengths) and min(lengths) >= 2
    [result] = accuracy_vs_length([3], **{**settings, "epochs": 1, "n_train": 64, "n_test": 16})
    assert result["length"] == 3 and result["hidden"] == settings["hidden"]


def test_hinton_sweep_maps_keras_l2_to_weight_decay():
    decays = [c.weight_decay for c in catalogue.experiment("hinton-sweep").configs().values()]
    assert decays == [2 * lam for lam in catalogue.HINTON_L2]

"""The live toy trainer: its thread, snapshots, probabilities and figures."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nnkit.config import OPTIMIZERS
from nnkit.playground import (
    PlaygroundConfig,
    ToyTrainer,
    boundary_figure,
    check_config,
    curve_figure,
    grid_probabilities,
)

MOONS_BAR = 0.9  # test accuracy the moons net must pass
PROB_ATOL = 1e-5


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def until(condition, timeout: float = 30.0) -> bool:
    """Poll condition() until it holds (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_learns_moons_in_a_background_thread():
    trainer = ToyTrainer(PlaygroundConfig(dataset="moons", steps=600)).start()
    assert trainer.join(timeout=60)
    snap = trainer.latest()
    assert trainer.status() == ("finished", "finished 600 steps")
    assert snap.step == 600 and snap.test_accuracy > MOONS_BAR
    curve = trainer.curve()
    assert curve[0][0] == 0 and np.isnan(curve[0][1])  # the untrained net's snapshot
    assert [c[0] for c in curve] == sorted(c[0] for c in curve)


@pytest.mark.parametrize("dataset, classes", [("moons", 2), ("spiral", 3), ("gaussians", 5)])
def test_grid_probabilities_cover_the_grid_and_sum_to_one(dataset, classes):
    cfg = PlaygroundConfig(dataset=dataset, classes=classes, steps=20, resolution=30)
    trainer = ToyTrainer(cfg)
    snap = trainer.run()
    assert snap.probs.shape == (30 * 30, classes) == (len(trainer.points), classes)
    assert snap.probs.dtype == np.float32
    np.testing.assert_allclose(snap.probs.sum(1), 1.0, atol=PROB_ATOL)
    assert set(np.unique(trainer.y_train)) == set(range(classes))


def test_spiral_with_three_classes_is_learned():
    cfg = PlaygroundConfig(dataset="spiral", classes=3, noise=0.05, hidden=(32, 32), steps=1500)
    snap = ToyTrainer(cfg).run()
    assert snap.probs.shape[1] == 3
    assert snap.train_accuracy > 0.85


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(optimizer):
    lr = 0.1 if optimizer == "sgd" else 0.01
    trainer = ToyTrainer(PlaygroundConfig(optimizer=optimizer, lr=lr, steps=300))
    snap = trainer.run()
    assert trainer.status()[0] == "finished"
    assert snap.train_accuracy > 0.85


def test_same_seed_same_final_map():
    cfg = PlaygroundConfig(steps=100, resolution=20, seed=4)
    a, b = ToyTrainer(cfg).run(), ToyTrainer(cfg).run()
    np.testing.assert_array_equal(a.probs, b.probs)


def test_stop_ends_the_thread_with_a_final_snapshot():
    trainer = ToyTrainer(PlaygroundConfig(steps=10**7, resolution=10)).start()
    assert until(lambda: trainer.latest() is not None)  # the untrained snapshot: it is training
    assert trainer.active
    trainer.stop()
    assert trainer.join(timeout=30)
    status, message = trainer.status()
    step = trainer.latest().step  # the final snapshot is of the step it stopped after
    assert (status, message) == ("stopped", f"stopped after {step} steps")
    assert step > 0 and not trainer.active


def test_a_huge_learning_rate_diverges_with_a_message():
    trainer = ToyTrainer(PlaygroundConfig(optimizer="sgd", activation="relu", lr=1e12, steps=50))
    trainer.run()
    status, message = trainer.status()
    assert status == "diverged" and "too high for sgd" in message


def test_bad_settings_are_refused_with_their_name():
    with pytest.raises(ValueError, match="dataset must be one of moons"):
        check_config(PlaygroundConfig(dataset="mnist"))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        check_config(PlaygroundConfig(optimizer="lbfgs"))
    with pytest.raises(ValueError, match="classes must be between 2 and 8"):
        check_config(PlaygroundConfig(dataset="spiral", classes=1))
    with pytest.raises(ValueError, match="activation must be one of"):
        check_config(PlaygroundConfig(activation="swish"))
    check_config(PlaygroundConfig(dataset="moons", classes=1))  # ignored: moons has 2


def test_boundary_figure_colours_by_class_and_confidence():
    trainer = ToyTrainer(PlaygroundConfig(dataset="spiral", classes=3, resolution=10))
    probs = np.full((100, 3), 1 / 3, np.float32)  # a coin toss everywhere: palest colour
    probs[:50] = [0.0, 0.0, 1.0]  # the lower half: class 2 for sure
    fig = boundary_figure(trainer.xx, trainer.yy, probs, trainer.x_train, trainer.y_train,
                          trainer.x_test, trainer.y_test)
    heat = fig.data[0]
    z = np.asarray(heat.z)
    assert z.shape == (10, 10)
    np.testing.assert_allclose(z[5:], 0.0)  # class 0 (argmax of ties), zero confidence
    np.testing.assert_allclose(z[:5], (2 + 0.999) / 3)  # class 2, full confidence
    assert len(fig.data) == 1 + 2 * 3  # the map, then train and test points of each class


def test_grid_probabilities_leaves_training_mode_alone():
    from torch import nn

    model = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5), nn.Linear(4, 3)).train()
    probs = grid_probabilities(model, np.zeros((7, 2), np.float32))
    assert probs.shape == (7, 3) and model.training
    assert len(curve_figure([(0, float("nan"), 0.5, 0.5), (10, 0.3, 0.9, 0.8)]).data) == 3

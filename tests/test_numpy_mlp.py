import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnkit.training import numpy_mlp
from nnkit.training.control import RunControl
from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.training.numpy_mlp import NumpyMLP, evaluate, train_numpy_mlp

SIZES = [5, 7, 6, 4]  # input, two hidden layers, classes
BATCH = 9
TOL = 1e-8


def _batch(seed: int = 0, sizes: list[int] = SIZES, n: int = BATCH):
    """Random float64 inputs (n, D) and labels (n,) covering several classes."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], n)


def _blobs(n_per_class: int = 40, dim: int = 4, classes: int = 3, seed: int = 0):
    """Well separated Gaussian blobs: float32 (n, dim), int64 (n,)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (classes, dim))
    x = np.concatenate([c + rng.normal(0.0, 0.5, (n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(classes), n_per_class)
    perm = rng.permutation(len(y))
    return x[perm].astype(np.float32), y[perm].astype(np.int64)


class Recorder(Callback):
    """Keeps every event in order: (hook name, payload)."""

    def __init__(self):
        self.events = []

    def on_run_start(self, event):
        self.events.append(("start", event))

    def on_step_end(self, event):
        self.events.append(("step", event))

    def on_epoch_end(self, event):
        self.events.append(("epoch", event))

    def on_checkpoint(self, epoch, state):
        self.events.append(("checkpoint", (epoch, state)))

    def on_run_end(self, event):
        self.events.append(("end", event))

    def names(self):
        return [name for name, _ in self.events]


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_gradients_match_torch_autograd(activation):
    model = NumpyMLP(SIZES, activation=activation, seed=1, dtype=np.float64)
    x, y = _batch(seed=2)
    loss, grads = model.loss_and_grads(x, y)

    params = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
              for w, b in model.weights]  # float64, W (in, out)
    act = torch.sigmoid if activation == "sigmoid" else torch.relu
    h = torch.tensor(x)
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = act(h)
    ref = F.cross_entropy(h, torch.tensor(y))
    ref.backward()

    assert loss == pytest.approx(ref.item(), abs=TOL)
    assert len(grads) == len(params)
    for (dw, db), (w, b) in zip(grads, params, strict=True):
        assert dw.shape == tuple(w.shape) and db.shape == tuple(b.shape)
        np.testing.assert_allclose(dw, w.grad.numpy(), rtol=0, atol=TOL)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=0, atol=TOL)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_gradients_match_finite_differences(activation):
    sizes, eps = [3, 4, 3], 1e-6
    model = NumpyMLP(sizes, activation=activation, seed=3, dtype=np.float64)
    x, y = _batch(seed=4, sizes=sizes, n=5)
    _, grads = model.loss_and_grads(x, y)
    for layer, (w, b) in enumerate(model.weights):
        for param, grad in ((w, grads[layer][0]), (b, grads[layer][1])):
            numeric = np.zeros_like(param)
            for idx in np.ndindex(param.shape):
                old = param[idx]
                param[idx] = old + eps
                up = model.loss_and_grads(x, y)[0]
                param[idx] = old - eps
                down = model.loss_and_grads(x, y)[0]
                param[idx] = old
                numeric[idx] = (up - down) / (2 * eps)
            np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-7)


def test_init_forward_and_state_dict():
    model = NumpyMLP([784, 100, 10], seed=0)
    assert model.num_params == 784 * 100 + 100 + 100 * 10 + 10
    w0, b0 = model.weights[0]
    assert w0.shape == (784, 100) and w0.dtype == np.float32
    assert abs(w0.std() - 0.1) < 0.005 and not b0.any()
    probs = model.forward(np.zeros((3, 784), dtype=np.float32))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)

    state = model.state_dict()
    assert sorted(state) == ["W0", "W1", "b0", "b1"]
    other = NumpyMLP([784, 100, 10], seed=5)
    other.load_state_dict(state)
    x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    np.testing.assert_array_equal(other.predict_proba(x), model.predict_proba(x))
    state["W0"][0, 0] += 1.0  # a copy: the model is untouched
    assert model.weights[0][0][0, 0] != state["W0"][0, 0]
    with pytest.raises(ValueError, match="W1 has shape"):
        other.load_state_dict({**state, "W1": np.zeros((3, 3))})


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid: sigmoid, relu"):
        NumpyMLP([2, 2], activation="tanh")
    with pytest.raises(ValueError, match="at least input and output"):
        NumpyMLP([4])


def test_weight_decay_shrinks_weights():
    model = NumpyMLP([2, 3], seed=0)
    before = model.weights[0][0].copy()
    zero = [(np.zeros_like(w), np.zeros_like(b)) for w, b in model.weights]
    model.step(zero, lr=0.5, weight_decay=0.1)
    np.testing.assert_allclose(model.weights[0][0], before * (1 - 0.05), rtol=1e-6)


def test_training_reduces_loss_on_separable_blobs():
    x, y = _blobs()
    model = NumpyMLP([4, 16, 3], activation="relu", seed=0)
    loss_before, _ = evaluate(model, x, y)
    end = train_numpy_mlp(model, x, y, x, y, epochs=20, batch_size=16, lr=0.2)
    assert end.status == "finished", end.message
    assert end.test_loss < loss_before / 4
    assert end.test_accuracy > 0.95


def test_event_sequence():
    x, y = _blobs(n_per_class=10)  # 30 rows, batch 16: 2 steps per epoch
    rec = Recorder()
    model = NumpyMLP([4, 8, 3], seed=0)
    end = train_numpy_mlp(model, x, y, x[:10], y[:10], epochs=2, batch_size=16, lr=0.1,
                          callbacks=[rec], run_id="r1")
    assert rec.names() == ["start", "step", "step", "checkpoint", "epoch",
                           "step", "step", "checkpoint", "epoch", "end"]
    start = rec.events[0][1]
    assert isinstance(start, RunStart)
    assert start == RunStart("r1", "cpu (numpy)", model.num_params, 2, 2, 30)
    steps = [e for n, e in rec.events if n == "step"]
    assert all(isinstance(e, StepEnd) for e in steps)
    assert [(e.epoch, e.step) for e in steps] == [(1, 1), (1, 2), (2, 3), (2, 4)]
    assert all(e.lr == 0.1 and np.isfinite(e.loss) for e in steps)
    epochs = [e for n, e in rec.events if n == "epoch"]
    assert all(isinstance(e, EpochEnd) for e in epochs)
    assert [e.epoch for e in epochs] == [1, 2]
    assert all(e.test_accuracy is not None and e.val_loss is None for e in epochs)
    assert all(0 <= e.train_accuracy <= 1 and e.images_per_second > 0 for e in epochs)
    assert epochs[1].seconds >= epochs[0].seconds > 0
    epoch, state = rec.events[3][1]
    assert epoch == 1 and all(isinstance(v, np.ndarray) for v in state.values())
    assert rec.events[-1][1] is end and isinstance(end, RunEnd)
    assert end.status == "finished" and end.test_accuracy == epochs[-1].test_accuracy
    assert end.metrics["steps"] == 4 and end.metrics["epochs_done"] == 2


def test_first_layer_weights_reach_live_views(monkeypatch):
    monkeypatch.setattr(numpy_mlp, "WEIGHTS_EVERY", 0.0)  # every step
    x, y = _blobs(n_per_class=10)
    seen = []

    class Weights(Callback):
        def on_weights(self, step, first_layer):
            seen.append((step, first_layer))

    model = NumpyMLP([4, 8, 3], seed=0)
    train_numpy_mlp(model, x, y, None, None, epochs=1, batch_size=16, lr=0.1,
                    callbacks=[Weights()])
    assert [step for step, _ in seen] == [1, 2]
    assert seen[-1][1].shape == (8, 4) and seen[-1][1].dtype == np.float32  # (out, in)
    np.testing.assert_array_equal(seen[-1][1], model.weights[0][0].T)
    assert seen[-1][1] is not seen[0][1] and not np.array_equal(seen[0][1], seen[1][1])


def test_stop_from_a_callback_keeps_what_was_learned():
    x, y = _blobs()
    control = RunControl()

    class StopAtStep3(Callback):
        def on_step_end(self, event):
            if event.step == 3:
                control.stop()

    rec = Recorder()
    model = NumpyMLP([4, 8, 3], seed=0)
    before = model.state_dict()["W0"]
    end = train_numpy_mlp(model, x, y, x, y, epochs=5, batch_size=16, lr=0.1,
                          callbacks=[StopAtStep3(), rec], control=control)
    assert end.status == "stopped" and "3 steps" in end.message
    assert rec.names().count("step") == 3 and rec.names()[-1] == "end"
    assert rec.names().count("end") == 1
    assert end.test_accuracy is not None and end.metrics["steps"] == 3
    assert not np.array_equal(model.state_dict()["W0"], before)


def test_huge_learning_rate_diverges_with_a_message():
    x, y = _blobs()
    rec = Recorder()
    model = NumpyMLP([4, 16, 3], activation="relu", seed=0)
    end = train_numpy_mlp(model, x, y, x, y, epochs=5, batch_size=16, lr=1e6, callbacks=[rec])
    assert end.status == "diverged"
    assert "learning rate 1e+06 is likely too high" in end.message
    assert end.test_loss is None and rec.names()[-1] == "end"


def test_an_error_ends_the_run_as_failed():
    x, y = _blobs()

    class Broken(Callback):
        def on_step_end(self, event):
            raise RuntimeError("listener broke")

    rec = Recorder()
    end = train_numpy_mlp(NumpyMLP([4, 3]), x, y, None, None, epochs=1, batch_size=16, lr=0.1,
                          callbacks=[rec, Broken()])
    assert end.status == "failed" and end.message == "RuntimeError: listener broke"
    assert rec.names() == ["start", "step", "end"]

    end = train_numpy_mlp(NumpyMLP([5, 3]), x, y, None, None, epochs=1, batch_size=16, lr=0.1)
    assert end.status == "failed" and "x_train must be (N, 5)" in end.message


def test_engine_does_not_import_torch():
    code = "import sys, nnkit.training.numpy_mlp; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""A from-scratch MLP in NumPy alone: forward, hand-written backprop, minibatch SGD.

The teaching twin of the PyTorch models: sigmoid or relu hidden layers, a softmax output and
cross-entropy loss, weights W shaped (in, out) drawn from N(0, 0.1^2), biases zero. Its trainer
emits the same events as the PyTorch trainer, so every callback and page works with both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nnkit.training.control import RunControl, StopTraining
from nnkit.training.events import Callback, Callbacks, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.training.status import divergence_message

ACTIVATIONS = ("sigmoid", "relu")
INIT_STD = 0.1  # std of the Gaussian the weights are drawn from
EVAL_BATCH = 1000  # rows per forward pass when evaluating
WEIGHTS_EVERY = 2.0  # seconds between first-layer copies sent to on_weights


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function, written so that large |z| neither overflows nor warns."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (B, C) logits, shifted by the row max for stability."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class NumpyMLP:
    """Dense layers sizes[0] -> ... -> sizes[-1]; hidden activation, softmax output."""

    def __init__(self, sizes: list[int], activation: str = "sigmoid", seed: int = 0,
                 dtype: npt.DTypeLike = np.float32) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes needs at least input and output widths >= 1, got {sizes}")
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.weights: list[tuple[np.ndarray, np.ndarray]] = [
            (rng.normal(0.0, INIT_STD, (n_in, n_out)).astype(self.dtype),  # W (in, out)
             np.zeros(n_out, dtype=self.dtype))  # b (out,)
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        ]
        self._cache: list[np.ndarray] = []  # layer inputs a_0 .. a_{L-1}, for backward
        self.last_logits: np.ndarray | None = None  # (B, C) of the last forward/loss_and_grads

    @property
    def num_params(self) -> int:
        return sum(w.size + b.size for w, b in self.weights)

    def _act(self, z: np.ndarray) -> np.ndarray:
        """The hidden activation."""
        return _sigmoid(z) if self.activation == "sigmoid" else np.maximum(z, 0.0)

    def _act_grad(self, a: np.ndarray) -> np.ndarray:
        """Derivative of the hidden activation, from its output a."""
        return a * (1.0 - a) if self.activation == "sigmoid" else (a > 0).astype(a.dtype)

    def _logits(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (B, C) and the input of every layer [(B, sizes[0]), (B, sizes[1]), ...]."""
        a = np.asarray(x, dtype=self.dtype).reshape(len(x), -1)  # (B, D)
        inputs = []
        for i, (w, b) in enumerate(self.weights):
            inputs.append(a)
            z = a @ w + b  # (B, out)
            a = z if i == len(self.weights) - 1 else self._act(z)
        return a, inputs

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (B, C); caches the layer inputs that backward needs."""
        logits, self._cache = self._logits(x)
        self.last_logits = logits
        return np.exp(_log_softmax(logits))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (B, C) without touching the backward cache."""
        return np.exp(_log_softmax(self._logits(x)[0]))

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray
                       ) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
        """Mean cross-entropy over the batch and (dW, db) for every layer, by backprop."""
        logits, inputs = self._logits(x)
        self._cache, self.last_logits = inputs, logits
        y = np.asarray(y, dtype=np.int64)
        rows = np.arange(len(y))
        log_p = _log_softmax(logits)  # (B, C)
        loss = float(-log_p[rows, y].mean())
        delta = np.exp(log_p)
        delta[rows, y] -= 1.0
        delta /= len(y)  # dL/dlogits (B, C): (softmax - onehot) / B
        grads = []
        for i in range(len(self.weights) - 1, -1, -1):
            a_in, (w, _) = inputs[i], self.weights[i]
            grads.append((a_in.T @ delta, delta.sum(axis=0)))  # dW (in, out), db (out,)
            if i > 0:  # a_in is the activation of the layer below: chain through it
                delta = (delta @ w.T) * self._act_grad(a_in)  # (B, in)
        return loss, grads[::-1]

    def step(self, grads: list[tuple[np.ndarray, np.ndarray]], lr: float,
             weight_decay: float = 0.0) -> None:
        """One SGD update in place; weight decay adds weight_decay * W to dW (not to biases)."""
        for (w, b), (dw, db) in zip(self.weights, grads, strict=True):
            w -= lr * (dw + weight_decay * w) if weight_decay else lr * dw
            b -= lr * db

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters: {"W0": (in, out), "b0": (out,), "W1": ...}."""
        state = {}
        for i, (w, b) in enumerate(self.weights):
            state[f"W{i}"], state[f"b{i}"] = w.copy(), b.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the parameters with copies from state; shapes must match."""
        new = []
        for i, (w, b) in enumerate(self.weights):
            for key, old in ((f"W{i}", w), (f"b{i}", b)):
                if key not in state:
                    raise ValueError(f"state is missing {key}")
                if np.shape(state[key]) != old.shape:
                    raise ValueError(f"{key} has shape {np.shape(state[key])}, "
                                     f"expected {old.shape}")
            new.append((np.array(state[f"W{i}"], dtype=self.dtype),
                        np.array(state[f"b{i}"], dtype=self.dtype)))
        self.weights = new


def evaluate(model: NumpyMLP, x: np.ndarray, y: np.ndarray,
             batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of model on (x, y), in batches."""
    total_loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], np.asarray(y[i:i + batch_size], dtype=np.int64)
        log_p = _log_softmax(model._logits(xb)[0])  # (B, C)
        total_loss += float(-log_p[np.arange(len(yb)), yb].sum())
        correct += int((log_p.argmax(axis=1) == yb).sum())
    return total_loss / len(x), correct / len(x)


@dataclass
class _Progress:
    """How far a run got: what RunEnd reports whichever way it ends."""

    epochs_done: int = 0
    steps: int = 0
    images: int = 0
    seconds: float = 0.0  # training time; evaluation and time spent paused excluded

    def end(self, status: str, message: str, test_loss: float | None,
            test_accuracy: float | None) -> RunEnd:
        """The RunEnd event for this progress (same metrics as the PyTorch trainer's)."""
        ips = self.images / self.seconds if self.seconds else 0.0
        return RunEnd(status, message, self.seconds, test_loss, test_accuracy,
                      {"images_per_second": ips, "steps": self.steps,
                       "epochs_done": self.epochs_done})


def train_numpy_mlp(model: NumpyMLP, x_train: np.ndarray, y_train: np.ndarray,
                    x_test: np.ndarray | None, y_test: np.ndarray | None, *, epochs: int,
                    batch_size: int, lr: float, weight_decay: float = 0.0, seed: int = 0,
                    callbacks: Sequence[Callback] = (), control: RunControl | None = None,
                    run_id: str = "") -> RunEnd:
    """Minibatch SGD on (N, D) scaled inputs; emits the PyTorch trainer's events, then RunEnd."""
    progress, callbacks = _Progress(), Callbacks(callbacks)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not warned
            end = _fit(model, x_train, y_train, x_test, y_test, epochs=epochs,
                       batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                       callbacks=callbacks, control=control or RunControl(), run_id=run_id,
                       progress=progress)
    except Exception as e:  # every run must end with a RunEnd
        end = progress.end("failed", f"{type(e).__name__}: {e}", None, None)
    callbacks.on_run_end(end)
    return end


def _fit(model: NumpyMLP, x_train: np.ndarray, y_train: np.ndarray,
         x_test: np.ndarray | None, y_test: np.ndarray | None, *, epochs: int, batch_size: int,
         lr: float, weight_decay: float, seed: int, callbacks: Sequence[Callback],
         control: RunControl, run_id: str, progress: _Progress) -> RunEnd:
    """The loop of train_numpy_mlp; updates progress as it goes and returns how it ended."""
    n = len(x_train)
    if x_train.ndim != 2 or x_train.shape[1] != model.sizes[0]:
        raise ValueError(f"x_train must be (N, {model.sizes[0]}), got {x_train.shape}")
    if batch_size < 1 or epochs < 0 or n == 0:
        raise ValueError(f"need batch_size >= 1, epochs >= 0 and N >= 1; "
                         f"got {batch_size}, {epochs}, {n}")
    y_train = np.asarray(y_train, dtype=np.int64)
    has_test = x_test is not None and y_test is not None and len(x_test) > 0
    test_loss: float | None = None
    test_acc: float | None = None
    start = RunStart(run_id=run_id, device="cpu (numpy)", num_params=model.num_params,
                     epochs=epochs, steps_per_epoch=math.ceil(n / batch_size), train_size=n)
    callbacks.on_run_start(start)
    rng = np.random.default_rng(seed)
    epoch, epoch_seconds = 0, 0.0
    last_weights = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(n)
            loss_sum, correct, epoch_seconds = 0.0, 0, 0.0
            for i in range(0, n, batch_size):
                control.checkpoint()  # blocks while paused; raises StopTraining on stop
                t0 = time.perf_counter()  # time spent paused is not training time
                idx = perm[i:i + batch_size]
                xb, yb = x_train[idx], y_train[idx]  # (B, D), (B,)
                loss, grads = model.loss_and_grads(xb, yb)
                progress.steps += 1
                if not math.isfinite(loss):
                    progress.seconds += epoch_seconds + time.perf_counter() - t0
                    message = divergence_message("sgd", lr, loss, progress.steps, epoch)
                    return progress.end("diverged", message, None, None)
                correct += int((model.last_logits.argmax(axis=1) == yb).sum())  # pre-update
                loss_sum += loss * len(idx)
                progress.images += len(idx)
                model.step(grads, lr, weight_decay)
                event = StepEnd(epoch=epoch, step=progress.steps, loss=loss, lr=lr)
                callbacks.on_step_end(event)
                if time.perf_counter() - last_weights > WEIGHTS_EVERY:
                    last_weights = time.perf_counter()
                    w = np.array(model.weights[0][0].T, np.float32, order="C")  # (out, in) as torch
                    callbacks.on_weights(progress.steps, w)
                epoch_seconds += time.perf_counter() - t0
            progress.seconds += epoch_seconds
            images_per_second = n / max(epoch_seconds, 1e-9)
            epoch_seconds = 0.0  # counted: a stop from a callback below must not count it twice
            if has_test:
                test_loss, test_acc = evaluate(model, x_test, y_test)
            end_of_epoch = EpochEnd(
                epoch=epoch, train_loss=loss_sum / n, train_accuracy=correct / n,
                val_loss=None, val_accuracy=None, test_loss=test_loss, test_accuracy=test_acc,
                images_per_second=images_per_second, seconds=progress.seconds)
            progress.epochs_done = epoch
            state = model.state_dict()
            callbacks.on_checkpoint(epoch, state)  # in the PyTorch trainer's order
            callbacks.on_epoch_end(end_of_epoch)
    except StopTraining:
        progress.seconds += epoch_seconds  # the part of an epoch cut short
        if has_test:
            test_loss, test_acc = evaluate(model, x_test, y_test)
        message = f"stopped by the user after {progress.steps} steps"
        return progress.end("stopped", message, test_loss, test_acc)
    return progress.end("finished", f"finished {epochs} epochs", test_loss, test_acc)

"""Palindromes of digits: a vanilla RNN must carry the first digit to the end of the sequence.

The network sees a palindrome without its last digit and predicts that digit, which equals the
first one: the longer the sequence, the further back it must remember, and the harder a plain
tanh RNN finds it (the vanishing gradient, made visible as accuracy against length).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nnkit.config import RunConfig
from nnkit.training.control import RunControl, StopTraining
from nnkit.training.loop import make_optimizer

DIGITS = 10
OPTIMIZERS = ("rmsprop", "adam", "sgd")
DEFAULT_LENGTHS = range(3, 12, 2)  # 3, 5, ..., 11: from easy to beyond a vanilla RNN's reach
SGD_MOMENTUM = 0.9  # plain SGD without momentum barely moves at these learning rates


def make_palindromes(n: int, length: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """n random digit palindromes: inputs int64 (n, length-1) and last digits int64 (n,)."""
    if length < 2:
        raise ValueError(f"length must be at least 2, got {length}")
    gen = torch.Generator().manual_seed(seed)
    half = torch.randint(0, DIGITS, (n, (length + 1) // 2), generator=gen)  # (n, ceil(L/2))
    full = torch.cat([half, half[:, : length // 2].flip(1)], dim=1)  # (n, L), a palindrome
    return full[:, :-1].contiguous(), full[:, -1].contiguous()


class PalindromeRNN(nn.Module):
    """One-hot digits -> tanh RNN -> linear over the last hidden state -> 10 logits."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.rnn = nn.RNN(DIGITS, hidden, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(hidden, DIGITS)

    def forward(self, x: Tensor) -> Tensor:
        """Digits int64 (B, T) -> logits (B, 10)."""
        onehot = F.one_hot(x, DIGITS).float()  # (B, T, 10)
        out, _ = self.rnn(onehot)  # (B, T, hidden)
        return self.head(out[:, -1])  # (B, 10)


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The named optimizer over params, from the trainer's own factory."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    cfg = RunConfig(optimizer=name, lr=lr, weight_decay=0.0,
                    momentum=SGD_MOMENTUM if name == "sgd" else 0.0)
    return make_optimizer(cfg, params, torch.device("cpu"))


@torch.inference_mode()
def _evaluate(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on (x, y)."""
    logits = model(x)  # (N, 10)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def train_palindrome(length: int, *, hidden: int = 64, epochs: int = 10, batch_size: int = 128,
                     lr: float = 1e-3, optimizer: str = "rmsprop", clip: float | None = 1.0,
                     n_train: int = 5000, n_test: int = 1000, seed: int = 0,
                     device: str = "cpu", control: RunControl | None = None,
                     save_to: Path | None = None,
                     on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train a PalindromeRNN on one length; test accuracy and a per-epoch history.

    control pauses and stops it between steps (status "stopped": the epochs done so far are
    kept); save_to, if given, gets the model's state dict when it ends, stopped or not;
    on_epoch gets each epoch's row as it ends."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    control = control or RunControl()
    status = "finished"
    dev = torch.device(device)
    x_train, y_train = make_palindromes(n_train, length, seed=seed)
    x_test, y_test = make_palindromes(n_test, length, seed=seed + 1)
    x_train, y_train, x_test, y_test = (t.to(dev) for t in (x_train, y_train, x_test, y_test))
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
        torch.manual_seed(seed)
        model = PalindromeRNN(hidden).to(dev)
    opt = _optimizer(optimizer, model.parameters(), lr)
    gen = torch.Generator().manual_seed(seed)
    history, seconds = [], 0.0
    try:
        for epoch in range(1, epochs + 1):
            history.append(_epoch(model, opt, x_train, y_train, x_test, y_test, epoch,
                                  batch_size, clip, gen, control, seconds))
            seconds = history[-1]["seconds"]
            if on_epoch:
                on_epoch(history[-1])
    except StopTraining:
        status = "stopped"
    if save_to is not None:
        Path(save_to).parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, save_to)
    last = history[-1] if history else {"test_loss": None, "test_accuracy": None}
    return {"length": length, "hidden": hidden, "optimizer": optimizer, "lr": lr, "clip": clip,
            "status": status, "test_loss": last["test_loss"],
            "test_accuracy": last["test_accuracy"], "seconds": seconds, "epochs": history}


def _epoch(model, opt, x_train, y_train, x_test, y_test, epoch: int, batch_size: int,
           clip: float | None, gen: torch.Generator, control: RunControl,
           seconds: float) -> dict:
    """One pass over the training set, then the test set's loss and accuracy."""
    dev, n_train = x_train.device, len(x_train)
    t0 = time.perf_counter()
    model.train()
    perm = torch.randperm(n_train, generator=gen).to(dev)
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), device=dev, dtype=torch.int64)
    for i in range(0, n_train, batch_size):
        control.checkpoint()
        idx = perm[i:i + batch_size]
        logits = model(x_train[idx])  # (B, 10)
        loss = F.cross_entropy(logits, y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == y_train[idx]).sum()
    seconds += time.perf_counter() - t0
    model.eval()
    test_loss, test_acc = _evaluate(model, x_test, y_test)
    return {"epoch": epoch, "train_loss": loss_sum.item() / n_train,
            "train_accuracy": correct.item() / n_train, "test_loss": test_loss,
            "test_accuracy": test_acc, "seconds": seconds}


def accuracy_vs_length(lengths: Iterable[int] = DEFAULT_LENGTHS, **train_kwargs) -> list[dict]:
    """train_palindrome for each length, same settings: how memory fades with distance."""
    return [train_palindrome(length, **train_kwargs) for length in lengths]

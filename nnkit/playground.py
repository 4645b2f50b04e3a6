"""Small experiments trained in a background thread and watched live.

ToyTrainer trains an MLP on a 2-D toy set and, about every half second, stores the model's
class probabilities over a grid of the plane. It is the one training that stays in the
server's process: a toy net trains in about a second, less than the queue's training process
takes to start. Each session has one (a new one stops the old), and it stops itself when the
page watching it has not asked for it in ORPHAN_SECONDS (the tab was closed). The thread
writes only to its own lock-guarded fields; readers get copies. Nothing here calls Streamlit.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import nn

from nnkit import models, toy
from nnkit.config import OPTIMIZERS
from nnkit.training import palindrome
from nnkit.training.status import divergence_message

MULTI_CLASS = ("spiral", "gaussians")  # the toy sets that take a number of classes
ORPHAN_SECONDS = 60.0  # a trainer no page has looked at for this long stops itself
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#f59e0b", "#9333ea", "#0891b2", "#db2777",
          "#65a30d")  # one per class


@dataclass(frozen=True)
class PlaygroundConfig:
    dataset: str = "moons"  # moons | circles | xor | spiral | gaussians
    n_train: int = 500  # training points
    n_test: int = 250  # test points, drawn with another seed
    noise: float = 0.2  # std of the Gaussian jitter
    classes: int = 3  # spiral and gaussians only; the others have 2
    hidden: tuple[int, ...] = (16, 16)  # hidden widths
    activation: str = "tanh"  # relu | sigmoid | tanh | gelu
    optimizer: str = "adam"  # sgd | adam | adamw | rmsprop
    lr: float = 0.01
    momentum: float = 0.9  # sgd and rmsprop
    weight_decay: float = 0.0
    batch_size: int = 32
    steps: int = 2000  # training stops after this many steps
    resolution: int = 60  # grid points per side of the decision map
    snapshot_seconds: float = 0.5  # time between decision-map snapshots
    step_delay: float = 0.0  # seconds of sleep per step: slow motion for watching
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return self.classes if self.dataset in MULTI_CLASS else 2


def check_config(cfg: PlaygroundConfig) -> None:
    """Raise ValueError naming the first setting that cannot work."""
    if cfg.dataset not in toy.TOY_NAMES:
        raise ValueError(f"dataset must be one of {', '.join(toy.TOY_NAMES)} (got {cfg.dataset!r})")
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)} "
                         f"(got {cfg.optimizer!r})")
    if not 2 <= cfg.num_classes <= len(COLORS):
        raise ValueError(f"classes must be between 2 and {len(COLORS)} (got {cfg.classes})")
    if cfg.n_train < cfg.num_classes or cfg.n_test < cfg.num_classes:
        raise ValueError(f"n_train and n_test must be at least the number of classes "
                         f"({cfg.num_classes})")
    if not (cfg.lr > 0 and cfg.batch_size >= 1 and cfg.steps >= 1 and cfg.resolution >= 2):
        raise ValueError("lr must be > 0, batch_size and steps >= 1, resolution >= 2")
    models.check_spec(spec_of(cfg), (2,))  # SpecError is a ValueError


def spec_of(cfg: PlaygroundConfig) -> models.ModelSpec:
    """The MLP the playground trains, as a ModelSpec."""
    return models.ModelSpec("mlp", tuple(cfg.hidden), cfg.activation)


@dataclass(frozen=True)
class Snapshot:
    step: int
    loss: float  # mean training loss since the previous snapshot (nan before any step)
    train_accuracy: float
    test_accuracy: float
    probs: np.ndarray  # (R*R, classes) float32 over decision_grid's points


def make_optimizer(cfg: PlaygroundConfig, params) -> torch.optim.Optimizer:
    """The configured optimizer, as the trainer's but never fused: a fused Adam's first use
    imports the compiler stack (seconds), and a model this small gains nothing from it."""
    kw = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, **kw)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, momentum=cfg.momentum, **kw)
    return (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW)(params, **kw)


@torch.inference_mode()
def grid_probabilities(model: nn.Module, points: np.ndarray) -> np.ndarray:
    """Class probabilities (N, classes) float32 of a 2-D model at points (N, 2)."""
    was_training = model.training
    model.eval()
    probs = model(torch.as_tensor(points, dtype=torch.float32)).softmax(1).numpy()
    model.train(was_training)
    return probs.astype(np.float32)


class ToyTrainer:
    """Trains one toy MLP in a background thread; read latest() and curve() from anywhere."""

    def __init__(self, cfg: PlaygroundConfig) -> None:
        check_config(cfg)
        self.cfg = cfg
        k = cfg.num_classes if cfg.dataset in MULTI_CLASS else None
        self.x_train, self.y_train = toy.make_toy(cfg.dataset, cfg.n_train, cfg.noise, cfg.seed, k)
        self.x_test, self.y_test = toy.make_toy(cfg.dataset, cfg.n_test, cfg.noise,
                                                cfg.seed + 10_000, k)
        self.bounds = toy.data_bounds(np.concatenate([self.x_train, self.x_test]))
        self.xx, self.yy, self.points = toy.decision_grid(self.bounds, cfg.resolution)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seen = time.monotonic()  # the last time a page asked for it
        self._thread: threading.Thread | None = None
        self._latest: Snapshot | None = None
        self._curve: list[tuple[int, float, float, float]] = []  # (step, loss, train, test)
        self._status, self._message = "ready", ""  # ready | running | finished | stopped | ...

    # --- what readers call ---------------------------------------------------------------
    def latest(self) -> Snapshot | None:
        """The most recent snapshot (None before the first); a page asking keeps it alive."""
        with self._lock:
            self._seen = time.monotonic()
            return self._latest

    def curve(self) -> list[tuple[int, float, float, float]]:
        """(step, loss, train accuracy, test accuracy) of every snapshot so far."""
        with self._lock:
            return list(self._curve)

    def status(self) -> tuple[str, str]:
        """(status, message): ready | running | finished | stopped | diverged | failed."""
        with self._lock:
            return self._status, self._message

    @property
    def active(self) -> bool:
        return self.status()[0] in ("ready", "running") and self._thread is not None

    def start(self) -> ToyTrainer:
        """Train in a daemon thread; returns at once."""
        if self._thread is None:
            self._set("running")
            self._thread = threading.Thread(target=self.run, name="nnkit-playground",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to stop after its current step (it keeps a final snapshot)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; False on timeout."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # --- the training thread ---------------------------------------------------------------
    def _set(self, status: str, message: str = "") -> None:
        with self._lock:
            self._status, self._message = status, message

    def _snapshot(self, model: nn.Module, step: int, loss: float) -> None:
        train_p = grid_probabilities(model, self.x_train)
        test_p = grid_probabilities(model, self.x_test)
        snap = Snapshot(step, loss, float((train_p.argmax(1) == self.y_train).mean()),
                        float((test_p.argmax(1) == self.y_test).mean()),
                        grid_probabilities(model, self.points))
        with self._lock:
            self._latest = snap
            self._curve.append((step, loss, snap.train_accuracy, snap.test_accuracy))

    def run(self) -> Snapshot | None:
        """The training loop (start() runs it in a thread); returns the last snapshot."""
        try:
            self._set("running")
            status, message = self._fit()
        except Exception as e:  # the page shows it; the app goes on
            status, message = "failed", f"{type(e).__name__}: {e}"
        self._set(status, message)
        return self.latest()

    def _fit(self) -> tuple[str, str]:
        cfg = self.cfg
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(cfg.seed)
            model = models.build_model(spec_of(cfg), (2,), cfg.num_classes)
        opt = make_optimizer(cfg, model.parameters())
        x, y = torch.from_numpy(self.x_train), torch.from_numpy(self.y_train)
        n, bs = len(x), min(cfg.batch_size, len(x))
        gen = torch.Generator().manual_seed(cfg.seed)
        self._snapshot(model, 0, math.nan)
        perm, pos, loss_sum, count = torch.randperm(n, generator=gen), 0, 0.0, 0
        last = time.perf_counter()
        for step in range(1, cfg.steps + 1):
            if pos + bs > n:  # a new epoch: reshuffle
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos:pos + bs]
            pos += bs
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = loss.item()
            if not math.isfinite(value):
                self._snapshot(model, step, value)
                return "diverged", divergence_message(cfg.optimizer, cfg.lr, value, step)
            loss_sum, count = loss_sum + value, count + 1
            with self._lock:
                orphaned = time.monotonic() - self._seen > ORPHAN_SECONDS
            if orphaned:
                return "stopped", f"stopped after {step} steps: no page was watching it"
            stopping = self._stop.is_set()
            if (time.perf_counter() - last >= cfg.snapshot_seconds or step == cfg.steps
                    or stopping):
                self._snapshot(model, step, loss_sum / count)
                loss_sum, count, last = 0.0, 0, time.perf_counter()
            if stopping:
                return "stopped", f"stopped after {step} steps"
            if cfg.step_delay > 0:
                time.sleep(cfg.step_delay)
        return "finished", f"finished {cfg.steps} steps"


def boundary_figure(xx: np.ndarray, yy: np.ndarray, probs: np.ndarray,
                    x_train: np.ndarray, y_train: np.ndarray,
                    x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
                    title: str = "", height: int = 460) -> go.Figure:
    """The plane coloured by predicted class, paler where the model is less sure, with the
    training points (filled) and test points (hollow) on top."""
    r, classes = xx.shape[0], probs.shape[1]
    pred, top = probs.argmax(1), probs.max(1)
    confidence = (top - 1 / classes) / (1 - 1 / classes)  # 0 at a coin toss, 1 when certain
    z = (pred + 0.999 * np.clip(confidence, 0, 1)).reshape(r, r) / classes  # in [0, 1)
    scale = []
    for k in range(classes):  # class k spans [k/C, (k+1)/C): from white to a light tint of it
        scale += [[k / classes, "#ffffff"], [(k + 1) / classes - 1e-6, _tint(COLORS[k], 0.55)]]
    scale[-1][0] = 1.0
    fig = go.Figure(go.Heatmap(x=xx[0], y=yy[:, 0], z=z.astype(np.float32), zmin=0, zmax=1,
                               colorscale=scale, showscale=False, hoverinfo="skip"))
    for k in range(classes):
        for xs, ys, name, hollow in ((x_train, y_train, "train", False),
                                     (x_test, y_test, "test", True)):
            if xs is None:
                continue
            pts = xs[ys == k]
            fig.add_scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=f"{name} {k}",
                            legendgroup=str(k), marker=dict(
                                size=6, color="white" if hollow else COLORS[k],
                                line=dict(color=COLORS[k] if hollow else "white", width=1.2)))
    fig.update_xaxes(range=[float(xx.min()), float(xx.max())], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[float(yy.min()), float(yy.max())], showgrid=False, zeroline=False,
                     scaleanchor="x")
    # no template: applying one costs ~40 ms a figure, too much for a redraw twice a second
    fig.update_layout(title=dict(text=title, y=0.98, yanchor="top"), height=height,
                      plot_bgcolor="white", margin=dict(l=10, r=10, t=80 if title else 50, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0))
    return fig


def _tint(hex_color: str, strength: float) -> str:
    """hex_color mixed with white: strength 1 is the colour itself."""
    rgb = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(255 + strength * (c - 255)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def accuracy_length_figure(results: list[dict], lengths=()) -> go.Figure:
    """Test accuracy against palindrome length, with chance (10 %) dotted."""
    fig = go.Figure()
    if results:
        fig.add_scatter(x=[r["length"] for r in results],
                        y=[r["test_accuracy"] for r in results], mode="lines+markers",
                        name="vanilla RNN", line=dict(color="#2563eb"))
    fig.add_hline(y=1 / palindrome.DIGITS, line_dash="dot", line_color="#9ca3af",
                  annotation_text="chance 10 %", annotation_position="bottom right")
    if lengths:
        fig.update_xaxes(range=[min(lengths) - 0.5, max(lengths) + 0.5], dtick=1)
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_layout(title="Test accuracy against palindrome length", xaxis_title="length",
                      yaxis_title="accuracy", height=320, template="plotly_white",
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def curve_figure(curve: list[tuple[int, float, float, float]], height: int = 260) -> go.Figure:
    """Training loss (left axis) and train/test accuracy (right axis) against step."""
    fig = go.Figure()
    if curve:
        steps, loss, train, test = (list(c) for c in zip(*curve, strict=True))
        fig.add_scatter(x=steps, y=loss, mode="lines", name="loss", line=dict(color="#6b7280"))
        fig.add_scatter(x=steps, y=train, mode="lines", name="train accuracy", yaxis="y2",
                        line=dict(color="#2563eb"))
        fig.add_scatter(x=steps, y=test, mode="lines", name="test accuracy", yaxis="y2",
                        line=dict(color="#16a34a"))
    fig.update_layout(xaxis_title="step", yaxis=dict(title="loss", rangemode="tozero"),
                      yaxis2=dict(title="accuracy", overlaying="y", side="right",
                                  range=[0, 1.02], dtick=0.25, tickformat=".0%",
                                  showgrid=False),
                      height=height, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig

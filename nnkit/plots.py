"""Plotly figures for the dashboard: pure functions of plain numbers (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# Reference results shown as horizontal lines (LeCun's MNIST table).
REFERENCES = {
    "mnist": [(0.9847, "Hinton 784-500-300: 98.47 %"), (0.9905, "LeNet-5: 99.05 %")],
}
MAX_POINTS = 2000  # loss curves are thinned to this many points


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=40, b=10), template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    """Exponential moving average with debiasing (TensorBoard's smoothing)."""
    out, acc = np.empty(len(values)), 0.0
    for i, v in enumerate(values):
        acc = smoothing * acc + (1 - smoothing) * v
        out[i] = acc / (1 - smoothing ** (i + 1))
    return out


def loss_per_step(steps: Sequence[tuple[int, float]], smoothing: float = 0.9,
                  steps_per_epoch: int = 0) -> go.Figure:
    """Training loss per step, raw (faint) and smoothed; x in epochs when steps_per_epoch."""
    fig = go.Figure()
    if steps:
        s = np.asarray(steps, dtype=float)
        x, y = s[:, 0], s[:, 1]
        smooth = ema(y, smoothing) if smoothing > 0 else y
        stride = max(1, len(x) // MAX_POINTS)
        xs = x / steps_per_epoch if steps_per_epoch else x
        fig.add_scatter(x=xs[::stride], y=y[::stride], mode="lines", name="loss",
                        line=dict(color="rgba(37,99,235,0.25)", width=1))
        fig.add_scatter(x=xs[::stride], y=smooth[::stride], mode="lines", name="smoothed",
                        line=dict(color="#2563eb", width=2))
    return _layout(fig, "Loss per step", "epoch" if steps_per_epoch else "step", "loss")


def epoch_curves(history: Sequence[dict], metric: str = "accuracy", dataset: str = "",
                 names: Sequence[str] = ("train", "val", "test")) -> go.Figure:
    """Train/validation/test accuracy (or loss) per epoch, with reference lines for accuracy."""
    fig = go.Figure()
    colors = {"train": "#2563eb", "val": "#f59e0b", "test": "#16a34a"}
    for part in names:
        key = f"{part}_{metric}"
        pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if pts:
            ex, ey = zip(*pts)
            fig.add_scatter(x=ex, y=ey, mode="lines+markers", name=part,
                            line=dict(color=colors[part]))
    if metric == "accuracy":
        for value, label in REFERENCES.get(dataset, []):
            fig.add_hline(y=value, line_dash="dot", line_color="#9ca3af",
                          annotation_text=label, annotation_position="bottom right")
        fig.update_yaxes(tickformat=".1%")
    fig.update_xaxes(dtick=1 if len(history) <= 20 else None)
    return _layout(fig, f"{metric.capitalize()} per epoch", "epoch", metric)


def overlay(runs: Sequence[tuple[str, Sequence[dict]]], key: str = "test_accuracy",
            dataset: str = "") -> go.Figure:
    """One curve per run of the given per-epoch metric."""
    fig = go.Figure()
    for name, history in runs:
        pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if pts:
            ex, ey = zip(*pts)
            fig.add_scatter(x=ex, y=ey, mode="lines+markers", name=name)
    if key.endswith("accuracy"):
        for value, label in REFERENCES.get(dataset, []):
            fig.add_hline(y=value, line_dash="dot", line_color="#9ca3af", annotation_text=label)
        fig.update_yaxes(tickformat=".1%")
    return _layout(fig, key.replace("_", " "), "epoch", key.split("_")[-1], height=360)


def weight_grid(grid: np.ndarray, title: str = "", height: int = 320) -> go.Figure:
    """A tiled template image on a diverging scale centred on zero (NaN padding stays blank)."""
    finite = grid[np.isfinite(grid)]
    lim = float(np.abs(finite).max()) if finite.size else 1.0
    if grid.ndim == 3:  # RGB templates: map [-lim, lim] to [0, 255]
        img = np.nan_to_num((grid / (2 * lim or 1) + 0.5) * 255, nan=255).clip(0, 255)
        fig = go.Figure(go.Image(z=img.astype(np.uint8)))
    else:
        fig = go.Figure(go.Heatmap(z=grid[::-1], colorscale="RdBu", zmid=0, zmin=-lim, zmax=lim,
                                   showscale=False, hoverinfo="skip"))
        fig.update_yaxes(scaleanchor="x")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
                      template="plotly_white")
    return fig

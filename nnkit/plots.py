"""Plotly figures for the dashboard: pure functions of plain numbers (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

# Reference results shown as horizontal lines (LeCun's MNIST table).
REFERENCES = {
    "mnist": [(0.9847, "Hinton 784-500-300: 98.47 %"), (0.9905, "LeNet-5: 99.05 %")],
}
# Where their labels go on curves per epoch: on the left, where the curves are still low (on
# the right, where curves end near these lines, the labels sat on top of them).
REFERENCE_LABELS = ("bottom left", "top left")
MAX_POINTS = 600  # loss curves are thinned to at most this many points (and the last)


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 300) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=40, b=10), template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1))
    return fig


def ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    """Exponential moving average with debiasing (TensorBoard's smoothing)."""
    if len(values) == 0:
        return np.zeros(0)
    return pd.Series(values, dtype=float).ewm(alpha=1 - smoothing, adjust=True).mean().to_numpy()


def steps_per_epoch(rows: Sequence[dict], epochs_done: int) -> int:
    """A stored run's steps per epoch, from its step rows (1-based "epoch"), once its first
    epoch has completed; else 0, and the loss axis counts steps (a run that diverged after 30
    steps had them drawn as one whole epoch)."""
    return sum(r["epoch"] == 1 for r in rows) if epochs_done >= 1 else 0


def loss_per_step(steps: Sequence[tuple[int, float]], smoothing: float = 0.9,
                  steps_per_epoch: int = 0) -> go.Figure:
    """Training loss per step, raw (faint) and smoothed; x in epochs when steps_per_epoch."""
    fig = go.Figure()
    if steps:
        s = np.asarray(steps, dtype=float)
        x, y = s[:, 0], s[:, 1]
        smooth = ema(y, smoothing) if smoothing > 0 else y
        keep = np.unique(np.r_[np.arange(0, len(x), -(-len(x) // MAX_POINTS)), len(x) - 1])
        xs = x / steps_per_epoch if steps_per_epoch else x  # thinned, the newest step kept
        fig.add_scatter(x=xs[keep], y=y[keep], mode="lines", name="loss",
                        line=dict(color="rgba(37,99,235,0.25)", width=1))
        fig.add_scatter(x=xs[keep], y=smooth[keep], mode="lines", name="smoothed",
                        line=dict(color="#2563eb", width=2))
    return _layout(fig, "Loss per step", "epoch" if steps_per_epoch else "step", "loss")


def _references(fig: go.Figure, dataset: str) -> None:
    """The dataset's reference results as dotted lines, labelled where curves rarely are."""
    for (value, label), where in zip(REFERENCES.get(dataset, []), REFERENCE_LABELS,
                                     strict=False):
        fig.add_hline(y=value, line_dash="dot", line_color="#9ca3af", annotation_text=label,
                      annotation_position=where)


def epoch_curves(history: Sequence[dict], metric: str = "accuracy", dataset: str = "",
                 names: Sequence[str] = ("train", "val", "test")) -> go.Figure:
    """Train/validation/test accuracy (or loss) per epoch, with reference lines for accuracy."""
    colors = {"train": "#2563eb", "val": "#f59e0b", "test": "#16a34a"}
    points = pd.DataFrame([(part, h["epoch"], h[f"{part}_{metric}"]) for part in names
                           for h in history if h.get(f"{part}_{metric}") is not None],
                          columns=["part", "epoch", metric])
    fig = (px.line(points, x="epoch", y=metric, color="part", markers=True,
                   color_discrete_map=colors) if len(points) else go.Figure())
    fig.update_layout(legend_title_text="")
    if metric == "accuracy":
        _references(fig, dataset)
        fig.update_yaxes(tickformat=".1%")
    fig.update_xaxes(dtick=1 if len(history) <= 20 else None)
    return _layout(fig, f"{metric.capitalize()} per epoch", "epoch", metric)


def overlay(runs: Sequence[tuple[str, Sequence[dict]]], key: str = "test_accuracy",
            dataset: str = "") -> go.Figure:
    """One curve per run of the given per-epoch metric (runs of the same name numbered)."""
    seen: dict[str, int] = {}
    rows = []
    for name, history in runs:
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name} ({seen[name]})"
        rows += [(label, h["epoch"], h[key]) for h in history if h.get(key) is not None]
    points = pd.DataFrame(rows, columns=["run", "epoch", key])
    fig = px.line(points, x="epoch", y=key, color="run", markers=True) if rows else go.Figure()
    fig.update_layout(legend_title_text="")
    if key.endswith("accuracy"):
        _references(fig, dataset)
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


def weight_picture(grid: np.ndarray, scale: int = 2) -> np.ndarray:
    """A tiled template image as uint8 RGB on the same diverging scale as weight_grid (red
    negative, white zero, blue positive; NaN padding light grey), pixels blown up `scale` times.

    For live views: a picture the browser shows as an image costs far less to redraw every few
    seconds than a Plotly heatmap of the same grid (which competed with training on 2 cores)."""
    g = np.asarray(grid, dtype=np.float32)
    finite = g[np.isfinite(g)]
    lim = float(np.abs(finite).max()) if finite.size else 1.0
    t = np.nan_to_num(g / (lim or 1.0), nan=0.0).clip(-1, 1)
    if g.ndim == 3:  # RGB templates
        rgb = (t / 2 + 0.5) * 255
    else:
        import plotly.colors

        stops = np.array([plotly.colors.unlabel_rgb(c) for c in plotly.colors.diverging.RdBu])
        where = (t + 1) / 2 * (len(stops) - 1)
        rgb = np.stack([np.interp(where, np.arange(len(stops)), stops[:, c]) for c in range(3)],
                       axis=-1)
        rgb[~np.isfinite(g)] = 225
    img = rgb.clip(0, 255).astype(np.uint8)
    return img.repeat(scale, axis=0).repeat(scale, axis=1)


# --- looking inside a run (Inspect, Weights and Data pages) ------------------------------------
def _cell_text(counts: np.ndarray, percent: np.ndarray | None) -> np.ndarray:
    """Each cell's label: its count, or its row percent (blank where nothing fell)."""
    if percent is None:
        return np.where(counts > 0, counts.astype(str), "")
    text = np.char.mod("%.1f", percent)
    text = np.where((counts > 0) & (percent < 0.05), "<0.1", text)
    return np.where(counts > 0, text, "")


def confusion_heatmap(counts: np.ndarray, classes: Sequence[str],
                      percent: np.ndarray | None = None,
                      highlight: tuple[int, int] | None = None, height: int = 560) -> go.Figure:
    """Confusion matrix, rows = true, columns = predicted, every non-empty cell annotated.

    The diagonal (right answers) and the mistakes have colour scales of their own, mistakes by
    the square root of their value (a single mistake is still tinted), so the big diagonal does
    not wash the few mistakes out. With `percent` (rows
    normalized) cells show and colour by percent; hovering shows both. An invisible square
    marker sits on every cell centre (a scatter can be selected by a click, a heatmap cannot):
    a selected point has x = predicted class index and y = true class index.
    """
    counts = np.asarray(counts)
    k = counts.shape[0]
    shown = counts.astype(float) if percent is None else np.asarray(percent, dtype=float)
    row_pct = 100.0 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # (K, K)
    diag = np.eye(k, dtype=bool)
    text = _cell_text(counts, percent)
    on_diag = np.where(diag, shown, np.nan)
    d_lo, d_hi = float(np.nanmin(on_diag)), float(np.nanmax(on_diag))
    off = np.where(~diag & (counts > 0), shown, np.nan)
    positive = off[np.isfinite(off) & (off > 0)]
    hi = float(np.sqrt(positive.max())) if positive.size else 1.0
    names = [str(c) for c in classes]
    axis = dict(tickvals=list(range(k)), ticktext=names, fixedrange=True, showgrid=False,
                zeroline=False)
    fig = go.Figure()
    fig.add_heatmap(z=on_diag, text=np.where(diag, text, ""), texttemplate="%{text}",
                    colorscale=[[0, "#bfdbfe"], [1, "#1d4ed8"]], zmin=d_lo,
                    zmax=d_hi if d_hi > d_lo else d_lo + 1, showscale=False, hoverinfo="skip",
                    xgap=2, ygap=2, name="right")
    fig.add_heatmap(z=np.sqrt(np.where(off > 0, off, np.nan)), text=np.where(diag, "", text),
                    texttemplate="%{text}", colorscale=[[0, "#fee2e2"], [1, "#b91c1c"]],
                    zmin=0, zmax=hi, showscale=False,
                    hoverinfo="skip", xgap=2, ygap=2, name="mistakes")
    ii, jj = np.indices((k, k))  # ii = true, jj = predicted
    custom = np.stack([np.array(names)[ii].ravel(), np.array(names)[jj].ravel(),
                       counts.ravel().astype(str), np.char.mod("%.1f", row_pct.ravel())], axis=1)
    fig.add_scatter(x=jj.ravel(), y=ii.ravel(), mode="markers", customdata=custom,
                    marker=dict(symbol="square", size=max(10, min(44, 320 // k)),
                                color="rgba(0,0,0,0)"),
                    hovertemplate="true %{customdata[0]} · predicted %{customdata[1]}<br>"
                                  "%{customdata[2]} images (%{customdata[3]} % of the true "
                                  "%{customdata[0]})<extra>click to see them</extra>",
                    showlegend=False, name="cells")
    if highlight is not None:
        t, p = highlight
        fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                      line=dict(color="#111827", width=3))
    fig.update_xaxes(title="predicted", range=[-0.5, k - 0.5], **axis)
    fig.update_yaxes(title="true", range=[k - 0.5, -0.5], scaleanchor="x", constrain="domain",
                     **axis)  # row 0 on top
    what = "row %" if percent is not None else "counts"
    fig.update_layout(title=f"Confusion matrix ({what}; mistakes in red on a scale of their own)",
                      height=height, margin=dict(l=10, r=10, t=40, b=10),
                      template="plotly_white", plot_bgcolor="#f1f5f9")
    return fig


def class_counts(counts: Sequence[int], classes: Sequence[str],
                 title: str = "Images per class", height: int = 300) -> go.Figure:
    """How many items each class has, as bars."""
    fig = px.bar(x=[str(c) for c in classes], y=list(counts), text=[f"{int(c):,}" for c in counts],
                 color_discrete_sequence=["#2563eb"])
    fig.update_traces(textposition="outside")
    fig.update_xaxes(type="category")
    return _layout(fig, title, "class", "count", height)


def value_histogram(values: np.ndarray, counts: np.ndarray, title: str, x_title: str = "value",
                    height: int = 260, color: str = "#2563eb") -> go.Figure:
    """A histogram given as bin positions and their counts (one bar per value)."""
    fig = px.bar(x=np.asarray(values), y=np.asarray(counts), log_y=True,
                 color_discrete_sequence=[color])
    fig.update_traces(marker_line_width=0)
    fig.update_layout(bargap=0)
    return _layout(fig, title, x_title, "pixels (log)", height)


def image_values(img: np.ndarray, title: str, height: int = 260) -> go.Figure:
    """One 2-D image as a grey heatmap whose colour bar shows its value range."""
    fig = px.imshow(np.asarray(img), color_continuous_scale="gray")
    fig.update_traces(hovertemplate="%{z:.3f}<extra></extra>")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=30, b=0),
                      template="plotly_white", coloraxis_colorbar=dict(thickness=10, title=""))
    return fig


def toy_points(x: np.ndarray, y: np.ndarray, classes: Sequence[str], title: str = "",
               height: int = 420) -> go.Figure:
    """2-D points coloured by class."""
    names = np.array([f"class {c}" for c in classes])[np.asarray(y)]
    fig = px.scatter(x=x[:, 0], y=x[:, 1], color=names,
                     category_orders={"color": [f"class {c}" for c in classes]})
    fig.update_traces(marker=dict(size=5, opacity=0.8))
    fig.update_layout(legend_title_text="")
    fig.update_yaxes(scaleanchor="x")
    return _layout(fig, title, "x₁", "x₂", height)


def activation_grid(grid: np.ndarray, title: str = "", height: int = 320) -> go.Figure:
    """Tiled feature maps on a sequential scale (NaN padding stays blank)."""
    fig = px.imshow(grid, color_continuous_scale="Viridis")
    fig.update_traces(hoverinfo="skip", hovertemplate=None)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=height, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
                      template="plotly_white", coloraxis_showscale=False)
    return fig


def pictures(images: np.ndarray, scale: int = 3, border: int = 0) -> list[np.ndarray]:
    """uint8 images (N, C, H, W) as a list of (H*scale + 2*border, W*scale + 2*border[, 3])
    arrays, blown up with sharp pixels (a browser would blur a small image it enlarges) and
    framed in white (a gap between neighbours in a gallery)."""
    a = np.asarray(images)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), got {a.shape}")
    a = a.repeat(scale, axis=2).repeat(scale, axis=3)
    if border:
        a = np.pad(a, ((0, 0), (0, 0), (border, border), (border, border)), constant_values=255)
    return [im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0) for im in a]


def sweep_errorbars(agg: Sequence[dict], param: str, log_x: bool = False, dataset: str = "",
                    best=None) -> go.Figure:
    """A sweep's final test accuracy per value: every replicate a faint point, the mean with
    error bars of one sample std, the best value starred, the dataset's reference lines."""
    fig = go.Figure()
    if agg:
        fig.add_scatter(x=[a["value"] for a in agg for _ in a["values"]],
                        y=[v for a in agg for v in a["values"]], mode="markers",
                        name="replicates", marker=dict(color="rgba(37,99,235,0.35)", size=8))
        fig.add_scatter(x=[a["value"] for a in agg], y=[a["mean"] for a in agg],
                        error_y=dict(type="data", array=[a["std"] for a in agg], visible=True),
                        mode="lines+markers", name="mean ± std", line=dict(color="#2563eb"))
        top = next((a for a in agg if a["value"] == best), None)
        if top is not None:
            fig.add_scatter(x=[top["value"]], y=[top["mean"]], mode="markers",
                            name=f"best: {top['value']:g}",
                            marker=dict(symbol="star", size=18, color="#f59e0b"))
    for value, label in REFERENCES.get(dataset, []):
        fig.add_hline(y=value, line_dash="dot", line_color="#9ca3af", annotation_text=label,
                      annotation_position="bottom right")
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(tickformat=".1%")
    return _layout(fig, "Final test accuracy per value", param, "test accuracy", height=380)

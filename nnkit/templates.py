"""First-layer weights as images, tiled into one grid: pure NumPy (a tensor is accepted too).

No torch import: the Train page draws the live templates the training process sends as arrays.
"""

from __future__ import annotations

import math

import numpy as np


def _channel_last(w: np.ndarray, channels: int) -> np.ndarray:
    """(n, C, h, w) -> (n, h, w) for C == 1, (n, h, w, 3) for C == 3."""
    return w[:, 0] if channels == 1 else w.transpose(0, 2, 3, 1)


def _as_array(a) -> np.ndarray:
    """A float32 NumPy array from an array, or from a torch tensor on any device."""
    if hasattr(a, "detach"):  # a torch.Tensor (torch itself is not imported here)
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float32)


def templates_from_weight(weight, input_shape: tuple[int, int, int]) -> np.ndarray:
    """A first-layer weight, (units, C*H*W) dense or (out, C, kh, kw) conv, as images."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    c, h, w = input_shape
    if c not in (1, 3):
        raise ValueError(f"templates need 1 or 3 input channels, got input_shape {input_shape}")
    weight = _as_array(weight)
    if weight.ndim == 2:
        if weight.shape[1] != c * h * w:
            raise ValueError(f"first Linear layer takes {weight.shape[1]} inputs, but "
                             f"input_shape {tuple(input_shape)} has {c * h * w} values")
        # nn.Flatten of (N, C, H, W) is channel-major, so each row reshapes to (C, H, W)
        out = _channel_last(weight.reshape(-1, c, h, w), c)  # (units, H, W[, 3])
    elif weight.ndim == 4:
        if weight.shape[1] != c:
            raise ValueError(f"first Conv2d layer takes {weight.shape[1]} channels, but "
                             f"input_shape {tuple(input_shape)} has {c}")
        out = _channel_last(weight, c)  # (out_ch, kh, kw[, 3])
    else:
        raise ValueError(f"a first-layer weight is 2-D or 4-D, got shape {tuple(weight.shape)}")
    return np.ascontiguousarray(out, dtype=np.float32)


def template_grid(templates: np.ndarray, ncols: int | None = None, pad: int = 1,
                  per_tile_scale: bool = False) -> np.ndarray:
    """Tile templates (n, h, w[, 3]) into one float32 image with NaN padding between tiles.

    Tile i sits at row i // ncols, column i % ncols, its top-left corner at
    (row * (h + pad), col * (w + pad)); unused cells and padding are NaN. Values are kept as
    they are (one global scale) unless per_tile_scale divides each tile by its own max |value|.
    """
    t = np.asarray(templates, dtype=np.float32)
    if t.ndim not in (3, 4) or (t.ndim == 4 and t.shape[3] != 3):
        raise ValueError(f"templates must be (n, h, w) or (n, h, w, 3), got {t.shape}")
    n, h, w = t.shape[:3]
    if n == 0:
        raise ValueError("templates is empty")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    if per_tile_scale:
        flat = np.abs(t.reshape(n, -1))  # (n, h*w[*3])
        scale = np.nanmax(np.where(np.isnan(flat), 0.0, flat), axis=1)  # (n,)
        scale[scale == 0] = 1.0  # an all-zero tile stays zero
        t = t / scale.reshape((n,) + (1,) * (t.ndim - 1))
    extra = t.shape[3:]  # () or (3,)
    cells = np.full((nrows * ncols, h + pad, w + pad) + extra, np.nan, dtype=np.float32)
    cells[:n, :h, :w] = t
    # (rows, cols, h+pad, w+pad, ...) -> (rows, h+pad, cols, w+pad, ...) -> one image
    grid = cells.reshape((nrows, ncols, h + pad, w + pad) + extra).swapaxes(1, 2)
    grid = grid.reshape((nrows * (h + pad), ncols * (w + pad)) + extra)
    return grid[: grid.shape[0] - pad, : grid.shape[1] - pad]  # no padding after the last tile


def symmetric_limit(a) -> float:
    """Max |a| ignoring NaN, for a colour scale centred on zero (0.0 when nothing is finite)."""
    arr = _as_array(a)
    arr = np.abs(arr[np.isfinite(arr)])
    return float(arr.max()) if arr.size else 0.0

"""2-D toy classification datasets made locally from a seeded generator, and a plotting grid.

Every dataset is balanced (class counts differ by at most one), shuffled, and lives on a scale
of about one, so `noise` (the std of Gaussian jitter added to every point) means the same for
all of them. X is float32 (n, 2), y is int64 (n,).
"""

from __future__ import annotations

import numpy as np

TOY_NAMES = ("moons", "circles", "xor", "spiral", "gaussians")
_TWO_CLASS = ("moons", "circles", "xor")
CIRCLES_FACTOR = 0.5  # inner radius / outer radius, as sklearn's make_circles(factor=0.5)
SPIRAL_TURN = 4.0  # radians each arm winds from the centre to radius 1 (as CS231n's spiral)
BLOB_RADIUS = 1.0  # gaussians: blob centres sit evenly on a circle of this radius
BLOB_STD = 0.3  # gaussians: each blob's own spread, before `noise` is added


def _split(n: int, k: int) -> list[int]:
    """Split n into k counts as equal as possible, the larger ones first."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _moons(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    """Two interleaving half circles of radius 1: upper centred (0, 0), lower (1, 0.5)."""
    t0 = np.linspace(0.0, np.pi, counts[0])
    t1 = np.linspace(0.0, np.pi, counts[1])
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    return np.concatenate([upper, lower])


def _circles(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    """Outer circle of radius 1 (class 0) around an inner one of radius CIRCLES_FACTOR."""
    parts = []
    for radius, m in zip((1.0, CIRCLES_FACTOR), counts, strict=True):
        t = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return np.concatenate(parts)


def _xor(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    """Uniform points in the four unit quadrants; same-sign quadrants are class 0."""
    parts = []
    for quadrants, m in zip((((1, 1), (-1, -1)), ((1, -1), (-1, 1))), counts, strict=True):
        for signs, q in zip(quadrants, _split(m, 2), strict=True):
            parts.append(rng.uniform(0.0, 1.0, (q, 2)) * np.array(signs))
    return np.concatenate(parts)


def _spiral(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    """K arms winding out from the centre, arm k rotated by 2 pi k / K."""
    parts = []
    for k, m in enumerate(counts):
        r = np.linspace(0.0, 1.0, m)
        t = 2 * np.pi * k / len(counts) + SPIRAL_TURN * r
        parts.append(r[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1))
    return np.concatenate(parts)


def _gaussians(counts: list[int], rng: np.random.Generator) -> np.ndarray:
    """K round blobs of std BLOB_STD, centred evenly on a circle of radius BLOB_RADIUS."""
    parts = []
    for k, m in enumerate(counts):
        a = 2 * np.pi * k / len(counts)
        centre = BLOB_RADIUS * np.array([np.cos(a), np.sin(a)])
        parts.append(centre + rng.normal(0.0, BLOB_STD, (m, 2)))
    return np.concatenate(parts)


_MAKERS = {"moons": _moons, "circles": _circles, "xor": _xor, "spiral": _spiral,
           "gaussians": _gaussians}


def make_toy(name: str, n: int = 1000, noise: float = 0.2, seed: int = 0,
             classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A named 2-D dataset: X float32 (n, 2), y int64 (n,), balanced and shuffled."""
    if name not in _MAKERS:
        raise ValueError(f"unknown toy dataset {name!r}; valid names: {', '.join(TOY_NAMES)}")
    if name in _TWO_CLASS and classes not in (None, 2):
        raise ValueError(f"{name} has exactly 2 classes, got classes={classes}")
    k = 2 if name in _TWO_CLASS else (3 if classes is None else classes)
    if k < 2:
        raise ValueError(f"classes must be at least 2, got {classes}")
    if n < k:
        raise ValueError(f"n must be at least the number of classes ({k}), got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    counts = _split(n, k)
    x = _MAKERS[name](counts, rng)  # (n, 2), grouped by class
    y = np.repeat(np.arange(k), counts)  # (n,)
    if noise > 0:
        x = x + rng.normal(0.0, noise, x.shape)
    perm = rng.permutation(n)
    return x[perm].astype(np.float32), y[perm].astype(np.int64)


def data_bounds(x: np.ndarray, margin: float = 0.5) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) of points (N, 2), widened by margin on every side."""
    lo, hi = x.min(axis=0) - margin, x.max(axis=0) + margin
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def decision_grid(bounds: tuple[float, float, float, float], resolution: int = 100
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid over (x_min, x_max, y_min, y_max): xx, yy (R, R) and points float32 (R*R, 2)."""
    x_min, x_max, y_min, y_max = bounds
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution),
                         np.linspace(y_min, y_max, resolution))  # (R, R) each, rows = y
    points = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)  # (R*R, 2)
    return xx, yy, points

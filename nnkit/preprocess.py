"""Turn a canvas drawing into a 28x28 MNIST-like image, the way MNIST's digits were made.

Steps (each kept on `Preprocessed` so the UI can show them):
ink -> bounding-box crop -> anti-aliased scale so the longer side is 20 px -> paste into a 28x28
field with the intensity centre of mass on the field centre -> optional (x - mean) / std.

Coordinate convention: a position is (row, col) in pixel *indices*, pixel (i, j) sitting at
(i, j). The centre of an n-pixel field is therefore (n - 1) / 2, i.e. (13.5, 13.5) for 28x28,
the same point as 14.0 measured from the field's outer edge. MNIST shifted by whole pixels, so
after centring the centre of mass is within 0.5 px of it (unless clamping keeps the digit inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

FIELD_SIZE = 28  # MNIST image side
BOX_SIZE = 20  # MNIST fits each digit's bounding box into 20x20 before centring
INK_THRESHOLD = 0.05  # a pixel brighter than this counts as ink (bbox, blank test)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as PIL's "L" mode
CANVAS_BOX_SHARE = 0.7  # render_on_canvas: the 20x20 box spans this share of the canvas side


@dataclass(frozen=True)
class Preprocessed:
    """Every stage of preprocess_drawing, for display; model_input is what a model receives."""

    ink: np.ndarray  # (H, W) float32 in [0, 1], the whole canvas
    cropped: np.ndarray  # (h, w) float32, ink inside bbox; (0, 0) when blank
    scaled: np.ndarray  # (<=20, <=20) float32 in [0, 1], longer side 20; (0, 0) when blank
    centered: np.ndarray  # (28, 28) float32 in [0, 1]; zeros when blank
    model_input: np.ndarray  # (28, 28) float32, centered normalized if asked
    is_blank: bool  # no pixel above INK_THRESHOLD (or no drawing at all)
    ink_fraction: float  # share of canvas pixels above INK_THRESHOLD
    bbox: tuple[int, int, int, int] | None  # (top, left, bottom, right), bottom/right exclusive


def _round_half_up(x: float) -> int:
    """Round to the nearest int, halves upward (deterministic, unlike banker's rounding)."""
    return math.floor(x + 0.5)


def _unit_float(a: np.ndarray, name: str) -> np.ndarray:
    """Convert uint8 / bool / float data to float32 in [0, 1]; raise ValueError otherwise."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        return np.clip(a, 0.0, 1.0).astype(np.float32, copy=False)  # floats are taken as 0..1
    raise ValueError(f"{name} dtype must be uint8, bool or float in [0, 1], got {a.dtype}")


def ink_image(rgba: np.ndarray) -> np.ndarray:
    """Grey level of the ink, float32 (H, W) in [0, 1]: luminance composited over black."""
    a = np.asarray(rgba)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ValueError(
            f"drawing must have shape (H, W), (H, W, 3) or (H, W, 4), got {tuple(a.shape)}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"drawing must be at least 1x1, got shape {tuple(a.shape)}")
    x = _unit_float(a, "drawing")
    if x.ndim == 2:
        return np.ascontiguousarray(x)
    ink = x[..., :3] @ LUMA  # (H, W)
    if x.shape[2] == 4:
        ink *= x[..., 3]  # alpha 0 = nothing drawn there, whatever the RGB says
    return np.clip(ink, 0.0, 1.0)


def ink_bbox(ink: np.ndarray, threshold: float = INK_THRESHOLD) -> tuple[int, int, int, int] | None:
    """Bounding box (top, left, bottom, right) of pixels > threshold, exclusive; None if none."""
    mask = ink > threshold  # (H, W)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _resize(img: np.ndarray, height: int, width: int, resample: Image.Resampling) -> np.ndarray:
    """Resize a float image with PIL (mode "F") and clip the filter's ringing to [0, 1]."""
    out = Image.fromarray(np.ascontiguousarray(img, dtype=np.float32)).resize(
        (width, height), resample
    )
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)


def scale_to_box(cropped: np.ndarray, box: int = BOX_SIZE) -> np.ndarray:
    """Scale so the longer side is exactly `box` px, keeping the aspect ratio (Lanczos)."""
    h, w = cropped.shape
    if h == 0 or w == 0:
        raise ValueError(f"cannot scale an empty image of shape {(h, w)}")
    factor = box / max(h, w)
    new_h = max(1, min(box, _round_half_up(h * factor)))
    new_w = max(1, min(box, _round_half_up(w * factor)))
    return _resize(cropped, new_h, new_w, Image.Resampling.LANCZOS)


def center_of_mass(img: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted (row, col) in pixel indices; the geometric centre if img is all zero."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"center_of_mass needs a 2-D image, got shape {tuple(img.shape)}")
    h, w = img.shape
    total = img.sum()
    if total <= 0:
        return (h - 1) / 2, (w - 1) / 2
    row = float(img.sum(axis=1) @ np.arange(h)) / total  # (h,) . (h,)
    col = float(img.sum(axis=0) @ np.arange(w)) / total  # (w,) . (w,)
    return row, col


def center_by_mass(img20: np.ndarray, size: int = FIELD_SIZE) -> np.ndarray:
    """Paste img into a size x size zero field, its centre of mass on the field centre.

    Whole-pixel shift (rounded, halves up) as MNIST did, clamped so the image stays in the field.
    """
    img = np.asarray(img20, dtype=np.float32)
    if img.ndim != 2 or img.shape[0] > size or img.shape[1] > size:
        raise ValueError(f"image must be 2-D and at most {size}x{size}, got {tuple(img.shape)}")
    h, w = img.shape
    row, col = center_of_mass(img)
    centre = (size - 1) / 2
    top = min(max(_round_half_up(centre - row), 0), size - h)
    left = min(max(_round_half_up(centre - col), 0), size - w)
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + h, left : left + w] = img
    return field


def _normalized(x: np.ndarray, mean: float, std: float, normalize: bool) -> np.ndarray:
    """(x - mean) / std as float32 when normalize, else a float32 copy of x."""
    if not normalize:
        return x.astype(np.float32, copy=True)
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    return ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)


def preprocess_drawing(
    rgba: np.ndarray | None,
    mean: float = 0.1307,
    std: float = 0.3081,
    normalize: bool = True,
) -> Preprocessed:
    """Crop, fit in 20x20, centre by mass in 28x28, normalize; blank (None, no ink) never raises."""
    if normalize and not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    empty = np.zeros((0, 0), dtype=np.float32)
    centered = np.zeros((FIELD_SIZE, FIELD_SIZE), dtype=np.float32)
    ink = empty if rgba is None else ink_image(rgba)  # (H, W)
    bbox = None if rgba is None else ink_bbox(ink)
    if bbox is None:
        return Preprocessed(
            ink=ink,
            cropped=empty,
            scaled=empty,
            centered=centered,
            model_input=_normalized(centered, mean, std, normalize),
            is_blank=True,
            ink_fraction=0.0,
            bbox=None,
        )
    top, left, bottom, right = bbox
    cropped = ink[top:bottom, left:right].copy()  # (h, w)
    scaled = scale_to_box(cropped)  # (<=20, <=20), longer side 20
    centered = center_by_mass(scaled)  # (28, 28)
    return Preprocessed(
        ink=ink,
        cropped=cropped,
        scaled=scaled,
        centered=centered,
        model_input=_normalized(centered, mean, std, normalize),
        is_blank=False,
        ink_fraction=float(np.count_nonzero(ink > INK_THRESHOLD)) / ink.size,
        bbox=bbox,
    )


def naive_resize(
    rgba: np.ndarray | None,
    mean: float = 0.1307,
    std: float = 0.3081,
    normalize: bool = True,
) -> np.ndarray:
    """The whole canvas squeezed to 28x28, no crop or centring: what skipping preprocessing does."""
    if rgba is None:
        small = np.zeros((FIELD_SIZE, FIELD_SIZE), dtype=np.float32)
    else:
        small = _resize(ink_image(rgba), FIELD_SIZE, FIELD_SIZE, Image.Resampling.LANCZOS)
    return _normalized(small, mean, std, normalize)  # (28, 28)


def render_on_canvas(
    digit28: np.ndarray,
    canvas_size: int = 280,
    scale: float = 1.0,
    shift: tuple[int, int] = (0, 0),
    stroke: int = 0,
) -> np.ndarray:
    """Draw a 28x28 digit as a user would: RGBA uint8 (canvas_size, canvas_size, 4), white on black.

    The digit's 20x20 box spans scale * 0.7 * canvas_size px; its field centre lands on the canvas
    centre plus shift (row, col) px, clamped so the ink stays on the canvas. stroke > 0 thickens
    the ink by a MaxFilter of size 2 * stroke + 1, stroke < 0 thins it by a MinFilter.
    """
    digit = np.asarray(digit28)
    if digit.ndim != 2:
        raise ValueError(f"digit must be a 2-D image, got shape {tuple(digit.shape)}")
    if canvas_size < 1:
        raise ValueError(f"canvas_size must be positive, got {canvas_size}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    d = _unit_float(digit, "digit")  # (28, 28) in [0, 1]
    grey = np.zeros((canvas_size, canvas_size), dtype=np.float32)
    bbox = ink_bbox(d, threshold=0.0)
    if bbox is not None:
        top, left, bottom, right = bbox
        crop = d[top:bottom, left:right]  # only the ink is upscaled, so nothing outside matters
        factor = scale * CANVAS_BOX_SHARE * canvas_size / BOX_SIZE
        factor = min(factor, canvas_size / max(crop.shape))  # a huge scale still fits the canvas
        h = max(1, min(canvas_size, _round_half_up(crop.shape[0] * factor)))
        w = max(1, min(canvas_size, _round_half_up(crop.shape[1] * factor)))
        big = _resize(crop, h, w, Image.Resampling.BICUBIC)  # (h, w), smooth like a pen stroke
        # the field centre (14.0 from the edge, continuous coordinates) goes to canvas centre
        y = _round_half_up(canvas_size / 2 + (top - d.shape[0] / 2) * factor + shift[0])
        x = _round_half_up(canvas_size / 2 + (left - d.shape[1] / 2) * factor + shift[1])
        y = min(max(y, 0), canvas_size - h)
        x = min(max(x, 0), canvas_size - w)
        grey[y : y + h, x : x + w] = big
    im = Image.fromarray(np.round(grey * 255).astype(np.uint8))  # mode "L"
    if stroke > 0:
        im = im.filter(ImageFilter.MaxFilter(2 * stroke + 1))
    elif stroke < 0:
        im = im.filter(ImageFilter.MinFilter(2 * -stroke + 1))
    g = np.asarray(im)  # (canvas_size, canvas_size) uint8
    alpha = np.full_like(g, 255)  # the canvas paints its black background, so alpha is 255
    return np.stack([g, g, g, alpha], axis=-1)  # (canvas_size, canvas_size, 4)


def render_strokes(strokes, canvas_size: int = 280, size: float = 0.7,
                   offset: tuple[int, int] = (0, 0), width: int = 20,
                   jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """Mouse strokes as the canvas draws them: RGBA uint8 (canvas_size, canvas_size, 4), white
    round-capped lines on black. Each stroke is a list of (x, y) points in [0, 1], scaled to
    size * canvas_size px around the centre plus offset (x, y) px; jitter adds a hand's
    wobble (px, normal)."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    img = Image.new("L", (canvas_size, canvas_size), 0)
    pen = ImageDraw.Draw(img)
    side = size * canvas_size
    x0, y0 = (canvas_size - side) / 2 + offset[0], (canvas_size - side) / 2 + offset[1]
    for stroke in strokes:
        pts = [(x0 + x * side + rng.normal(0, jitter), y0 + y * side + rng.normal(0, jitter))
               for x, y in stroke]
        pen.line(pts, fill=255, width=width, joint="curve")
        for px, py in (pts[0], pts[-1]):  # round caps, as the canvas's brush
            pen.ellipse([px - width / 2, py - width / 2, px + width / 2, py + width / 2], fill=255)
    grey = np.asarray(img)
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])

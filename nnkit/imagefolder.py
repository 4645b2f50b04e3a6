"""Reading an ImageFolder (one folder per class) from a folder or a zip, safely, and decoding
its images to one size and mode (Pillow + NumPy, no torch).

A zip is untrusted bytes: its members are checked before anything is read (count, sizes,
compression ratio, paths that climb out, absolute paths, links), read one at a time with a cap,
and never extracted to disk.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from nnkit.datainfo import DataError

MB = 1024 * 1024


def mb(n: float) -> str:
    """Bytes as megabytes for a message: 0.2 MB, 3.5 MB, 500 MB."""
    return f"{n / MB:,.1f} MB" if n < 10 * MB else f"{n / MB:,.0f} MB"


JUNK = {"__MACOSX", "Thumbs.db", "desktop.ini"}  # what zip tools and file managers add


class UserDataError(DataError, ValueError):
    """An ImageFolder that cannot be added; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 50 * MB  # a zip's own size (the Data page's upload cap too)
    max_total_bytes: int = 500 * MB  # everything it unpacks to, all members together
    max_ratio: float = 200.0  # a member's unpacked size over its packed size (a zip bomb's tell)
    max_members: int = 100_000  # entries in a zip, files in a folder
    max_file_bytes: int = 20 * MB  # one image file
    max_pixels: int = 25_000_000  # one image's width x height before it is decoded
    max_name_chars: int = 60  # a class folder's name


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Entry:
    label: str  # the class: its folder's name
    path: str  # where it is, for messages
    read: Callable[[], bytes]


def _parts(name: str) -> list[str]:
    """A member's path as its folders and file name; UserDataError for `..`, absolute paths."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UserDataError(f"the zip holds an absolute path ({name!r}); zip the class folders "
                            "themselves")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UserDataError(f"the zip holds a path that climbs out of its folder ({name!r}); "
                            "nothing was added")
    return parts


def _is_junk(parts: list[str]) -> bool:
    return any(p.startswith(".") or p in JUNK for p in parts)


def _classify(files: list[tuple[list[str], str, Callable[[], bytes]]],
              limits: Limits) -> tuple[list[Entry], int]:
    """Entries by class folder (a single enclosing folder is looked through), and how many
    files lay outside any class folder."""
    files = [f for f in files if not _is_junk(f[0])]
    while files and all(len(p) >= 3 for p, _, _ in files) and len({p[0] for p, _, _ in files}) == 1:
        files = [(p[1:], shown, read) for p, shown, read in files]  # the folder that was zipped
    entries, outside = [], 0
    for parts, shown, read in files:
        if len(parts) < 2:
            outside += 1
            continue
        label = parts[0]
        if len(label) > limits.max_name_chars or any(ord(ch) < 32 for ch in label):
            raise UserDataError(f"class folder names must be at most {limits.max_name_chars} "
                                f"printable characters (got {label[:limits.max_name_chars]!r}…)")
        entries.append(Entry(label, shown, read))
    return entries, outside


def zip_entries(zf: zipfile.ZipFile, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Entry], int]:
    """A zip's images by class, after every member passed the checks; UserDataError else."""
    members = zf.infolist()
    if len(members) > limits.max_members:
        raise UserDataError(f"the zip has {len(members):,} entries, more than the cap of "
                            f"{limits.max_members:,}")
    total = sum(m.file_size for m in members)
    if total > limits.max_total_bytes:
        raise UserDataError(f"the zip would unpack to {mb(total)}, more than the cap of "
                            f"{mb(limits.max_total_bytes)}")
    files = []
    for m in members:
        parts = _parts(m.filename)
        kind = stat.S_IFMT(m.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise UserDataError(f"the zip holds a link ({m.filename!r}); links are not "
                                "followed: zip the images themselves")
        if m.is_dir() or not parts:
            continue
        if m.flag_bits & 0x1:
            raise UserDataError(f"{m.filename!r} is encrypted; zip the images without a password")
        if m.file_size > limits.max_ratio * max(m.compress_size, 1) and m.file_size > MB:
            ratio = m.file_size / max(m.compress_size, 1)
            raise UserDataError(f"{m.filename!r} unpacks {ratio:,.0f} times larger than it is "
                                f"packed (the cap is "
                                f"{limits.max_ratio:g}): refused as a possible zip bomb")
        if m.file_size > limits.max_file_bytes:
            raise UserDataError(f"{m.filename!r} is {mb(m.file_size)}, more than the cap of "
                                f"{mb(limits.max_file_bytes)} for one image")
        # zipfile returns at most the declared (checked) size, and fails its CRC past it
        files.append((parts, m.filename, functools.partial(zf.read, m)))
    return _classify(files, limits)


def folder_entries(folder: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Entry], int]:
    """A folder's images by class (links refused, not followed); UserDataError else."""
    files, total = [], 0
    for here, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(dirs) + sorted(names):
            path = Path(here) / name
            if path.is_symlink():
                raise UserDataError(f"{path} is a link; links are not followed: copy the "
                                    "images into the folder")
        for name in names:
            path = Path(here) / name
            size = path.stat().st_size
            total += size
            if len(files) >= limits.max_members or total > limits.max_total_bytes:
                raise UserDataError(f"{folder} holds more than {limits.max_members:,} files or "
                                    f"{mb(limits.max_total_bytes)}; use a smaller set")
            if size > limits.max_file_bytes:
                raise UserDataError(f"{path} is {mb(size)}, more than the cap of "
                                    f"{mb(limits.max_file_bytes)} for one image")
            parts = list(path.relative_to(folder).parts)
            files.append((parts, str(path), path.read_bytes))
    return _classify(files, limits)


def _flatten(im: Image.Image, mode: str) -> Image.Image:
    """Any Pillow mode as `mode` ("L" or "RGB"): 16-bit scaled, transparency over white."""
    if im.mode.startswith("I;16"):
        im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257).astype(np.uint8), "L")
    elif im.mode in ("I", "F"):
        im = Image.fromarray(np.asarray(im, dtype=np.float64).clip(0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im.convert("RGBA"))
    return im.convert(mode)


def decode(raw: bytes, shape: tuple[int, int, int], limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """One image file as uint8 (C, H, W): scaled to cover H x W and centre-cropped.
    ValueError (or OSError) when it is not an image Pillow can read."""
    c, h, w = shape
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > limits.max_pixels:
                raise ValueError(f"{im.width}x{im.height} pixels, more than the cap")
            im.load()
            im = ImageOps.exif_transpose(im) or im
            im = _flatten(im, "L" if c == 1 else "RGB")
            im = ImageOps.fit(im, (w, h), Image.Resampling.LANCZOS)
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if c == 1 else a.transpose(2, 0, 1)  # (C, H, W)

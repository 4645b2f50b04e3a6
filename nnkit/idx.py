"""The IDX file format of MNIST (big-endian dims, magic 0x0803 images / 0x0801 labels)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_UBYTE = 0x08


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array (N,) or (N, H, W) as an IDX file."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX writer takes uint8 arrays, got {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, _UBYTE, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(array).tobytes())
    tmp.replace(path)


def _dims(path: Path, head: bytes, size: int) -> tuple[int, ...]:
    """The dims in an IDX header, checked against the magic number and the file's size."""
    if len(head) < 4:
        raise ValueError(f"{path}: too short to be an IDX file")
    zero1, zero2, dtype, ndim = struct.unpack(">BBBB", head[:4])
    if zero1 or zero2 or dtype != _UBYTE or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: not a uint8 IDX file (magic {head[:4].hex()})")
    if len(head) < 4 + 4 * ndim:
        raise ValueError(f"{path}: too short to be an IDX file")
    dims = struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])
    body = size - 4 - 4 * ndim
    if body != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but the file holds {body} bytes")
    return dims


def read_idx_dims(path: Path) -> tuple[int, ...]:
    """The dims of a uint8 IDX file, checking its magic number and size without reading it."""
    with open(path, "rb") as f:
        head = f.read(4 + 4 * 4)
        size = f.seek(0, 2)
    return _dims(path, head, size)


def read_idx(path: Path) -> np.ndarray:
    """Read a uint8 IDX file, checking its magic number and size."""
    data = Path(path).read_bytes()
    dims = _dims(path, data[:20], len(data))
    return np.frombuffer(data[4 + 4 * len(dims) :], dtype=np.uint8).reshape(dims)

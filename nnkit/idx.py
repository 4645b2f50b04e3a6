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


def read_idx(path: Path) -> np.ndarray:
    """Read a uint8 IDX file, checking its magic number and size."""
    data = Path(path).read_bytes()
    if len(data) < 4:
        raise ValueError(f"{path}: too short to be an IDX file")
    zero1, zero2, dtype, ndim = struct.unpack(">BBBB", data[:4])
    if zero1 or zero2 or dtype != _UBYTE or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: not a uint8 IDX file (magic {data[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)

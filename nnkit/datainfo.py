"""What each dataset is: its name, input shape, classes and normalization (no torch).

`nnkit.data` holds the bytes; this is what the pages and the config checks need to know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nnkit import paths, toy


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    input_shape: tuple[int, ...]  # (C, H, W) for images, (2,) for toy sets
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, on the [0, 1] scale
    std: tuple[float, ...]
    kind: str  # "image" | "toy"
    source: str = "builtin"  # "builtin" | "user" (added from an ImageFolder, nnkit.userdata)
    sizes: tuple[int, ...] = ()  # (train, test) images when known (user datasets)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")
CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST digits", (1, 28, 28), DIGITS, (0.1307,), (0.3081,),
                         "image"),
    "fashion-mnist": DatasetInfo("fashion-mnist", "Fashion-MNIST", (1, 28, 28), FASHION,
                                 (0.2860,), (0.3530,), "image"),
    "cifar10": DatasetInfo("cifar10", "CIFAR-10", (3, 32, 32), CIFAR,
                           (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "image"),
}
_TOY_CLASSES = {"moons": 2, "circles": 2, "xor": 2, "spiral": 3, "gaussians": 3}
for _name in toy.TOY_NAMES:
    DATASETS[_name] = DatasetInfo(_name, f"toy 2-D: {_name}", (2,),
                                  tuple(str(i) for i in range(_TOY_CLASSES.get(_name, 2))),
                                  (0.0,), (1.0,), "toy")


class DataError(Exception):
    """A dataset could not be found, fetched or read; the message says what to do."""


USER_FOLDER = "user"  # user datasets live in <data folder>/user/<name>/
META = "dataset.json"


def user_root(root: str | Path | None = None) -> Path:
    """The folder that holds the user datasets (one folder each)."""
    return Path(root or paths.data_dir()) / USER_FOLDER


_cache: dict[Path, tuple[int, DatasetInfo | None]] = {}  # meta file -> (mtime_ns, info)


def _read_meta(path: Path) -> DatasetInfo | None:
    """A user dataset's description from its JSON (None when unreadable), cached by mtime."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    if path in _cache and _cache[path][0] == stamp:
        return _cache[path][1]
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        found = DatasetInfo(str(m["name"]), str(m["title"]),
                            tuple(int(v) for v in m["input_shape"]),
                            tuple(str(c) for c in m["classes"]), tuple(map(float, m["mean"])),
                            tuple(map(float, m["std"])), "image", "user",
                            (sum(m["train_counts"]), sum(m["test_counts"])))
    except (OSError, ValueError, KeyError, TypeError):
        found = None
    if found is not None and found.name != path.parent.name:
        found = None  # a folder renamed by hand: its runs would not find it
    _cache[path] = (stamp, found)
    return found


def user_datasets(root: str | Path | None = None) -> dict[str, DatasetInfo]:
    """The user datasets in the data folder, by name (folders that fail to read are left out)."""
    base = user_root(root)
    if not base.is_dir():
        return {}
    found = {}
    for folder in sorted(base.iterdir()):
        if folder.name.startswith(".") or folder.name in DATASETS:
            continue
        ds = _read_meta(folder / META)
        if ds is not None:
            found[ds.name] = ds
    return found


def names(root: str | Path | None = None) -> list[str]:
    """Every dataset's name: the built-in ones, then the user's."""
    return [*DATASETS, *user_datasets(root)]


def info(name: str, root: str | Path | None = None) -> DatasetInfo:
    """The dataset's description, or DataError naming the valid ones."""
    if name in DATASETS:
        return DATASETS[name]
    ds = _read_meta(user_root(root) / name / META) if _plain_name(name) else None
    if ds is None:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(names(root))}")
    return ds


def _plain_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name

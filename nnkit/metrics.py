"""Classification metrics from predicted and true labels, built on bincount.

Functional style (as torchmetrics' functional API): plain tensors in, tensors or floats out.
The confusion matrix has rows = true label, columns = predicted label. Every ratio whose
denominator is zero (a class never predicted, never present) is reported as 0.0, not NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_labels(name: str, x: Tensor, num_classes: int) -> None:
    """Raise ValueError unless x is a 1-D integer tensor with values in [0, num_classes)."""
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {tuple(x.shape)}")
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices, got dtype {x.dtype}")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= num_classes):
        raise ValueError(f"{name} has values outside [0, {num_classes}): "
                         f"min {int(x.min())}, max {int(x.max())}")


def _check_num_classes(num_classes: int) -> None:
    """Raise ValueError unless num_classes is a positive int."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def _check_cm(cm: Tensor) -> None:
    """Raise ValueError unless cm is a square 2-D matrix."""
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square 2-D, got shape {tuple(cm.shape)}")


def confusion_matrix(preds: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Count (true, predicted) pairs: int64 (num_classes, num_classes), rows = true label."""
    _check_num_classes(num_classes)
    _check_labels("preds", preds, num_classes)
    _check_labels("target", target, num_classes)
    if preds.shape != target.shape:
        raise ValueError(f"preds and target must have the same shape, got {tuple(preds.shape)} "
                         f"and {tuple(target.shape)}")
    flat = target.long() * num_classes + preds.long()  # (N,) one cell index per pair
    counts = torch.bincount(flat.cpu(), minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def accuracy(preds: Tensor, target: Tensor) -> float:
    """Fraction of preds equal to target (0.0 for no items)."""
    if preds.shape != target.shape:
        raise ValueError(f"preds and target must have the same shape, got {tuple(preds.shape)} "
                         f"and {tuple(target.shape)}")
    if target.numel() == 0:
        return 0.0
    return float((preds == target).sum()) / target.numel()


def per_class_report(cm: Tensor) -> dict[str, list[float]]:
    """Precision, recall, f1 and support per class from a confusion matrix (0/0 -> 0.0)."""
    _check_cm(cm)
    cm = cm.double()
    tp = cm.diagonal()  # (K,)
    predicted = cm.sum(dim=0)  # (K,) column sums: how often each class was predicted
    support = cm.sum(dim=1)  # (K,) row sums: how often each class truly occurs

    def ratio(num: Tensor, den: Tensor) -> Tensor:
        return torch.where(den > 0, num / den.clamp(min=1e-300), torch.zeros_like(num))

    precision = ratio(tp, predicted)
    recall = ratio(tp, support)
    f1 = ratio(2 * precision * recall, precision + recall)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
    }


def row_normalize(cm: Tensor) -> Tensor:
    """Each row as percent of its total, float32 (rows with no support stay all zeros)."""
    _check_cm(cm)
    cm = cm.double()
    totals = cm.sum(dim=1, keepdim=True)  # (K, 1)
    pct = torch.where(totals > 0, 100.0 * cm / totals.clamp(min=1e-300), torch.zeros_like(cm))
    return pct.float()


def most_confused_pairs(cm: Tensor, k: int = 10) -> list[tuple[int, int, int]]:
    """Up to k off-diagonal (true, predicted, count), count > 0, by count desc then (true, pred)."""
    _check_cm(cm)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    n = cm.shape[0]
    off = cm.long().clone()
    off.fill_diagonal_(0)
    flat = off.flatten()  # (K*K,) row-major, so index order == (true, pred) order
    # a stable descending sort keeps ties in (true, pred) ascending order
    order = torch.sort(flat, descending=True, stable=True).indices
    pairs = []
    for idx in order[:k].tolist():
        count = int(flat[idx])
        if count <= 0:
            break
        pairs.append((idx // n, idx % n, count))
    return pairs


def mistake_indices(preds: Tensor, target: Tensor, probs: Tensor, true_label: int | None = None,
                    pred_label: int | None = None) -> Tensor:
    """Indices with the given true/predicted label (None = any), most confident first.

    Confidence is probs[i, preds[i]]; ties keep index order. With true_label == pred_label the
    items are correct ones; with both None, every item is returned.
    """
    if preds.ndim != 1 or preds.shape != target.shape:
        raise ValueError(f"preds and target must be 1-D of the same shape, got "
                         f"{tuple(preds.shape)} and {tuple(target.shape)}")
    if probs.ndim != 2 or probs.shape[0] != preds.shape[0]:
        raise ValueError(f"probs must be (N, num_classes) with N = {preds.shape[0]}, "
                         f"got {tuple(probs.shape)}")
    num_classes = probs.shape[1]
    _check_labels("preds", preds, num_classes)
    _check_labels("target", target, num_classes)
    keep = torch.ones_like(preds, dtype=torch.bool)  # (N,)
    if true_label is not None:
        keep &= target == true_label
    if pred_label is not None:
        keep &= preds == pred_label
    idx = keep.nonzero().flatten()  # (M,) ascending
    confidence = probs[idx, preds[idx].long()]  # (M,)
    order = torch.sort(confidence, descending=True, stable=True).indices
    return idx[order]


def class_histogram(labels: Tensor, num_classes: int) -> Tensor:
    """How many items carry each label: int64 (num_classes,)."""
    _check_num_classes(num_classes)
    _check_labels("labels", labels, num_classes)
    return torch.bincount(labels.long().cpu(), minlength=num_classes)

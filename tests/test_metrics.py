"""Metrics against trusted references: plain Python loops and hand-worked examples."""

from __future__ import annotations

import pytest
import torch

from nnkit.metrics import (
    accuracy,
    class_histogram,
    confusion_matrix,
    mistake_indices,
    most_confused_pairs,
    per_class_report,
    row_normalize,
)

N_ITEMS = 1000
NUM_CLASSES = 10
ATOL = 1e-9

# Hand-worked: 3 classes present plus a 4th never seen nor predicted.
TARGET6 = torch.tensor([0, 0, 1, 1, 2, 2])
PREDS6 = torch.tensor([0, 1, 1, 1, 0, 2])
CM6 = torch.tensor([[1, 1, 0, 0],
                    [0, 2, 0, 0],
                    [1, 0, 1, 0],
                    [0, 0, 0, 0]])


def _random_pairs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, NUM_CLASSES, (N_ITEMS,), generator=g)
    # mostly right, sometimes wrong, so both diagonal and off-diagonal cells are filled
    noise = torch.randint(0, NUM_CLASSES, (N_ITEMS,), generator=g)
    wrong = torch.rand(N_ITEMS, generator=g) < 0.3
    preds = torch.where(wrong, noise, target)
    return preds, target


def _reference_cm(preds: list[int], target: list[int], k: int) -> list[list[int]]:
    pairs = list(zip(preds, target, strict=True))
    return [[sum(1 for p, t in pairs if t == i and p == j) for j in range(k)] for i in range(k)]


def test_confusion_matrix_matches_python_double_loop():
    preds, target = _random_pairs()
    cm = confusion_matrix(preds, target, NUM_CLASSES)
    assert cm.dtype == torch.int64
    assert cm.shape == (NUM_CLASSES, NUM_CLASSES)
    assert cm.tolist() == _reference_cm(preds.tolist(), target.tolist(), NUM_CLASSES)
    assert int(cm.sum()) == N_ITEMS


def test_confusion_matrix_hand_worked():
    assert confusion_matrix(PREDS6, TARGET6, 4).tolist() == CM6.tolist()


def test_confusion_matrix_rows_are_true_labels():
    cm = confusion_matrix(torch.tensor([2]), torch.tensor([0]), 3)
    assert cm[0, 2] == 1 and int(cm.sum()) == 1


def test_confusion_matrix_accumulates_per_batch():
    preds, target = _random_pairs(seed=1)
    whole = confusion_matrix(preds, target, NUM_CLASSES)
    bounds = [0, 1, 128, 300, 301, 999, N_ITEMS]  # uneven batches, one of size 1
    total = torch.zeros_like(whole)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        total += confusion_matrix(preds[a:b], target[a:b], NUM_CLASSES)
    assert torch.equal(total, whole)


def test_confusion_matrix_shuffle_invariant():
    preds, target = _random_pairs(seed=2)
    perm = torch.randperm(N_ITEMS, generator=torch.Generator().manual_seed(3))
    assert torch.equal(confusion_matrix(preds[perm], target[perm], NUM_CLASSES),
                       confusion_matrix(preds, target, NUM_CLASSES))


def test_confusion_matrix_empty_is_zeros():
    empty = torch.zeros(0, dtype=torch.int64)
    assert torch.equal(confusion_matrix(empty, empty, 3), torch.zeros(3, 3, dtype=torch.int64))


@pytest.mark.parametrize(("preds", "target", "num_classes", "match"), [
    (torch.tensor([0, 1]), torch.tensor([0, 1, 1]), 3, "same shape"),
    (torch.tensor([0, 3]), torch.tensor([0, 1]), 3, r"preds has values outside \[0, 3\)"),
    (torch.tensor([0, 1]), torch.tensor([-1, 1]), 3, r"target has values outside"),
    (torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 3, "integer class indices"),
    (torch.tensor([[0, 1]]), torch.tensor([[0, 1]]), 3, "1-D"),
    (torch.tensor([0, 1]), torch.tensor([0, 1]), 0, "num_classes must be a positive int"),
])
def test_confusion_matrix_errors(preds, target, num_classes, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(preds, target, num_classes)


def test_accuracy():
    assert accuracy(PREDS6, TARGET6) == pytest.approx(4 / 6, abs=ATOL)
    preds, target = _random_pairs()
    expected = sum(p == t for p, t in zip(preds.tolist(), target.tolist(), strict=True)) / N_ITEMS
    assert accuracy(preds, target) == pytest.approx(expected, abs=ATOL)
    assert accuracy(torch.zeros(0), torch.zeros(0)) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        accuracy(torch.tensor([1]), torch.tensor([1, 2]))


def test_per_class_report_hand_worked():
    report = per_class_report(CM6)
    # precision = tp / column sum, recall = tp / row sum; class 3 has 0/0 everywhere -> 0.0
    assert report["precision"] == pytest.approx([1 / 2, 2 / 3, 1.0, 0.0], abs=ATOL)
    assert report["recall"] == pytest.approx([1 / 2, 1.0, 1 / 2, 0.0], abs=ATOL)
    assert report["f1"] == pytest.approx([1 / 2, 4 / 5, 2 / 3, 0.0], abs=ATOL)
    assert report["support"] == [2.0, 2.0, 2.0, 0.0]


def test_per_class_report_predicted_never_present():
    # class 1 is predicted once but never true: precision 0/1 = 0, recall 0/0 = 0
    report = per_class_report(torch.tensor([[1, 1], [0, 0]]))
    assert report["precision"] == pytest.approx([1.0, 0.0], abs=ATOL)
    assert report["recall"] == pytest.approx([0.5, 0.0], abs=ATOL)
    assert report["f1"] == pytest.approx([2 / 3, 0.0], abs=ATOL)


def test_per_class_report_rejects_non_square():
    with pytest.raises(ValueError, match="square"):
        per_class_report(torch.zeros(2, 3))


def test_row_normalize():
    pct = row_normalize(CM6)
    assert pct.dtype == torch.float32
    expected = torch.tensor([[50.0, 50, 0, 0], [0, 100, 0, 0], [50, 0, 50, 0], [0, 0, 0, 0]])
    torch.testing.assert_close(pct, expected, atol=1e-5, rtol=0)


MANUAL_CM = torch.tensor([[50, 3, 0, 1],
                          [3, 70, 2, 0],
                          [0, 4, 90, 3],
                          [1, 0, 0, 20]])


def test_most_confused_pairs_hand_built():
    expected = [(2, 1, 4), (0, 1, 3), (1, 0, 3), (2, 3, 3), (1, 2, 2), (0, 3, 1), (3, 0, 1)]
    assert most_confused_pairs(MANUAL_CM, k=3) == expected[:3]
    assert most_confused_pairs(MANUAL_CM, k=100) == expected  # zero counts left out
    assert most_confused_pairs(MANUAL_CM, k=0) == []
    assert most_confused_pairs(torch.eye(3, dtype=torch.int64) * 5) == []
    with pytest.raises(ValueError, match="k must be >= 0"):
        most_confused_pairs(MANUAL_CM, k=-1)


def test_mistake_indices():
    target = torch.tensor([3, 3, 3, 1, 3, 1])
    preds = torch.tensor([5, 5, 3, 1, 5, 5])
    probs = torch.zeros(6, 6)
    probs[torch.arange(6), preds] = torch.tensor([0.6, 0.9, 0.8, 0.7, 0.6, 0.95])
    # true 3 predicted 5: items 0, 1, 4; item 1 most confident; 0 and 4 tie -> index order
    assert mistake_indices(preds, target, probs, 3, 5).tolist() == [1, 0, 4]
    assert mistake_indices(preds, target, probs, pred_label=5).tolist() == [5, 1, 0, 4]
    assert mistake_indices(preds, target, probs, true_label=1).tolist() == [5, 3]
    assert mistake_indices(preds, target, probs, 3, 3).tolist() == [2]  # correct ones
    assert mistake_indices(preds, target, probs).tolist() == [5, 1, 2, 3, 0, 4]
    assert mistake_indices(preds, target, probs, 0, 2).tolist() == []
    with pytest.raises(ValueError, match=r"probs must be \(N, num_classes\)"):
        mistake_indices(preds, target, probs[:3])


def test_class_histogram_matches_loop():
    _, target = _random_pairs()
    expected = [sum(1 for t in target.tolist() if t == c) for c in range(NUM_CLASSES)]
    hist = class_histogram(target, NUM_CLASSES)
    assert hist.dtype == torch.int64 and hist.tolist() == expected
    assert class_histogram(torch.tensor([1, 1]), 4).tolist() == [0, 2, 0, 0]
    with pytest.raises(ValueError, match="labels has values outside"):
        class_histogram(torch.tensor([4]), 4)

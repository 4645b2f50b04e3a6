import pytest
import torch

from nnkit.training.palindrome import (
    PalindromeRNN,
    accuracy_vs_length,
    make_palindromes,
    train_palindrome,
)

N = 200  # sequences per generated set


@pytest.mark.parametrize("length", [2, 3, 6, 11])
def test_generator_shapes_and_palindromes(length):
    x, y = make_palindromes(N, length, seed=1)
    assert x.shape == (N, length - 1) and x.dtype == torch.int64
    assert y.shape == (N,) and y.dtype == torch.int64
    full = torch.cat([x, y[:, None]], dim=1)  # (N, length)
    assert torch.equal(full, full.flip(1))
    assert torch.equal(y, x[:, 0])
    assert int(full.min()) >= 0 and int(full.max()) <= 9


def test_generator_determinism_and_variety():
    x1, y1 = make_palindromes(N, 7, seed=3)
    x2, y2 = make_palindromes(N, 7, seed=3)
    x3, _ = make_palindromes(N, 7, seed=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert len(torch.unique(y1)) == 10


def test_generator_rejects_short_lengths():
    with pytest.raises(ValueError, match="length must be at least 2"):
        make_palindromes(4, 1)


def test_rnn_output_shape():
    model = PalindromeRNN(hidden=16)
    x, _ = make_palindromes(5, 9)
    assert model(x).shape == (5, 10)


def test_short_run_on_length_3_learns():
    result = train_palindrome(3, epochs=3, n_train=2000, n_test=500)
    assert result["test_accuracy"] > 0.9
    assert [e["epoch"] for e in result["epochs"]] == [1, 2, 3]
    assert result["epochs"][-1]["test_accuracy"] == result["test_accuracy"]


def test_seeded_runs_repeat():
    a = train_palindrome(5, epochs=1, n_train=500, n_test=100, seed=2)
    b = train_palindrome(5, epochs=1, n_train=500, n_test=100, seed=2)
    assert a["test_loss"] == b["test_loss"]


def test_accuracy_vs_length_and_bad_optimizer():
    results = accuracy_vs_length([3, 4], epochs=1, n_train=256, n_test=64, optimizer="sgd")
    assert [r["length"] for r in results] == [3, 4]
    with pytest.raises(ValueError, match="valid: rmsprop, adam, sgd"):
        train_palindrome(3, epochs=1, optimizer="lbfgs")

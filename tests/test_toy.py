import numpy as np
import pytest

from nnkit.toy import TOY_NAMES, data_bounds, decision_grid, make_toy

N = 301  # odd on purpose: balance must hold to within one
DEFAULT_CLASSES = {"moons": 2, "circles": 2, "xor": 2, "spiral": 3, "gaussians": 3}


@pytest.mark.parametrize("name", TOY_NAMES)
def test_shapes_dtypes_labels_balance(name):
    x, y = make_toy(name, n=N, seed=1)
    k = DEFAULT_CLASSES[name]
    assert x.shape == (N, 2) and x.dtype == np.float32
    assert y.shape == (N,) and y.dtype == np.int64
    assert set(y.tolist()) == set(range(k))
    counts = np.bincount(y, minlength=k)
    assert counts.sum() == N and counts.max() - counts.min() <= 1
    assert np.isfinite(x).all()


@pytest.mark.parametrize("name", ["spiral", "gaussians"])
def test_classes_argument(name):
    _, y = make_toy(name, n=100, classes=5)
    assert set(y.tolist()) == set(range(5))
    assert np.bincount(y).tolist() == [20] * 5


@pytest.mark.parametrize("name", TOY_NAMES)
def test_deterministic_per_seed_and_seeds_differ(name):
    x1, y1 = make_toy(name, n=N, seed=3)
    x2, y2 = make_toy(name, n=N, seed=3)
    x3, _ = make_toy(name, n=N, seed=4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_noise_free_moons_lie_on_unit_arcs():
    x, y = make_toy("moons", n=200, noise=0.0)
    upper, lower = x[y == 0].astype(np.float64), x[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)  # centre (0, 0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 0.5 + 1e-6).all()  # half circles


def test_noise_free_circles_radii():
    x, y = make_toy("circles", n=200, noise=0.0)
    r = np.hypot(*x.T)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.5, atol=1e-6)


def test_noise_free_xor_quadrants():
    x, y = make_toy("xor", n=400, noise=0.0)
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(np.int64))


def test_unknown_name_and_bad_classes():
    with pytest.raises(ValueError, match="valid names: moons, circles, xor, spiral, gaussians"):
        make_toy("banana")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        make_toy("moons", classes=3)


def test_decision_grid():
    xx, yy, points = decision_grid((-1.0, 2.0, -0.5, 0.5), resolution=7)
    assert xx.shape == yy.shape == (7, 7)
    assert points.shape == (49, 2) and points.dtype == np.float32
    assert points[:, 0].min() == -1.0 and points[:, 0].max() == 2.0
    assert points[:, 1].min() == -0.5 and points[:, 1].max() == 0.5
    np.testing.assert_array_equal(points[:, 0].reshape(7, 7), xx.astype(np.float32))


def test_data_bounds():
    x = np.array([[0.0, 1.0], [2.0, -1.0]], dtype=np.float32)
    assert data_bounds(x, margin=0.5) == (-0.5, 2.5, -1.5, 1.5)

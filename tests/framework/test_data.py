"""Tests for minitorch.data.make_spiral."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch import make_spiral


def test_make_spiral_default_shapes_and_dtypes():
    x, y = make_spiral()

    assert x.shape == (300, 2)
    assert y.shape == (300,)
    assert x.dtype == np.float64
    assert y.dtype == np.int64


@settings(max_examples=25, deadline=None)
@given(n_per_class=st.integers(1, 50), n_classes=st.integers(1, 6))
def test_make_spiral_labels_balanced(n_per_class, n_classes):
    x, y = make_spiral(n_per_class=n_per_class, n_classes=n_classes)

    assert x.shape == (n_per_class * n_classes, 2)
    np.testing.assert_array_equal(np.bincount(y), np.full(n_classes, n_per_class))
    assert np.all(np.isfinite(x))


def test_make_spiral_same_seed_same_data():
    x1, y1 = make_spiral(seed=3)
    x2, y2 = make_spiral(seed=3)
    x3, _ = make_spiral(seed=4)

    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_make_spiral_noise_moves_angle_only():
    x, _ = make_spiral(n_per_class=20, n_classes=3, noise=0.5, seed=0)
    radius = np.tile(np.linspace(0.0, 1.0, 20), 3)

    np.testing.assert_allclose(np.linalg.norm(x, axis=1), radius, atol=1e-12)


def test_make_spiral_without_noise_follows_arms():
    x, y = make_spiral(n_per_class=10, n_classes=4, noise=0.0)
    radius = np.linspace(0.0, 1.0, 10)

    for k in range(4):
        angle = 2.0 * np.pi * k / 4 + 4.0 * radius
        expected = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
        np.testing.assert_allclose(x[y == k], expected, atol=1e-12)


def test_make_spiral_not_linearly_separable():
    # A least-squares linear classifier on one-hot targets stays far from
    # separating the arms, so the data set needs a hidden layer.
    x, y = make_spiral()
    features = np.column_stack([x, np.ones(len(x))])
    weights, *_ = np.linalg.lstsq(features, np.eye(3)[y], rcond=None)

    accuracy = np.mean((features @ weights).argmax(axis=1) == y)

    assert accuracy < 0.7


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        (
            {"n_per_class": 0},
            ValueError,
            r"n_per_class must be a positive int, received 0",
        ),
        (
            {"n_per_class": 2.0},
            TypeError,
            r"n_per_class must be a positive int, received 2\.0",
        ),
        (
            {"n_classes": -1},
            ValueError,
            r"n_classes must be a positive int, received -1",
        ),
        (
            {"n_classes": "3"},
            TypeError,
            r"n_classes must be a positive int, received '3'",
        ),
        ({"noise": -0.1}, ValueError, r"noise must be at least 0, received -0\.1"),
        ({"noise": float("inf")}, ValueError, r"noise must be finite, received inf"),
        ({"noise": None}, TypeError, r"noise must be a real number, received None"),
    ],
)
def test_make_spiral_invalid_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        make_spiral(**kwargs)

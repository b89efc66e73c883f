"""Tests for minitorch.losses, with PyTorch as reference."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch import MSELoss, SoftmaxCrossEntropyLoss

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


# MSELoss


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_mse_matches_torch(shape, seed):
    rng = np.random.default_rng(seed)
    prediction = rng.standard_normal(shape)
    target = rng.standard_normal(shape)
    prediction_t = torch.tensor(prediction, requires_grad=True)
    expected_t = F.mse_loss(prediction_t, torch.tensor(target))
    expected_t.backward()
    loss_fn = MSELoss()

    loss = loss_fn.forward(prediction, target)
    grad = loss_fn.backward()

    assert loss == pytest.approx(expected_t.item(), rel=1e-12)
    np.testing.assert_allclose(grad, prediction_t.grad.numpy(), rtol=1e-12)


def test_mse_returns_python_float():
    loss = MSELoss()(np.array([1.0, 2.0]), np.array([1.0, 4.0]))

    assert type(loss) is float
    assert loss == 2.0


def test_mse_shape_mismatch():
    message = (
        "MSELoss.forward expected prediction and target of the same shape, "
        "received prediction.shape=(4, 1) and target.shape=(4,)"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        MSELoss()(np.zeros((4, 1)), np.zeros(4))


def test_mse_empty_arrays():
    with pytest.raises(ValueError, match=r"received empty arrays of shape \(0,\)"):
        MSELoss()(np.zeros(0), np.zeros(0))


def test_mse_backward_before_forward():
    with pytest.raises(
        RuntimeError, match=r"^MSELoss\.backward was called before forward"
    ):
        MSELoss().backward()


def test_mse_has_no_parameters():
    assert MSELoss().parameters() == []
    assert MSELoss().grads() == []


# SoftmaxCrossEntropyLoss


@settings(max_examples=30, deadline=None)
@given(
    batch_size=st.integers(1, 6),
    num_classes=st.integers(1, 5),
    scale=st.sampled_from([0.1, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_matches_torch(batch_size, num_classes, scale, seed):
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((batch_size, num_classes))
    labels = rng.integers(0, num_classes, size=batch_size)
    logits_t = torch.tensor(logits, requires_grad=True)
    expected_t = F.cross_entropy(logits_t, torch.tensor(labels))
    expected_t.backward()
    loss_fn = SoftmaxCrossEntropyLoss()

    loss = loss_fn.forward(logits, labels)
    grad = loss_fn.backward()

    assert loss == pytest.approx(expected_t.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(grad, logits_t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_large_logits_stay_finite():
    logits = np.array([[1000.0, 0.0, -1000.0], [-800.0, 900.0, 900.0]])
    labels = np.array([2, 1])
    logits_t = torch.tensor(logits, requires_grad=True)
    expected_t = F.cross_entropy(logits_t, torch.tensor(labels))
    expected_t.backward()
    loss_fn = SoftmaxCrossEntropyLoss()

    loss = loss_fn(logits, labels)
    grad = loss_fn.backward()

    assert np.isfinite(loss)
    assert loss == pytest.approx(expected_t.item(), rel=1e-12)
    np.testing.assert_allclose(grad, logits_t.grad.numpy(), rtol=1e-12, atol=1e-300)


def test_cross_entropy_returns_python_float():
    loss = SoftmaxCrossEntropyLoss()(np.zeros((2, 4)), np.array([0, 3]))

    assert type(loss) is float
    assert loss == pytest.approx(np.log(4.0))


def test_cross_entropy_accepts_unsigned_labels():
    loss = SoftmaxCrossEntropyLoss()(np.zeros((2, 2)), np.array([0, 1], np.uint8))

    assert loss == pytest.approx(np.log(2.0))


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [
        ([0, 3, 1], r"class labels in \[0, 2\] for C=3, received labels\[1\]=3"),
        ([0, 1, -1], r"class labels in \[0, 2\] for C=3, received labels\[2\]=-1"),
    ],
)
def test_cross_entropy_label_out_of_range(labels, pattern):
    with pytest.raises(ValueError, match=pattern):
        SoftmaxCrossEntropyLoss()(np.zeros((3, 3)), np.array(labels))


def test_cross_entropy_float_labels():
    with pytest.raises(
        ValueError,
        match=r"integer class labels, received dtype float64 with labels\[0\]=0\.5",
    ):
        SoftmaxCrossEntropyLoss()(np.zeros((2, 3)), np.array([0.5, 1.0]))


def test_cross_entropy_bool_labels():
    with pytest.raises(ValueError, match=r"received dtype bool"):
        SoftmaxCrossEntropyLoss()(np.zeros((2, 3)), np.array([True, False]))


def test_cross_entropy_labels_shape_mismatch():
    message = (
        "expected labels of shape (4,) to match logits.shape=(4, 3), "
        "received labels.shape=(4, 1)"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        SoftmaxCrossEntropyLoss()(np.zeros((4, 3)), np.zeros((4, 1), np.int64))


@pytest.mark.parametrize("shape", [(3,), (0, 3), (2, 0), (2, 3, 1)])
def test_cross_entropy_logits_wrong_shape(shape):
    message = (
        f"expected non-empty logits of shape (N, C), received logits.shape={shape}"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        SoftmaxCrossEntropyLoss()(np.zeros(shape), np.zeros(3, np.int64))


def test_cross_entropy_backward_before_forward():
    with pytest.raises(
        RuntimeError,
        match=r"^SoftmaxCrossEntropyLoss\.backward was called before forward",
    ):
        SoftmaxCrossEntropyLoss().backward()


def test_cross_entropy_has_no_parameters():
    assert SoftmaxCrossEntropyLoss().parameters() == []
    assert SoftmaxCrossEntropyLoss().grads() == []

"""Tests for minitorch.optim.SGD, including training runs on small problems."""

import re
import time

import numpy as np
import pytest
import torch

from minitorch import (
    SGD,
    Linear,
    Module,
    MSELoss,
    Sequential,
    SoftmaxCrossEntropyLoss,
    make_spiral,
)


class Tanh(Module):
    """Activation written as a student would write it."""

    def forward(self, x):
        self.output = np.tanh(x)
        return self.output

    def backward(self, grad_output):
        return grad_output * (1.0 - self.output**2)


class FixedGrads(Module):
    """Module whose parameters and gradients are set directly by the test."""

    def __init__(self, params, grads):
        self.params = params
        self.grad_list = grads

    def parameters(self):
        return self.params

    def grads(self):
        return self.grad_list


def test_sgd_step_without_momentum():
    param = np.array([1.0, 2.0])
    module = FixedGrads([param], [np.array([0.5, -1.0])])

    SGD(module, lr=0.1).step()

    np.testing.assert_allclose(param, [0.95, 2.1])


def test_sgd_step_updates_in_place():
    layer = Linear(3, 2, seed=0)
    weight = layer.weight
    layer.forward(np.ones((1, 3)))
    layer.backward(np.ones((1, 2)))

    SGD(layer, lr=0.1).step()

    assert layer.weight is weight
    assert layer.parameters()[0] is weight


def test_sgd_step_reads_latest_grads():
    param = np.array([0.0])
    module = FixedGrads([param], [np.array([1.0])])
    optimizer = SGD(module, lr=1.0)

    optimizer.step()
    module.grad_list = [np.array([10.0])]
    optimizer.step()

    np.testing.assert_array_equal(param, [-11.0])


def test_sgd_momentum_matches_torch():
    rng = np.random.default_rng(0)
    initial = rng.standard_normal((3, 2))
    grad_sequence = [rng.standard_normal((3, 2)) for _ in range(5)]
    param = initial.copy()
    module = FixedGrads([param], [np.zeros((3, 2))])
    optimizer = SGD(module, lr=0.05, momentum=0.9)
    param_t = torch.tensor(initial, requires_grad=True)
    optimizer_t = torch.optim.SGD([param_t], lr=0.05, momentum=0.9)

    for grad in grad_sequence:
        module.grad_list = [grad]
        optimizer.step()
        param_t.grad = torch.tensor(grad)
        optimizer_t.step()

    np.testing.assert_allclose(param, param_t.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_sgd_lr_not_positive(lr):
    with pytest.raises(
        ValueError, match=rf"SGD lr must be greater than 0, received {lr}"
    ):
        SGD(Linear(2, 2), lr=lr)


def test_sgd_lr_nan():
    with pytest.raises(ValueError, match=r"SGD lr must be finite, received nan"):
        SGD(Linear(2, 2), lr=float("nan"))


def test_sgd_lr_wrong_type():
    with pytest.raises(
        TypeError, match=r"SGD lr must be a real number, received '0.1'"
    ):
        SGD(Linear(2, 2), lr="0.1")


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5])
def test_sgd_momentum_out_of_range(momentum):
    with pytest.raises(
        ValueError, match=rf"SGD momentum must be in \[0, 1\), received {momentum}"
    ):
        SGD(Linear(2, 2), lr=0.1, momentum=momentum)


def test_sgd_rejects_non_module():
    with pytest.raises(TypeError, match=r"SGD expected a Module .*received list"):
        SGD([np.zeros(2)], lr=0.1)


def test_sgd_step_length_mismatch():
    module = FixedGrads([np.zeros(2), np.zeros(3)], [np.zeros(2)])
    message = (
        "FixedGrads.parameters() returned 2 arrays but FixedGrads.grads() returned 1"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        SGD(module, lr=0.1).step()


def test_sgd_step_shape_mismatch():
    module = FixedGrads(
        [np.zeros(2), np.zeros((3, 2))], [np.zeros(2), np.zeros((2, 3))]
    )
    message = (
        "parameter 1 of FixedGrads has shape (3, 2) but its gradient has shape (2, 3)"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        SGD(module, lr=0.1).step()


def test_sgd_step_integer_parameter():
    module = FixedGrads([np.zeros(2, dtype=np.int64)], [np.ones(2)])

    with pytest.raises(
        TypeError, match=r"parameter 0 of FixedGrads is int64, .* floating-point"
    ):
        SGD(module, lr=0.1).step()


def test_sgd_momentum_shape_change():
    module = FixedGrads([np.zeros(2)], [np.ones(2)])
    optimizer = SGD(module, lr=0.1, momentum=0.5)
    optimizer.step()
    module.params = [np.zeros(3)]
    module.grad_list = [np.ones(3)]

    with pytest.raises(
        RuntimeError, match=r"parameter shapes changed from \[\(2,\)\] to \[\(3,\)\]"
    ):
        optimizer.step()


def test_sgd_repr():
    assert repr(SGD(Linear(2, 2), lr=0.1, momentum=0.9)) == "SGD(lr=0.1, momentum=0.9)"


def test_sgd_linear_regression_decreases_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    model = Linear(3, 1, seed=0)
    loss_fn = MSELoss()
    optimizer = SGD(model, lr=0.1)
    losses = []

    for _ in range(100):
        losses.append(loss_fn(model(x), y))
        model.backward(loss_fn.backward())
        optimizer.step()

    assert losses[1] < losses[0]
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(model.weight.ravel(), [1.5, -2.0, 0.5], atol=1e-2)
    np.testing.assert_allclose(model.bias, [0.3], atol=1e-2)


def test_sgd_trains_spiral_classifier():
    # Full-batch training on 300 points with hidden size 64, lr 1.0 and momentum
    # 0.9 passes 90% training accuracy after about 50 to 70 epochs for several
    # initialisation seeds. 300 epochs leave a margin and take well under a second.
    x, y = make_spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0)
    model = Sequential(Linear(2, 64, seed=0), Tanh(), Linear(64, 3, seed=1))
    loss_fn = SoftmaxCrossEntropyLoss()
    optimizer = SGD(model, lr=1.0, momentum=0.9)
    start = time.perf_counter()

    first_loss = loss_fn(model(x), y)
    for _ in range(300):
        loss = loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        optimizer.step()

    elapsed = time.perf_counter() - start
    accuracy = np.mean(model(x).argmax(axis=1) == y)
    assert loss < first_loss
    assert accuracy >= 0.9, f"training accuracy {accuracy:.3f}"
    assert elapsed < 3.0, f"training took {elapsed:.2f} s"

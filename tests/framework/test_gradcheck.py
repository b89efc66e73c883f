"""Tests for minitorch.gradcheck."""

import re

import numpy as np
import pytest

from minitorch import (
    Linear,
    Module,
    Sequential,
    assert_module_gradient,
    check_module_gradient,
    check_parameter_gradients,
    numerical_gradient,
)
from minitorch.gradcheck import GradientCheckResult


class Tanh(Module):
    def forward(self, x):
        self.output = np.tanh(x)
        return self.output

    def backward(self, grad_output):
        return grad_output * (1.0 - self.output**2)


class ReLU(Module):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, grad_output):
        return grad_output * self.mask


class SigmoidWrongBackward(Module):
    """Sigmoid whose backward omits the (1 - s) factor."""

    def forward(self, x):
        self.output = 1.0 / (1.0 + np.exp(-x))
        return self.output

    def backward(self, grad_output):
        return grad_output * self.output


class SoftmaxZeroBackward(Module):
    """Row softmax whose backward returns zeros.

    Zeros are the correct gradient for an all-ones upstream gradient, because each
    softmax row sums to 1, so only a random upstream gradient exposes the mistake.
    """

    def forward(self, x):
        shifted = np.exp(x - x.max(axis=1, keepdims=True))
        self.output = shifted / shifted.sum(axis=1, keepdims=True)
        return self.output

    def backward(self, grad_output):
        return np.zeros_like(self.output)


class ReLUIgnoresUpstream(ReLU):
    """ReLU whose backward returns the local derivative without grad_output."""

    def backward(self, grad_output):
        return self.mask.astype(np.float64)


class WrongShapeBackward(Module):
    def forward(self, x):
        return 2.0 * x

    def backward(self, grad_output):
        return np.sum(2.0 * grad_output, axis=0)


class LinearDoubleBiasGrad(Linear):
    """Linear whose bias gradient is twice the correct value."""

    def backward(self, grad_output):
        grad_input = super().backward(grad_output)
        self.grad_bias = 2.0 * self.grad_bias
        return grad_input


class MismatchedGrads(Linear):
    def grads(self):
        return [self.grad_weight]


def inputs_away_from_zero(shape, seed=0):
    """Return random values with magnitude in [0.1, 2], clear of the kink at 0."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.0, size=shape)


# numerical_gradient


def test_numerical_gradient_of_quadratic():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])

    grad = numerical_gradient(lambda z: np.sum(z**2), x)

    np.testing.assert_allclose(grad, 2.0 * x, rtol=1e-8)


def test_numerical_gradient_leaves_input_unchanged():
    x = np.array([1, 2, 3])
    before = x.copy()

    grad = numerical_gradient(lambda z: np.sum(z**3), x)

    np.testing.assert_array_equal(x, before)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, 3.0 * before**2, rtol=1e-8)


def test_numerical_gradient_of_0d_input():
    grad = numerical_gradient(lambda z: np.sin(z), np.float64(0.3))

    assert grad.shape == ()
    assert grad == pytest.approx(np.cos(0.3), rel=1e-8)


def test_numerical_gradient_rejects_vector_output():
    with pytest.raises(
        ValueError,
        match=r"expected f to return a scalar, received an array of shape \(2,\)",
    ):
        numerical_gradient(lambda z: z * 2.0, np.ones(2))


@pytest.mark.parametrize("eps", [0.0, -1e-6])
def test_numerical_gradient_rejects_bad_eps(eps):
    with pytest.raises(
        ValueError, match=rf"eps must be greater than 0, received {eps}"
    ):
        numerical_gradient(np.sum, np.ones(2), eps=eps)


# check_module_gradient and assert_module_gradient


@pytest.mark.parametrize(
    "module",
    [Tanh(), ReLU(), Linear(4, 3, seed=0), Sequential(Linear(4, 5, seed=1), Tanh())],
    ids=repr,
)
def test_check_module_gradient_passes_correct_backward(module):
    x = inputs_away_from_zero((6, 4))

    result = check_module_gradient(module, x)

    assert result.passed, str(result)
    assert result.max_abs_error < 1e-7
    assert result.max_rel_error < 1e-5


def test_check_module_gradient_catches_wrong_backward():
    x = inputs_away_from_zero((3, 4))

    result = check_module_gradient(SigmoidWrongBackward(), x)

    assert not result.passed
    assert result.max_abs_error > 1e-2
    assert result.max_rel_error > 0.1
    assert len(result.worst_index) == 2


@pytest.mark.parametrize(
    "module", [SoftmaxZeroBackward(), ReLUIgnoresUpstream()], ids=repr
)
def test_check_module_gradient_catches_ignored_upstream(module):
    x = inputs_away_from_zero((3, 4))

    result = check_module_gradient(module, x)

    assert not result.passed


def test_check_module_gradient_reports_worst_element():
    result = check_module_gradient(SigmoidWrongBackward(), np.array([[0.5, 3.0]]))
    sigmoid = 1.0 / (1.0 + np.exp(-np.array([0.5, 3.0])))
    upstream = np.random.default_rng(0).standard_normal((1, 2))
    expected_error = np.abs(upstream * sigmoid**2)[0]
    worst = int(np.argmax(expected_error))

    assert result.worst_index == (0, worst)
    assert result.analytic_value == pytest.approx(upstream[0, worst] * sigmoid[worst])
    assert result.max_abs_error == pytest.approx(expected_error.max(), rel=1e-6)


def test_check_module_gradient_leaves_input_unchanged():
    x = inputs_away_from_zero((2, 3))
    before = x.copy()

    check_module_gradient(Tanh(), x)

    np.testing.assert_array_equal(x, before)


def test_check_module_gradient_same_seed_same_result():
    x = inputs_away_from_zero((3, 4))

    first = check_module_gradient(SigmoidWrongBackward(), x, seed=5)
    second = check_module_gradient(SigmoidWrongBackward(), x, seed=5)
    other = check_module_gradient(SigmoidWrongBackward(), x, seed=6)

    assert first == second
    assert first.max_abs_error != other.max_abs_error


def test_check_module_gradient_fails_at_relu_kink():
    # At exactly 0 the central difference averages the slopes 0 and 1, while
    # backward uses the slope 0. This is why checks must avoid kinks.
    result = check_module_gradient(ReLU(), np.array([[0.0, 1.0]]))
    upstream = np.random.default_rng(0).standard_normal((1, 2))

    assert not result.passed
    assert result.worst_index == (0, 0)
    assert result.analytic_value == 0.0
    assert result.numerical_value == pytest.approx(0.5 * upstream[0, 0], rel=1e-6)


def test_check_module_gradient_rejects_wrong_shape():
    message = (
        "WrongShapeBackward.backward returned a gradient of shape (3,), but the "
        "input has shape (2, 3)"
    )

    with pytest.raises(ValueError, match=re.escape(message)):
        check_module_gradient(WrongShapeBackward(), np.ones((2, 3)))


def test_check_module_gradient_zero_atol():
    # For negative inputs ReLU's analytic and numerical gradients are both exactly
    # 0, so the allowed error is 0 and the error is 0: the element passes.
    x = np.array([[-1.0, -0.5], [0.5, 1.0]])

    result = check_module_gradient(ReLU(), x, atol=0.0)

    assert result.passed, str(result)
    assert np.isfinite(result.max_abs_error)
    assert len(result.worst_index) == 2


def test_gradient_check_result_str_is_readable():
    result = check_module_gradient(SigmoidWrongBackward(), np.array([[0.5, 3.0]]))

    report = str(result)

    assert report.startswith("SigmoidWrongBackward input gradient check FAILED")
    assert f"Worst element {result.worst_index}" in report
    assert "rtol=1e-05, atol=1e-07" in report


def test_gradient_check_result_nan_counts_as_failure():
    class NaNBackward(Tanh):
        def backward(self, grad_output):
            grad = super().backward(grad_output)
            grad[0, 1] = np.nan
            return grad

    result = check_module_gradient(NaNBackward(), inputs_away_from_zero((2, 2)))

    assert isinstance(result, GradientCheckResult)
    assert not result.passed
    assert result.worst_index == (0, 1)


def test_assert_module_gradient_raises_report():
    x = inputs_away_from_zero((3, 4))

    with pytest.raises(
        AssertionError, match=r"SigmoidWrongBackward input gradient check FAILED"
    ):
        assert_module_gradient(SigmoidWrongBackward(), x)


def test_assert_module_gradient_returns_result_on_success():
    result = assert_module_gradient(Tanh(), inputs_away_from_zero((3, 4)))

    assert result.passed
    assert "check passed" in str(result)


# check_parameter_gradients


def test_check_parameter_gradients_linear_passes():
    layer = Linear(4, 3, seed=0)

    results = check_parameter_gradients(layer, inputs_away_from_zero((5, 4)))

    assert len(results) == 2
    for result in results:
        assert result.passed, str(result)
    assert results[0].name == "Linear parameter 0 (4, 3) gradient"


def test_check_parameter_gradients_sequential_passes():
    model = Sequential(Linear(3, 4, seed=0), Tanh(), Linear(4, 2, seed=1))

    results = check_parameter_gradients(model, inputs_away_from_zero((5, 3)))

    assert len(results) == 4
    for result in results:
        assert result.passed, str(result)


def test_check_parameter_gradients_catches_wrong_bias_grad():
    layer = LinearDoubleBiasGrad(4, 3, seed=0)

    weight_result, bias_result = check_parameter_gradients(
        layer, inputs_away_from_zero((5, 4))
    )

    assert weight_result.passed, str(weight_result)
    assert not bias_result.passed


def test_check_parameter_gradients_restores_parameters():
    layer = Linear(4, 3, seed=0)
    weight_before = layer.weight.copy()
    bias_before = layer.bias.copy()
    x = inputs_away_from_zero((5, 4))

    check_parameter_gradients(layer, x)

    np.testing.assert_array_equal(layer.weight, weight_before)
    np.testing.assert_array_equal(layer.bias, bias_before)
    # The cached input belongs to the original parameters and x.
    upstream = np.ones((5, 3))
    np.testing.assert_allclose(layer.backward(upstream), upstream @ weight_before.T)


def test_check_parameter_gradients_no_parameters():
    assert check_parameter_gradients(Tanh(), np.ones((2, 2))) == []


def test_check_parameter_gradients_length_mismatch():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "MismatchedGrads.parameters() returned 2 arrays but "
            "MismatchedGrads.grads() returned 1"
        ),
    ):
        check_parameter_gradients(MismatchedGrads(2, 2, seed=0), np.ones((1, 2)))

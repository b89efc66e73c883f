"""Tests for minitorch_grading.reference against PyTorch on the CPU in float64."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minitorch_grading import reference

# Both sides compute in float64, but PyTorch's vectorised tanh, exp and erf may
# differ from numpy's and math.erf by a few units in the last place.
RTOL = 1e-11
ATOL = 1e-13


@dataclass(frozen=True)
class Case:
    name: str
    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    torch_function: Callable[[torch.Tensor], torch.Tensor]


CASES = [
    Case("relu", reference.relu, reference.relu_derivative, F.relu),
    Case(
        "leaky_relu_0.01",
        functools.partial(reference.leaky_relu, negative_slope=0.01),
        functools.partial(reference.leaky_relu_derivative, negative_slope=0.01),
        functools.partial(F.leaky_relu, negative_slope=0.01),
    ),
    Case(
        "leaky_relu_0.2",
        functools.partial(reference.leaky_relu, negative_slope=0.2),
        functools.partial(reference.leaky_relu_derivative, negative_slope=0.2),
        functools.partial(F.leaky_relu, negative_slope=0.2),
    ),
    Case("sigmoid", reference.sigmoid, reference.sigmoid_derivative, torch.sigmoid),
    Case("tanh", reference.tanh, reference.tanh_derivative, torch.tanh),
    Case(
        "gelu_tanh",
        reference.gelu_tanh,
        reference.gelu_tanh_derivative,
        functools.partial(F.gelu, approximate="tanh"),
    ),
    Case(
        "gelu_erf",
        reference.gelu_erf,
        reference.gelu_erf_derivative,
        functools.partial(F.gelu, approximate="none"),
    ),
]
CASES_BY_NAME = {case.name: case for case in CASES}
SHAPES = [(), (7,), (3, 4), (2, 3, 4), (2, 1, 3, 5)]
EXTREMES = np.array([-1e4, -1000.0, 1000.0, 1e4])


def torch_value_and_gradient(
    case: Case, x: np.ndarray, grad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``case`` in PyTorch and backpropagate ``grad`` through it."""
    x_tensor = torch.tensor(x, dtype=torch.float64).requires_grad_()
    y = case.torch_function(x_tensor)
    y.backward(torch.tensor(grad, dtype=torch.float64))
    return y.detach().numpy(), x_tensor.grad.numpy()


def call_strictly(function: Callable, x: np.ndarray) -> np.ndarray:
    """Call ``function`` with every numpy floating-point warning raised as an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            return function(x)


def random_input(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=3.0, size=shape)
    grad = rng.normal(size=shape)
    return np.asarray(x, dtype=np.float64), np.asarray(grad, dtype=np.float64)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_value_matches_torch(case: Case, shape: tuple[int, ...]) -> None:
    x, grad = random_input(shape, seed=len(shape))
    expected, _ = torch_value_and_gradient(case, x, grad)

    value = call_strictly(case.function, x)

    assert np.shape(value) == shape
    np.testing.assert_allclose(value, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_gradient_matches_torch(case: Case, shape: tuple[int, ...]) -> None:
    x, grad = random_input(shape, seed=10 + len(shape))
    _, expected = torch_value_and_gradient(case, x, grad)

    derivative = call_strictly(case.derivative, x)

    assert np.shape(derivative) == shape
    np.testing.assert_allclose(derivative * grad, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_output_is_float64(case: Case) -> None:
    x = np.linspace(-2.0, 2.0, 9, dtype=np.float32)

    assert np.asarray(case.function(x)).dtype == np.float64
    assert np.asarray(case.derivative(x)).dtype == np.float64


@pytest.mark.parametrize("zero", [0.0, -0.0], ids=["+0", "-0"])
def test_relu_gradient_at_zero_is_zero(zero: float) -> None:
    x = np.array([zero])
    _, torch_gradient = torch_value_and_gradient(CASES_BY_NAME["relu"], x, np.ones(1))

    assert torch_gradient[0] == 0.0
    assert reference.relu_derivative(x)[0] == 0.0
    assert reference.relu(x)[0] == 0.0


@pytest.mark.parametrize("zero", [0.0, -0.0], ids=["+0", "-0"])
@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu_gradient_at_zero_is_slope(slope: float, zero: float) -> None:
    x = np.array([zero])
    case = CASES_BY_NAME[f"leaky_relu_{slope}"]
    _, torch_gradient = torch_value_and_gradient(case, x, np.ones(1))

    assert torch_gradient[0] == slope
    assert reference.leaky_relu_derivative(x, negative_slope=slope)[0] == slope
    assert reference.leaky_relu(x, negative_slope=slope)[0] == 0.0


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_extremes_stay_finite(case: Case) -> None:
    value = call_strictly(case.function, EXTREMES)
    derivative = call_strictly(case.derivative, EXTREMES)

    assert np.all(np.isfinite(value))
    assert np.all(np.isfinite(derivative))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_extremes_match_torch(case: Case) -> None:
    grad = np.ones_like(EXTREMES)
    expected_value, expected_gradient = torch_value_and_gradient(case, EXTREMES, grad)

    value = call_strictly(case.function, EXTREMES)
    derivative = call_strictly(case.derivative, EXTREMES)

    np.testing.assert_allclose(value, expected_value, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(derivative, expected_gradient, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_nan_propagates_like_torch(case: Case) -> None:
    x = np.array([np.nan, 1.0])
    expected, _ = torch_value_and_gradient(case, x, np.ones(2))

    value = case.function(x)

    np.testing.assert_array_equal(np.isnan(value), np.isnan(expected))


FINITE_ARRAYS = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5),
    elements=st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False),
)
HYPOTHESIS_SETTINGS = settings(max_examples=60, deadline=None, database=None)


@pytest.mark.parametrize(
    "case",
    [CASES_BY_NAME[name] for name in ("sigmoid", "gelu_tanh", "gelu_erf", "tanh")],
    ids=lambda case: case.name,
)
@HYPOTHESIS_SETTINGS
@given(x=FINITE_ARRAYS)
def test_reference_matches_torch_generated(case: Case, x: np.ndarray) -> None:
    grad = np.ones_like(x)
    expected_value, expected_gradient = torch_value_and_gradient(case, x, grad)

    value = call_strictly(case.function, x)
    derivative = call_strictly(case.derivative, x)

    np.testing.assert_allclose(value, expected_value, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(derivative, expected_gradient, rtol=RTOL, atol=ATOL)


GELU_DIFFERENCE_GRID = np.concatenate(
    [np.linspace(-50.0, 50.0, 200_001), EXTREMES, [0.0, -0.0]]
)


def test_gelu_forms_gap_exceeds_1e4() -> None:
    x = np.linspace(-3.0, 3.0, 60_001)
    difference = np.abs(reference.gelu_tanh(x) - reference.gelu_erf(x))

    assert difference.max() > 1e-4


def test_gelu_forms_gap_below_1e3() -> None:
    x = GELU_DIFFERENCE_GRID
    difference = np.abs(reference.gelu_tanh(x) - reference.gelu_erf(x))

    assert difference.max() <= 1e-3


def test_gelu_forms_distinguishable_in_float32() -> None:
    # The largest gap (about 4.7e-4 near x = -2.7) must exceed float32 rounding
    # of the values there, or a float32 submission could pass as either form.
    x = np.linspace(-3.0, 3.0, 60_001)
    difference = np.abs(reference.gelu_tanh(x) - reference.gelu_erf(x))
    worst = int(np.argmax(difference))
    float32_rounding = np.spacing(np.float32(abs(reference.gelu_erf(x[worst]))))

    assert difference[worst] > 100 * float32_rounding

"""Finite-difference checks for hand-written ``backward`` methods.

The checks compare a module's analytic gradients with central differences
``(f(x + eps) - f(x - eps)) / (2 * eps)`` computed in float64. Central differences
are wrong near a kink of the function, such as ReLU at 0 or the absolute value
at 0. When an input lies within ``eps`` of the kink, the two evaluations fall on
different sides, so the estimate mixes both slopes. Check modules on inputs that
are further than ``eps`` away from every kink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minitorch.module import Module


@dataclass(frozen=True)
class GradientCheckResult:
    """Comparison of an analytic gradient with its finite-difference estimate.

    An element passes when ``|analytic - numerical| <= atol + rtol * |numerical|``,
    the rule of ``np.allclose``.

    Attributes:
        name: What was checked, for example ``"ReLU input gradient"``.
        max_abs_error: Maximum of ``|analytic - numerical|`` over all elements.
        max_rel_error: Maximum of ``|analytic - numerical| / max(|analytic|,
            |numerical|)`` over all elements, counting elements where both are 0
            as 0.
        worst_index: Index of the element furthest outside the tolerance, that is
            with the largest ``|analytic - numerical| / (atol + rtol * |numerical|)``.
            ``()`` for a 0-d array and an array with no elements.
        analytic_value: Analytic gradient at ``worst_index`` (NaN if empty).
        numerical_value: Finite-difference estimate at ``worst_index`` (NaN if
            empty).
        passed: Whether every element is within the tolerance.
        rtol: Relative tolerance used.
        atol: Absolute tolerance used.
    """

    name: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic_value: float
    numerical_value: float
    passed: bool
    rtol: float
    atol: float

    def __str__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return (
            f"{self.name} check {status}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e}.\n"
            f"  Worst element {self.worst_index}: backward gave "
            f"{self.analytic_value:.9g}, finite differences gave "
            f"{self.numerical_value:.9g}.\n"
            f"  Tolerance: |error| <= atol + rtol * |numerical| with "
            f"rtol={self.rtol:g}, atol={self.atol:g}."
        )


def numerical_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Estimate the gradient of a scalar function with central differences.

    ``x`` itself is never modified. ``f`` receives a float64 copy of ``x`` with
    one element shifted by ``+eps`` or ``-eps``, and the same copy is reused for
    every evaluation, so ``f`` must not modify its argument.

    Args:
        f: Function of an array with the shape of ``x`` that returns a scalar.
        x: Point at which to estimate the gradient.
        eps: Step size, greater than 0.

    Returns:
        Float64 array with the shape of ``x``.

    Raises:
        ValueError: If ``eps <= 0`` or ``f`` returns more than one value.
    """
    if not eps > 0:
        raise ValueError(
            f"numerical_gradient eps must be greater than 0, received {eps!r}"
        )
    point = np.array(x, dtype=np.float64)
    grad = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        original = point[index]
        point[index] = original + eps
        value_plus = _to_scalar(f(point))
        point[index] = original - eps
        value_minus = _to_scalar(f(point))
        point[index] = original
        grad[index] = (value_plus - value_minus) / (2.0 * eps)
    return grad


def check_module_gradient(
    module: Module,
    x: np.ndarray,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> GradientCheckResult:
    """Compare ``module.backward`` with finite differences of ``module.forward``.

    The check draws a random upstream gradient ``g`` with the shape of
    ``module.forward(x)``, calls ``module.backward(g)`` and compares the result
    with the numerical gradient of ``sum(module.forward(x) * g)`` with respect to
    ``x``. A random ``g`` catches errors that an all-ones ``g`` would hide, such as
    a ``backward`` that returns the local derivative without multiplying it by
    ``grad_output``. Keep ``x`` away from kinks of the function (see the module
    docstring). The module keeps the state of its last evaluation, and a layer
    with parameters has its ``grads()`` overwritten.

    Args:
        module: Module to check. ``forward`` takes one array.
        x: Input at which to check. It is converted to float64 and not modified.
        seed: Seed for the random upstream gradient.
        eps: Finite-difference step.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Returns:
        The comparison. Its ``str`` is a readable report.

    Raises:
        ValueError: If ``backward`` returns an array whose shape differs from
            ``x.shape``.
    """
    point = np.array(x, dtype=np.float64)
    upstream = _random_upstream(module, point, seed)
    analytic = np.asarray(module.backward(upstream), dtype=np.float64)
    name = type(module).__name__
    if analytic.shape != point.shape:
        raise ValueError(
            f"{name}.backward returned a gradient of shape {analytic.shape}, but "
            f"the input has shape {point.shape}: the gradient with respect to the "
            "input must have the input's shape"
        )

    def weighted_output(z: np.ndarray) -> float:
        return float(np.sum(module.forward(z.copy()) * upstream))

    numerical = numerical_gradient(weighted_output, point, eps)
    return _compare(f"{name} input gradient", analytic, numerical, rtol, atol)


def assert_module_gradient(
    module: Module,
    x: np.ndarray,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> GradientCheckResult:
    """Run ``check_module_gradient`` and raise if the check fails.

    The arguments are those of ``check_module_gradient``.

    Returns:
        The comparison, when it passes.

    Raises:
        AssertionError: If the check fails. The message is the report.
    """
    result = check_module_gradient(module, x, seed=seed, eps=eps, rtol=rtol, atol=atol)
    if not result.passed:
        raise AssertionError(str(result))
    return result


def check_parameter_gradients(
    module: Module,
    x: np.ndarray,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> list[GradientCheckResult]:
    """Compare ``module.grads()`` with finite differences of each parameter.

    With the same random upstream gradient ``g`` as ``check_module_gradient``, the
    check calls ``module.backward(g)`` once and compares each array of ``grads()``
    with the numerical gradient of ``sum(module.forward(x) * g)`` with respect to
    the matching array of ``parameters()``. The parameters are shifted in place
    and restored afterwards, so ``parameters()`` must return the arrays that
    ``forward`` uses. Finally the check calls ``forward(x)`` again so that the
    cached state belongs to the original parameters.

    Args:
        module: Module to check, for example a ``Linear`` or ``Sequential``.
        x: Input at which to check. It is converted to float64 and not modified.
        seed: Seed for the random upstream gradient.
        eps: Finite-difference step.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Returns:
        One comparison per parameter, in the order of ``parameters()``. An empty
        list for a module without parameters.

    Raises:
        ValueError: If ``parameters()`` and ``grads()`` differ in length or a
            gradient's shape differs from its parameter's shape.
    """
    point = np.array(x, dtype=np.float64)
    upstream = _random_upstream(module, point, seed)
    module.backward(upstream)
    params = module.parameters()
    analytic_grads = [np.array(grad, dtype=np.float64) for grad in module.grads()]
    name = type(module).__name__
    if len(params) != len(analytic_grads):
        raise ValueError(
            f"{name}.parameters() returned {len(params)} arrays but {name}.grads() "
            f"returned {len(analytic_grads)}: both lists must have the same length"
        )

    results = []
    for index, (param, analytic) in enumerate(zip(params, analytic_grads)):
        if analytic.shape != param.shape:
            raise ValueError(
                f"{name} parameter {index} has shape {param.shape} but its gradient "
                f"has shape {analytic.shape}"
            )
        original = param.copy()

        def weighted_output(value: np.ndarray, param: np.ndarray = param) -> float:
            param[...] = value
            return float(np.sum(module.forward(point.copy()) * upstream))

        try:
            numerical = numerical_gradient(weighted_output, original, eps)
        finally:
            param[...] = original
        label = f"{name} parameter {index} {param.shape} gradient"
        results.append(_compare(label, analytic, numerical, rtol, atol))

    module.forward(point.copy())
    return results


def _random_upstream(module: Module, point: np.ndarray, seed: int) -> np.ndarray:
    """Run ``module.forward`` once and return a seeded random array of its shape."""
    output = module.forward(point.copy())
    rng = np.random.default_rng(seed)
    return rng.standard_normal(np.shape(output))


def _to_scalar(value: Any) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.size != 1:
        raise ValueError(
            "numerical_gradient expected f to return a scalar, received an array "
            f"of shape {array.shape}"
        )
    return float(array.reshape(()))


def _compare(
    name: str, analytic: np.ndarray, numerical: np.ndarray, rtol: float, atol: float
) -> GradientCheckResult:
    error = np.abs(analytic - numerical)
    scale = np.maximum(np.abs(analytic), np.abs(numerical))
    relative = np.divide(error, scale, out=np.zeros_like(error), where=scale > 0)
    allowed = atol + rtol * np.abs(numerical)
    if error.size == 0:
        return GradientCheckResult(
            name=name,
            max_abs_error=0.0,
            max_rel_error=0.0,
            worst_index=(),
            analytic_value=float("nan"),
            numerical_value=float("nan"),
            passed=True,
            rtol=rtol,
            atol=atol,
        )

    # With atol=0 an allowed error can be 0. Then 0/0 counts as within tolerance
    # and x/0 as infinitely far outside it. A NaN error, for example from a NaN in
    # backward, also counts as infinitely far outside.
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = error / allowed
    excess = np.where(
        np.isnan(error), np.inf, np.nan_to_num(excess, nan=0.0, posinf=np.inf)
    )
    worst = np.unravel_index(int(np.argmax(excess)), error.shape)
    worst_index = tuple(int(i) for i in worst)
    return GradientCheckResult(
        name=name,
        max_abs_error=float(np.max(error)),
        max_rel_error=float(np.max(relative)),
        worst_index=worst_index,
        analytic_value=float(analytic[worst]),
        numerical_value=float(numerical[worst]),
        passed=bool(np.all(error <= allowed)),
        rtol=rtol,
        atol=atol,
    )

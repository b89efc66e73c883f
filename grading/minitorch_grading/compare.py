"""Mismatch reports between a submission's arrays and the reference.

Every report names the worst element: its index, the input there, the expected
and received values, and the largest absolute and relative errors, so a student
can reproduce the case without seeing the grader's code.
"""

from __future__ import annotations

import numpy as np


def _format_index(index: tuple[int, ...]) -> str:
    if not index:
        return "[]"
    return "[" + ", ".join(str(i) for i in index) + "]"


def _format_value(value: float) -> str:
    return f"{value:.10g}"


def mismatch_report(
    expected: np.ndarray,
    received: np.ndarray,
    *,
    rtol: float,
    atol: float,
    inputs: np.ndarray | None = None,
    grad_output: np.ndarray | None = None,
) -> str | None:
    """Describe how ``received`` differs from ``expected``, or return None if close.

    Elements match when ``|received - expected| <= atol + rtol * |expected|``.
    Shapes must be equal; broadcasting does not count as a match.

    Args:
        expected: reference values in float64.
        received: the submission's values, any floating dtype.
        rtol: relative tolerance.
        atol: absolute tolerance.
        inputs: the input array the values were computed from; when given, the
            report shows the input at the worst element.
        grad_output: the upstream gradient of a backward call; when given, the
            report shows its value at the worst element too.
    """
    expected = np.asarray(expected, dtype=np.float64)
    received_shape = np.shape(received)
    if received_shape != expected.shape:
        return f"expected shape {expected.shape}, received shape {received_shape}"

    received = np.asarray(received, dtype=np.float64)
    with np.errstate(all="ignore"):
        error = np.abs(received - expected)
        relative = error / np.abs(expected)
    error = np.where(np.isnan(error), np.inf, error)
    # Equal infinities subtract to nan, and nan is expected only where the
    # reference itself is nan; both count as matches.
    both_equal = (received == expected) | (np.isnan(received) & np.isnan(expected))
    error = np.where(both_equal, 0.0, error)
    relative = np.where(
        both_equal, 0.0, np.nan_to_num(relative, nan=np.inf, posinf=np.inf)
    )

    # An infinite expected value has an infinite tolerance, so only an equal
    # value matches it.
    bad = (error > atol + rtol * np.abs(expected)) | (
        ~np.isfinite(expected) & ~both_equal
    )
    count = int(np.count_nonzero(bad))
    if count == 0:
        return None

    # Report the element with the largest error relative to its own tolerance.
    with np.errstate(all="ignore"):
        excess = np.where(bad, error / (atol + rtol * np.abs(expected)), -1.0)
    excess = np.where(bad & np.isnan(excess), np.inf, excess)
    worst = np.unravel_index(int(np.argmax(excess)), expected.shape)
    index = tuple(int(i) for i in worst)

    lines = [
        f"{count} of {expected.size} elements differ "
        f"(tolerance: absolute {atol:g}, relative {rtol:g}).",
    ]
    where = f"at index {_format_index(index)}"
    if inputs is not None and np.shape(inputs) == expected.shape:
        where += f", input x = {_format_value(float(np.asarray(inputs)[index]))}"
    if grad_output is not None and np.shape(grad_output) == expected.shape:
        upstream = float(np.asarray(grad_output)[index])
        where += f", grad_output = {_format_value(upstream)}"
    lines.append(
        f"Worst element {where}: expected {_format_value(expected[index])}, "
        f"received {_format_value(received[index])}."
    )
    finite = np.isfinite(error)
    max_abs = float(np.max(error[finite])) if finite.any() else float("inf")
    if not finite.all():
        max_abs = float("inf")
    max_rel = float(np.max(relative))
    lines.append(
        f"Largest absolute error {_format_value(max_abs)}, "
        f"largest relative error {_format_value(max_rel)}."
    )
    return " ".join(lines)

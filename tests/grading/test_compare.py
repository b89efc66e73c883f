"""Tests for minitorch_grading.compare.mismatch_report."""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_grading.compare import mismatch_report

TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}


def test_mismatch_report_equal_arrays_returns_none() -> None:
    x = np.linspace(-3.0, 3.0, 12).reshape(3, 4)

    assert mismatch_report(x, x.copy(), **TOLERANCE) is None


def test_mismatch_report_within_tolerance_returns_none() -> None:
    expected = np.array([1000.0, 1.0, 0.0])
    received = expected + np.array([0.09, 9e-5, 9e-7])

    assert mismatch_report(expected, received, **TOLERANCE) is None


def test_mismatch_report_float32_within_tolerance_returns_none() -> None:
    expected = np.tanh(np.linspace(-3.0, 3.0, 50))

    received = expected.astype(np.float32)

    assert mismatch_report(expected, received, **TOLERANCE) is None


def test_mismatch_report_error_at_tolerance_matches() -> None:
    expected = np.array([4.0])

    assert mismatch_report(expected, np.array([4.5]), rtol=0.0, atol=0.5) is None


def test_mismatch_report_error_past_tolerance_differs() -> None:
    report = mismatch_report(
        np.array([4.0]), np.array([4.5 + 1e-9]), rtol=0.0, atol=0.5
    )

    assert report is not None


@pytest.mark.parametrize(
    ("expected_shape", "received_shape", "message"),
    [
        ((3,), (1, 3), "expected shape (3,), received shape (1, 3)"),
        ((1, 3), (3,), "expected shape (1, 3), received shape (3,)"),
        ((), (1,), "expected shape (), received shape (1,)"),
        ((1,), (), "expected shape (1,), received shape ()"),
        ((2, 3), (2, 1), "expected shape (2, 3), received shape (2, 1)"),
        ((3,), (0,), "expected shape (3,), received shape (0,)"),
    ],
    ids=str,
)
def test_mismatch_report_shape_mismatch_never_broadcasts(
    expected_shape: tuple[int, ...], received_shape: tuple[int, ...], message: str
) -> None:
    expected = np.ones(expected_shape)
    received = np.ones(received_shape)

    assert mismatch_report(expected, received, **TOLERANCE) == message


def test_mismatch_report_python_scalar_is_zero_dim() -> None:
    report = mismatch_report(np.ones(3), 1.0, **TOLERANCE)

    assert report == "expected shape (3,), received shape ()"


def test_mismatch_report_counts_differing_elements() -> None:
    expected = np.zeros(5)
    received = np.array([0.0, 1.0, 0.0, -2.0, 0.0])

    report = mismatch_report(expected, received, rtol=1e-4, atol=1e-6)

    assert report.startswith(
        "2 of 5 elements differ (tolerance: absolute 1e-06, relative 0.0001)."
    )


def test_mismatch_report_names_worst_index_and_input() -> None:
    inputs = np.arange(6.0).reshape(2, 3) - 2.5
    expected = np.zeros((2, 3))
    received = expected.copy()
    received[0, 1] = 0.1
    received[1, 2] = 0.5

    report = mismatch_report(expected, received, inputs=inputs, **TOLERANCE)

    assert (
        "Worst element at index [1, 2], input x = 2.5: expected 0, received 0.5."
        in (report)
    )


def test_mismatch_report_worst_is_relative_to_tolerance() -> None:
    # The first element has the larger absolute error, but the second exceeds
    # its own tolerance by the larger factor.
    expected = np.array([1000.0, 1.0])
    received = np.array([1003.0, 1.01])

    report = mismatch_report(expected, received, rtol=1e-3, atol=0.0)

    assert "Worst element at index [1]: expected 1, received 1.01." in report


def test_mismatch_report_states_largest_errors() -> None:
    expected = np.array([2.0, 4.0])
    received = np.array([2.5, 5.0])

    report = mismatch_report(expected, received, **TOLERANCE)

    assert report.endswith("Largest absolute error 1, largest relative error 0.25.")


def test_mismatch_report_inputs_of_other_shape_are_omitted() -> None:
    report = mismatch_report(np.zeros(3), np.ones(3), inputs=np.zeros(4), **TOLERANCE)

    assert "Worst element at index [0]: expected 0, received 1." in report


def test_mismatch_report_names_grad_output_at_worst() -> None:
    expected = np.zeros(3)
    received = np.array([0.0, 0.0, 1.0])

    report = mismatch_report(
        expected,
        received,
        inputs=np.array([1.0, 2.0, 3.0]),
        grad_output=np.array([0.5, -0.5, -2.0]),
        **TOLERANCE,
    )

    assert (
        "Worst element at index [2], input x = 3, grad_output = -2: "
        "expected 0, received 1." in report
    )


def test_mismatch_report_grad_output_of_other_shape_omitted() -> None:
    report = mismatch_report(
        np.zeros(3), np.ones(3), grad_output=np.ones(2), **TOLERANCE
    )

    assert "grad_output" not in report


def test_mismatch_report_nan_received_differs() -> None:
    expected = np.array([1.0, 2.0])
    received = np.array([1.0, np.nan])

    report = mismatch_report(expected, received, **TOLERANCE)

    assert report.startswith("1 of 2 elements differ")
    assert "Worst element at index [1]: expected 2, received nan." in report
    assert "Largest absolute error inf" in report


def test_mismatch_report_nan_outranks_finite_error() -> None:
    expected = np.zeros(3)
    received = np.array([5.0, np.nan, 0.0])

    report = mismatch_report(expected, received, **TOLERANCE)

    assert "Worst element at index [1]" in report


def test_mismatch_report_inf_received_for_finite_differs() -> None:
    report = mismatch_report(np.array([1.0]), np.array([np.inf]), **TOLERANCE)

    assert "expected 1, received inf" in report


def test_mismatch_report_equal_infinities_match() -> None:
    expected = np.array([np.inf, -np.inf, 1.0])

    assert mismatch_report(expected, expected.copy(), **TOLERANCE) is None


@pytest.mark.parametrize("received", [-np.inf, 1.0, 0.0], ids=str)
def test_mismatch_report_inf_expected_other_received_differs(received: float) -> None:
    report = mismatch_report(np.array([np.inf]), np.array([received]), **TOLERANCE)

    assert report is not None


def test_mismatch_report_zero_expected_relative_error_is_inf() -> None:
    report = mismatch_report(np.array([0.0]), np.array([1.0]), **TOLERANCE)

    assert report.endswith("largest relative error inf.")


def test_mismatch_report_zero_dim_equal_returns_none() -> None:
    assert mismatch_report(np.array(1.5), np.array(1.5), **TOLERANCE) is None


def test_mismatch_report_zero_dim_difference_reported() -> None:
    report = mismatch_report(
        np.array(2.0), np.array(3.0), inputs=np.array(0.5), **TOLERANCE
    )

    assert report == (
        "1 of 1 elements differ (tolerance: absolute 1e-06, relative 0.0001). "
        "Worst element at index [], input x = 0.5: expected 2, received 3. "
        "Largest absolute error 1, largest relative error 0.5."
    )


def test_mismatch_report_empty_arrays_return_none() -> None:
    assert mismatch_report(np.zeros((0, 3)), np.zeros((0, 3)), **TOLERANCE) is None

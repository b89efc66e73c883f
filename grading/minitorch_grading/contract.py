"""The contract every activation class must meet, as reusable hidden checks.

Each ``check_*`` function drives the student's class in the worker, compares
what comes back with :mod:`minitorch_grading.reference`, and raises
:class:`CheckFailed` with a message meant for the student: the class, the
method, the kind of input, and the worst mismatch. Messages never quote the
grader's code, its tolerances' source or its random seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minitorch_grading import reference
from minitorch_grading.compare import mismatch_report
from minitorch_grading.sandbox import (
    ArrayInfo,
    CallResult,
    RemoteObject,
    StudentError,
    Submission,
    Unsupported,
    WorkerCrashed,
    WorkerTimeout,
)

MODULE_BASE = "minitorch.module.Module"

# Shapes from 0-d to 4-d; every forward and backward check runs on all of them.
SHAPES = [(), (7,), (3, 4), (2, 3, 4), (2, 2, 3, 3)]

# float64 results may differ from the reference only by rounding. float32
# results may differ by a few units in the last place of float32, and by more
# in absolute terms where cancellation, as in 1 + tanh(u) near u = -inf, loses
# relative accuracy.
TOLERANCE = {
    np.float64: {"rtol": 1e-7, "atol": 1e-12},
    np.float32: {"rtol": 2e-5, "atol": 1e-5},
}
FINITE_DIFFERENCE_STEP = 1e-6
FINITE_DIFFERENCE_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}

# Wall-clock limit, measured by the grader, for one forward or one backward
# call on LARGE_SIZE elements, the array's trip to the worker included. On a
# 2-core x86-64 machine a vectorised numpy solution takes 10 to 60 ms. A Python
# loop that calls np.tanh per element takes 0.8 s there, so a limit of a whole
# second let it through. The notebook tells students "well under a second".
LARGE_SIZE = 10**6
LARGE_CALL_SECONDS = 0.5


class CheckFailed(AssertionError):
    """A check failed; the message is shown to the student as it is."""


@dataclass(frozen=True)
class Alternative:
    """A known wrong formula and the hint to give when a submission matches it."""

    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    hint: str


@dataclass(frozen=True)
class ActivationSpec:
    """Reference functions, constructor arguments and kinks of one checked class."""

    class_name: str
    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    kwargs: dict[str, Any] = field(default_factory=dict)
    kinks: tuple[float, ...] = ()
    alternatives: tuple[Alternative, ...] = ()

    @property
    def label(self) -> str:
        if not self.kwargs:
            return self.class_name
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return f"{self.class_name}({arguments})"


def fail(message: str) -> None:
    """Raise :class:`CheckFailed` with ``message``."""
    raise CheckFailed(message)


def describe_input(x: np.ndarray, note: str = "") -> str:
    """Describe an input for a message, e.g. 'a float32 input of shape (3, 4)'."""
    text = f"a {x.dtype} input of shape {x.shape}"
    return f"{text} {note}" if note else text


def random_input(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, kinks: tuple = ()
) -> np.ndarray:
    """Standard normal values scaled by 3, with each kink value planted once or more."""
    x = np.asarray(rng.standard_normal(shape) * 3.0)
    if kinks and x.size:
        flat = x.reshape(-1)
        for position, kink in zip(rng.permutation(flat.size), kinks * 2):
            flat[position] = kink
    return np.asarray(x, dtype=dtype)


def input_away_from_kinks(
    rng: np.random.Generator, shape: tuple[int, ...], kinks: tuple, margin: float = 1e-2
) -> np.ndarray:
    """float64 input whose elements all lie at least ``margin`` from every kink."""
    x = np.asarray(rng.standard_normal(shape) * 3.0)
    for kink in kinks:
        near = np.abs(x - kink) < margin
        x = np.where(near, kink + np.where(x >= kink, 2 * margin, -2 * margin), x)
    return x


# Talking to the worker ------------------------------------------------------


def student_error(where: str, error: StudentError) -> CheckFailed:
    """Build the failure for submission code at ``where`` that raised ``error``."""
    text = f"{where} raised {error.type_name}"
    if error.message:
        text += f": {error.message}"
    if error.traceback:
        text += f"\n{error.traceback.rstrip()}"
    return CheckFailed(text)


def find_class(submission: Submission, name: str) -> dict[str, Any]:
    """Return the worker's description of class ``name`` or fail with a hint."""
    info = submission.inspect(name)
    if info.get("kind") == "class":
        return info

    classes = [str(c) for c in info.get("classes", [])]
    lowered = {c.lower().replace("_", ""): c for c in classes}
    near = lowered.get(name.lower().replace("_", ""))
    if info.get("kind") == "missing":
        message = f"The notebook defines no class named {name}."
    else:
        message = f"{name} is defined, but it is not a class."
    if near:
        message += f" It defines {near}: rename it to {name}."
    elif classes:
        message += f" Classes it defines: {', '.join(classes)}."
    errors = submission.cell_errors
    if errors:
        first = min(errors)
        message += (
            f" Note that {submission.describe_cell(first)} raised "
            f"{errors[first].type_name} when the notebook ran, so its definitions "
            "may be missing."
        )
    raise CheckFailed(message)


def instantiate(submission: Submission, spec: ActivationSpec) -> RemoteObject:
    """Create the student's ``spec.class_name`` with the spec's arguments."""
    find_class(submission, spec.class_name)
    try:
        return submission.new(spec.class_name, **spec.kwargs)
    except StudentError as error:
        raise student_error(f"Creating {spec.label}", error) from None


def call_array(
    obj: RemoteObject,
    method: str,
    where: str,
    *args: Any,
    seconds: float | None = None,
    brief: bool = False,
) -> tuple[Any, CallResult]:
    """Call ``obj.method(*args)`` and require an ndarray or numpy scalar back.

    With ``brief`` the array stays in the worker and an :class:`ArrayInfo`
    with its dtype and shape comes back instead.
    """
    try:
        result = obj.call(method, *args, seconds=seconds, brief=brief)
    except StudentError as error:
        raise student_error(where, error) from None
    except WorkerTimeout as error:
        raise CheckFailed(f"{where} {error}.") from None
    except WorkerCrashed as error:
        raise CheckFailed(f"{where} stopped Python: {error}.") from None

    value = result.value
    if isinstance(value, Unsupported):
        fail(f"{where} returned {value.description}; return a numeric numpy array.")
    if not isinstance(value, (np.ndarray, ArrayInfo)):
        kind = "None" if value is None else type(value).__name__
        fail(
            f"{where} returned {kind}; return a numpy array of the same shape as "
            "the input."
        )
    if value.dtype.kind != "f":
        fail(
            f"{where} returned an array of dtype {value.dtype}; return floating values."
        )
    return value, result


def _hint(
    spec: ActivationSpec,
    received: np.ndarray,
    x: np.ndarray,
    derivative: bool,
    grad_output: np.ndarray | None,
) -> str:
    """Return the hint of the first known wrong formula that ``received`` matches."""
    tolerance = TOLERANCE.get(x.dtype.type, TOLERANCE[np.float32])
    if (
        derivative
        and grad_output is not None
        and not np.all(grad_output == 1)
        and mismatch_report(spec.derivative(x), received, **tolerance) is None
    ):
        return (
            " The values equal the local derivative f'(x) alone: multiply it by "
            "grad_output (the chain rule)."
        )
    for alternative in spec.alternatives:
        if derivative:
            upstream = 1.0 if grad_output is None else grad_output.astype(np.float64)
            expected = alternative.derivative(x) * upstream
        else:
            expected = alternative.forward(x)
        if mismatch_report(expected, received, **tolerance) is None:
            return " " + alternative.hint
    return ""


def expect_close(
    spec: ActivationSpec,
    where: str,
    expected: np.ndarray,
    received: np.ndarray,
    x: np.ndarray,
    *,
    derivative: bool,
    tolerance: dict[str, float] | None = None,
    grad_output: np.ndarray | None = None,
) -> None:
    """Fail with a mismatch report unless ``received`` matches ``expected``."""
    tolerance = tolerance or TOLERANCE.get(x.dtype.type, TOLERANCE[np.float32])
    report = mismatch_report(
        expected, received, inputs=x, grad_output=grad_output, **tolerance
    )
    if report is not None:
        hint = _hint(spec, received, x, derivative, grad_output)
        fail(f"{where}: {report}{hint}")


def forward(
    obj: RemoteObject,
    spec: ActivationSpec,
    x: np.ndarray,
    note: str = "",
    seconds: float | None = None,
) -> tuple[np.ndarray, CallResult]:
    """Run forward on ``x`` and check the output's shape."""
    where = f"{spec.label}.forward on {describe_input(x, note)}"
    y, result = call_array(obj, "forward", where, x, seconds=seconds)
    if y.shape != x.shape:
        fail(
            f"{where} returned shape {y.shape}; the output must keep the input's shape."
        )
    return y, result


def backward(
    obj: RemoteObject,
    spec: ActivationSpec,
    x: np.ndarray,
    grad: np.ndarray,
    note: str = "",
    seconds: float | None = None,
) -> tuple[np.ndarray, CallResult]:
    """Run backward with ``grad`` after a forward on ``x``; check the shape."""
    where = f"{spec.label}.backward after forward on {describe_input(x, note)}"
    g, result = call_array(obj, "backward", where, grad, seconds=seconds)
    if g.shape != x.shape:
        fail(
            f"{where} returned shape {g.shape}; the gradient must have the "
            "input's shape."
        )
    return g, result


# The checks -----------------------------------------------------------------


def check_forward_values(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """forward matches the reference on float64 inputs of every rank from 0 to 4."""
    obj = instantiate(submission, spec)
    for shape in SHAPES:
        x = random_input(rng, shape, np.float64, spec.kinks)
        y, _ = forward(obj, spec, x)
        where = f"{spec.label}.forward on {describe_input(x)}"
        if y.dtype != np.float64:
            fail(f"{where} returned dtype {y.dtype}; keep the input's dtype.")
        expect_close(spec, where, spec.forward(x), y, x, derivative=False)


def check_float32(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """float32 inputs: forward keeps float32; forward and backward are accurate."""
    obj = instantiate(submission, spec)
    for shape in SHAPES:
        x = random_input(rng, shape, np.float32)
        y, _ = forward(obj, spec, x)
        where = f"{spec.label}.forward on {describe_input(x)}"
        if y.dtype != np.float32:
            fail(
                f"{where} returned dtype {y.dtype}; the output must keep the input's "
                "dtype. Look for float64 numpy values mixed into the computation, "
                "such as np.sqrt(2 / np.pi) or np.float64(...), and for astype(float); "
                "plain Python floats keep float32."
            )
        expect_close(spec, where, spec.forward(x), y, x, derivative=False)

        grad = rng.standard_normal(shape).astype(np.float32)
        g, _ = backward(obj, spec, x, grad)
        where = f"{spec.label}.backward after forward on {describe_input(x)}"
        expected = spec.derivative(x) * grad.astype(np.float64)
        expect_close(
            spec,
            where,
            expected,
            g,
            x,
            derivative=True,
            tolerance=TOLERANCE[np.float32],
            grad_output=grad,
        )


def check_forward_keeps_input(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """forward leaves its input array unchanged."""
    obj = instantiate(submission, spec)
    for dtype in (np.float64, np.float32):
        x = random_input(rng, (4, 5), dtype, spec.kinks)
        _, result = forward(obj, spec, x)
        after = result.args_after[0]
        if not isinstance(after, np.ndarray) or not np.array_equal(
            after, x, equal_nan=True
        ):
            changed = (
                int(np.count_nonzero(np.asarray(after) != x))
                if isinstance(after, np.ndarray) and after.shape == x.shape
                else x.size
            )
            fail(
                f"{spec.label}.forward modified its input ({changed} of {x.size} "
                f"elements of {describe_input(x)} changed). Compute the output in a "
                "new array instead of writing into x."
            )


def check_backward_values(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """backward returns derivative times grad_output on float64 inputs of every rank."""
    obj = instantiate(submission, spec)
    note = "with some elements exactly at " + ", ".join(f"{k:g}" for k in spec.kinks)
    for shape in SHAPES:
        x = random_input(rng, shape, np.float64, spec.kinks)
        grad = rng.standard_normal(shape)
        forward(obj, spec, x)
        g, _ = backward(obj, spec, x, grad, note if spec.kinks and x.size else "")
        where = f"{spec.label}.backward after forward on " + describe_input(
            x, note if spec.kinks and x.size else ""
        )
        expected = spec.derivative(x) * grad
        expect_close(spec, where, expected, g, x, derivative=True, grad_output=grad)


def check_finite_differences(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """backward agrees with central finite differences of forward away from kinks."""
    obj = instantiate(submission, spec)
    x = input_away_from_kinks(rng, (3, 5), spec.kinks)
    grad = rng.standard_normal(x.shape)
    forward(obj, spec, x)
    analytic, _ = backward(obj, spec, x, grad)

    # The forward is element-wise, so one pair of batched calls gives every
    # partial derivative: (f(x + h) - f(x - h)) / 2h, element by element.
    plus, _ = forward(obj, spec, x + FINITE_DIFFERENCE_STEP)
    minus, _ = forward(obj, spec, x - FINITE_DIFFERENCE_STEP)
    numeric = (plus - minus) / (2 * FINITE_DIFFERENCE_STEP) * grad
    where = (
        f"{spec.label}.backward compared with finite differences of "
        f"{spec.label}.forward on {describe_input(x)}"
    )
    report = mismatch_report(numeric, analytic, inputs=x, **FINITE_DIFFERENCE_TOLERANCE)
    if report is not None:
        fail(
            f"{where}: {report} The analytic derivative disagrees with your own "
            "forward."
        )


def check_backward_keeps_grad_output(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """backward leaves grad_output unchanged and returns the same result twice."""
    obj = instantiate(submission, spec)
    x = random_input(rng, (4, 5), np.float64, spec.kinks)
    grad = rng.standard_normal(x.shape)
    forward(obj, spec, x)
    first, result = backward(obj, spec, x, grad)
    after = result.args_after[0]
    if not isinstance(after, np.ndarray) or not np.array_equal(after, grad):
        fail(
            f"{spec.label}.backward modified grad_output after forward on "
            f"{describe_input(x)}. Return a new array instead of writing into "
            "grad_output: the caller may still need it."
        )
    second, _ = backward(obj, spec, x, grad)
    if not np.array_equal(first, second, equal_nan=True):
        report = mismatch_report(first, second, rtol=0.0, atol=0.0, inputs=x)
        fail(
            f"{spec.label}.backward returned a different result when called a second "
            f"time with the same grad_output: {report} backward must not change the "
            "layer's state."
        )


def check_latest_input(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """backward differentiates at the input of the most recent forward call."""
    obj = instantiate(submission, spec)
    first = random_input(rng, (3, 4), np.float64, spec.kinks)
    latest = -first + rng.standard_normal(first.shape)
    grad = rng.standard_normal(first.shape)
    forward(obj, spec, first)
    forward(obj, spec, latest)
    g, _ = backward(
        obj, spec, latest, grad, "(after an earlier forward on another input)"
    )
    report = mismatch_report(
        spec.derivative(latest) * grad, g, inputs=latest, **TOLERANCE[np.float64]
    )
    if report is not None:
        hint = _hint(spec, g, latest, True, grad)
        if (
            mismatch_report(spec.derivative(first) * grad, g, **TOLERANCE[np.float64])
            is None
        ):
            hint = (
                " The result matches the first input instead: store x on "
                "every forward call."
            )
        fail(
            f"{spec.label}.backward after two forward calls must use the input of the "
            f"latest call: {report}{hint}"
        )


def check_extreme_inputs(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """forward and backward stay finite and accurate at very large |x|."""
    obj = instantiate(submission, spec)
    for dtype, magnitude in ((np.float64, 1000.0), (np.float32, 100.0)):
        x = np.array(
            [-magnitude, -magnitude / 2, magnitude / 2, magnitude], dtype=dtype
        )
        grad = np.ones_like(x)
        note = f"with values up to ±{magnitude:g}"
        y, _ = forward(obj, spec, x, note)
        where = f"{spec.label}.forward on {describe_input(x, note)}"
        if not np.all(np.isfinite(y)):
            bad = int(np.flatnonzero(~np.isfinite(y))[0])
            fail(
                f"{where} returned {y[bad]} at x = {x[bad]:g}; the output must be "
                "finite."
            )
        expect_close(spec, where, spec.forward(x), y, x, derivative=False)

        g, _ = backward(obj, spec, x, grad, note)
        where = f"{spec.label}.backward after forward on {describe_input(x, note)}"
        if not np.all(np.isfinite(g)):
            bad = int(np.flatnonzero(~np.isfinite(g))[0])
            fail(
                f"{where} returned {g[bad]} at x = {x[bad]:g}; the gradient must "
                "be finite."
            )
        expect_close(spec, where, spec.derivative(x), g, x, derivative=True)


def check_large_input_speed(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """forward and backward on a million elements each finish within half a second."""
    obj = instantiate(submission, spec)
    x = rng.standard_normal(LARGE_SIZE)
    grad = rng.standard_normal(LARGE_SIZE)
    for method, args in (("forward", (x,)), ("backward", (grad,))):
        where = f"{spec.label}.{method} on {describe_input(x)}"
        started = time.monotonic()
        try:
            value, _ = call_array(
                obj, method, where, *args, seconds=5 * LARGE_CALL_SECONDS, brief=True
            )
        except WorkerTimeout:
            fail(
                f"{where} did not finish within {5 * LARGE_CALL_SECONDS:g} s. "
                "Use whole-array numpy operations instead of a Python loop."
            )
        seconds = time.monotonic() - started
        if seconds > LARGE_CALL_SECONDS:
            fail(
                f"{where} took {seconds:.2f} s; the limit is {LARGE_CALL_SECONDS:g} s. "
                "Use whole-array numpy operations instead of a Python loop."
            )
        if value.shape != x.shape:
            fail(f"{where} returned shape {value.shape}; expected {x.shape}.")


def check_inherits_activation(
    submission: Submission, spec: ActivationSpec, rng: np.random.Generator
) -> None:
    """the class derives from Activation and, after forward, has no parameters."""
    info = find_class(submission, spec.class_name)
    if "__main__.Activation" not in info.get("mro", []):
        fail(
            f"{spec.class_name} must be a subclass of Activation: "
            f"write class {spec.class_name}(Activation)."
        )
    obj = instantiate(submission, spec)
    # A class whose forward is still the stub earns nothing here; other wrong
    # forwards are reported by the checks of forward.
    x = random_input(rng, (3,), np.float64)
    try:
        obj.call("forward", x)
    except StudentError as error:
        if error.type_name == "NotImplementedError":
            raise student_error(f"{spec.label}.forward", error) from None
    for method in ("parameters", "grads"):
        try:
            value = obj.call(method).value
        except StudentError as error:
            raise student_error(f"{spec.label}.{method}()", error) from None
        if not is_empty_sequence(value):
            fail(
                f"{spec.label}.{method}() returned {describe_value(value)}; an "
                "activation has no parameters, so it must return []."
            )


def is_empty_sequence(value: Any) -> bool:
    """Return whether ``value`` is an empty list, tuple or 1-d array.

    The Activation base-class check insists on ``[]``; for a subclass an empty
    array is accepted, so one mistake in the base class costs one point.
    """
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.size == 0
    return isinstance(value, (list, tuple)) and len(value) == 0


def describe_value(value: Any) -> str:
    """Describe a value returned by submission code, for a message."""
    if isinstance(value, np.ndarray):
        return f"an ndarray of shape {value.shape}"
    if isinstance(value, Unsupported):
        return value.description
    if isinstance(value, (list, tuple)) and len(value) <= 5:
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, RemoteObject):
        return f"a {value.type_name} object"
    return repr(value) if value is None else f"a {type(value).__name__}"


COMMON_CHECKS = (
    check_forward_values,
    check_float32,
    check_forward_keeps_input,
    check_backward_values,
    check_finite_differences,
    check_backward_keeps_grad_output,
    check_latest_input,
    check_extreme_inputs,
    check_large_input_speed,
    check_inherits_activation,
)


ACTIVATIONS = {
    "ReLU": ActivationSpec(
        "ReLU", reference.relu, reference.relu_derivative, kinks=(0.0,)
    ),
    "LeakyReLU": ActivationSpec(
        "LeakyReLU",
        reference.leaky_relu,
        reference.leaky_relu_derivative,
        kinks=(0.0,),
    ),
    "Sigmoid": ActivationSpec(
        "Sigmoid", reference.sigmoid, reference.sigmoid_derivative
    ),
    "Tanh": ActivationSpec("Tanh", reference.tanh, reference.tanh_derivative),
    "GELU": ActivationSpec(
        "GELU",
        reference.gelu_tanh,
        reference.gelu_tanh_derivative,
        alternatives=(
            Alternative(
                reference.gelu_erf,
                reference.gelu_erf_derivative,
                "Your values match the exact GELU, 0.5 x (1 + erf(x / sqrt(2))). This "
                "assignment asks for the tanh approximation, "
                "0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), and its "
                "derivative.",
            ),
        ),
    ),
}

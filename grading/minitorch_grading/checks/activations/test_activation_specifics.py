"""Hidden checks that apply to one activation class each."""

import numpy as np
import pytest

from minitorch_grading import contract, reference


@pytest.mark.check(
    grade_id="sigmoid",
    points=1,
    description=(
        "Sigmoid: no overflow warning at x = ±1000 (float64) and ±100 (float32)"
    ),
)
def test_sigmoid_no_overflow_warning(submission):
    spec = contract.ACTIVATIONS["Sigmoid"]
    obj = contract.instantiate(submission, spec)
    for dtype, magnitude in ((np.float64, 1000.0), (np.float32, 100.0)):
        x = np.array([-magnitude, magnitude], dtype=dtype)
        note = f"with values ±{magnitude:g}"
        for method, argument in (("forward", x), ("backward", np.ones_like(x))):
            where = f"Sigmoid.{method} on {contract.describe_input(x, note)}"
            _, result = contract.call_array(obj, method, where, argument)
            if result.warnings:
                contract.fail(
                    f"{where} raised a warning: {result.warnings[0]}. Compute exp only "
                    "of non-positive numbers, for example exp(-|x|), so it "
                    "cannot overflow."
                )


@pytest.mark.check(
    grade_id="leaky_relu",
    points=1,
    description="LeakyReLU: honours a negative_slope other than the default",
)
def test_leaky_relu_custom_slope(submission, rng):
    slope = 0.2
    spec = contract.ActivationSpec(
        "LeakyReLU",
        lambda x: reference.leaky_relu(x, slope),
        lambda x: reference.leaky_relu_derivative(x, slope),
        kwargs={"negative_slope": slope},
        kinks=(0.0,),
    )
    obj = contract.instantiate(submission, spec)
    x = contract.random_input(rng, (4, 5), np.float64, spec.kinks)
    grad = rng.standard_normal(x.shape)
    y, _ = contract.forward(obj, spec, x)
    where = f"{spec.label}.forward on {contract.describe_input(x)}"
    contract.expect_close(spec, where, spec.forward(x), y, x, derivative=False)
    g, _ = contract.backward(obj, spec, x, grad)
    where = f"{spec.label}.backward after forward on {contract.describe_input(x)}"
    expected = spec.derivative(x) * grad
    contract.expect_close(
        spec, where, expected, g, x, derivative=True, grad_output=grad
    )

"""Hidden checks of the final exercise: a two-layer network on spiral data.

The student's ``train_spiral_classifier(X, y)`` trains on data sent by the
grader and returns ``(model, losses)``. The grader then measures accuracy on
held-out points from the same distribution, so a memorised training set or a
hard-coded output cannot pass.
"""

import math

import numpy as np
import pytest

from minitorch import make_spiral
from minitorch_grading import contract
from minitorch_grading.sandbox import StudentError, WorkerTimeout

REQUIRED_ACCURACY = 0.90
TRAINING_SECONDS = 60.0


@pytest.fixture(scope="module")
def trained(submission, seed):
    """Train once for both checks; returns (model, losses) or the failure message."""
    X, y = make_spiral(n_per_class=100, n_classes=3, noise=0.2, seed=seed % 2**31)
    info = submission.inspect("train_spiral_classifier")
    if info.get("kind") != "function":
        return "The notebook defines no function named train_spiral_classifier."
    try:
        result = submission.call_function(
            "train_spiral_classifier", X, y, seconds=TRAINING_SECONDS
        )
    except StudentError as error:
        return str(contract.student_error("train_spiral_classifier(X, y)", error))
    except WorkerTimeout:
        return (
            "train_spiral_classifier(X, y) did not finish within "
            f"{TRAINING_SECONDS:g} s "
            "on 300 points; use fewer epochs or a smaller hidden layer."
        )
    value = result.value
    if not isinstance(value, tuple) or len(value) != 2:
        return (
            "train_spiral_classifier(X, y) must return a tuple (model, losses); "
            f"it returned {type(value).__name__}."
        )
    return value


def _require(trained):
    if isinstance(trained, str):
        contract.fail(trained)
    return trained


@pytest.mark.check(
    grade_id="spiral_training",
    points=3,
    description=(
        f"Spiral network: at least {REQUIRED_ACCURACY:.0%} accuracy on held-out points"
    ),
)
def test_spiral_accuracy(submission, trained, seed):
    model, _ = _require(trained)
    if not hasattr(model, "call"):
        contract.fail(
            "The model returned by train_spiral_classifier has no forward method."
        )
    X_test, y_test = make_spiral(
        n_per_class=200, n_classes=3, noise=0.2, seed=(seed + 1) % 2**31
    )
    logits, _ = contract.call_array(
        model,
        "forward",
        "model.forward on held-out spiral points of shape (600, 2)",
        X_test,
    )
    if logits.shape != (len(X_test), 3):
        contract.fail(
            f"model.forward on held-out points of shape {X_test.shape} returned shape "
            f"{logits.shape}; expected (600, 3), one score per class."
        )
    accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    if accuracy < REQUIRED_ACCURACY:
        contract.fail(
            f"The trained model classifies {accuracy:.1%} of held-out spiral points "
            f"correctly; at least {REQUIRED_ACCURACY:.0%} is required. Try more hidden "
            "units, more epochs or a different learning rate."
        )


@pytest.mark.check(
    grade_id="spiral_training",
    points=1,
    description=(
        "Spiral network: the returned loss history is finite and falls below half "
        "its first value"
    ),
)
def test_spiral_losses(trained):
    _, losses = _require(trained)
    if isinstance(losses, np.ndarray) and losses.dtype.kind in "iuf":
        losses = [float(item) for item in losses.reshape(-1)]
    if not isinstance(losses, (list, tuple)) or len(losses) < 2:
        contract.fail(
            "train_spiral_classifier must return the loss of every epoch as a list of "
            f"numbers; received {contract.describe_value(losses)}."
        )
    values = []
    for item in losses:
        if isinstance(item, np.ndarray) and item.size == 1 and item.dtype.kind in "iuf":
            item = float(item.reshape(()))
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            contract.fail(
                f"The loss history contains a {type(item).__name__}; it must hold "
                "numbers."
            )
        values.append(float(item))
    if not all(math.isfinite(v) for v in values):
        contract.fail("The loss history contains nan or inf: lower the learning rate.")
    if not values[-1] < 0.5 * values[0]:
        contract.fail(
            f"The loss went from {values[0]:.4g} to {values[-1]:.4g}; training "
            "should at "
            "least halve it."
        )

"""Hidden checks shared by every activation class: one point each."""

import pytest

from minitorch_grading import contract

GRADE_IDS = {
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "GELU": "gelu",
}


def _cases():
    for class_name, grade_id in GRADE_IDS.items():
        spec = contract.ACTIVATIONS[class_name]
        for check in contract.COMMON_CHECKS:
            description = f"{class_name}: {check.__doc__.strip()}"
            mark = pytest.mark.check(
                grade_id=grade_id, points=1, description=description
            )
            yield pytest.param(
                spec, check, marks=mark, id=f"{class_name}-{check.__name__}"
            )


@pytest.mark.parametrize(("spec", "check"), list(_cases()))
def test_activation_contract(submission, rng, spec, check):
    check(submission, spec, rng)

"""Hidden checks of the Activation base class."""

import numpy as np
import pytest

from minitorch_grading import contract
from minitorch_grading.sandbox import StudentError


@pytest.mark.check(
    grade_id="activation_base",
    points=1,
    description="Activation: is a subclass of minitorch's Module",
)
def test_activation_is_module(submission):
    info = contract.find_class(submission, "Activation")
    if contract.MODULE_BASE not in info.get("mro", []):
        contract.fail(
            "Activation must be a subclass of minitorch's Module: write "
            "class Activation(Module) after `from minitorch import Module`."
        )


@pytest.mark.check(
    grade_id="activation_base",
    points=1,
    description="Activation: forward and backward are abstract",
)
def test_activation_methods_abstract(submission):
    info = contract.find_class(submission, "Activation")
    abstract = set(info.get("abstract", []))
    if {"forward", "backward"} <= abstract:
        return

    try:
        activation = submission.new("Activation")
    except StudentError as error:
        contract.fail(
            f"Creating Activation() raised {error.type_name}: {error.message}. Either "
            "mark forward and backward with @abstractmethod, or let Activation() be "
            "created and have forward and backward raise NotImplementedError."
        )
    x = np.zeros(3)
    for method in ("forward", "backward"):
        try:
            activation.call(method, x)
        except StudentError as error:
            if error.type_name == "NotImplementedError":
                continue
            contract.fail(
                f"Activation.{method} raised {error.type_name}; an abstract method "
                "must raise NotImplementedError."
            )
        else:
            contract.fail(
                f"Activation.{method} returned a value; it is abstract, so it "
                "must raise "
                "NotImplementedError (or be marked with @abstractmethod)."
            )


@pytest.mark.check(
    grade_id="activation_base",
    points=1,
    description=(
        "Activation: __init__ sets self.x = None; parameters() and grads() return []"
    ),
)
def test_activation_init_and_parameters(submission):
    contract.find_class(submission, "Activation")
    try:
        probe = submission.probe_subclass("Activation")
    except StudentError as error:
        contract.fail(
            "Creating a subclass of Activation that defines forward and backward "
            "raised "
            f"{error.type_name}: {error.message}"
        )
    try:
        x = probe.getattr("x")
    except StudentError:
        contract.fail(
            "Activation.__init__ must set self.x = None; the attribute is missing."
        )
    if x is not None:
        contract.fail(
            f"Activation.__init__ must set self.x = None; it is {type(x).__name__}."
        )
    for method in ("parameters", "grads"):
        try:
            value = probe.call(method).value
        except StudentError as error:
            contract.fail(
                f"Activation.{method}() raised {error.type_name}: {error.message}"
            )
        if not (isinstance(value, list) and value == []):
            contract.fail(
                f"Activation.{method}() returned {contract.describe_value(value)}; an "
                "activation has no parameters, so it must return []."
            )

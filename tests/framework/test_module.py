"""Tests for minitorch.module.Module."""

import numpy as np
import pytest

from minitorch import Module


class ReLU(Module):
    """Subclass that overrides nothing, as a student starts out."""


class Scale(Module):
    """Module with a setting, to check repr and argument passing."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def forward(self, x, *, offset=0.0):
        return self.factor * x + offset

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


def test_module_forward_not_implemented_names_subclass():
    with pytest.raises(
        NotImplementedError,
        match=r"^ReLU\.forward is not implemented: override it in ReLU$",
    ):
        ReLU().forward(np.ones(3))


def test_module_backward_not_implemented_names_subclass():
    with pytest.raises(
        NotImplementedError,
        match=r"^ReLU\.backward is not implemented: override it in ReLU$",
    ):
        ReLU().backward(np.ones(3))


def test_module_call_runs_forward():
    with pytest.raises(NotImplementedError, match=r"ReLU\.forward"):
        ReLU()(np.ones(3))

    result = Scale(2.0)(np.array([1.0, 2.0]), offset=1.0)

    np.testing.assert_array_equal(result, [3.0, 5.0])


def test_module_base_has_no_parameters():
    module = ReLU()

    assert module.parameters() == []
    assert module.grads() == []


def test_module_repr_shows_class_and_settings():
    assert repr(ReLU()) == "ReLU()"
    assert repr(Scale(0.5)) == "Scale(factor=0.5)"


def test_module_backward_before_forward_error_names_subclass():
    error = ReLU()._backward_before_forward_error()

    assert isinstance(error, RuntimeError)
    assert str(error) == (
        "ReLU.backward was called before forward: call forward(x) first so the "
        "module can cache its input"
    )

"""minitorch: a small numpy framework for learning how backpropagation works.

Every layer is a ``Module`` with a ``forward`` and a hand-written ``backward``, so
each gradient is visible. The package provides ``Linear`` and ``Sequential``, two
losses, an ``SGD`` optimizer, finite-difference gradient checks and a spiral toy
data set. Activation functions are left for the user to write as ``Module``
subclasses. numpy is the only dependency.
"""

from minitorch.data import make_spiral
from minitorch.gradcheck import (
    GradientCheckResult,
    assert_module_gradient,
    check_module_gradient,
    check_parameter_gradients,
    numerical_gradient,
)
from minitorch.layers import Linear, Sequential
from minitorch.losses import MSELoss, SoftmaxCrossEntropyLoss
from minitorch.module import Module
from minitorch.optim import SGD

__version__ = "0.1.0"

__all__ = [
    "SGD",
    "GradientCheckResult",
    "Linear",
    "MSELoss",
    "Module",
    "Sequential",
    "SoftmaxCrossEntropyLoss",
    "__version__",
    "assert_module_gradient",
    "check_module_gradient",
    "check_parameter_gradients",
    "make_spiral",
    "numerical_gradient",
]

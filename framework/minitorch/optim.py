"""Stochastic gradient descent with optional momentum."""

from __future__ import annotations

import numpy as np

from minitorch._checks import require_real
from minitorch.module import Module


class SGD:
    """Stochastic gradient descent that updates a module's parameters in place.

    Every ``step()`` reads ``module.parameters()`` and ``module.grads()`` again, so
    it uses the gradients of the latest ``backward`` call. Without momentum the
    update is ``p -= lr * g``. With momentum, each parameter has a velocity buffer
    ``v = momentum * v + g`` (starting at ``g``) and the update is ``p -= lr * v``,
    the same rule as ``torch.optim.SGD`` without dampening or Nesterov. Buffers are
    matched to parameters by position in ``parameters()``.

    Args:
        module: Module whose parameters are trained.
        lr: Learning rate, greater than 0.
        momentum: Momentum factor in ``[0, 1)``. 0 disables momentum.

    Raises:
        TypeError: If ``module`` is not a Module or a number has the wrong type.
        ValueError: If ``lr <= 0`` or ``momentum`` is outside ``[0, 1)``.
    """

    def __init__(self, module: Module, lr: float, momentum: float = 0.0) -> None:
        if not isinstance(module, Module):
            raise TypeError(
                f"SGD expected a Module as its first argument, received "
                f"{type(module).__name__}"
            )
        lr = require_real(lr, "SGD lr")
        momentum = require_real(momentum, "SGD momentum")
        if lr <= 0:
            raise ValueError(f"SGD lr must be greater than 0, received {lr!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD momentum must be in [0, 1), received {momentum!r}")
        self.module = module
        self.lr = lr
        self.momentum = momentum
        self._velocities: list[np.ndarray] | None = None

    def step(self) -> None:
        """Update every parameter of the module in place with its current gradient.

        Raises:
            TypeError: If a parameter is not a floating-point numpy array.
            ValueError: If ``parameters()`` and ``grads()`` differ in length, or a
                gradient's shape differs from its parameter's shape.
            RuntimeError: With momentum, if the number or shapes of the parameters
                changed since the first step.
        """
        params = self.module.parameters()
        grads = self.module.grads()
        self._check_pairs(params, grads)

        if self.momentum == 0.0:
            for param, grad in zip(params, grads):
                param -= self.lr * grad
            return

        if self._velocities is None:
            self._velocities = [np.array(grad, dtype=np.float64) for grad in grads]
        else:
            self._check_velocities(params)
            for velocity, grad in zip(self._velocities, grads):
                velocity *= self.momentum
                velocity += grad
        for param, velocity in zip(params, self._velocities):
            param -= self.lr * velocity

    def _check_pairs(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        name = type(self.module).__name__
        if len(params) != len(grads):
            raise ValueError(
                f"SGD.step: {name}.parameters() returned {len(params)} arrays but "
                f"{name}.grads() returned {len(grads)}: both lists must have the "
                "same length and order"
            )
        for index, (param, grad) in enumerate(zip(params, grads)):
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                kind = getattr(param, "dtype", type(param).__name__)
                raise TypeError(
                    f"SGD.step: parameter {index} of {name} is {kind}, but SGD "
                    "updates parameters in place, so they must be floating-point "
                    "numpy arrays"
                )
            grad_shape = np.shape(grad)
            if param.shape != grad_shape:
                raise ValueError(
                    f"SGD.step: parameter {index} of {name} has shape "
                    f"{param.shape} but its gradient has shape {grad_shape}"
                )

    def _check_velocities(self, params: list[np.ndarray]) -> None:
        assert self._velocities is not None
        shapes = [param.shape for param in params]
        buffer_shapes = [velocity.shape for velocity in self._velocities]
        if shapes != buffer_shapes:
            raise RuntimeError(
                f"SGD.step: the parameter shapes changed from {buffer_shapes} to "
                f"{shapes} since the first step, so the momentum buffers no longer "
                "match: create a new SGD for the changed module"
            )

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum})"

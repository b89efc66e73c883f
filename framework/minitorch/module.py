"""Base class for layers, activations and losses."""

from __future__ import annotations

from typing import Any

import numpy as np


class Module:
    """Base class of every layer, activation and loss.

    A subclass overrides ``forward`` to compute its output and caches whatever
    ``backward`` needs. ``backward(grad_output)`` receives the gradient of the loss
    with respect to the last output and returns the gradient with respect to the
    last input. A module with trainable parameters also overrides ``parameters`` and
    ``grads`` so that both return lists in the same order with matching shapes.

    Example:
        >>> import numpy as np
        >>> class Square(Module):
        ...     def forward(self, x):
        ...         self.x = x
        ...         return x**2
        ...     def backward(self, grad_output):
        ...         return 2 * self.x * grad_output
        >>> Square()(np.array([1.0, 3.0]))
        array([1., 9.])
    """

    def forward(self, *args: Any) -> Any:
        """Compute the module's output. Subclasses must override this method.

        Raises:
            NotImplementedError: Always, in the base class.
        """
        name = type(self).__name__
        raise NotImplementedError(
            f"{name}.forward is not implemented: override it in {name}"
        )

    def backward(self, grad_output: np.ndarray) -> Any:
        """Return the gradient with respect to the input of the last ``forward`` call.

        Subclasses must override this method.

        Args:
            grad_output: Gradient of the loss with respect to the last output.

        Raises:
            NotImplementedError: Always, in the base class.
        """
        name = type(self).__name__
        raise NotImplementedError(
            f"{name}.backward is not implemented: override it in {name}"
        )

    def parameters(self) -> list[np.ndarray]:
        """Return the trainable parameter arrays (an empty list in the base class).

        Optimizers update the returned arrays in place, so a subclass must return
        the arrays that ``forward`` uses, not copies.
        """
        return []

    def grads(self) -> list[np.ndarray]:
        """Return the gradient arrays in the order and shapes of ``parameters()``."""
        return []

    def extra_repr(self) -> str:
        """Return the settings shown inside the parentheses of ``repr(module)``."""
        return ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` with the given arguments and return its output."""
        return self.forward(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _backward_before_forward_error(self) -> RuntimeError:
        """Build the error that ``backward`` raises when no input is cached yet.

        Use it as ``raise self._backward_before_forward_error()``.
        """
        name = type(self).__name__
        return RuntimeError(
            f"{name}.backward was called before forward: call forward(x) first so "
            "the module can cache its input"
        )

"""Fully connected layer and a container that chains modules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, overload

import numpy as np

from minitorch._checks import require_positive_int
from minitorch.module import Module


class Linear(Module):
    """Affine layer that computes ``x @ weight + bias``.

    The parameters are float64 and start uniform in
    ``[-1/sqrt(in_features), 1/sqrt(in_features)]``, the same range that
    ``torch.nn.Linear`` uses for its default initialisation. Unlike
    ``torch.nn.Linear``, ``weight`` has shape ``(in_features, out_features)``, so
    no transpose is needed in ``forward``.

    Args:
        in_features: Size of the last dimension of the input.
        out_features: Size of the last dimension of the output.
        seed: Seed for a new ``np.random.Generator`` used for initialisation.
        rng: Generator used for initialisation. Pass either ``seed`` or ``rng``,
            not both. With neither, the initial values are not reproducible.

    Attributes:
        weight: Array of shape ``(in_features, out_features)``.
        bias: Array of shape ``(out_features,)``.
        grad_weight: Gradient of the loss with respect to ``weight``, set by
            ``backward``. All zeros before the first ``backward`` call.
        grad_bias: Gradient of the loss with respect to ``bias``, set by
            ``backward``. All zeros before the first ``backward`` call.

    Raises:
        TypeError: If a size is not an int, or ``rng`` is not a Generator.
        ValueError: If a size is not positive, or both ``seed`` and ``rng`` are
            given.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.in_features = require_positive_int(in_features, "Linear in_features")
        self.out_features = require_positive_int(out_features, "Linear out_features")
        if seed is not None and rng is not None:
            raise ValueError(
                "Linear accepts either seed or rng, not both: "
                f"received seed={seed!r} and an rng"
            )
        if rng is None:
            rng = np.random.default_rng(seed)
        elif not isinstance(rng, np.random.Generator):
            raise TypeError(
                "Linear rng must be a numpy.random.Generator, received "
                f"{type(rng).__name__}: create one with np.random.default_rng(seed)"
            )

        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = rng.uniform(
            -bound, bound, size=(self.in_features, self.out_features)
        )
        self.bias = rng.uniform(-bound, bound, size=(self.out_features,))
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)
        self._input: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute ``x @ weight + bias`` and cache a copy of ``x`` for ``backward``.

        Args:
            x: Array of shape ``(N, in_features)`` or ``(in_features,)``.

        Returns:
            Array of shape ``(N, out_features)`` or ``(out_features,)``, float64.

        Raises:
            ValueError: If ``x`` is not 1-D or 2-D, or its last dimension is not
                ``in_features``.
        """
        # A copy, so that changing x in place after forward cannot change backward.
        x = np.array(x, dtype=np.float64)
        if x.ndim not in (1, 2):
            raise ValueError(
                "Linear.forward expected input of shape (N, in_features) or "
                f"(in_features,), received x.shape={x.shape}"
            )
        if x.shape[-1] != self.in_features:
            raise ValueError(
                "Linear.forward expected input with last dimension "
                f"in_features={self.in_features}, received x.shape={x.shape}"
            )
        self._input = x
        return x @ self.weight + self.bias

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Compute the parameter gradients and return the gradient of the input.

        ``grad_weight`` and ``grad_bias`` are overwritten, not accumulated: after
        two ``backward`` calls they contain the gradient of the second call only.
        For a batch, the gradients are summed over the batch dimension.

        Args:
            grad_output: Gradient of the loss with respect to the last output, with
                the same shape as that output.

        Returns:
            Gradient of the loss with respect to the last input, with its shape.

        Raises:
            RuntimeError: If ``forward`` has not been called yet.
            ValueError: If ``grad_output`` does not have the shape of the last output.
        """
        if self._input is None:
            raise self._backward_before_forward_error()
        grad_output = np.asarray(grad_output, dtype=np.float64)
        output_shape = self._input.shape[:-1] + (self.out_features,)
        if grad_output.shape != output_shape:
            raise ValueError(
                "Linear.backward expected grad_output with the shape of the last "
                f"output {output_shape}, received grad_output.shape={grad_output.shape}"
            )

        # Treat a 1-D input as a batch of one, so one formula covers both cases.
        inputs = self._input.reshape(-1, self.in_features)
        grads = grad_output.reshape(-1, self.out_features)
        self.grad_weight = inputs.T @ grads
        self.grad_bias = grads.sum(axis=0)
        return (grads @ self.weight.T).reshape(self._input.shape)

    def parameters(self) -> list[np.ndarray]:
        """Return ``[weight, bias]``."""
        return [self.weight, self.bias]

    def grads(self) -> list[np.ndarray]:
        """Return ``[grad_weight, grad_bias]``."""
        return [self.grad_weight, self.grad_bias]

    def extra_repr(self) -> str:
        """Return the sizes shown by ``repr``."""
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Sequential(Module):
    """Container that applies its modules one after another.

    ``forward`` passes the input through the modules in order, and ``backward``
    passes the gradient through them in reverse order. ``parameters()`` and
    ``grads()`` concatenate the lists of the modules in order.

    Args:
        *modules: Module instances to chain.

    Raises:
        TypeError: If an argument is not a Module instance. The message names its
            position and type.

    Example:
        >>> model = Sequential(Linear(2, 8, seed=0), Linear(8, 3, seed=1))
        >>> len(model), model[0]
        (2, Linear(in_features=2, out_features=8))
    """

    def __init__(self, *modules: Module) -> None:
        for index, module in enumerate(modules):
            if isinstance(module, type) and issubclass(module, Module):
                raise TypeError(
                    f"Sequential argument at position {index} is the class "
                    f"{module.__name__}, not an instance: pass {module.__name__}()"
                )
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential argument at position {index} must be a Module, "
                    f"received {type(module).__name__}"
                )
        self.modules: list[Module] = list(modules)

    def forward(self, x: Any) -> Any:
        """Pass ``x`` through every module in order and return the last output."""
        for module in self.modules:
            x = module(x)
        return x

    def backward(self, grad_output: Any) -> Any:
        """Pass ``grad_output`` through every module's ``backward`` in reverse order.

        Returns:
            Gradient of the loss with respect to the input of the first module.
        """
        for module in reversed(self.modules):
            grad_output = module.backward(grad_output)
        return grad_output

    def parameters(self) -> list[np.ndarray]:
        """Return the parameters of all modules, in module order."""
        return [param for module in self.modules for param in module.parameters()]

    def grads(self) -> list[np.ndarray]:
        """Return the gradients of all modules, in the order of ``parameters()``."""
        return [grad for module in self.modules for grad in module.grads()]

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: int | slice) -> Module | Sequential:
        """Return the module at ``index``, or a new Sequential for a slice."""
        if isinstance(index, slice):
            return Sequential(*self.modules[index])
        return self.modules[index]

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __repr__(self) -> str:
        if not self.modules:
            return "Sequential()"
        lines = [f"  ({index}): {module!r}" for index, module in enumerate(self)]
        body = "\n".join(line.replace("\n", "\n  ") for line in lines)
        return f"Sequential(\n{body}\n)"

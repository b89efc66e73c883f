"""Closed-form float64 activations and their derivatives.

These are the grader's ground truth. The kit's tests check every function
here against ``torch.nn.functional`` on the CPU. Inputs are converted to
float64 first, so a float32 submission is compared against exact values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x)."""
    # np.maximum propagates nan, as torch.relu does.
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def relu_derivative(x: np.ndarray) -> np.ndarray:
    """1 where x > 0, else 0; the derivative at 0 is taken to be 0."""
    x = np.asarray(x, dtype=np.float64)
    return (x > 0).astype(np.float64)


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """x where x > 0, else negative_slope * x."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_derivative(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """1 where x > 0, else negative_slope (so negative_slope at 0, as PyTorch)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, negative_slope)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), evaluated without overflow for any finite x."""
    x = np.asarray(x, dtype=np.float64)
    # exp(-|x|) lies in (0, 1], so neither branch can overflow.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def sigmoid_derivative(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) * (1 - sigmoid(x))."""
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent."""
    return np.tanh(np.asarray(x, dtype=np.float64))


def tanh_derivative(x: np.ndarray) -> np.ndarray:
    """1 - tanh(x)**2."""
    t = tanh(x)
    return 1.0 - t * t


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's approximate='tanh'."""
    x = np.asarray(x, dtype=np.float64)
    inner = SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3)
    return 0.5 * x * (1.0 + np.tanh(inner))


def gelu_tanh_derivative(x: np.ndarray) -> np.ndarray:
    """Derivative of :func:`gelu_tanh` by the product and chain rules."""
    x = np.asarray(x, dtype=np.float64)
    inner = SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3)
    t = np.tanh(inner)
    d_inner = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x**2)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + erf(x / sqrt(2))), the exact GELU (PyTorch's default)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_erf_derivative(x: np.ndarray) -> np.ndarray:
    """Phi(x) + x phi(x) for the standard normal CDF Phi and density phi."""
    x = np.asarray(x, dtype=np.float64)
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


Function = Callable[[np.ndarray], np.ndarray]

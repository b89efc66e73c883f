"""Argument checks shared by the public constructors and functions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def require_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, or raise if it is not a positive integer.

    Booleans are rejected even though ``bool`` is a subclass of ``int``.

    Raises:
        TypeError: If ``value`` is not an integer.
        ValueError: If ``value`` is zero or negative.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be a positive int, received {value!r} "
            f"of type {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, received {value!r}")
    return int(value)


def require_real(value: Any, name: str) -> float:
    """Return ``value`` as a finite float, or raise if it is not a finite real number.

    Raises:
        TypeError: If ``value`` is not a real number (booleans included).
        ValueError: If ``value`` is NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(
            f"{name} must be a real number, received {value!r} "
            f"of type {type(value).__name__}"
        )
    if isinstance(value, np.complexfloating):
        raise TypeError(f"{name} must be a real number, received {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, received {value!r}")
    return result

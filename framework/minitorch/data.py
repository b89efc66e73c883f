"""Toy data sets for classification exercises."""

from __future__ import annotations

import numpy as np

from minitorch._checks import require_positive_int, require_real

# Angle in radians that each spiral arm sweeps from the centre to radius 1.
SPIRAL_SWEEP = 4.0


def make_spiral(
    n_per_class: int = 100,
    n_classes: int = 3,
    noise: float = 0.2,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate 2-D points on interleaved spiral arms, one arm per class.

    Arm ``k`` starts at the origin at angle ``2 * pi * k / n_classes``. Its points
    have radii evenly spaced in ``[0, 1]`` and turn by ``SPIRAL_SWEEP`` radians
    from the centre to the outer end. Gaussian noise with standard deviation
    ``noise`` is added to each point's angle. All arms meet at the centre, so the
    classes overlap there. A linear classifier cannot separate the arms, but a
    network with one hidden layer can.

    Args:
        n_per_class: Number of points per class.
        n_classes: Number of classes, which is also the number of arms.
        noise: Standard deviation of the angle noise in radians, at least 0.
        seed: Seed for the noise. The same seed gives the same data. ``None``
            draws fresh randomness.

    Returns:
        ``(X, y)``: ``X`` is float64 of shape ``(n_per_class * n_classes, 2)`` and
        ``y`` is int64 of shape ``(n_per_class * n_classes,)`` with class ids in
        ``[0, n_classes)``. The points are grouped by class, in class order.

    Raises:
        TypeError: If a count is not an int or ``noise`` is not a real number.
        ValueError: If a count is not positive or ``noise`` is negative or not
            finite.
    """
    n_per_class = require_positive_int(n_per_class, "make_spiral n_per_class")
    n_classes = require_positive_int(n_classes, "make_spiral n_classes")
    noise = require_real(noise, "make_spiral noise")
    if noise < 0:
        raise ValueError(f"make_spiral noise must be at least 0, received {noise!r}")

    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n_per_class)
    points = np.empty((n_per_class * n_classes, 2), dtype=np.float64)
    labels = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for k in range(n_classes):
        start_angle = 2.0 * np.pi * k / n_classes
        angle = start_angle + SPIRAL_SWEEP * radius
        angle = angle + noise * rng.standard_normal(n_per_class)
        rows = slice(k * n_per_class, (k + 1) * n_per_class)
        points[rows, 0] = radius * np.cos(angle)
        points[rows, 1] = radius * np.sin(angle)
    return points, labels

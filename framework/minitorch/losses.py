"""Loss functions: mean squared error and softmax cross-entropy."""

from __future__ import annotations

import numpy as np

from minitorch.module import Module


class MSELoss(Module):
    """Mean squared error, ``mean((prediction - target) ** 2)`` over all elements.

    ``backward()`` takes no argument because the loss is the end of the chain: it
    returns the gradient of the loss with respect to ``prediction``.
    """

    def __init__(self) -> None:
        self._difference: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float:
        """Return the mean squared error and cache ``prediction - target``.

        Args:
            prediction: Array of any non-empty shape.
            target: Array of the same shape as ``prediction``.

        Raises:
            ValueError: If the shapes differ or the arrays are empty.
        """
        prediction = np.asarray(prediction, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        if prediction.shape != target.shape:
            raise ValueError(
                "MSELoss.forward expected prediction and target of the same shape, "
                f"received prediction.shape={prediction.shape} and "
                f"target.shape={target.shape}"
            )
        if prediction.size == 0:
            raise ValueError(
                "MSELoss.forward received empty arrays of shape "
                f"{prediction.shape}: the mean of zero elements is undefined"
            )
        self._difference = prediction - target
        return float(np.mean(self._difference**2))

    def backward(self) -> np.ndarray:  # type: ignore[override]
        """Return ``2 * (prediction - target) / prediction.size``.

        Raises:
            RuntimeError: If ``forward`` has not been called yet.
        """
        if self._difference is None:
            raise self._backward_before_forward_error()
        return 2.0 * self._difference / self._difference.size


class SoftmaxCrossEntropyLoss(Module):
    """Mean cross-entropy of the softmax of ``logits`` against integer class labels.

    The loss for one sample is ``logsumexp(logits[i]) - logits[i, labels[i]]``,
    computed after subtracting the row maximum so that large logits do not
    overflow. ``backward()`` takes no argument and returns
    ``(softmax(logits) - one_hot(labels)) / N``.
    """

    def __init__(self) -> None:
        self._probabilities: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Return the mean cross-entropy and cache the softmax for ``backward``.

        Args:
            logits: Array of shape ``(N, C)`` with unnormalised class scores.
            labels: Integer array of shape ``(N,)`` with class ids in ``[0, C)``.

        Raises:
            ValueError: If ``logits`` is not 2-D or has no rows or columns, if
                ``labels`` does not have shape ``(N,)``, is not of integer dtype,
                or contains a class id outside ``[0, C)``.
        """
        logits = np.asarray(logits, dtype=np.float64)
        labels = np.asarray(labels)
        if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
            raise ValueError(
                "SoftmaxCrossEntropyLoss.forward expected non-empty logits of shape "
                f"(N, C), received logits.shape={logits.shape}"
            )
        batch_size, num_classes = logits.shape
        if labels.shape != (batch_size,):
            raise ValueError(
                "SoftmaxCrossEntropyLoss.forward expected labels of shape "
                f"({batch_size},) to match logits.shape={logits.shape}, received "
                f"labels.shape={labels.shape}"
            )
        if labels.dtype.kind not in "iu":
            raise ValueError(
                "SoftmaxCrossEntropyLoss.forward expected integer class labels, "
                f"received dtype {labels.dtype} with labels[0]={labels[0]}: "
                "convert them with labels.astype(np.int64)"
            )
        out_of_range = np.flatnonzero((labels < 0) | (labels >= num_classes))
        if out_of_range.size > 0:
            index = out_of_range[0]
            raise ValueError(
                "SoftmaxCrossEntropyLoss.forward expected class labels in "
                f"[0, {num_classes - 1}] for C={num_classes}, received "
                f"labels[{index}]={labels[index]}"
            )

        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(batch_size)
        self._probabilities = np.exp(log_probabilities)
        self._labels = labels
        return float(-np.mean(log_probabilities[rows, labels]))

    def backward(self) -> np.ndarray:  # type: ignore[override]
        """Return ``(softmax(logits) - one_hot(labels)) / N``, the gradient of logits.

        Raises:
            RuntimeError: If ``forward`` has not been called yet.
        """
        if self._probabilities is None or self._labels is None:
            raise self._backward_before_forward_error()
        batch_size = self._probabilities.shape[0]
        grad = self._probabilities.copy()
        grad[np.arange(batch_size), self._labels] -= 1.0
        return grad / batch_size

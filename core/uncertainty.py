"""Per-sample uncertainty from class probabilities.

Symbols: N samples, K classes. Entropies are in nats.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

PROB_PREFIX = "prob:"
PREDICTED_COLUMN = "predicted"
ENTROPY_COLUMN = "entropy"
NORMALISED_ENTROPY_COLUMN = "entropy_normalized"
CONFIDENCE_COLUMN = "confidence"
MARGIN_COLUMN = "margin"
CORRECT_COLUMN = "correct"
UNCERTAINTY_COLUMNS = (ENTROPY_COLUMN, NORMALISED_ENTROPY_COLUMN, CONFIDENCE_COLUMN, MARGIN_COLUMN)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Return row-wise softmax of ``logits`` (N, K) float, computed stably in float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """Return H(p) = -sum_k p_k log p_k in nats, shape (N,), with 0 log 0 taken as 0."""
    probs = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(probs), 0.0)
    return -terms.sum(axis=-1)


def normalised_entropy(probs: np.ndarray) -> np.ndarray:
    """Return entropy divided by log K, in [0, 1], shape (N,)."""
    num_classes = probs.shape[-1]
    if num_classes < 2:
        raise ValueError(f"normalised entropy needs at least 2 classes; got K={num_classes}.")
    return predictive_entropy(probs) / np.log(num_classes)


def max_probability(probs: np.ndarray) -> np.ndarray:
    """Return the top class probability, shape (N,)."""
    return np.asarray(probs).max(axis=-1)


def margin(probs: np.ndarray) -> np.ndarray:
    """Return the gap between the two largest probabilities, shape (N,); small means unsure."""
    top_two = np.sort(np.asarray(probs), axis=-1)[..., -2:]  # (N, 2), ascending
    return top_two[..., 1] - top_two[..., 0]


def uncertainty_frame(
    probs: np.ndarray,
    class_names: Sequence[str],
    labels: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """Return one row per sample with probabilities, prediction and uncertainty scores.

    Args:
        probs: float array of shape (N, K), rows summing to one.
        class_names: K class names in output order.
        labels: N gold labels (names), ``None`` where a row has no label.

    Returns:
        Columns ``prob:<class>`` for each class, ``predicted``, ``entropy``,
        ``entropy_normalized``, ``confidence``, ``margin`` and, when labels are given,
        ``correct`` (nullable boolean, missing for unlabelled rows).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(class_names):
        raise ValueError(f"probs must have shape (N, {len(class_names)}); got {probs.shape}.")
    frame = pd.DataFrame({f"{PROB_PREFIX}{name}": probs[:, k].astype(np.float32) for k, name in enumerate(class_names)})
    predicted_ids = probs.argmax(axis=1)
    frame[PREDICTED_COLUMN] = np.asarray(class_names, dtype=object)[predicted_ids]
    frame[ENTROPY_COLUMN] = predictive_entropy(probs)
    frame[NORMALISED_ENTROPY_COLUMN] = normalised_entropy(probs)
    frame[CONFIDENCE_COLUMN] = max_probability(probs)
    frame[MARGIN_COLUMN] = margin(probs)
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(frame):
            raise ValueError(f"labels has {len(labels)} entries but probs has {len(frame)} rows.")
        correct = [None if label is None else bool(label == pred) for label, pred in zip(labels, frame[PREDICTED_COLUMN])]
        frame[CORRECT_COLUMN] = pd.array(correct, dtype="boolean")
    return frame


def probability_columns(frame: pd.DataFrame) -> list[str]:
    """Return the ``prob:<class>`` columns of a predictions table, in class order."""
    return [column for column in frame.columns if str(column).startswith(PROB_PREFIX)]

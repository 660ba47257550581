"""Classification and calibration metrics over predictions.

Symbols: N samples, K classes, M bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, f1_score, log_loss


def classification_metrics(label_ids: np.ndarray, probs: np.ndarray, class_names: Sequence[str]) -> dict:
    """Return accuracy, macro F1, NLL and the per-class report as scikit-learn computes them.

    Args:
        label_ids: int array of shape (N,), gold class indices.
        probs: float array of shape (N, K).
    """
    label_ids = np.asarray(label_ids)
    if len(label_ids) == 0:
        return {"n": 0}
    predicted = np.asarray(probs).argmax(axis=1)
    all_ids = list(range(len(class_names)))
    report = classification_report(
        label_ids, predicted, labels=all_ids, target_names=list(class_names), output_dict=True, zero_division=0
    )
    return {
        "n": int(len(label_ids)),
        "accuracy": float(accuracy_score(label_ids, predicted)),
        "macro_f1": float(f1_score(label_ids, predicted, labels=all_ids, average="macro", zero_division=0)),
        "nll": float(log_loss(label_ids, np.clip(probs, 1e-12, 1.0), labels=all_ids)),
        "ece": float(expected_calibration_error(label_ids, probs, bins=15)),
        "per_class": report,
    }


@dataclass
class ReliabilityBins:
    """Equal-width confidence bins.

    Attributes:
        edges: float array (M + 1,), bin edges on [0, 1].
        counts: int array (M,), samples per bin.
        confidence: float array (M,), mean top-class probability per bin (NaN when empty).
        accuracy: float array (M,), accuracy per bin (NaN when empty).
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability_bins(label_ids: np.ndarray, probs: np.ndarray, *, bins: int = 10) -> ReliabilityBins:
    """Bin samples by top-class probability into ``bins`` equal-width bins."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1; got {bins}.")
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(label_ids)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Right-closed bins, with confidence 0 put in the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / counts
        mean_acc = np.bincount(index, weights=correct, minlength=bins) / counts
    return ReliabilityBins(edges, counts, mean_conf, mean_acc)


def expected_calibration_error(label_ids: np.ndarray, probs: np.ndarray, *, bins: int = 15) -> float:
    """Return ECE with equal-width bins: sum over bins of (n_b / N) * |acc_b - conf_b|."""
    table = reliability_bins(label_ids, probs, bins=bins)
    total = table.counts.sum()
    if total == 0:
        return float("nan")
    filled = table.counts > 0
    gaps = np.abs(table.accuracy[filled] - table.confidence[filled])
    return float((table.counts[filled] / total * gaps).sum())

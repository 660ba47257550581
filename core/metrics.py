"""Classification, calibration, selective-prediction and set metrics over predictions.

Symbols: N samples, K classes, M bins.

Conventions: ``label_ids`` is an int array of shape (N,) with gold class indices,
``probs`` a float array of shape (N, K). A *confidence* score is higher for samples
the model is surer about (top-class probability, margin). An *uncertainty* score is
higher for samples it is less sure about (entropy, mutual information, set size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    classification_report,
    f1_score,
    log_loss,
    roc_auc_score,
)

BIN_STRATEGIES = ("uniform", "quantile")  # equal-width and equal-mass bins
SELECTIVE_COVERAGES = (0.8, 0.9)
# Probabilities are clipped to this floor before taking logs, so a stored probability
# that rounded to 0 in float32 gives a large finite loss instead of infinity.
PROBABILITY_FLOOR = 1e-12


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
    """Confidence bins of a reliability diagram.

    Attributes:
        edges: float array (M + 1,), bin edges on [0, 1]; equal-mass bins have
            their inner edges at confidence quantiles.
        counts: int array (M,), samples per bin.
        confidence: float array (M,), mean top-class probability per bin (NaN when empty).
        accuracy: float array (M,), accuracy per bin (NaN when empty).
        strategy: ``"uniform"`` (equal-width) or ``"quantile"`` (equal-mass).
    """

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    strategy: str = "uniform"

    @property
    def gaps(self) -> np.ndarray:
        """Return |accuracy - confidence| per bin, shape (M,), NaN for empty bins."""
        return np.abs(self.accuracy - self.confidence)


def check_label_probs(label_ids: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(label_ids, probs)`` as int64 (N,) and float64 (N, K), or raise ``ValueError``."""
    probs = np.asarray(probs, dtype=np.float64)
    label_ids = np.asarray(label_ids)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, K); got shape {probs.shape}.")
    if label_ids.shape != (probs.shape[0],):
        raise ValueError(f"label_ids must have shape ({probs.shape[0]},) to match probs; got {label_ids.shape}.")
    if label_ids.size and (label_ids.min() < 0 or label_ids.max() >= probs.shape[1]):
        raise ValueError(
            f"label_ids must be class indices in [0, {probs.shape[1] - 1}]; got values from "
            f"{label_ids.min()} to {label_ids.max()}."
        )
    return label_ids.astype(np.int64), probs


def _check_bins(bins: int, strategy: str) -> None:
    if bins < 1:
        raise ValueError(f"bins must be at least 1; got {bins}.")
    if strategy not in BIN_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(BIN_STRATEGIES)}; got {strategy!r}.")


def reliability_bins(
    label_ids: np.ndarray, probs: np.ndarray, *, bins: int = 10, strategy: str = "uniform"
) -> ReliabilityBins:
    """Bin samples by top-class probability into ``bins`` equal-width or equal-mass bins.

    Bins are right-closed, with confidence 0 in the first bin. Equal-mass bins put
    the inner edges at the confidence quantiles 1/M, 2/M, ... (linear interpolation),
    so each contains about N / M samples. Samples with equal confidence always share a
    bin, so ties can make some bins fuller and leave others empty.
    """
    _check_bins(bins, strategy)
    label_ids, probs = check_label_probs(label_ids, probs)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == label_ids).astype(np.float64)
    if strategy == "uniform" or len(confidence) == 0:
        edges = np.linspace(0.0, 1.0, bins + 1)
    else:
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / counts
        mean_acc = np.bincount(index, weights=correct, minlength=bins) / counts
    return ReliabilityBins(edges, counts, mean_conf, mean_acc, strategy)


def expected_calibration_error(
    label_ids: np.ndarray, probs: np.ndarray, *, bins: int = 15, strategy: str = "uniform"
) -> float:
    """Return ECE: the sum over bins of (n_b / N) * |acc_b - conf_b|, NaN for no samples.

    Naeini, Cooper and Hauskrecht 2015, "Obtaining Well Calibrated Probabilities Using
    Bayesian Binning". Empty bins contribute nothing.
    """
    table = reliability_bins(label_ids, probs, bins=bins, strategy=strategy)
    total = table.counts.sum()
    if total == 0:
        return float("nan")
    filled = table.counts > 0
    return float((table.counts[filled] / total * table.gaps[filled]).sum())


def calibrated_ece_floor(
    probs: np.ndarray, *, bins: int = 15, strategy: str = "uniform", draws: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Return the mean and standard deviation of the ECE a perfectly calibrated model would get.

    ECE measured on N samples is positive even for a calibrated predictor, because each
    bin's accuracy is a noisy estimate. This draws ``draws`` label vectors from
    ``probs`` itself (a model whose probabilities are exactly right) and measures the
    ECE of ``probs`` against each. A measured ECE within about this mean plus two
    standard deviations is indistinguishable from perfect calibration on these samples.

    Args:
        probs: float array of shape (N, K), rows summing to 1.

    Raises:
        ValueError: ``draws`` below 1, bad ``bins`` or ``strategy``, or invalid ``probs``.
    """
    _check_bins(bins, strategy)
    if draws < 1:
        raise ValueError(f"draws must be at least 1; got {draws}.")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must be a non-empty (N, K) array; got shape {probs.shape}.")
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probs, axis=1)  # (N, K)
    cumulative[:, -1] = 1.0
    values = []
    for _ in range(draws):
        uniform = rng.random((len(probs), 1))  # (N, 1)
        sampled = (uniform >= cumulative).sum(axis=1)  # (N,) class drawn from each row
        values.append(expected_calibration_error(sampled, probs, bins=bins, strategy=strategy))
    return float(np.mean(values)), float(np.std(values))


def maximum_calibration_error(
    label_ids: np.ndarray, probs: np.ndarray, *, bins: int = 15, strategy: str = "uniform"
) -> float:
    """Return MCE: the largest |acc_b - conf_b| over non-empty bins, NaN for no samples.

    Naeini, Cooper and Hauskrecht 2015, "Obtaining Well Calibrated Probabilities Using
    Bayesian Binning".
    """
    table = reliability_bins(label_ids, probs, bins=bins, strategy=strategy)
    filled = table.counts > 0
    if not filled.any():
        return float("nan")
    return float(table.gaps[filled].max())


def negative_log_likelihood(label_ids: np.ndarray, probs: np.ndarray) -> float:
    """Return the mean of -log p(gold class) in nats, NaN for no samples.

    Probabilities below :data:`PROBABILITY_FLOOR` count as the floor.
    """
    label_ids, probs = check_label_probs(label_ids, probs)
    if len(label_ids) == 0:
        return float("nan")
    gold = probs[np.arange(len(label_ids)), label_ids]
    return float(-np.log(np.clip(gold, PROBABILITY_FLOOR, 1.0)).mean())


def brier_score(label_ids: np.ndarray, probs: np.ndarray) -> float:
    """Return the mean over samples of sum_k (p_k - y_k)^2, in [0, 2], NaN for no samples.

    Brier 1950, "Verification of Forecasts Expressed in Terms of Probability", in its
    original multi-class form (summed over classes, not averaged).
    """
    label_ids, probs = check_label_probs(label_ids, probs)
    if len(label_ids) == 0:
        return float("nan")
    one_hot = np.zeros_like(probs)
    one_hot[np.arange(len(label_ids)), label_ids] = 1.0
    return float(((probs - one_hot) ** 2).sum(axis=1).mean())


# --------------------------------------------------------------------------- selective prediction


@dataclass
class RiskCoverage:
    """Risk–coverage curve of a confidence ranking.

    Attributes:
        coverage: float array (N,), k / N for k = 1 .. N.
        risk: float array (N,), error rate among the k most confident samples. Where
            samples tie on the score, the errors inside the tie are spread evenly
            over it (the expected risk over random orders of the tied samples).
    """

    coverage: np.ndarray
    risk: np.ndarray

    @property
    def aurc(self) -> float:
        """Return the area under the curve: the mean of ``risk`` over k = 1 .. N."""
        return float(self.risk.mean()) if len(self.risk) else float("nan")

    def selective_accuracy(self, coverage: float) -> float:
        """Return accuracy on the ceil(coverage * N) most confident samples."""
        if not 0.0 < coverage <= 1.0:
            raise ValueError(f"coverage must be in (0, 1]; got {coverage!r}.")
        if not len(self.risk):
            return float("nan")
        # The small tolerance keeps 0.9 * 10 at 9 despite rounding in 0.9.
        kept = max(1, math.ceil(coverage * len(self.risk) - 1e-9))
        return float(1.0 - self.risk[kept - 1])


def risk_coverage_curve(correct: np.ndarray, confidence: np.ndarray) -> RiskCoverage:
    """Return the risk–coverage curve of ranking samples by ``confidence``, most confident first.

    Geifman and El-Yaniv 2017, "Selective Classification for Deep Neural Networks".
    The area under it (AURC) is lower for better rankings: a perfect one keeps every
    error for last, and a constant score gives risk = error rate at every coverage.

    Args:
        correct: bool array of shape (N,), whether each prediction is right.
        confidence: float array of shape (N,), higher for surer samples. Pass the
            negative of an uncertainty score.
    """
    correct = np.asarray(correct, dtype=bool)
    confidence = np.asarray(confidence, dtype=np.float64)
    if correct.shape != confidence.shape or correct.ndim != 1:
        raise ValueError(
            f"correct and confidence must be 1-D arrays of the same length; got shapes {correct.shape} "
            f"and {confidence.shape}."
        )
    if np.isnan(confidence).any():
        raise ValueError(f"confidence contains {int(np.isnan(confidence).sum())} NaN values; drop those rows first.")
    count = len(correct)
    if count == 0:
        return RiskCoverage(np.zeros(0), np.zeros(0))
    order = np.argsort(-confidence, kind="stable")
    sorted_scores = confidence[order]
    sorted_errors = (~correct[order]).astype(np.float64)
    # Replace each error by the mean error rate of its tie group, so the curve does not
    # depend on how the sort broke ties.
    group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    group_sizes = np.diff(np.r_[group_starts, count])
    group_errors = np.add.reduceat(sorted_errors, group_starts)
    spread_errors = np.repeat(group_errors / group_sizes, group_sizes)  # (N,)
    kept = np.arange(1, count + 1)
    return RiskCoverage(kept / count, np.cumsum(spread_errors) / kept)


def aurc(correct: np.ndarray, confidence: np.ndarray) -> float:
    """Return the area under the risk–coverage curve (lower is better), NaN for no samples."""
    return risk_coverage_curve(correct, confidence).aurc


def _binary_ranking_scores(positive: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    if positive.all() or not positive.any():
        return float("nan"), float("nan")
    return float(roc_auc_score(positive, score)), float(average_precision_score(positive, score))


def error_detection_scores(correct: np.ndarray, uncertainty: np.ndarray) -> dict[str, float]:
    """Return AUROC and AUPRC of ``uncertainty`` for telling wrong predictions from right ones.

    Misclassified samples are the positive class, as in Hendrycks and Gimpel 2017, "A
    Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural
    Networks". Both are NaN when every prediction is right or every one is wrong.

    Args:
        correct: bool array of shape (N,).
        uncertainty: float array of shape (N,), higher for less certain samples.

    Returns:
        ``{"auroc": ..., "auprc": ...}``; AUROC 0.5 is a random ranking, and AUPRC of a
        random ranking is the error rate.
    """
    correct = np.asarray(correct, dtype=bool)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    if correct.shape != uncertainty.shape or correct.ndim != 1:
        raise ValueError(
            f"correct and uncertainty must be 1-D arrays of the same length; got shapes {correct.shape} "
            f"and {uncertainty.shape}."
        )
    auroc, auprc = _binary_ranking_scores(~correct, uncertainty)
    return {"auroc": auroc, "auprc": auprc}


def disagreement_auroc(annotator_confidence: np.ndarray, uncertainty: np.ndarray, *, threshold: float) -> float:
    """Return the AUROC with which ``uncertainty`` ranks low-agreement rows first.

    Rows whose annotator confidence is below ``threshold`` are the positive class.
    Rows without annotator confidence (NaN) are left out. NaN when no row, or every
    row, falls below the threshold.

    Args:
        annotator_confidence: float array of shape (N,), NaN where missing.
        uncertainty: float array of shape (N,), higher for less certain samples.
        threshold: annotator confidence below which annotators count as disagreeing.
    """
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    annotator_confidence = np.asarray(annotator_confidence, dtype=np.float64)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    if annotator_confidence.shape != uncertainty.shape or uncertainty.ndim != 1:
        raise ValueError(
            f"annotator_confidence and uncertainty must be 1-D arrays of the same length; got shapes "
            f"{annotator_confidence.shape} and {uncertainty.shape}."
        )
    present = ~np.isnan(annotator_confidence)
    auroc, _ = _binary_ranking_scores(annotator_confidence[present] < threshold, uncertainty[present])
    return auroc


# --------------------------------------------------------------------------- prediction sets


def set_coverage(prediction_sets: np.ndarray, label_ids: np.ndarray) -> float:
    """Return the share of samples whose gold class is in their prediction set, NaN for none.

    Args:
        prediction_sets: bool array of shape (N, K), True where a class is in the set.
        label_ids: int array of shape (N,).
    """
    label_ids, prediction_sets = check_label_probs(label_ids, prediction_sets)
    if len(label_ids) == 0:
        return float("nan")
    return float(prediction_sets[np.arange(len(label_ids)), label_ids].astype(bool).mean())


def mean_set_size(prediction_sets: np.ndarray) -> float:
    """Return the mean number of classes per prediction set (N, K) bool, NaN for none."""
    prediction_sets = np.asarray(prediction_sets, dtype=bool)
    if prediction_sets.ndim != 2:
        raise ValueError(f"prediction_sets must have shape (N, K); got shape {prediction_sets.shape}.")
    if len(prediction_sets) == 0:
        return float("nan")
    return float(prediction_sets.sum(axis=1).mean())

"""Per-sample uncertainty from class probabilities.

Symbols: N samples, K classes, T stochastic passes (or ensemble members). Entropies
are in nats.
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
EXPECTED_ENTROPY_COLUMN = "expected_entropy"
MUTUAL_INFORMATION_COLUMN = "mutual_information"
VARIATION_RATIO_COLUMN = "variation_ratio"
VARIANCE_PREFIX = "var:"
SAMPLES_PREFIX = "samples:"
SAMPLED_COLUMNS = (EXPECTED_ENTROPY_COLUMN, MUTUAL_INFORMATION_COLUMN, VARIATION_RATIO_COLUMN)


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


def _check_sampled_probs(mc_probs: np.ndarray) -> np.ndarray:
    mc_probs = np.asarray(mc_probs, dtype=np.float64)
    if mc_probs.ndim != 3 or mc_probs.shape[0] < 1 or mc_probs.shape[2] < 2:
        raise ValueError(
            f"mc_probs must have shape (T, N, K) with T >= 1 and K >= 2; got shape {mc_probs.shape}."
        )
    return mc_probs


def expected_entropy(mc_probs: np.ndarray) -> np.ndarray:
    """Return the mean over passes of each pass's entropy, E_t[H(p_t)], shape (N,).

    This is the aleatoric part of the decomposition in :func:`sampled_uncertainty`.
    """
    mc_probs = _check_sampled_probs(mc_probs)
    return predictive_entropy(mc_probs).mean(axis=0)  # (T, N) -> (N,)


def mutual_information(mc_probs: np.ndarray) -> np.ndarray:
    """Return H(E_t[p_t]) - E_t[H(p_t)], the BALD score, shape (N,), never below 0.

    Houlsby, Huszár, Ghahramani and Lengyel 2011, "Bayesian Active Learning for
    Classification and Preference Learning". Jensen's inequality makes the value
    non-negative, but rounding can push it to about -1e-16, so it is clipped at 0.
    """
    mc_probs = _check_sampled_probs(mc_probs)
    total = predictive_entropy(mc_probs.mean(axis=0))
    return np.maximum(total - expected_entropy(mc_probs), 0.0)


def variation_ratio(mc_probs: np.ndarray) -> np.ndarray:
    """Return 1 - (passes that predict the modal class) / T, shape (N,), in [0, 1 - 1/K]."""
    mc_probs = _check_sampled_probs(mc_probs)
    passes, _, num_classes = mc_probs.shape
    votes = mc_probs.argmax(axis=2)  # (T, N)
    counts = np.stack([(votes == k).sum(axis=0) for k in range(num_classes)], axis=1)  # (N, K)
    return 1.0 - counts.max(axis=1) / passes


def sampled_uncertainty(mc_probs: np.ndarray) -> dict[str, np.ndarray]:
    """Summarise T sampled probability vectors per sample.

    The entropy of the mean (total uncertainty) is the expected entropy (aleatoric)
    plus the mutual information (epistemic), as in Depeweg, Hernández-Lobato,
    Doshi-Velez and Udluft 2018, "Decomposition of Uncertainty in Bayesian Deep
    Learning for Efficient and Risk-sensitive Learning".

    Args:
        mc_probs: float array of shape (T, N, K), each row summing to one.

    Returns:
        ``mean_probs`` (N, K), ``variance`` (N, K) population variance over passes,
        and, each of shape (N,): ``total`` (entropy of ``mean_probs``),
        ``expected_entropy``, ``mutual_information`` and ``variation_ratio``.
    """
    mc_probs = _check_sampled_probs(mc_probs)
    mean_probs = mc_probs.mean(axis=0)  # (N, K)
    total = predictive_entropy(mean_probs)
    aleatoric = predictive_entropy(mc_probs).mean(axis=0)  # (T, N) -> (N,)
    return {
        "mean_probs": mean_probs,
        "variance": mc_probs.var(axis=0),  # (N, K)
        "total": total,
        "expected_entropy": aleatoric,
        "mutual_information": np.maximum(total - aleatoric, 0.0),
        "variation_ratio": variation_ratio(mc_probs),
    }


def sampled_uncertainty_frame(mc_probs: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Return one row per sample with the mean probabilities, scores and the T samples.

    Args:
        mc_probs: float array of shape (T, N, K).
        class_names: K class names in output order.

    Returns:
        The columns of :func:`uncertainty_frame` computed on the mean probabilities
        (``entropy`` is the total uncertainty), then ``expected_entropy``,
        ``mutual_information``, ``variation_ratio``, ``var:<class>`` and
        ``samples:<class>`` (a list of T float32 probabilities per row).
    """
    mc_probs = _check_sampled_probs(mc_probs)
    if mc_probs.shape[2] != len(class_names):
        raise ValueError(f"mc_probs must have K={len(class_names)} classes; got shape {mc_probs.shape}.")
    summary = sampled_uncertainty(mc_probs)
    frame = uncertainty_frame(summary["mean_probs"], class_names)
    frame[EXPECTED_ENTROPY_COLUMN] = summary["expected_entropy"]
    frame[MUTUAL_INFORMATION_COLUMN] = summary["mutual_information"]
    frame[VARIATION_RATIO_COLUMN] = summary["variation_ratio"]
    for k, name in enumerate(class_names):
        frame[f"{VARIANCE_PREFIX}{name}"] = summary["variance"][:, k]
    per_sample = np.ascontiguousarray(mc_probs.transpose(1, 2, 0).astype(np.float32))  # (N, K, T)
    for k, name in enumerate(class_names):
        frame[f"{SAMPLES_PREFIX}{name}"] = list(per_sample[:, k, :])
    return frame


def sampled_probs_from_frame(frame: pd.DataFrame, class_names: Sequence[str]) -> np.ndarray:
    """Return the T sampled probabilities stored by :func:`sampled_uncertainty_frame`, shape (T, N, K)."""
    columns = [f"{SAMPLES_PREFIX}{name}" for name in class_names]
    missing = [column for column in columns if column not in frame]
    if missing:
        raise ValueError(f"The table has no sampled probabilities: columns {missing} are missing.")
    stacked = np.stack([np.stack(frame[column].to_numpy()) for column in columns], axis=1)  # (N, K, T)
    return stacked.transpose(2, 0, 1).astype(np.float64)  # (T, N, K)

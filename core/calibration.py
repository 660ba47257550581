"""Post-hoc calibration: temperature scaling and split-conformal prediction sets.

Symbols: N samples, K classes.

Both methods are fitted on held-out labelled rows (a run's validation split) and then
applied to any rows. Temperature scaling rescales logits by one scalar and never
changes the predicted class. Conformal prediction turns probabilities into a set of
classes per sample that contains the gold class with probability at least 1 - alpha,
for rows exchangeable with the calibration rows.

The temperature is fitted with scipy's bounded Brent method over log T.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from core import data as data_module
from core import runs
from core.metrics import PROBABILITY_FLOOR, check_label_probs
from core.uncertainty import softmax, uncertainty_frame

logger = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"
# Temperatures are searched on [1/100, 100]. A fit at either end means that the logits
# carry almost no information (or are almost one-hot), and it is logged.
TEMPERATURE_BOUNDS = (0.01, 100.0)
CONFORMAL_SCORES = ("aps", "raps")
SET_SIZE_COLUMN = "set_size"


# --------------------------------------------------------------------------- temperature scaling


@dataclass
class TemperatureFit:
    """A fitted temperature and the NLL it gives on the rows it was fitted on.

    Attributes:
        temperature: T > 0; probabilities are softmax(logits / T).
        nll_before: mean NLL at T = 1, in nats.
        nll_after: mean NLL at ``temperature``, never above ``nll_before``.
        rows: number of rows the fit used.
    """

    temperature: float
    nll_before: float
    nll_after: float
    rows: int


def log_probs_as_logits(probs: np.ndarray) -> np.ndarray:
    """Return log-probabilities of (N, K) ``probs``, usable as logits.

    softmax(log p) = p, and log p differs from the model's logits only by a constant
    per row, so temperature scaling of log p equals temperature scaling of the
    logits. Probabilities are floored at :data:`core.metrics.PROBABILITY_FLOOR`.
    """
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), PROBABILITY_FLOOR, 1.0))


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number above 0; got {temperature!r}.")


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Return softmax(logits / temperature), float64 (N, K); T = 1 gives softmax(logits)."""
    _check_temperature(temperature)
    return softmax(np.asarray(logits, dtype=np.float64) / temperature)


def _scaled_nll(logits: np.ndarray, label_ids: np.ndarray, temperature: float) -> float:
    scaled = logits / temperature
    # log-softmax, computed stably: log p_y = z_y - logsumexp(z).
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(-(shifted[np.arange(len(label_ids)), label_ids] - log_norm).mean())


def fit_temperature(logits: np.ndarray, label_ids: np.ndarray) -> TemperatureFit:
    """Fit one temperature by minimising the NLL of ``label_ids`` over log T.

    Guo, Pleiss, Sun and Weinberger 2017, "On Calibration of Modern Neural Networks".
    The NLL is unimodal in log T, so a bounded scalar search finds the
    minimum on :data:`TEMPERATURE_BOUNDS`. When the search ends worse than T = 1 (it
    can, by a rounding margin, on nearly flat losses), T = 1 is returned, so the fit
    never raises the NLL on the rows it was fitted on.

    Args:
        logits: float array of shape (N, K); log-probabilities work too.
        label_ids: int array of shape (N,).

    Raises:
        ValueError: no rows, mismatched shapes, label ids out of range, or
            non-finite logits.
    """
    label_ids, logits = check_label_probs(label_ids, logits)
    if len(label_ids) == 0:
        raise ValueError("Temperature scaling needs at least one labelled row; got 0 rows.")
    if not np.isfinite(logits).all():
        raise ValueError(
            f"logits contain {int((~np.isfinite(logits)).sum())} non-finite values; clip log-probabilities "
            "with log_probs_as_logits() first."
        )
    nll_before = _scaled_nll(logits, label_ids, 1.0)
    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    result = minimize_scalar(
        lambda log_t: _scaled_nll(logits, label_ids, math.exp(log_t)),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-6},
    )
    temperature, nll_after = math.exp(float(result.x)), float(result.fun)
    if not nll_after <= nll_before:
        temperature, nll_after = 1.0, nll_before
    if min(abs(result.x - low), abs(result.x - high)) < 1e-3:
        logger.warning(
            "Fitted temperature %.4g is at the edge of the search range %s; the logits carry almost no "
            "information about the labels, or are nearly one-hot and always right",
            temperature, TEMPERATURE_BOUNDS,
        )
    return TemperatureFit(temperature=temperature, nll_before=nll_before, nll_after=nll_after, rows=len(label_ids))


def _labelled_split(predictions: pd.DataFrame, class_names: Sequence[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (probs (n, K), label_ids (n,)) of the rows of ``split`` whose label is a class."""
    label_index = {name: index for index, name in enumerate(class_names)}
    rows = predictions[
        (predictions[data_module.SPLIT_COLUMN] == split) & predictions[data_module.LABEL_COLUMN].isin(label_index)
    ]
    columns = [f"prob:{name}" for name in class_names]
    return rows[columns].to_numpy(dtype=np.float64), rows[data_module.LABEL_COLUMN].map(label_index).to_numpy()


def fit_run_temperature(run_dir: str | Path) -> dict:
    """Fit temperature scaling on a run's validation split and store it as ``calibration.json``.

    The fit uses the stored validation probabilities (as log-probabilities, which
    scale exactly like the logits). The file is written atomically.

    Returns:
        The stored record: ``temperature``, ``nll_before``, ``nll_after``, ``rows``,
        ``fitted_on`` and ``created``.

    Raises:
        ValueError: the run has no labelled validation rows.
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    predictions = runs.load_predictions(run_dir)
    probs, label_ids = _labelled_split(predictions, summary.labels, "validation")
    if len(label_ids) == 0:
        raise ValueError(
            f"Run {summary.id} has no labelled validation rows, and temperature scaling is fitted on the "
            "validation split. Train the run again with a validation share above 0."
        )
    fit = fit_temperature(log_probs_as_logits(probs), label_ids)
    record = {
        **asdict(fit),
        "fitted_on": "validation",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    runs.write_json_atomic(run_dir / CALIBRATION_FILE, record)
    logger.info(
        "Run %s: temperature %.4f fitted on %d validation rows (NLL %.4f -> %.4f)",
        summary.id, fit.temperature, fit.rows, fit.nll_before, fit.nll_after,
    )
    return record


def read_run_temperature(run_dir: str | Path) -> dict | None:
    """Return the stored ``calibration.json`` record of a run, or ``None`` when none was fitted."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    return runs.read_json(Path(run_dir), CALIBRATION_FILE)


def temperature_scaled_table(predictions: pd.DataFrame, class_names: Sequence[str], temperature: float) -> pd.DataFrame:
    """Return a copy of a predictions table with probabilities and scores temperature-scaled.

    The ``prob:<class>``, ``entropy``, ``entropy_normalized``, ``confidence`` and
    ``margin`` columns are recomputed; ``predicted`` and ``correct`` stay as they are,
    because dividing logits by T > 0 keeps their order.
    """
    _check_temperature(temperature)
    columns = [f"prob:{name}" for name in class_names]
    scaled_probs = apply_temperature(log_probs_as_logits(predictions[columns].to_numpy()), temperature)
    scores = uncertainty_frame(scaled_probs, class_names)
    scaled = predictions.copy()
    for column in scores.columns:
        if column != "predicted":
            scaled[column] = scores[column].to_numpy()
    return scaled


# --------------------------------------------------------------------------- conformal prediction


@dataclass
class ConformalCalibration:
    """A split-conformal threshold.

    Attributes:
        threshold: q-hat; a class is in a set when its score is at most this value
            (``inf`` when the calibration set is too small for the requested
            coverage, and every set then contains every class).
        coverage: the requested coverage 1 - alpha.
        score: ``"aps"`` or ``"raps"``.
        penalty: RAPS lambda (0 for APS).
        k_reg: RAPS rank from which the penalty applies.
        rows: calibration rows used.
    """

    threshold: float
    coverage: float
    score: str
    penalty: float
    k_reg: int
    rows: int


def _check_conformal_options(coverage: float, score: str, penalty: float, k_reg: int) -> None:
    if not (isinstance(coverage, (int, float)) and 0.0 < coverage < 1.0):
        raise ValueError(f"coverage must be strictly between 0 and 1 (for example 0.9); got {coverage!r}.")
    if score not in CONFORMAL_SCORES:
        raise ValueError(f"score must be one of {', '.join(CONFORMAL_SCORES)}; got {score!r}.")
    if not (math.isfinite(penalty) and penalty >= 0):
        raise ValueError(f"penalty (RAPS lambda) must be a finite number of at least 0; got {penalty!r}.")
    if k_reg < 0:
        raise ValueError(f"k_reg must be at least 0; got {k_reg!r}.")


def _class_scores(probs: np.ndarray, penalty: float, k_reg: int) -> np.ndarray:
    """Return the score of every class of every sample, shape (N, K).

    Score of class y = total probability of the classes ranked at or above y, plus
    ``penalty * max(0, rank(y) - k_reg)`` with 1-based ranks (RAPS; penalty 0 is APS).
    This is the non-randomised score, so sets are deterministic.
    """
    order = np.argsort(-probs, axis=1, kind="stable")  # (N, K), most probable first
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    ranks = np.arange(1, probs.shape[1] + 1)  # (K,)
    sorted_scores = np.cumsum(sorted_probs, axis=1) + penalty * np.maximum(ranks - k_reg, 0)  # (N, K)
    scores = np.empty_like(sorted_scores)
    np.put_along_axis(scores, order, sorted_scores, axis=1)
    return scores


def calibrate_conformal(
    probs: np.ndarray,
    label_ids: np.ndarray,
    *,
    coverage: float = 0.9,
    score: str = "aps",
    penalty: float = 0.01,
    k_reg: int = 1,
) -> ConformalCalibration:
    """Fit the split-conformal threshold q-hat on held-out labelled rows.

    Scores: APS from Romano, Sesia and Candès 2020, "Classification with Valid and
    Adaptive Coverage", and RAPS from Angelopoulos, Bates, Malik and Jordan 2021,
    "Uncertainty Sets for Image Classifiers using Conformal Prediction", which adds
    ``penalty`` per class beyond rank ``k_reg`` to keep sets small. Both are used in
    their non-randomised form: a sample's set does not depend on a random draw, and
    coverage is still at least ``coverage`` but can exceed it by more than 1 / (n + 1).

    q-hat is the ceil((n + 1) * coverage) / n empirical quantile (the
    ``ceil((n+1)(1-alpha))``-th smallest) of the n calibration scores. When that
    rank exceeds n, q-hat is infinite and every set contains every class.

    Args:
        probs: float array of shape (n, K), calibration rows.
        label_ids: int array of shape (n,).
        coverage: requested coverage 1 - alpha, strictly between 0 and 1.
        score: ``"aps"`` or ``"raps"``; ``penalty`` and ``k_reg`` apply to RAPS only.

    Raises:
        ValueError: invalid options, no calibration rows, or mismatched shapes.
    """
    _check_conformal_options(coverage, score, penalty, k_reg)
    label_ids, probs = check_label_probs(label_ids, probs)
    if len(label_ids) == 0:
        raise ValueError("Conformal calibration needs at least one labelled row; got 0 rows.")
    effective_penalty = penalty if score == "raps" else 0.0
    gold_scores = _class_scores(probs, effective_penalty, k_reg)[np.arange(len(label_ids)), label_ids]
    count = len(gold_scores)
    # The tolerance keeps an exact product such as (9 + 1) * 0.9 from rounding up to 10.
    rank = math.ceil((count + 1) * coverage - 1e-9)
    if rank > count:
        threshold = math.inf
        logger.warning(
            "%d calibration rows are too few for coverage %.3g, so every prediction set contains every class. "
            "Calibrate on at least %d rows.",
            count, coverage, math.ceil(coverage / (1 - coverage) - 1e-9),
        )
    else:
        threshold = float(np.sort(gold_scores)[rank - 1])
    return ConformalCalibration(threshold, float(coverage), score, float(effective_penalty), int(k_reg), count)


def prediction_sets(probs: np.ndarray, calibration: ConformalCalibration) -> np.ndarray:
    """Return the conformal set of every sample, a bool array of shape (N, K).

    A class is in the set when its score is at most q-hat. The top class is always
    added, so no set is empty, and that can only raise coverage.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, K); got shape {probs.shape}.")
    sets = _class_scores(probs, calibration.penalty, calibration.k_reg) <= calibration.threshold
    if len(probs):
        sets[np.arange(len(probs)), probs.argmax(axis=1)] = True
    return sets

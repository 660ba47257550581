"""Compare uncertainty methods on one split: calibration, selective prediction and error detection.

Symbols: N samples, K classes, M bins.

A *method table* has one row per sample of the split: ``position`` (row position in
the run's predictions table), ``prob:<class>`` (mean probabilities), the scores of
:func:`core.uncertainty.uncertainty_frame` and, for sampling methods, those of
:func:`core.uncertainty.sampled_uncertainty_frame`, plus the run's ``label`` and
``annotator_confidence``. :func:`evaluate_method` scores such a table; temperature
scaling and conformal sets are fitted on the same method's table of the validation
split.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from core import data as data_module
from core.calibration import (
    CONFORMAL_SCORES,
    SET_SIZE_COLUMN,
    ConformalCalibration,
    apply_temperature,
    calibrate_conformal,
    fit_temperature,
    log_probs_as_logits,
    prediction_sets,
)
from core.metrics import (
    SELECTIVE_COVERAGES,
    ReliabilityBins,
    RiskCoverage,
    brier_score,
    disagreement_auroc,
    calibrated_ece_floor,
    error_detection_scores,
    expected_calibration_error,
    maximum_calibration_error,
    mean_set_size,
    negative_log_likelihood,
    reliability_bins,
    risk_coverage_curve,
    set_coverage,
)
from core.methods import MethodSpec
from core.uncertainty import (
    CONFIDENCE_COLUMN,
    ENTROPY_COLUMN,
    EXPECTED_ENTROPY_COLUMN,
    MARGIN_COLUMN,
    MUTUAL_INFORMATION_COLUMN,
    PROB_PREFIX,
    VARIATION_RATIO_COLUMN,
)
from core.uncertainty_cache import POSITION_COLUMN, find_result, list_results, load_result

# Per-sample scores and their direction: +1 when a larger value means less certain,
# -1 when a larger value means more certain (the ranking then uses the negative).
SCORE_DIRECTIONS = {
    ENTROPY_COLUMN: 1,
    CONFIDENCE_COLUMN: -1,
    MARGIN_COLUMN: -1,
    EXPECTED_ENTROPY_COLUMN: 1,
    MUTUAL_INFORMATION_COLUMN: 1,
    VARIATION_RATIO_COLUMN: 1,
    SET_SIZE_COLUMN: 1,
}
# Methods with one pass have no spread, so these scores are left out for them.
# Label draws behind the calibrated-model ECE floor; 100 keep its mean within a few percent.
ECE_FLOOR_DRAWS = 100
SAMPLED_SCORES = (EXPECTED_ENTROPY_COLUMN, MUTUAL_INFORMATION_COLUMN, VARIATION_RATIO_COLUMN)


@dataclass(frozen=True)
class EvaluationSettings:
    """Settings of a comparison; :meth:`validate` raises ``ValueError`` on bad values.

    Attributes:
        bins: M, the bin count of ECE, MCE and the reliability diagram.
        coverage: requested conformal coverage 1 - alpha, in (0, 1).
        conformal_score: ``"aps"`` or ``"raps"``.
        disagreement_threshold: annotator confidence below which a row counts as one
            annotators disagreed on.
    """

    bins: int = 15
    coverage: float = 0.9
    conformal_score: str = "aps"
    disagreement_threshold: float = 0.8

    def validate(self) -> "EvaluationSettings":
        if isinstance(self.bins, bool) or not isinstance(self.bins, (int, np.integer)) or self.bins < 1:
            raise ValueError(f"bins (ECE bin count) must be a whole number of at least 1; got {self.bins!r}.")
        if not (isinstance(self.coverage, (int, float)) and 0.0 < self.coverage < 1.0):
            raise ValueError(f"coverage must be strictly between 0 and 1 (for example 0.9); got {self.coverage!r}.")
        if self.conformal_score not in CONFORMAL_SCORES:
            raise ValueError(
                f"conformal_score must be one of {', '.join(CONFORMAL_SCORES)}; got {self.conformal_score!r}."
            )
        if not (isinstance(self.disagreement_threshold, (int, float)) and math.isfinite(self.disagreement_threshold)):
            raise ValueError(f"disagreement_threshold must be a finite number; got {self.disagreement_threshold!r}.")
        return self


@dataclass
class MethodEvaluation:
    """Everything the comparison shows for one method on one split.

    Attributes:
        summary: one row of the method table: rows, accuracy, NLL, Brier, ECE with
            equal-width and equal-mass bins, MCE, the fitted temperature with NLL and
            ECE after scaling, conformal coverage and mean set size. It also has
            ``ece_scaled_floor``: the ECE that a perfectly calibrated model with the
            scaled confidences would measure on these rows. A value that cannot be
            computed (without labels or validation results) is NaN.
        scores: one row per uncertainty score: AUROC and AUPRC for error detection,
            AURC, selective accuracy at each of :data:`SELECTIVE_COVERAGES`, and
            AUROC for annotator disagreement.
        reliability: ``"before"`` and, when a temperature was fitted, ``"after"``.
        risk_coverage: the curve of each score.
        set_sizes: int array (N,), conformal set size per row (empty without calibration).
    """

    summary: dict
    scores: pd.DataFrame
    reliability: dict[str, ReliabilityBins] = field(default_factory=dict)
    risk_coverage: dict[str, RiskCoverage] = field(default_factory=dict)
    set_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def baseline_table(predictions: pd.DataFrame, split: str) -> pd.DataFrame:
    """Return the method table of the stored single softmax pass on ``split``."""
    rows = predictions[predictions[data_module.SPLIT_COLUMN] == split]
    table = rows.reset_index(drop=True).copy()
    table.insert(0, POSITION_COLUMN, np.flatnonzero((predictions[data_module.SPLIT_COLUMN] == split).to_numpy()))
    return table


def result_table(predictions: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    """Return the method table of a cached result: its columns plus the run's label and annotator confidence."""
    positions = result[POSITION_COLUMN].to_numpy()
    table = result.reset_index(drop=True).copy()
    for column in (data_module.LABEL_COLUMN, data_module.CONFIDENCE_COLUMN, data_module.SPLIT_COLUMN):
        table[column] = predictions[column].to_numpy()[positions]
    return table


def _probs(table: pd.DataFrame, class_names: Sequence[str]) -> np.ndarray:
    return table[[f"{PROB_PREFIX}{name}" for name in class_names]].to_numpy(dtype=np.float64)


def _labelled(table: pd.DataFrame, class_names: Sequence[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the rows whose label is one of the classes, and their label ids."""
    label_index = {name: index for index, name in enumerate(class_names)}
    rows = table[table[data_module.LABEL_COLUMN].isin(label_index)]
    return rows, rows[data_module.LABEL_COLUMN].map(label_index).to_numpy(dtype=np.int64)


def fit_conformal(
    validation: pd.DataFrame | None, class_names: Sequence[str], settings: EvaluationSettings
) -> ConformalCalibration | None:
    """Calibrate conformal sets on the labelled rows of ``validation``; ``None`` when there are none."""
    if validation is None:
        return None
    calibration_rows, calibration_labels = _labelled(validation, class_names)
    if len(calibration_labels) == 0:
        return None
    return calibrate_conformal(
        _probs(calibration_rows, class_names), calibration_labels, coverage=settings.coverage,
        score=settings.conformal_score,
    )


def conformal_set_sizes(
    table: pd.DataFrame, validation: pd.DataFrame | None, class_names: Sequence[str], settings: EvaluationSettings
) -> np.ndarray | None:
    """Return the conformal set size of every row of ``table``, int (N,), calibrated on ``validation``.

    Returns ``None`` when there is no validation table or it has no labelled rows.
    """
    calibration = fit_conformal(validation, class_names, settings.validate())
    if calibration is None:
        return None
    return prediction_sets(_probs(table, class_names), calibration).sum(axis=1)


def evaluate_method(
    table: pd.DataFrame,
    validation: pd.DataFrame | None,
    class_names: Sequence[str],
    settings: EvaluationSettings,
    *,
    passes: int = 1,
) -> MethodEvaluation:
    """Score one method table; ``validation`` is the same method's table of the validation split.

    Without ``validation`` (or without labelled rows in it), the temperature, the
    metrics after scaling, coverage and set sizes are NaN. When ``table`` is the
    validation split itself, they are in-sample and optimistic.

    Args:
        passes: T of the method; scores in :data:`SAMPLED_SCORES` are left out when 1.
    """
    settings = settings.validate()
    calibration = fit_conformal(validation, class_names, settings)
    set_sizes = None if calibration is None else prediction_sets(_probs(table, class_names), calibration).sum(axis=1)
    table = table.copy()
    if set_sizes is not None:
        table[SET_SIZE_COLUMN] = set_sizes
    rows, label_ids = _labelled(table, class_names)
    probs = _probs(rows, class_names)
    nan = float("nan")
    summary = {
        "rows": int(len(table)),
        "labelled_rows": int(len(label_ids)),
        "passes": int(passes),
        "accuracy": float((probs.argmax(axis=1) == label_ids).mean()) if len(label_ids) else nan,
        "nll": negative_log_likelihood(label_ids, probs),
        "brier": brier_score(label_ids, probs),
        "ece": expected_calibration_error(label_ids, probs, bins=settings.bins),
        "ece_equal_mass": expected_calibration_error(label_ids, probs, bins=settings.bins, strategy="quantile"),
        "mce": maximum_calibration_error(label_ids, probs, bins=settings.bins),
        "temperature": nan,
        "nll_scaled": nan,
        "ece_scaled": nan,
        "ece_scaled_floor": nan,
        "coverage": nan,
        "mean_set_size": nan,
    }
    reliability = {"before": reliability_bins(label_ids, probs, bins=settings.bins)}

    if validation is not None:
        validation_rows, validation_labels = _labelled(validation, class_names)
        if len(validation_labels):
            fit = fit_temperature(log_probs_as_logits(_probs(validation_rows, class_names)), validation_labels)
            scaled = apply_temperature(log_probs_as_logits(probs), fit.temperature)
            summary["temperature"] = fit.temperature
            summary["nll_scaled"] = negative_log_likelihood(label_ids, scaled)
            summary["ece_scaled"] = expected_calibration_error(label_ids, scaled, bins=settings.bins)
            # What a perfectly calibrated model with these confidences would measure on this many rows.
            summary["ece_scaled_floor"], _ = calibrated_ece_floor(scaled, bins=settings.bins, draws=ECE_FLOOR_DRAWS)
            reliability["after"] = reliability_bins(label_ids, scaled, bins=settings.bins)
    if calibration is not None and len(label_ids):
        labelled_sets = prediction_sets(probs, calibration)  # (n, K)
        summary["coverage"] = set_coverage(labelled_sets, label_ids)
        summary["mean_set_size"] = mean_set_size(labelled_sets)

    correct = probs.argmax(axis=1) == label_ids
    score_rows = []
    curves = {}
    for column, direction in SCORE_DIRECTIONS.items():
        if column not in rows or (passes == 1 and column in SAMPLED_SCORES):
            continue
        uncertainty = direction * rows[column].to_numpy(dtype=np.float64)
        record = {"score": column, **_ranking_metrics(correct, uncertainty)}
        if data_module.CONFIDENCE_COLUMN in rows and rows[data_module.CONFIDENCE_COLUMN].notna().any():
            record["disagreement_auroc"] = disagreement_auroc(
                rows[data_module.CONFIDENCE_COLUMN].to_numpy(dtype=np.float64), uncertainty,
                threshold=settings.disagreement_threshold,
            )
        else:
            record["disagreement_auroc"] = nan
        score_rows.append(record)
        if len(correct):
            curves[column] = risk_coverage_curve(correct, -uncertainty)
    return MethodEvaluation(
        summary=summary,
        scores=pd.DataFrame(score_rows),
        reliability=reliability,
        risk_coverage=curves,
        set_sizes=np.zeros(0, dtype=np.int64) if set_sizes is None else np.asarray(set_sizes),
    )


def _ranking_metrics(correct: np.ndarray, uncertainty: np.ndarray) -> dict:
    nan = float("nan")
    if len(correct) == 0:
        return {"auroc": nan, "auprc": nan, "aurc": nan, **{f"selective_accuracy_{c:g}": nan for c in SELECTIVE_COVERAGES}}
    detection = error_detection_scores(correct, uncertainty)
    curve = risk_coverage_curve(correct, -uncertainty)
    return {
        "auroc": detection["auroc"],
        "auprc": detection["auprc"],
        "aurc": curve.aurc,
        **{f"selective_accuracy_{c:g}": curve.selective_accuracy(c) for c in SELECTIVE_COVERAGES},
    }


# --------------------------------------------------------------------------- tables of a run


def method_variants(run_dir) -> list[MethodSpec]:
    """Return the softmax baseline and every distinct method setting with a stored result, oldest first."""
    variants = [MethodSpec("softmax").normalised()]
    seen = {spec_identity(variants[0])}
    for result in list_results(run_dir):
        identity = spec_identity(result.spec)
        if identity not in seen:
            seen.add(identity)
            variants.append(result.spec.normalised())
    return variants


def spec_identity(spec: MethodSpec) -> str:
    """Return a string that is equal for equal settings (a dictionary key for a method variant)."""
    return json.dumps(spec.normalised().settings(), sort_keys=True)


def method_table(run_dir, predictions: pd.DataFrame, spec: MethodSpec, split: str) -> pd.DataFrame | None:
    """Return the method table of ``spec`` on ``split``, or ``None`` when it has not been computed."""
    spec = spec.normalised()
    if spec.method == "softmax":
        table = baseline_table(predictions, split)
        return table if len(table) else None
    result = find_result(run_dir, spec, split)
    if result is None:
        return None
    return result_table(predictions, load_result(result))


def per_sample_scores(
    run_dir, predictions: pd.DataFrame, spec: MethodSpec, class_names: Sequence[str], settings: EvaluationSettings
) -> pd.DataFrame:
    """Return a method's per-sample scores for every row of the run that it was computed on.

    Returns:
        A frame indexed by row position with ``entropy``, the sampled scores (for
        methods with T > 1) and ``set_size`` (when the method has a validation
        result to calibrate on). Rows of splits without a result are absent.
    """
    spec = spec.normalised()
    tables = []
    for split in (*data_module.SPLIT_NAMES, data_module.UNLABELLED_SPLIT):
        table = method_table(run_dir, predictions, spec, split)
        if table is not None:
            tables.append(table)
    if not tables:
        return pd.DataFrame(columns=[ENTROPY_COLUMN])
    combined = pd.concat(tables, ignore_index=True)
    columns = [ENTROPY_COLUMN, *(column for column in SAMPLED_SCORES if column in combined)]
    scores = combined[columns].copy()
    set_sizes = conformal_set_sizes(
        combined, method_table(run_dir, predictions, spec, "validation"), class_names, settings
    )
    if set_sizes is not None:
        scores[SET_SIZE_COLUMN] = set_sizes
    scores.index = combined[POSITION_COLUMN].to_numpy()
    return scores

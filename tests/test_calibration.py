"""Tests for the calibration, selective-prediction and set metrics, temperature scaling and conformal sets.

Symbols: N samples, K classes, M bins. Most cases are small enough to check by hand.
"""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from sklearn.metrics import average_precision_score, roc_auc_score

from core import runs
from core.calibration import (
    CALIBRATION_FILE,
    apply_temperature,
    calibrate_conformal,
    fit_run_temperature,
    fit_temperature,
    log_probs_as_logits,
    prediction_sets,
    read_run_temperature,
    temperature_scaled_table,
)
from core.comparison import EvaluationSettings, baseline_table, evaluate_method
from core.metrics import (
    aurc,
    brier_score,
    disagreement_auroc,
    error_detection_scores,
    expected_calibration_error,
    maximum_calibration_error,
    mean_set_size,
    negative_log_likelihood,
    reliability_bins,
    risk_coverage_curve,
    set_coverage,
)
from core.training import TrainConfig, fine_tune
from core.uncertainty import softmax

# Tolerance for float64 arithmetic on a handful of values. A larger error is a real bug.
EXACT = 1e-12


def random_logits(rows, classes, *, seed, scale=3.0):
    """Return seeded Gaussian logits of shape (rows, classes)."""
    return np.random.default_rng(seed).normal(scale=scale, size=(rows, classes))


def exact_nll(logits, label_ids):
    """Return the mean NLL of softmax(logits) computed in log space, with no probability floor."""
    log_norm = logsumexp(logits, axis=1)
    return float((log_norm - logits[np.arange(len(label_ids)), label_ids]).mean())


def sample_labels(probs, *, seed):
    """Draw one label per row from its own probabilities, so ``probs`` is calibrated by construction."""
    rng = np.random.default_rng(seed)
    cumulative = probs.cumsum(axis=1)
    draws = rng.random((len(probs), 1))
    return np.minimum((draws > cumulative).sum(axis=1), probs.shape[1] - 1)


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory, tiny_model_dir, make_keyword_dataset):
    """Return a finished tiny run (read only)."""
    config = TrainConfig(model=str(tiny_model_dir), epochs=1, learning_rate=5e-3, max_length=32, device="cpu")
    output = tmp_path_factory.mktemp("calibration-run") / "run"
    return fine_tune(make_keyword_dataset(), config, output_dir=output).run_dir


# --------------------------------------------------------------------------- NLL and Brier


def test_nll_hand_value():
    probs = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
    expected = -(math.log(0.8) + math.log(0.4) + math.log(0.5)) / 3

    assert negative_log_likelihood(np.array([0, 0, 1]), probs) == pytest.approx(expected, abs=EXACT)


def test_nll_zero_probability_is_finite():
    value = negative_log_likelihood(np.array([1]), np.array([[1.0, 0.0]]))

    assert value == pytest.approx(-math.log(1e-12), abs=1e-9)


def test_brier_hand_value():
    # Row 1: (0.8 - 1)^2 + (0.2 - 0)^2 = 0.08. Row 2: (0.4 - 0)^2 + (0.6 - 1)^2 = 0.32.
    probs = np.array([[0.8, 0.2], [0.4, 0.6]])

    assert brier_score(np.array([0, 1]), probs) == pytest.approx(0.2, abs=EXACT)


def test_brier_bounds():
    assert brier_score(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.0, abs=EXACT)
    assert brier_score(np.array([0]), np.array([[0.0, 1.0]])) == pytest.approx(2.0, abs=EXACT)


def test_metrics_empty_are_nan():
    empty_labels, empty_probs = np.zeros(0, dtype=np.int64), np.zeros((0, 3))

    assert math.isnan(negative_log_likelihood(empty_labels, empty_probs))
    assert math.isnan(brier_score(empty_labels, empty_probs))
    assert math.isnan(expected_calibration_error(empty_labels, empty_probs, strategy="quantile"))
    assert math.isnan(maximum_calibration_error(empty_labels, empty_probs))
    assert math.isnan(aurc(np.zeros(0, dtype=bool), np.zeros(0)))


@pytest.mark.parametrize(
    "label_ids, probs, pattern",
    [
        (np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]]), r"label_ids must be class indices in \[0, 1\]"),
        (np.array([0]), np.array([[0.5, 0.5], [0.5, 0.5]]), r"label_ids must have shape \(2,\)"),
        (np.array([0]), np.array([0.5, 0.5]), r"probs must have shape \(N, K\)"),
    ],
)
def test_metrics_reject_bad_shapes(label_ids, probs, pattern):
    with pytest.raises(ValueError, match=pattern):
        brier_score(label_ids, probs)


# --------------------------------------------------------------------------- ECE, MCE and bins


def test_equal_mass_ties_share_bin():
    table = reliability_bins(np.zeros(6, dtype=np.int64), np.array([[0.75, 0.25]] * 6), bins=3, strategy="quantile")

    assert table.counts.tolist() == [6, 0, 0]


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_perfectly_calibrated_zero(strategy):
    # Confidence 0.75 everywhere and 3 of 4 predictions right: every bin has gap 0.
    probs = np.array([[0.75, 0.25]] * 8)
    label_ids = np.array([0, 0, 0, 1, 0, 0, 0, 1])

    assert expected_calibration_error(label_ids, probs, bins=4, strategy=strategy) == pytest.approx(0.0, abs=EXACT)
    assert maximum_calibration_error(label_ids, probs, bins=4, strategy=strategy) == pytest.approx(0.0, abs=EXACT)


def test_ece_equal_mass_hand_value():
    # Sorted confidences 0.6 (wrong), 0.7 (right) | 0.8 (right), 0.9 (wrong).
    # Bin 1: conf 0.65, acc 0.5, gap 0.15. Bin 2: conf 0.85, acc 0.5, gap 0.35. ECE = (0.15 + 0.35) / 2.
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.7, 0.3]])
    label_ids = np.array([1, 1, 0, 0])

    table = reliability_bins(label_ids, probs, bins=2, strategy="quantile")
    assert table.counts.tolist() == [2, 2]
    np.testing.assert_allclose(table.confidence, [0.65, 0.85], rtol=0, atol=EXACT)
    np.testing.assert_allclose(table.edges, [0.0, 0.75, 1.0], rtol=0, atol=EXACT)
    assert expected_calibration_error(label_ids, probs, bins=2, strategy="quantile") == pytest.approx(0.25, abs=EXACT)
    assert maximum_calibration_error(label_ids, probs, bins=2, strategy="quantile") == pytest.approx(0.35, abs=EXACT)


def test_equal_mass_empty_bins():
    # Two samples in five equal-mass bins: the inner edges are the 20/40/60/80% quantiles
    # of [0.6, 0.9] (0.66, 0.72, 0.78, 0.84), so three bins stay empty and count for nothing.
    probs = np.array([[0.9, 0.1], [0.6, 0.4]])
    label_ids = np.array([0, 0])
    table = reliability_bins(label_ids, probs, bins=5, strategy="quantile")

    assert table.counts.tolist() == [1, 0, 0, 0, 1]
    np.testing.assert_allclose(table.edges, [0.0, 0.66, 0.72, 0.78, 0.84, 1.0], rtol=0, atol=EXACT)
    assert np.isnan(table.accuracy[1:4]).all()
    # Gaps 0.4 (conf 0.6, right) and 0.1 (conf 0.9, right), each half the weight.
    assert expected_calibration_error(label_ids, probs, bins=5, strategy="quantile") == pytest.approx(0.25, abs=EXACT)


def test_mce_hand_value():
    # Equal-width bins of 0.1: conf 0.85 right (gap 0.15), conf 0.65 wrong (gap 0.65).
    probs = np.array([[0.85, 0.15], [0.35, 0.65]])

    assert maximum_calibration_error(np.array([0, 0]), probs, bins=10) == pytest.approx(0.65, abs=EXACT)


def test_mce_empty_bins_ignored():
    probs = np.array([[0.95, 0.05]] * 4)
    label_ids = np.array([0, 0, 0, 1])

    # One filled bin (0.9, 1.0] with conf 0.95 and accuracy 0.75.
    assert maximum_calibration_error(label_ids, probs, bins=10) == pytest.approx(0.2, abs=EXACT)


@pytest.mark.parametrize("strategy", ["width", "", "QUANTILE"])
def test_bins_reject_strategy(strategy):
    with pytest.raises(ValueError, match=f"strategy must be one of uniform, quantile; got '{strategy}'"):
        reliability_bins(np.array([0]), np.array([[0.6, 0.4]]), strategy=strategy)


@pytest.mark.parametrize("bins", [0, -1])
def test_ece_rejects_bins(bins):
    with pytest.raises(ValueError, match=f"bins must be at least 1; got {bins}"):
        expected_calibration_error(np.array([0]), np.array([[0.6, 0.4]]), bins=bins, strategy="quantile")


# --------------------------------------------------------------------------- risk–coverage and AURC


def test_risk_coverage_perfect_ranking():
    # Three right predictions ranked above two wrong ones: risks 0, 0, 0, 1/4, 2/5.
    correct = np.array([True, False, True, False, True])
    confidence = np.array([0.9, 0.2, 0.8, 0.1, 0.7])
    curve = risk_coverage_curve(correct, confidence)

    np.testing.assert_allclose(curve.coverage, [0.2, 0.4, 0.6, 0.8, 1.0], rtol=0, atol=EXACT)
    np.testing.assert_allclose(curve.risk, [0, 0, 0, 0.25, 0.4], rtol=0, atol=EXACT)
    assert curve.aurc == pytest.approx((0.25 + 0.4) / 5, abs=EXACT)


def test_risk_coverage_worst_ranking():
    # Two wrong predictions ranked first: risks 1, 1, 2/3, 2/4.
    curve = risk_coverage_curve(np.array([False, False, True, True]), np.array([0.9, 0.8, 0.2, 0.1]))

    np.testing.assert_allclose(curve.risk, [1, 1, 2 / 3, 0.5], rtol=0, atol=EXACT)


def test_aurc_constant_score_is_error_rate():
    # A constant score cannot rank: every coverage has the overall error rate, 2/5.
    correct = np.array([True, False, True, False, True])

    assert aurc(correct, np.full(5, 0.3)) == pytest.approx(0.4, abs=EXACT)


def test_aurc_random_ranking_near_error_rate():
    rng = np.random.default_rng(7)
    correct = rng.random(20000) < 0.7
    # The mean of 20,000 risks of a random order is within about 0.01 of the error rate.
    assert aurc(correct, rng.random(20000)) == pytest.approx(0.3, abs=0.01)


def test_selective_accuracy_hand_values():
    # 10 samples, most confident first: 8 right, then 2 wrong.
    correct = np.array([True] * 8 + [False] * 2)
    confidence = np.linspace(1.0, 0.1, 10)
    curve = risk_coverage_curve(correct, confidence)

    assert curve.selective_accuracy(0.8) == pytest.approx(1.0, abs=EXACT)
    assert curve.selective_accuracy(0.9) == pytest.approx(8 / 9, abs=EXACT)
    assert curve.selective_accuracy(1.0) == pytest.approx(0.8, abs=EXACT)


@pytest.mark.parametrize("coverage", [0.0, -0.5, 1.5])
def test_selective_accuracy_rejects_coverage(coverage):
    curve = risk_coverage_curve(np.array([True]), np.array([0.5]))

    with pytest.raises(ValueError, match=f"coverage must be in \\(0, 1\\]; got {coverage}"):
        curve.selective_accuracy(coverage)


def test_risk_coverage_rejects_nan():
    with pytest.raises(ValueError, match="confidence contains 1 NaN values"):
        risk_coverage_curve(np.array([True, False]), np.array([0.5, np.nan]))


# --------------------------------------------------------------------------- error detection and disagreement


def test_error_detection_perfect_and_reversed():
    correct = np.array([True, True, False, False])
    perfect = np.array([0.1, 0.2, 0.8, 0.9])

    assert error_detection_scores(correct, perfect) == {"auroc": pytest.approx(1.0), "auprc": pytest.approx(1.0)}
    assert error_detection_scores(correct, -perfect)["auroc"] == pytest.approx(0.0, abs=EXACT)


def test_error_detection_constant_score():
    correct = np.array([True, True, True, False])
    scores = error_detection_scores(correct, np.zeros(4))

    assert scores["auroc"] == pytest.approx(0.5, abs=EXACT)
    assert scores["auprc"] == pytest.approx(0.25, abs=EXACT)  # the error rate


def test_error_detection_matches_sklearn():
    rng = np.random.default_rng(3)
    correct = rng.random(300) < 0.8
    uncertainty = rng.random(300) + (~correct) * 0.3
    scores = error_detection_scores(correct, uncertainty)

    assert scores["auroc"] == pytest.approx(roc_auc_score(~correct, uncertainty), abs=EXACT)
    assert scores["auprc"] == pytest.approx(average_precision_score(~correct, uncertainty), abs=EXACT)


def test_error_detection_single_class_nan():
    scores = error_detection_scores(np.array([True, True]), np.array([0.1, 0.2]))

    assert math.isnan(scores["auroc"])
    assert math.isnan(scores["auprc"])


def test_disagreement_auroc_hand_value():
    # Rows below 0.7 (0.5 and 0.6) have the two highest uncertainties; the NaN row is left out.
    annotator = np.array([1.0, 0.5, 0.9, 0.6, np.nan])
    uncertainty = np.array([0.1, 0.9, 0.2, 0.8, 5.0])

    assert disagreement_auroc(annotator, uncertainty, threshold=0.7) == pytest.approx(1.0, abs=EXACT)
    assert disagreement_auroc(annotator, -uncertainty, threshold=0.7) == pytest.approx(0.0, abs=EXACT)


def test_disagreement_auroc_nan_without_both_groups():
    assert math.isnan(disagreement_auroc(np.array([0.9, 1.0]), np.array([0.1, 0.2]), threshold=0.5))


def test_disagreement_rejects_threshold():
    with pytest.raises(ValueError, match="threshold must be a finite number; got nan"):
        disagreement_auroc(np.array([0.9]), np.array([0.1]), threshold=float("nan"))


# --------------------------------------------------------------------------- set metrics


def test_set_coverage_and_size_hand_values():
    sets = np.array([[True, False, False], [True, True, False], [False, True, True]])
    label_ids = np.array([0, 2, 1])

    assert set_coverage(sets, label_ids) == pytest.approx(2 / 3, abs=EXACT)
    assert mean_set_size(sets) == pytest.approx(5 / 3, abs=EXACT)


# --------------------------------------------------------------------------- temperature scaling


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("scale", [0.3, 3.0, 15.0])
def test_temperature_never_raises_nll(seed, scale):
    logits = random_logits(200, 4, seed=seed, scale=scale)
    label_ids = np.random.default_rng(seed + 100).integers(0, 4, size=200)
    fit = fit_temperature(logits, label_ids)
    before = exact_nll(logits, label_ids)
    after = exact_nll(logits / fit.temperature, label_ids)

    assert fit.nll_after <= fit.nll_before
    # Both NLLs are computed in log space, so they differ only by rounding (about 1e-15 per term).
    assert after <= before + 1e-12
    assert fit.nll_before == pytest.approx(before, abs=1e-9)
    assert fit.nll_after == pytest.approx(after, abs=1e-9)


def test_temperature_one_unchanged():
    logits = random_logits(50, 3, seed=1)

    np.testing.assert_allclose(apply_temperature(logits, 1.0), softmax(logits), rtol=0, atol=EXACT)


def test_temperature_recovers_true_value():
    # Labels drawn from softmax(z / 2.5): the fitted temperature should be near 2.5.
    # With 20,000 rows the standard error of the fit is about 0.03; 0.2 is a safe margin.
    logits = random_logits(20000, 3, seed=2, scale=4.0)
    label_ids = sample_labels(softmax(logits / 2.5), seed=3)

    assert fit_temperature(logits, label_ids).temperature == pytest.approx(2.5, abs=0.2)


def test_temperature_of_log_probs_equals_logits():
    logits = random_logits(100, 3, seed=4)
    label_ids = np.random.default_rng(5).integers(0, 3, size=100)
    from_logits = fit_temperature(logits, label_ids).temperature
    from_log_probs = fit_temperature(log_probs_as_logits(softmax(logits)), label_ids).temperature

    assert from_log_probs == pytest.approx(from_logits, rel=1e-4)


def test_temperature_keeps_prediction():
    logits = random_logits(100, 5, seed=6)

    assert (apply_temperature(logits, 0.3).argmax(axis=1) == logits.argmax(axis=1)).all()
    assert (apply_temperature(logits, 7.0).argmax(axis=1) == logits.argmax(axis=1)).all()


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
def test_apply_temperature_rejects(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number above 0"):
        apply_temperature(np.zeros((1, 2)), temperature)


def test_fit_temperature_rejects_empty():
    with pytest.raises(ValueError, match="needs at least one labelled row; got 0 rows"):
        fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))


def test_fit_temperature_rejects_infinite_logits():
    with pytest.raises(ValueError, match="logits contain 1 non-finite values"):
        fit_temperature(np.array([[0.0, -np.inf]]), np.array([0]))


def test_run_temperature_written(calibration_run, tmp_path):
    run_dir = shutil.copytree(calibration_run, tmp_path / "run")
    record = fit_run_temperature(run_dir)
    stored = json.loads((run_dir / CALIBRATION_FILE).read_text(encoding="utf-8"))

    assert stored["temperature"] == pytest.approx(record["temperature"])
    assert stored["fitted_on"] == "validation"
    assert stored["nll_after"] <= stored["nll_before"]
    assert read_run_temperature(run_dir)["temperature"] == pytest.approx(record["temperature"])
    assert [path.name for path in run_dir.iterdir() if path.name.endswith(".tmp")] == []


def test_run_temperature_absent(calibration_run):
    assert read_run_temperature(calibration_run) is None


def test_run_without_validation_rejected(calibration_run, tmp_path):
    run_dir = shutil.copytree(calibration_run, tmp_path / "no-validation")
    predictions = runs.load_predictions(run_dir)
    predictions.loc[predictions["split"] == "validation", "split"] = "train"
    runs.write_parquet_atomic(predictions, run_dir / runs.PREDICTIONS_FILE)

    with pytest.raises(ValueError, match="Run run has no labelled validation rows.*validation share above 0"):
        fit_run_temperature(run_dir)


def test_scaled_table_keeps_predictions(calibration_run):
    predictions = runs.load_predictions(calibration_run)
    scaled = temperature_scaled_table(predictions, ["neg", "pos"], 2.0)
    probs = scaled[["prob:neg", "prob:pos"]].to_numpy(dtype=np.float64)

    assert (scaled["predicted"] == predictions["predicted"]).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert (scaled["confidence"] <= predictions["confidence"] + 1e-6).all()  # T > 1 softens


# --------------------------------------------------------------------------- conformal prediction


@pytest.mark.parametrize("score", ["aps", "raps"])
@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_conformal_coverage_calibrated_problem(score, coverage):
    # Probabilities from a Dirichlet, labels drawn from them: a calibrated problem.
    # Coverage varies with the calibration draw (std sqrt(a(1-a)/5000) = 0.0057 at a = 0.2)
    # and the test draw (0.0028 at 20,000 rows); 0.025 is more than 4 combined standard errors.
    rng = np.random.default_rng(11)
    calibration_probs = rng.dirichlet(np.ones(5), size=5000)
    test_probs = rng.dirichlet(np.ones(5), size=20000)
    calibration = calibrate_conformal(
        calibration_probs, sample_labels(calibration_probs, seed=12), coverage=coverage, score=score
    )
    sets = prediction_sets(test_probs, calibration)

    assert set_coverage(sets, sample_labels(test_probs, seed=13)) == pytest.approx(coverage, abs=0.025)


def test_conformal_finite_sample_quantile():
    # APS scores of the gold classes: 0.5, 0.7 and 0.9 where the gold class is ranked first
    # (a tie goes to the lower class index), and 0.6 + 0.4 = 1.0 where it is ranked second.
    probs = np.array([[0.5, 0.5], [0.7, 0.3], [0.9, 0.1], [0.6, 0.4]])
    label_ids = np.array([0, 0, 0, 1])
    # coverage 0.6: rank ceil(5 * 0.6) = 3 -> the 3rd smallest score, 0.9.
    assert calibrate_conformal(probs, label_ids, coverage=0.6).threshold == pytest.approx(0.9, abs=EXACT)
    # coverage 0.8: rank ceil(5 * 0.8) = 4 -> 1.0.
    assert calibrate_conformal(probs, label_ids, coverage=0.8).threshold == pytest.approx(1.0, abs=EXACT)


def test_conformal_too_few_rows_gives_full_sets():
    # rank ceil(3 * 0.9) = 3 exceeds n = 2, so q-hat is infinite.
    calibration = calibrate_conformal(np.array([[0.9, 0.1], [0.8, 0.2]]), np.array([0, 0]), coverage=0.9)
    sets = prediction_sets(np.array([[0.99, 0.01]]), calibration)

    assert math.isinf(calibration.threshold)
    assert sets.tolist() == [[True, True]]


def test_conformal_sets_hand_example():
    calibration = calibrate_conformal(np.array([[0.6, 0.3, 0.1]] * 9), np.zeros(9, dtype=np.int64), coverage=0.9)
    sets = prediction_sets(np.array([[0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.95, 0.03, 0.02]]), calibration)

    # q-hat = 0.6: a class is in when the mass at or above its rank is at most 0.6.
    assert calibration.threshold == pytest.approx(0.6, abs=EXACT)
    # Row 1: 0.5 <= 0.6, 0.8 > 0.6. Row 3: 0.95 > 0.6, but the top class is always kept.
    assert sets.tolist() == [[True, False, False], [False, True, False], [True, False, False]]


def test_raps_penalty_shrinks_sets():
    rng = np.random.default_rng(21)
    probs = rng.dirichlet(np.full(10, 0.5), size=3000)
    label_ids = sample_labels(probs, seed=22)
    aps = calibrate_conformal(probs[:1500], label_ids[:1500], coverage=0.9, score="aps")
    raps = calibrate_conformal(probs[:1500], label_ids[:1500], coverage=0.9, score="raps", penalty=0.1, k_reg=2)

    assert prediction_sets(probs[1500:], raps).sum(axis=1).max() <= prediction_sets(probs[1500:], aps).sum(axis=1).max()


def test_conformal_sets_never_empty():
    calibration = calibrate_conformal(np.array([[0.5, 0.5]] * 20), np.zeros(20, dtype=np.int64), coverage=0.5)
    sets = prediction_sets(np.array([[0.99, 0.01], [0.01, 0.99]]), calibration)

    assert (sets.sum(axis=1) >= 1).all()


@pytest.mark.parametrize("coverage", [0.0, 1.0, -0.1, 1.5])
def test_conformal_rejects_coverage(coverage):
    with pytest.raises(ValueError, match=f"coverage must be strictly between 0 and 1 .*got {coverage}"):
        calibrate_conformal(np.array([[0.6, 0.4]]), np.array([0]), coverage=coverage)


def test_conformal_rejects_score():
    with pytest.raises(ValueError, match="score must be one of aps, raps; got 'lac'"):
        calibrate_conformal(np.array([[0.6, 0.4]]), np.array([0]), score="lac")


# --------------------------------------------------------------------------- comparison of one method


def test_evaluate_baseline(calibration_run):
    predictions = runs.load_predictions(calibration_run)
    evaluation = evaluate_method(
        baseline_table(predictions, "test"), baseline_table(predictions, "validation"), ["neg", "pos"],
        EvaluationSettings(bins=10, coverage=0.9),
    )

    summary = evaluation.summary
    assert summary["rows"] == int((predictions["split"] == "test").sum())
    assert summary["temperature"] > 0
    assert 0.0 <= summary["coverage"] <= 1.0
    assert len(evaluation.reliability["before"].counts) == 10
    assert set(evaluation.scores["score"]) == {"entropy", "confidence", "margin", "set_size"}
    assert len(evaluation.set_sizes) == summary["rows"]


def test_evaluate_without_validation_nan(calibration_run):
    predictions = runs.load_predictions(calibration_run)
    evaluation = evaluate_method(baseline_table(predictions, "test"), None, ["neg", "pos"], EvaluationSettings())

    assert math.isnan(evaluation.summary["temperature"])
    assert math.isnan(evaluation.summary["coverage"])
    assert "after" not in evaluation.reliability


@pytest.mark.parametrize(
    "settings, pattern",
    [
        (EvaluationSettings(bins=0), "bins \\(ECE bin count\\) must be a whole number of at least 1; got 0"),
        (EvaluationSettings(coverage=1.0), "coverage must be strictly between 0 and 1 .*got 1.0"),
        (EvaluationSettings(conformal_score="x"), "conformal_score must be one of aps, raps; got 'x'"),
        (EvaluationSettings(disagreement_threshold=float("inf")), "disagreement_threshold must be a finite number"),
    ],
)
def test_evaluation_settings_reject(settings, pattern):
    with pytest.raises(ValueError, match=pattern):
        settings.validate()


def test_evaluate_unlabelled_rows_ignored():
    table = pd.DataFrame(
        {"position": [0, 1], "prob:a": [0.9, 0.2], "prob:b": [0.1, 0.8], "label": ["a", None],
         "entropy": [0.3, 0.5], "confidence": [0.9, 0.8], "margin": [0.8, 0.6]}
    )
    evaluation = evaluate_method(table, None, ["a", "b"], EvaluationSettings())

    assert evaluation.summary["labelled_rows"] == 1
    assert evaluation.summary["accuracy"] == pytest.approx(1.0)

"""Tests for core.uncertainty and core.metrics against values computed by hand.

Symbols: N samples, K classes, M bins.
"""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from core.metrics import calibrated_ece_floor, classification_metrics, expected_calibration_error, reliability_bins
from core.scoring import predictions_table
from core.uncertainty import (
    margin,
    max_probability,
    normalised_entropy,
    predictive_entropy,
    probability_columns,
    softmax,
    uncertainty_frame,
)

# Tolerance for float64 arithmetic on a handful of values. A larger error is a real bug.
EXACT = 1e-12


def random_probs(rows, classes, *, seed):
    """Return seeded Dirichlet samples of shape (rows, classes)."""
    return np.random.default_rng(seed).dirichlet(np.ones(classes), size=rows)


# --------------------------------------------------------------------------- softmax


def test_softmax_rows_sum_to_one():
    logits = np.random.default_rng(0).normal(scale=5.0, size=(50, 4)).astype(np.float32)
    probs = softmax(logits)

    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-6)


def test_softmax_shift_invariant():
    logits = np.random.default_rng(1).normal(size=(20, 3))

    np.testing.assert_allclose(softmax(logits + 123.0), softmax(logits), rtol=0, atol=EXACT)


def test_softmax_large_logits_finite():
    probs = softmax(np.array([[1000.0, 0.0], [-1000.0, -1000.0]]))

    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs, [[1.0, 0.0], [0.5, 0.5]], rtol=0, atol=EXACT)


def test_softmax_hand_value():
    # exp(0) / (exp(0) + exp(log 3)) = 1 / 4
    probs = softmax(np.array([[0.0, math.log(3.0)]]))

    np.testing.assert_allclose(probs, [[0.25, 0.75]], rtol=0, atol=EXACT)


# --------------------------------------------------------------------------- per-sample scores


@pytest.mark.parametrize("classes", [2, 3, 10])
def test_entropy_uniform_is_log_k(classes):
    probs = np.full((1, classes), 1.0 / classes)

    np.testing.assert_allclose(predictive_entropy(probs), [math.log(classes)], rtol=0, atol=EXACT)
    np.testing.assert_allclose(normalised_entropy(probs), [1.0], rtol=0, atol=EXACT)


def test_entropy_one_hot_is_zero():
    probs = np.eye(4)

    np.testing.assert_array_equal(predictive_entropy(probs), np.zeros(4))


def test_entropy_hand_value():
    # H = -(0.5 log 0.5 + 0.25 log 0.25 + 0.25 log 0.25) = 1.5 log 2
    probs = np.array([[0.5, 0.25, 0.25]])

    np.testing.assert_allclose(predictive_entropy(probs), [1.5 * math.log(2.0)], rtol=0, atol=EXACT)


def test_normalised_entropy_in_unit_interval():
    values = normalised_entropy(random_probs(500, 5, seed=2))

    assert values.min() >= 0.0
    assert values.max() <= 1.0 + EXACT


def test_normalised_entropy_single_class():
    with pytest.raises(ValueError, match="needs at least 2 classes; got K=1"):
        normalised_entropy(np.ones((3, 1)))


def test_margin_and_max_probability():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.5, 0.0]])

    np.testing.assert_allclose(margin(probs), [0.3, 0.0], rtol=0, atol=EXACT)
    np.testing.assert_allclose(max_probability(probs), [0.6, 0.5], rtol=0, atol=EXACT)


def test_uncertainty_frame_columns():
    frame = uncertainty_frame(np.array([[0.2, 0.8], [0.7, 0.3]]), ["neg", "pos"], ["pos", None])

    assert list(frame.columns) == [
        "prob:neg", "prob:pos", "predicted", "entropy", "entropy_normalized", "confidence", "margin", "correct",
    ]
    assert probability_columns(frame) == ["prob:neg", "prob:pos"]


def test_uncertainty_frame_values():
    frame = uncertainty_frame(np.array([[0.2, 0.8], [0.7, 0.3]]), ["neg", "pos"])

    assert frame["predicted"].tolist() == ["pos", "neg"]
    np.testing.assert_allclose(frame["confidence"], [0.8, 0.7], rtol=0, atol=EXACT)
    np.testing.assert_allclose(frame["margin"], [0.6, 0.4], rtol=0, atol=EXACT)
    assert "correct" not in frame.columns


def test_uncertainty_frame_correct_nullable():
    labels = ["pos", "pos", None]
    frame = uncertainty_frame(np.array([[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]]), ["neg", "pos"], labels)

    assert frame["correct"].dtype == pd.BooleanDtype()
    assert frame["correct"].tolist() == [True, False, pd.NA]


@pytest.mark.parametrize(
    ("probs", "labels", "pattern"),
    [
        (np.ones((2, 3)) / 3, None, r"probs must have shape \(N, 2\); got \(2, 3\)"),
        (np.ones(2) / 2, None, r"probs must have shape \(N, 2\); got \(2,\)"),
        (np.ones((2, 2)) / 2, ["neg"], "labels has 1 entries but probs has 2 rows"),
    ],
)
def test_uncertainty_frame_rejects(probs, labels, pattern):
    with pytest.raises(ValueError, match=pattern):
        uncertainty_frame(probs, ["neg", "pos"], labels)


def test_predictions_table_unknown_label():
    dataset = pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "maybe", None], "confidence": [1, 2, 3]})
    table = predictions_table(dataset, np.array([[0.0, 2.0], [0.0, 2.0], [2.0, 0.0]]), ["neg", "pos"])

    assert table["correct"].tolist() == [True, pd.NA, pd.NA]
    # A source column named like a score column is kept under another name.
    assert table["confidence_source"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(table[["prob:neg", "prob:pos"]].sum(axis=1), 1.0, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- calibration


def test_ece_perfectly_calibrated_is_zero():
    # Every sample has confidence 0.75, and 3 of the 4 predictions are right.
    probs = np.array([[0.75, 0.25]] * 4)
    label_ids = np.array([0, 0, 0, 1])

    assert expected_calibration_error(label_ids, probs, bins=10) == pytest.approx(0.0, abs=EXACT)


def test_ece_hand_value():
    # Sample 1: confidence 0.85, right, gap 0.15. Sample 2: confidence 0.65, wrong, gap 0.65.
    # They fall in different bins, so ECE = 0.5 * 0.15 + 0.5 * 0.65 = 0.4.
    probs = np.array([[0.85, 0.15], [0.35, 0.65]])
    label_ids = np.array([0, 0])

    assert expected_calibration_error(label_ids, probs, bins=10) == pytest.approx(0.4, abs=EXACT)


def test_ece_single_bin_hand_value():
    # One bin: mean confidence (0.85 + 0.65) / 2 = 0.75, accuracy 0.5, ECE = |0.5 - 0.75|.
    probs = np.array([[0.85, 0.15], [0.35, 0.65]])
    label_ids = np.array([0, 0])

    assert expected_calibration_error(label_ids, probs, bins=1) == pytest.approx(0.25, abs=EXACT)


def test_reliability_empty_bins_are_nan():
    probs = np.array([[0.85, 0.15], [0.35, 0.65], [0.88, 0.12]])
    table = reliability_bins(np.array([0, 0, 0]), probs, bins=10)

    filled = table.counts > 0
    assert table.counts.tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 2, 0]
    assert np.isnan(table.accuracy[~filled]).all()
    assert np.isnan(table.confidence[~filled]).all()
    assert np.isfinite(expected_calibration_error(np.array([0, 0, 0]), probs, bins=10))


def test_reliability_edges_right_closed():
    # Confidence 0.5 sits on the edge between the two bins and belongs to the lower one.
    table = reliability_bins(np.array([0, 0]), np.array([[0.5, 0.5], [1.0, 0.0]]), bins=2)

    assert table.counts.tolist() == [1, 1]
    np.testing.assert_allclose(table.edges, [0.0, 0.5, 1.0], rtol=0, atol=0)


@pytest.mark.parametrize("bins", [0, -3])
def test_reliability_rejects_bins(bins):
    with pytest.raises(ValueError, match=f"bins must be at least 1; got {bins}"):
        reliability_bins(np.array([0]), np.array([[0.6, 0.4]]), bins=bins)


# --------------------------------------------------------------------------- classification metrics


def test_classification_metrics_accuracy():
    probs = random_probs(200, 3, seed=3)
    label_ids = np.random.default_rng(4).integers(0, 3, size=200)
    metrics = classification_metrics(label_ids, probs, ["a", "b", "c"])

    predicted = probs.argmax(axis=1)
    assert metrics["n"] == 200
    assert metrics["accuracy"] == pytest.approx(accuracy_score(label_ids, predicted), abs=EXACT)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(predicted == label_ids)), abs=EXACT)
    assert metrics["macro_f1"] == pytest.approx(f1_score(label_ids, predicted, average="macro"), abs=EXACT)


def test_classification_metrics_nll_hand_value():
    probs = np.array([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]])
    label_ids = np.array([0, 0, 1])
    metrics = classification_metrics(label_ids, probs, ["neg", "pos"])

    expected = -(math.log(0.8) + math.log(0.4) + math.log(0.5)) / 3
    assert metrics["nll"] == pytest.approx(expected, abs=EXACT)
    assert metrics["accuracy"] == pytest.approx(1 / 3, abs=EXACT)


def test_classification_metrics_missing_class():
    # Class "c" never occurs and is never predicted, so its F1 is 0 in the macro average.
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    metrics = classification_metrics(np.array([0, 1]), probs, ["a", "b", "c"])

    assert metrics["macro_f1"] == pytest.approx(2 / 3, abs=EXACT)
    assert set(metrics["per_class"]) >= {"a", "b", "c"}


def test_classification_metrics_empty():
    assert classification_metrics(np.array([], dtype=np.int64), np.zeros((0, 2)), ["neg", "pos"]) == {"n": 0}


def test_ece_floor_zero_for_certain_predictions():
    probs = np.eye(3)[[0, 1, 2, 1]]

    assert calibrated_ece_floor(probs, draws=20) == (0.0, 0.0)


def test_ece_floor_matches_binomial_spread():
    # Every sample has confidence 0.5, so all fall in one bin and ECE = |accuracy - 0.5|.
    # Accuracy over N = 400 fair draws has standard deviation sqrt(0.25 / 400) = 0.025, and
    # E|accuracy - 0.5| of that near-normal spread is 0.025 * sqrt(2 / pi) = 0.01995.
    probs = np.full((400, 2), 0.5)
    mean, spread = calibrated_ece_floor(probs, draws=400, seed=1)

    assert mean == pytest.approx(0.025 * math.sqrt(2 / math.pi), abs=0.003)
    assert spread == pytest.approx(0.025 * math.sqrt(1 - 2 / math.pi), abs=0.003)


def test_ece_floor_rejects_bad_draws():
    with pytest.raises(ValueError, match="draws must be at least 1; got 0"):
        calibrated_ece_floor(np.full((4, 2), 0.5), draws=0)

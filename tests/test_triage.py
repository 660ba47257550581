"""Label triage: label-quality scores, acquisition and diversity, the queue, reviews, cross-validation.

Symbols: N samples, K classes, T sampled probability vectors, F folds, D embedding size.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core import data as data_module
from core import jobs, runs
from core.acquisition import acquisition_scores, greedy_k_centres, select_diverse, sentence_embeddings
from core.crossval import (
    CrossvalCancelled,
    TriageSource,
    assign_folds,
    cross_validate,
    in_sample_source,
    load_crossval,
    split_labelled,
)
from core.label_quality import (
    calibrated_joint,
    confident_classes,
    confident_joint,
    find_label_issues,
    label_quality,
    normalised_margin,
    per_class_thresholds,
    self_confidence,
)
from core.retrain import compare_runs, retrain_with_corrections
from core.review import ReviewStore, corrected_dataset, corrections_bytes, dataset_key, export_corrections
from core.training import TrainConfig, fine_tune
from core.triage import (
    QueueSettings,
    acquisition_candidates,
    annotator_disagreements,
    build_queue,
    conflicting_duplicates,
    filter_queue,
    reason_counts,
    with_mc_dropout,
    with_sampled_probs,
)
from core.triage_jobs import submit_crossval

REPO = Path(__file__).resolve().parents[1]
JOB_TIMEOUT = 300.0
# Settings with which the tiny BERT learns the keyword task. Cross-validation folds train on
# about 80 rows, so they need more epochs than the 3 of the 300-row training tests. Picking the
# epoch by validation NLL keeps probabilities away from 0.5, as confident learning needs.
TINY_CROSSVAL = dict(
    epochs=8, batch_size=16, learning_rate=5e-3, max_length=32, seed=0, device="cpu", selection_metric="nll"
)


def tiny_config(model_dir, **overrides) -> TrainConfig:
    return TrainConfig(model=str(model_dir), **{**TINY_CROSSVAL, **overrides})


def mapped(rows: list[tuple], *, confidence: bool = False) -> pd.DataFrame:
    """Map (text, label[, confidence]) tuples as apply_mapping does."""
    columns = ["text", "label", "confidence"] if confidence else ["text", "label"]
    table = data_module.RawTable(pd.DataFrame(rows, columns=columns, dtype=object), name="rows.csv", format="csv")
    return data_module.apply_mapping(
        table, data_module.ColumnMapping(text="text", label="label", confidence="confidence" if confidence else None)
    )


# The confident-learning example worked by hand, K = 3 classes, 9 rows (a to i):
#
#   row  given  p(0)  p(1)  p(2)
#   a    0      0.80  0.10  0.10
#   b    0      0.60  0.30  0.10
#   c    0      0.10  0.80  0.10
#   d    1      0.10  0.70  0.20
#   e    1      0.52  0.48  0.00
#   f    1      0.30  0.20  0.50
#   g    2      0.10  0.10  0.80
#   h    2      0.55  0.00  0.45
#   i    2      0.30  0.30  0.40
#
# Thresholds (mean probability of the class over the rows given it):
#   t0 = (0.8 + 0.6 + 0.1) / 3 = 0.50, t1 = (0.7 + 0.48 + 0.2) / 3 = 0.46, t2 = (0.8 + 0.45 + 0.4) / 3 = 0.55.
# Counted class (most probable among the classes whose p >= t):
#   a, b -> 0;  c -> 1 (0.8 >= 0.46);  d -> 1;  e -> 0 (both 0.52 >= 0.50 and 0.48 >= 0.46 pass, 0.52 wins);
#   f -> none (0.3 < 0.5, 0.2 < 0.46, 0.5 < 0.55);  g -> 2;  h -> 0 (0.55 >= 0.50);  i -> none.
# Confident joint C[given, counted] = [[2, 1, 0], [1, 1, 0], [1, 0, 1]].
# Calibration: each row rescaled to its 3 given rows -> [[2, 1, 0], [1.5, 1.5, 0], [1.5, 0, 1.5]], divided by 9.
# Prune by noise rate: n * Q off the diagonal = 1 (0 -> 1), 1.5 -> 2 (1 -> 0), 1.5 -> 2 (2 -> 0); round half to even.
#   (0 -> 1): largest p1 - p0 among a, b, c is c.  (1 -> 0): largest p0 - p1 among d, e, f are f (0.1), e (0.04).
#   (2 -> 0): largest p0 - p2 among g, h, i are h (0.1), i (-0.1).  Marked: c, e, f, h, i.
#   i's most probable class is its given one (0.4), so it is dropped: c, e, f, h.
# Prune by class: 1, 2 and 2 rows of classes 0, 1, 2 with the lowest p(given): c; f, e; i, h -> c, e, f, h after i.
# Confident-joint off-diagonal: c, e, h.
WORKED_LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
WORKED_PROBS = np.array([
    [0.80, 0.10, 0.10],
    [0.60, 0.30, 0.10],
    [0.10, 0.80, 0.10],
    [0.10, 0.70, 0.20],
    [0.52, 0.48, 0.00],
    [0.30, 0.20, 0.50],
    [0.10, 0.10, 0.80],
    [0.55, 0.00, 0.45],
    [0.30, 0.30, 0.40],
])
ROW = {name: index for index, name in enumerate("abcdefghi")}


def rows_named(mask: np.ndarray) -> set[str]:
    return {name for name, index in ROW.items() if mask[index]}


# --------------------------------------------------------------------------- label-quality scores


def test_self_confidence_known_values():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    labels = np.array([0, 2, 1])

    np.testing.assert_allclose(self_confidence(labels, probs), [0.7, 0.3, 0.1])


def test_normalised_margin_known_values():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    labels = np.array([0, 2, 1])

    # (p[given] - max other + 1) / 2: (0.7 - 0.2 + 1) / 2, (0.3 - 0.5 + 1) / 2, (0.1 - 0.8 + 1) / 2.
    np.testing.assert_allclose(normalised_margin(labels, probs), [0.75, 0.4, 0.15])


def test_per_class_thresholds_worked_example():
    np.testing.assert_allclose(per_class_thresholds(WORKED_LABELS, WORKED_PROBS), [0.50, 0.46, 0.55])


def test_confident_classes_worked_example():
    counted = confident_classes(WORKED_LABELS, WORKED_PROBS)

    assert counted.tolist() == [0, 0, 1, 1, 0, -1, 2, 0, -1]


def test_confident_joint_worked_example():
    joint = confident_joint(WORKED_LABELS, WORKED_PROBS)

    assert joint.tolist() == [[2, 1, 0], [1, 1, 0], [1, 0, 1]]
    assert joint.dtype == np.int64


def test_calibrated_joint_worked_example():
    joint = calibrated_joint(np.array([[2, 1, 0], [1, 1, 0], [1, 0, 1]]), np.array([3, 3, 3]))

    np.testing.assert_allclose(joint * 9, [[2, 1, 0], [1.5, 1.5, 0], [1.5, 0, 1.5]])
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("prune_by_noise_rate", {"c", "e", "f", "h"}),
        ("prune_by_class", {"c", "e", "f", "h"}),
        ("both", {"c", "e", "f", "h"}),
        ("confident_joint", {"c", "e", "h"}),
    ],
)
def test_find_label_issues_worked_example(method, expected):
    assert rows_named(find_label_issues(WORKED_LABELS, WORKED_PROBS, method=method)) == expected


def test_label_quality_noise_rate_worked_example():
    quality = label_quality(WORKED_LABELS, WORKED_PROBS)

    # 1 - trace(Q) = 1 - (2 + 1.5 + 1.5) / 9.
    assert quality.estimated_noise_rate == pytest.approx(4 / 9)
    assert quality.suggested[ROW["c"]] == 1
    assert quality.suggested[ROW["h"]] == 0


def test_label_quality_invariant_to_class_order():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.5, 0.5, 0.5], size=60)
    labels = rng.integers(0, 3, size=60)
    order = np.array([2, 0, 1])  # the new class k is the old class order[k]
    new_id = np.argsort(order)

    original = label_quality(labels, probs)
    permuted = label_quality(new_id[labels], probs[:, order])

    np.testing.assert_allclose(permuted.self_confidence, original.self_confidence)
    np.testing.assert_allclose(permuted.normalised_margin, original.normalised_margin)
    assert (permuted.issues == original.issues).all()
    assert permuted.estimated_noise_rate == pytest.approx(original.estimated_noise_rate)


def test_normalised_margin_range():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([0.3] * 4, size=200)
    labels = rng.integers(0, 4, size=200)

    margins = normalised_margin(labels, probs)

    assert margins.min() >= 0.0
    assert margins.max() <= 1.0


def test_label_scores_reject_logits():
    with pytest.raises(ValueError, match="must sum to 1"):
        self_confidence(np.array([0, 1]), np.array([[0.2, 0.3], [0.5, 0.5]]))


def test_label_scores_reject_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        find_label_issues(WORKED_LABELS, WORKED_PROBS, method="prune_everything")


# --------------------------------------------------------------------------- acquisition and diversity


def test_acquisition_scores_known_values():
    probs = np.array([[0.5, 0.5], [1.0, 0.0], [0.8, 0.2]])

    np.testing.assert_allclose(acquisition_scores("entropy", probs=probs), [math.log(2), 0.0, 0.5004024235])
    np.testing.assert_allclose(acquisition_scores("margin", probs=probs), [1.0, 0.0, 0.4])


def test_bald_known_values():
    # Row 0: two confident passes that disagree, MI = log 2. Row 1: two identical unsure passes, MI = 0.
    mc_probs = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])  # (T=2, N=2, K=2)

    np.testing.assert_allclose(acquisition_scores("bald", mc_probs=mc_probs), [math.log(2), 0.0], atol=1e-12)


def test_bald_needs_sampled_probabilities():
    with pytest.raises(ValueError, match="BALD needs T sampled probabilities"):
        acquisition_scores("bald", probs=np.array([[0.5, 0.5]]))


def test_k_centres_skip_duplicates():
    embeddings = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 0.0]])

    picked = greedy_k_centres(embeddings, 5)

    assert picked.tolist() == [0, 2, 3]


def test_select_diverse_skips_copies_of_top_row():
    scores = np.array([0.90, 0.89, 0.88, 0.50, 0.40])
    embeddings = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])

    assert select_diverse(scores, 3).tolist() == [0, 1, 2]
    assert select_diverse(scores, 3, embeddings=embeddings).tolist() == [0, 3, 4]


def test_builtin_embeddings_keep_queue_diverse():
    texts = ["the match was brilliant"] * 3 + ["my train is late again", "this soup tastes of nothing", "great gig"]
    scores = np.array([0.9, 0.9, 0.9, 0.5, 0.4, 0.3])

    embeddings = sentence_embeddings(texts, device=None)
    picked = select_diverse(scores, 4, embeddings=embeddings)

    assert embeddings.shape == (6, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(embeddings[0], embeddings[1], atol=1e-6)
    picked_texts = [texts[index] for index in picked]
    assert len(set(picked_texts)) == len(picked_texts)
    assert picked_texts[0] == "the match was brilliant"
    assert len(picked) == 4


# --------------------------------------------------------------------------- annotators and duplicates


def test_annotator_disagreements_threshold():
    dataset = mapped([("a", "x", "0.5"), ("b", "x", "0.7"), ("c", "y", "0.9"), ("d", "y", "")], confidence=True)

    assert annotator_disagreements(dataset, threshold=0.7).tolist() == [True, False, False, False]


def test_conflicting_duplicates_normalised_text():
    dataset = mapped([
        ("Great movie!", "pos"),
        ("great   movie!", "neg"),
        ("GREAT MOVIE!", "pos"),
        ("other", "neg"),
        ("other", "neg"),
        ("lonely", "pos"),
    ])

    found = conflicting_duplicates(dataset)

    assert found.index.tolist() == [0, 1, 2]
    assert found["duplicate_group"].tolist() == [0, 0, 0]
    assert found["duplicate_labels"].iloc[0] == "neg: 1, pos: 2"
    assert found["majority_label"].iloc[0] == "pos"
    assert found["majority_share"].iloc[0] == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- the queue


def hand_source() -> TriageSource:
    """Return a source with hand-set probabilities (classes neg, pos) and one dataset row it did not score.

    Labelled neg: rows 1, 2, 3, 5, 10, 11; labelled pos: 0, 4, 9, 12; unlabelled: 6, 7, 8.
    t_neg = (0.9 + 0.05 + 0.8 + 0.6 + 0.95 + 0.9) / 6 = 0.70 and t_pos = (0.9 + 0.7 + 0.95 + 0.88) / 4 = 0.8575,
    so row 2 (neg, p_pos 0.95) is the one neg row counted as pos: C = [[4, 1], [0, 3]], Q * n = [[4.8, 1.2], [0, 4]].
    """
    rows = [
        ("good film", "pos", 0.9, None),
        ("bad film", "neg", 0.1, None),
        ("great", "neg", 0.95, None),
        ("awful", "neg", 0.2, 0.4),
        ("Same text", "pos", 0.7, None),
        ("same  TEXT", "neg", 0.4, None),
        ("unsure one", None, 0.5, None),
        ("unsure two", None, 0.4, None),
        ("sure one", None, 0.01, None),
        ("lovely", "pos", 0.95, None),
        ("dreadful", "neg", 0.05, None),
        ("terrible", "neg", 0.1, None),
        ("superb", "pos", 0.88, None),
        ("extra text", "pos", None, 0.5),
    ]
    dataset = mapped([(text, label, "" if confidence is None else str(confidence))
                      for text, label, _, confidence in rows], confidence=True)
    scored = [index for index, row in enumerate(rows) if row[2] is not None]
    table = dataset.iloc[scored].reset_index(drop=True)
    p_pos = np.array([rows[index][2] for index in scored])
    table["fold"] = -1
    table["held_out"] = True
    table["prob:neg"] = 1.0 - p_pos
    table["prob:pos"] = p_pos
    table = table[["row", "id", "text", "label", "annotator_confidence", "fold", "held_out", "prob:neg", "prob:pos"]]
    return TriageSource(table, ["neg", "pos"], "out_of_sample", dataset, Path("hand"), {})


def test_queue_order_and_reasons():
    queue = build_queue(hand_source(), QueueSettings(uncertain_count=1, diversity=False))

    assert queue["row"].tolist() == [6, 2, 3, 4, 5, 13]
    assert queue["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert queue["reasons"].tolist() == [
        ["uncertain"], ["likely_mislabelled"], ["annotators_disagreed"],
        ["conflicting_duplicate"], ["conflicting_duplicate"], ["annotators_disagreed"],
    ]


def test_queue_priorities_and_suggestions():
    queue = build_queue(hand_source(), QueueSettings(uncertain_count=1, diversity=False)).set_index("row")

    # Uncertain: entropy log 2 / log 2. Mislabelled: 1 - (0.05 - 0.95 + 1) / 2. Annotators: 1 - 0.4.
    # Duplicates: 1 - majority share 1/2. The unscored row: 1 - 0.5.
    np.testing.assert_allclose(queue.loc[[6, 2, 3, 4, 5, 13], "priority"], [1.0, 0.95, 0.6, 0.5, 0.5, 0.5])
    assert queue.loc[2, "suggested_label"] == "pos"
    assert queue.loc[2, "suggested_probability"] == pytest.approx(0.95)
    assert queue.loc[4, "duplicate_labels"] == "neg: 1, pos: 1"
    assert queue.loc[4, "duplicate_group"] == queue.loc[5, "duplicate_group"]
    assert queue.loc[13, "suggested_label"] is None
    assert math.isnan(queue.loc[13, "prob:pos"])


def test_queue_attrs_report_noise_rate():
    queue = build_queue(hand_source(), QueueSettings(uncertain_count=1, diversity=False))

    # 1 - trace(Q) = 1 - (4.8 + 4) / 10.
    assert queue.attrs["estimated_noise_rate"] == pytest.approx(0.12)
    assert queue.attrs["kind"] == "out_of_sample"


def test_queue_filters():
    queue = build_queue(hand_source(), QueueSettings(uncertain_count=1, diversity=False))

    assert sorted(filter_queue(queue, classes=["neg"])["row"]) == [2, 3, 5, 6]
    assert sorted(filter_queue(queue, reasons=["conflicting_duplicate"])["row"]) == [4, 5]
    assert reason_counts(queue) == {
        "likely_mislabelled": 1, "uncertain": 1, "annotators_disagreed": 2, "conflicting_duplicate": 2,
    }
    with pytest.raises(ValueError, match="reasons must be among"):
        filter_queue(queue, reasons=["typo"])


def test_queue_diversity_uses_embedder():
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return np.eye(len(texts))

    queue = build_queue(hand_source(), QueueSettings(uncertain_count=2), embed=embed)

    assert len(calls) == 1
    assert sorted(calls[0]) == ["sure one", "unsure one", "unsure two"]
    assert sorted(filter_queue(queue, reasons=["uncertain"])["row"]) == [6, 7]


def test_queue_bald_on_all_rows_needs_samples():
    source = hand_source()
    settings = QueueSettings(acquisition="bald", acquisition_pool="all", uncertain_count=1, diversity=False)

    with pytest.raises(ValueError, match="BALD needs sampled probabilities for every candidate row"):
        build_queue(source, settings)

    positions = acquisition_candidates(source, settings)
    mc_probs = np.zeros((2, len(positions), 2))
    mc_probs[:, :, 0] = 1.0
    mc_probs[0, 0] = [0.0, 1.0]  # passes disagree only on the first candidate
    queue = build_queue(with_sampled_probs(source, positions, mc_probs), settings)
    assert filter_queue(queue, reasons=["uncertain"])["row"].tolist() == [source.table["row"].iloc[positions[0]]]


def test_queue_settings_reject_unknown_acquisition():
    with pytest.raises(ValueError, match="acquisition must be one of"):
        QueueSettings(acquisition="random").validate()


# --------------------------------------------------------------------------- review store and export


def test_review_edits_visible_to_new_process(tmp_path):
    store = ReviewStore(tmp_path)
    store.record("ds-1", "7", "relabel", reviewer="ana", old_label="neg", new_label="pos")
    store.record("ds-1", "8", "flag", reviewer="ana", old_label="pos")
    script = (
        "import json, sys\n"
        "from core.review import ReviewStore\n"
        "store = ReviewStore(sys.argv[1])\n"
        "print(json.dumps(store.decisions('ds-1').reset_index()[['row_id', 'action', 'new_label']].to_dict('records')))\n"
        "store.record('ds-1', '9', 'accept', reviewer='bo', old_label='neg')\n"
    )

    child = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                           timeout=120, check=False)

    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == [
        {"row_id": "7", "action": "relabel", "new_label": "pos"},
        {"row_id": "8", "action": "flag", "new_label": None},
    ]
    assert ReviewStore(tmp_path).decisions("ds-1").loc["9", "action"] == "accept"


def test_review_undo_latest_edit_of_reviewer(tmp_path):
    store = ReviewStore(tmp_path)
    store.record("ds-1", "1", "relabel", reviewer="ana", old_label="neg", new_label="pos")
    store.record("ds-1", "1", "accept", reviewer="ana", old_label="neg")
    store.record("ds-1", "2", "skip", reviewer="bo", old_label="pos")

    undone = store.undo("ds-1", reviewer="ana")

    assert undone.action == "accept"
    assert undone.undone_at is not None
    assert store.decisions("ds-1").loc["1", "action"] == "relabel"
    assert store.decisions("ds-1").loc["2", "action"] == "skip"
    assert len(store.history("ds-1")) == 3
    assert store.undo("ds-1", reviewer="ana").action == "relabel"
    assert store.undo("ds-1", reviewer="ana") is None
    assert "1" not in store.decisions("ds-1").index


def test_review_progress_counts(tmp_path):
    store = ReviewStore(tmp_path)
    store.record("ds-1", "1", "relabel", reviewer="ana", old_label="neg", new_label="pos")
    store.record("ds-1", "2", "accept", reviewer="ana", old_label="neg")
    store.record("ds-1", "3", "skip", reviewer="ana", old_label="neg")
    store.record("ds-1", "99", "flag", reviewer="ana", old_label="neg")  # not in the queue
    store.record("ds-2", "4", "accept", reviewer="ana", old_label="neg")  # another dataset

    progress = store.progress("ds-1", ["1", "2", "3", "4", "5"])

    assert (progress.reviewed, progress.queued, progress.skipped) == (2, 5, 1)
    assert progress.by_action == {"relabel": 1, "accept": 1, "skip": 1, "flag": 0}


@pytest.mark.parametrize(
    ("action", "new_label", "message"),
    [
        ("delete", None, "action must be one of"),
        ("relabel", None, "needs a new_label"),
        ("relabel", "neg", "equals the old label"),
        ("relabel", "maybe", "is not a class"),
        ("flag", "pos", "takes no new_label"),
    ],
)
def test_review_rejects_bad_edit(tmp_path, action, new_label, message):
    store = ReviewStore(tmp_path)

    with pytest.raises(ValueError, match=message):
        store.record("ds-1", "1", action, reviewer="ana", old_label="neg", new_label=new_label, labels=["neg", "pos"])
    assert store.history("ds-1").empty


def test_review_rejects_empty_reviewer(tmp_path):
    with pytest.raises(ValueError, match="reviewer must be a non-empty string"):
        ReviewStore(tmp_path).record("ds-1", "1", "accept", reviewer="  ", old_label="neg")


FORMULA_TEXTS = ["=SUM(A1:A2)", "+1 great", "-5 stars", "@user hi", "\tTabbed", "\rCR first", "plain text"]


def review_dataset() -> pd.DataFrame:
    rows = [(text, "neg" if index % 2 else "pos") for index, text in enumerate(FORMULA_TEXTS)]
    rows.append(("score", "-1"))
    return mapped(rows)


def test_corrected_dataset_applies_latest_decision(tmp_path):
    dataset = review_dataset()
    store = ReviewStore(tmp_path)
    key = dataset_key(dataset)
    store.record(key, "0", "relabel", reviewer="ana", old_label="pos", new_label="neg")
    store.record(key, "1", "relabel", reviewer="ana", old_label="neg", new_label="pos")
    store.record(key, "1", "accept", reviewer="bo", old_label="neg")
    store.record(key, "2", "flag", reviewer="bo", old_label="pos")

    corrected = corrected_dataset(dataset, store).set_index("id")

    assert corrected.loc["0", "label"] == "neg"
    assert corrected.loc["0", "original_label"] == "pos"
    assert corrected.loc["0", "new_label"] == "neg"
    assert corrected.loc["1", "label"] == "neg"
    assert corrected.loc["1", "review_action"] == "accept"
    assert corrected.loc["1", "reviewer"] == "bo"
    assert corrected.loc["1", "new_label"] is None
    assert corrected.loc["3", "review_action"] is None
    assert corrected.loc["0", "reviewed_at"].endswith("+00:00")
    assert "2" not in corrected_dataset(dataset, store, drop_flagged=True)["id"].tolist()


def test_dataset_key_depends_on_labels():
    dataset = review_dataset()
    changed = dataset.copy()
    changed.loc[0, "label"] = "neg"

    assert dataset_key(dataset) == dataset_key(dataset.copy())
    assert dataset_key(dataset) != dataset_key(changed)


def test_export_csv_neutralises_formulas(tmp_path):
    dataset = review_dataset()
    store = ReviewStore(tmp_path)
    store.record(dataset_key(dataset), "0", "relabel", reviewer="=cmd", old_label="pos", new_label="neg")
    corrected = corrected_dataset(dataset, store)

    path = export_corrections(corrected, tmp_path / "out.csv")
    read_back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")

    assert read_back["text"].tolist()[:7] == [
        "'=SUM(A1:A2)", "'+1 great", "'-5 stars", "'@user hi", "'\tTabbed", "'\rCR first", "plain text",
    ]
    assert read_back.loc[0, "reviewer"] == "'=cmd"
    assert read_back.loc[7, "label"] == "-1"  # a plain number cannot run as a formula
    assert {"original_label", "new_label", "review_action", "reviewer", "reviewed_at"} <= set(read_back.columns)
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_parquet_keeps_originals(tmp_path):
    dataset = review_dataset()
    store = ReviewStore(tmp_path)
    store.record(dataset_key(dataset), "0", "relabel", reviewer="=cmd", old_label="pos", new_label="neg")
    corrected = corrected_dataset(dataset, store)

    read_back = pd.read_parquet(export_corrections(corrected, tmp_path / "out.parquet"))

    assert read_back["text"].tolist()[:7] == FORMULA_TEXTS
    assert read_back.loc[0, "reviewer"] == "=cmd"
    assert read_back.loc[0, "label"] == "neg"
    assert read_back.loc[0, "original_label"] == "pos"


def test_corrections_bytes_match_file(tmp_path):
    corrected = corrected_dataset(review_dataset(), ReviewStore(tmp_path))

    path = export_corrections(corrected, tmp_path / "out.csv")

    assert corrections_bytes(corrected, "csv") == path.read_bytes()
    assert path.read_bytes().startswith("\ufeff".encode("utf-8"))


def test_export_rejects_unknown_format(tmp_path):
    corrected = corrected_dataset(review_dataset(), ReviewStore(tmp_path))

    with pytest.raises(ValueError, match="Export format must be one of csv, parquet"):
        export_corrections(corrected, tmp_path / "out.xlsx")


def test_corrected_dataset_rejects_repeated_ids(tmp_path):
    dataset = review_dataset()
    dataset.loc[1, "id"] = "0"

    with pytest.raises(ValueError, match="ids are not unique"):
        corrected_dataset(dataset, ReviewStore(tmp_path))


# --------------------------------------------------------------------------- cross-validation


@pytest.fixture(scope="module")
def crossval_dataset(make_keyword_dataset) -> pd.DataFrame:
    """Return 120 keyword rows, one flipped label, a conflicting duplicate pair and 4 unlabelled rows."""
    base = make_keyword_dataset(120, seed=3)
    rows = list(zip(base["text"], base["label"]))
    rows[5] = (rows[5][0], "pos")  # row 5 contains "bad"
    rows += [("good film really", "pos"), ("good film really", "neg")]
    rows += [("good movie", None), ("bad plot", None), ("good bad film", None), ("the long film", None)]
    return mapped(rows)


@pytest.fixture(scope="module")
def crossval_result(tiny_model_dir, crossval_dataset, tmp_path_factory):
    """Cross-validate the tiny BERT with F = 3 once, keeping the fold runs for inspection."""
    folder = tmp_path_factory.mktemp("crossval") / "cv"
    events = []
    source = cross_validate(crossval_dataset, tiny_config(tiny_model_dir), output_dir=folder, folds=3,
                            progress=events.append, keep_fold_runs=True)
    return source, events


def test_folds_are_stratified(crossval_result):
    source, _ = crossval_result
    labelled = source.table[source.table["label"].notna()]
    # Folds stratify distinct texts (the first row of each), so the conflicting pair counts once.
    counts = pd.crosstab(labelled["fold"], labelled["label"])
    distinct = labelled.drop_duplicates(subset=["text"], keep="first")
    distinct_counts = pd.crosstab(distinct["fold"], distinct["label"])

    assert counts.index.tolist() == [0, 1, 2]
    assert (distinct_counts.max() - distinct_counts.min()).max() <= 1
    assert (counts.max() - counts.min()).max() <= 2


def test_duplicates_share_a_fold(crossval_result):
    source, _ = crossval_result
    pair = source.table[source.table["text"] == "good film really"]

    assert len(pair) == 2
    assert pair["fold"].nunique() == 1


def test_fold_runs_never_train_on_held_out_rows(crossval_result):
    source, _ = crossval_result
    assignments = pd.read_parquet(source.path / "assignments.parquet")
    for fold in range(3):
        predictions = runs.load_predictions(source.path / f".fold-{fold}-run")
        held_out = set(assignments.loc[assignments["fold"] == fold, "position"])
        training = set(predictions.loc[predictions["split"].isin(["train", "validation"]), "position"])
        tested = set(predictions.loc[predictions["split"] == "test", "position"])

        assert tested == held_out
        assert not training & held_out
        assert (predictions["split"] == "validation").any()
        assert training | held_out == set(assignments["position"])


def test_oos_table_covers_every_labelled_row(crossval_result, crossval_dataset):
    source, _ = crossval_result
    oos = pd.read_parquet(source.path / "oos.parquet")
    labelled = crossval_dataset[crossval_dataset["label"].notna()]

    assert sorted(oos["id"]) == sorted(labelled["id"])
    assert {"id", "text", "label", "fold", "prob:neg", "prob:pos"} <= set(oos.columns)
    np.testing.assert_allclose(oos[["prob:neg", "prob:pos"]].sum(axis=1), 1.0, atol=1e-6)
    assert source.info["accuracy"] > 0.8
    assert len(source.info["fold_metrics"]) == 3


def test_unlabelled_rows_get_fold_samples(crossval_result):
    source, _ = crossval_result
    unlabelled = source.table["label"].isna().to_numpy()

    assert unlabelled.sum() == 4
    assert source.sampled_probs.shape == (3, len(source.table), 2)
    assert not np.isnan(source.sampled_probs[:, unlabelled]).any()
    assert np.isnan(source.sampled_probs[:, ~unlabelled]).all()
    np.testing.assert_allclose(
        source.table.loc[unlabelled, "prob:pos"], source.sampled_probs[:, unlabelled, 1].mean(axis=0), atol=1e-6
    )


def test_crossval_progress_counts_all_folds(crossval_result):
    _, events = crossval_result
    train_events = [event for event in events if event.phase == "train"]
    messages = [event.message for event in events if event.message]

    steps = [event.step for event in train_events]
    assert steps == sorted(steps)
    assert train_events[-1].step == train_events[-1].total_steps
    assert any(message.startswith("Fold 3 of 3") for message in messages)


def test_crossval_queue_finds_flipped_label(crossval_result):
    source, _ = crossval_result
    queue = build_queue(source, QueueSettings(acquisition="bald", uncertain_count=2), embed=lambda t: np.eye(len(t)))
    flipped = queue[queue["row"] == 5]

    assert flipped["reasons"].iloc[0][:1] == ["likely_mislabelled"]
    assert flipped["suggested_label"].iloc[0] == "neg"
    assert len(filter_queue(queue, reasons=["uncertain"])) == 2
    assert filter_queue(queue, reasons=["conflicting_duplicate"])["text"].tolist() == ["good film really"] * 2


def test_load_crossval_reads_finished_folder(crossval_result):
    source, _ = crossval_result

    again = load_crossval(source.path / "oos.parquet")

    pd.testing.assert_frame_equal(again.table, source.table)
    assert again.kind == "out_of_sample"


def test_crossval_resumes_after_cancel(tiny_model_dir, make_keyword_dataset, tmp_path):
    dataset = make_keyword_dataset(60, seed=5)
    config = tiny_config(tiny_model_dir, epochs=2)
    folder = tmp_path / "cv"

    def stop_after_first_fold() -> bool:
        return (folder / "fold-0.json").exists()

    with pytest.raises(CrossvalCancelled, match="before fold 2 of 2"):
        cross_validate(dataset, config, output_dir=folder, folds=2, should_stop=stop_after_first_fold)
    assert (folder / "fold-0.parquet").is_file()
    assert not (folder / "fold-1.parquet").exists()
    assert not (folder / "crossval.json").exists()

    events = []
    source = cross_validate(dataset, config, output_dir=folder, folds=2, progress=events.append)
    messages = [event.message for event in events if event.message]

    assert not any(message.startswith("Fold 1 of 2") for message in messages)
    assert any(message.startswith("Fold 2 of 2") for message in messages)
    assert len(source.table) == 60
    assert not (folder / ".fold-0-run").exists()


def test_crossval_resume_rejects_other_settings(tiny_model_dir, make_keyword_dataset, tmp_path):
    dataset = make_keyword_dataset(60, seed=5)
    folder = tmp_path / "cv"
    with pytest.raises(CrossvalCancelled):
        cross_validate(dataset, tiny_config(tiny_model_dir, epochs=1), output_dir=folder, folds=2,
                       should_stop=lambda: True)

    with pytest.raises(FileExistsError, match="other data or with other settings"):
        cross_validate(dataset, tiny_config(tiny_model_dir, epochs=2), output_dir=folder, folds=2)


@pytest.mark.parametrize("folds", [1, 0, 2.5])
def test_crossval_rejects_too_few_folds(keyword_dataset, folds):
    with pytest.raises(ValueError, match="folds must be a whole number of at least 2"):
        assign_folds(keyword_dataset, folds)


def test_crossval_rejects_more_folds_than_rows_per_class(tiny_model_dir, tmp_path):
    dataset = mapped([(f"good {index}", "pos") for index in range(5)] + [(f"bad {index}", "neg") for index in range(3)])

    with pytest.raises(ValueError, match="class 'neg' has 3, but folds is 4"):
        cross_validate(dataset, tiny_config(tiny_model_dir), output_dir=tmp_path / "cv", folds=4)
    assert not (tmp_path / "cv").exists()


def test_crossval_rejects_empty_dataset(tiny_model_dir, tmp_path):
    empty = mapped([])

    with pytest.raises(ValueError, match="The dataset is empty"):
        cross_validate(empty, tiny_config(tiny_model_dir), output_dir=tmp_path / "cv", folds=2)


def test_crossval_rejects_unlabelled_dataset():
    with pytest.raises(ValueError, match="No rows with both text and label"):
        split_labelled(mapped([("a", None), ("b", None)]), TrainConfig())


def test_submit_crossval_rejects_bad_folds_before_queueing(tiny_model_dir, keyword_dataset, tmp_path):
    with pytest.raises(ValueError, match="at most the number of distinct texts"):
        submit_crossval(tmp_path, keyword_dataset, tiny_config(tiny_model_dir), folds=1000)
    assert jobs.JobRegistry(tmp_path).list() == []


def test_crossval_job_end_to_end(tiny_model_dir, make_keyword_dataset, tmp_path):
    dataset = make_keyword_dataset(90, seed=7)
    job = submit_crossval(tmp_path, dataset, tiny_config(tiny_model_dir, epochs=4), folds=2,
                          data_info={"name": "keywords"})
    finished = jobs.wait(tmp_path, job.id, timeout=JOB_TIMEOUT)
    registry = jobs.JobRegistry(tmp_path)
    log = registry.log_tail(job.id, 200)

    assert finished.state == "succeeded", finished.error
    assert finished.run_dir is None  # a cross-validation folder is not a run to open in Explore
    source = load_crossval(finished.result["crossval_dir"])
    assert Path(finished.result["crossval_dir"]).parent == tmp_path / "triage"
    assert len(source.table) == 90
    assert len(finished.result["fold_accuracy"]) == 2
    assert source.info["data"] == {"name": "keywords"}
    assert any("Fold 2 of 2" in line for line in log)
    assert [point["epoch"] for point in registry.points(job.id) if point["validation"]] == [1, 2, 3, 4] * 2
    assert not (registry.job_dir(job.id) / "checkpoint").exists()


# --------------------------------------------------------------------------- in-sample source and retraining


@pytest.fixture(scope="module")
def keyword_run(tiny_model_dir, make_keyword_dataset, tmp_path_factory):
    dataset = make_keyword_dataset(200, seed=11)
    output = tmp_path_factory.mktemp("triage-runs") / "run"
    fine_tune(dataset, tiny_config(tiny_model_dir, epochs=3), output_dir=output, data_info={"name": "keywords"})
    return output, dataset


def test_in_sample_source_marks_test_rows_held_out(keyword_run):
    run_dir, _ = keyword_run
    predictions = runs.load_predictions(run_dir)

    source = in_sample_source(run_dir)

    assert source.kind == "in_sample"
    assert source.in_sample
    assert source.table["held_out"].tolist() == (predictions["split"] == "test").tolist()
    assert "prob:pos" not in source.dataset.columns


def test_bald_on_run_with_mc_dropout(keyword_run):
    run_dir, _ = keyword_run
    source = in_sample_source(run_dir)
    settings = QueueSettings(acquisition="bald", acquisition_pool="all", sample_size=20, uncertain_count=3,
                             diversity=False)

    sampled = with_mc_dropout(source, settings, passes=4, device=torch.device("cpu"))
    queue = build_queue(sampled, settings)

    candidates = acquisition_candidates(source, settings)
    assert sampled.sampled_probs.shape == (4, len(source.table), 2)
    assert not np.isnan(sampled.sampled_probs[:, candidates]).any()
    assert len(filter_queue(queue, reasons=["uncertain"])) == 3
    assert queue.attrs["kind"] == "in_sample"


def test_mc_dropout_rejects_crossval_source(crossval_result):
    source, _ = crossval_result

    with pytest.raises(ValueError, match="cross-validation folder keeps none"):
        with_mc_dropout(source, QueueSettings(acquisition="bald"))


def test_retrain_with_corrections_keeps_splits(keyword_run, tmp_path):
    run_dir, dataset = keyword_run
    predictions = runs.load_predictions(run_dir)
    test_id = predictions.loc[predictions["split"] == "test", "id"].iloc[0]
    train_id = predictions.loc[predictions["split"] == "train", "id"].iloc[0]
    labels = dict(zip(dataset["id"], dataset["label"]))
    flip = {"pos": "neg", "neg": "pos"}
    store = ReviewStore(tmp_path)
    key = dataset_key(dataset)
    for row_id in (test_id, train_id):
        store.record(key, row_id, "relabel", reviewer="ana", old_label=labels[row_id], new_label=flip[labels[row_id]])

    job = retrain_with_corrections(tmp_path, run_dir, dataset, store)
    finished = jobs.wait(tmp_path, job.id, timeout=JOB_TIMEOUT)

    assert finished.state == "succeeded", finished.error
    new_run = Path(finished.result["run_dir"])
    assert runs.read_json(new_run, "config.json")["data"]["corrections"]["relabelled"] == 2
    new_predictions = runs.load_predictions(new_run).set_index("id")
    assert new_predictions.loc[train_id, "label"] == flip[labels[train_id]]
    comparison = compare_runs(run_dir, new_run)
    assert comparison.index.tolist() == ["accuracy", "macro_f1", "ece", "nll"]
    assert comparison.attrs["same_rows"]
    assert comparison.attrs["changed_labels"] == 1
    assert comparison.loc["accuracy", "change"] == pytest.approx(
        comparison.loc["accuracy", "after"] - comparison.loc["accuracy", "before"]
    )


# --------------------------------------------------------------------------- command line


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)


def test_cli_crossval_queue_export(tiny_model_dir, keyword_csv, tmp_path):
    workspace = tmp_path / "workspace"
    folder = tmp_path / "cv"
    crossval = run_cli("--workspace", workspace, "triage", "crossval", "--data", keyword_csv, "--folds", "2",
                       "--model", tiny_model_dir, "--epochs", "2", "--batch-size", "16", "--learning-rate", "5e-3",
                       "--max-length", "32", "--device", "cpu", "--output", folder)
    assert crossval.returncode == 0, crossval.stderr
    summary = json.loads(crossval.stdout)
    assert summary["rows"] == 300
    assert len(summary["fold_accuracy"]) == 2

    queue = run_cli("--workspace", workspace, "triage", "queue", "--oos", folder, "--top", "3",
                    "--output", tmp_path / "queue.parquet")
    assert queue.returncode == 0, queue.stderr
    assert "rows queued from" in queue.stdout
    assert (tmp_path / "queue.parquet").is_file()

    source = load_crossval(folder)
    ReviewStore(workspace).record(dataset_key(source.dataset), "0", "relabel", reviewer="ana", old_label="pos",
                                  new_label="neg")
    export = run_cli("--workspace", workspace, "triage", "export", "--oos", folder, "--output", tmp_path / "out.csv")
    assert export.returncode == 0, export.stderr
    assert json.loads(export.stdout)["relabelled"] == 1
    exported = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert exported.loc[0, "label"] == "neg"
    assert exported.loc[0, "original_label"] == "pos"


def test_cli_crossval_rejects_one_fold(keyword_csv, tmp_path):
    result = run_cli("--workspace", tmp_path, "triage", "crossval", "--data", keyword_csv, "--folds", "1")

    assert result.returncode == 2
    assert "folds must be a whole number of at least 2" in result.stderr


def test_cli_queue_missing_folder(tmp_path):
    result = run_cli("--workspace", tmp_path, "triage", "queue", "--oos", tmp_path / "missing")

    assert result.returncode == 2
    assert "not found" in result.stderr

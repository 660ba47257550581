"""Adversarial attacks on the tiny keyword BERT: flips, every constraint, hard texts, jobs and the report.

The keyword model learns that ``good`` means ``pos`` and ``bad`` means ``neg``, and
every other word is filler. So replacing the keyword is the flip that exists. A query
counter on the model's forward pass checks the reported queries.
"""

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from core import jobs, runs
from core.attack import AttackCancelled, Attacker, attack_texts
from core.attack_constraints import STOP_WORDS, entity_word_mask, load_sentence_encoder
from core.attack_jobs import (
    adversarial_training_rows,
    list_attacks,
    load_attack,
    load_attack_metadata,
    run_attack,
    submit_attack,
)
from core.attack_recipe import RECIPES, AttackRecipe, recipe_preset
from core.attack_results import FAIL_REASONS, SKIP_REASONS, STATUSES, attack_summary, changed_spans, results_table
from core.attack_transforms import WholeWordVocabulary, character_candidates
from core.attribution_text import split_words
from core.cli import main as cli_main
from core.methods import RunModel
from core.models import ModelLoadError
from core.robustness import robustness_report
from core.training import TrainConfig, fine_tune

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
# The tiny vocabulary has about 35 whole words. With 50 candidates per word the
# embedding and HotFlip transformations reach every one of them, the keyword included.
ALL_WORDS = 50
POSITIVE_TEXTS = ["the movie was good and long", "good film with a dark ending", "a very good story"]
JOB_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def keyword_runs(tiny_model_dir, make_keyword_dataset, tmp_path_factory):
    """Train the tiny BERT twice (3 epochs and 1 epoch) and return both run folders."""
    root = tmp_path_factory.mktemp("attack-runs")
    dataset = make_keyword_dataset()
    base = dict(model=str(tiny_model_dir), batch_size=16, learning_rate=5e-3, max_length=32, seed=0, device="cpu")
    strong = fine_tune(dataset, TrainConfig(epochs=3, **base), output_dir=root / "strong", data_info={"name": "kw"})
    weak = fine_tune(dataset, TrainConfig(epochs=1, **base), output_dir=root / "weak", data_info={"name": "kw"})
    return strong.run_dir, weak.run_dir


@pytest.fixture(scope="module")
def loaded(keyword_runs):
    """Return (model, tokenizer, max_length, class names) of the 3-epoch run."""
    model, tokenizer, max_length = RunModel(keyword_runs[0], CPU).get()
    class_names = [model.config.id2label[index] for index in range(model.config.num_labels)]
    return model, tokenizer, max_length, class_names


def make_attacker(loaded, recipe, **options):
    model, tokenizer, max_length, class_names = loaded
    options.setdefault("measure_similarity", False)
    return Attacker(model, tokenizer, class_names, recipe=recipe, device=CPU, max_length=max_length, **options)


def recipe(name, **overrides):
    """Return preset ``name`` without the similarity check unless overridden (it loads MiniLM)."""
    return recipe_preset(name, **{"min_similarity": 0.0, **overrides})


class QueryCounter:
    """Counts the texts that pass through a model's forward call (token ids or input embeddings)."""

    def __init__(self, model) -> None:
        self.rows = 0
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs) -> None:
        inputs = kwargs.get("input_ids")
        if inputs is None:
            inputs = kwargs.get("inputs_embeds")
        self.rows += int(inputs.shape[0])

    def close(self) -> None:
        self._handle.remove()


def assert_spans_consistent(result):
    for span in result.changed_spans:
        assert result.original_text[span.original_start : span.original_end] == span.original
        assert result.adversarial_text[span.adversarial_start : span.adversarial_end] == span.replacement


# ---------------------------------------------------------------- recipes


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"transformation": "synonym"}, "transformation must be one of character, embedding, mlm, hotflip; got 'synonym'"),
        ({"search": "genetic"}, "search must be one of greedy, beam; got 'genetic'"),
        ({"beam_width": 0}, "beam_width must be a whole number from 1 to 32; got 0"),
        ({"candidates_per_word": 1.5}, "candidates_per_word must be a whole number from 1 to 200; got 1.5"),
        ({"max_words_changed": 0.0}, r"max_words_changed must be in \(0, 1\]; got 0.0"),
        ({"min_similarity": 1.2}, r"min_similarity must be in \[0, 1\] \(0 turns the check off\); got 1.2"),
        ({"max_queries": 0}, "max_queries must be a whole number from 1 to 100000; got 0"),
        ({"time_limit_seconds": 0}, "time_limit_seconds must be above 0 and at most 3600; got 0"),
        ({"character_edits": ("flip",)}, r"character_edits must be taken from .*; got \['flip'\]"),
        ({"transformation": "mlm"}, "mlm_model must be the folder of a masked language model"),
        ({"protect_entities": "yes"}, "protect_entities must be True or False; got 'yes'"),
    ],
)
def test_recipe_validate_rejects(overrides, message):
    with pytest.raises(ValueError, match=message):
        replace(AttackRecipe(), **overrides).validate()


@pytest.mark.parametrize("name", [name for name in RECIPES if name != "mlm"])
def test_presets_valid_and_round_trip(name):
    preset = RECIPES[name].validate()

    assert preset.name == name
    assert AttackRecipe.from_settings(json.loads(json.dumps(preset.settings()))) == preset


def test_recipe_unknown_names():
    with pytest.raises(ValueError, match="recipe must be one of charbug, embedding, hotflip, mlm; got 'textfooler'"):
        recipe_preset("textfooler")
    with pytest.raises(ValueError, match="Unknown attack setting\\(s\\): beam"):
        recipe_preset("charbug", beam=2)
    with pytest.raises(ValueError, match="Unknown attack setting\\(s\\): queries"):
        AttackRecipe.from_settings({"queries": 5})


def test_recipe_lists_become_tuples():
    recipe_with_lists = AttackRecipe(character_edits=["swap", "delete"], extra_stop_words=["movie"]).validate()

    assert recipe_with_lists.character_edits == ("swap", "delete")
    assert recipe_with_lists.extra_stop_words == ("movie",)
    assert hash(recipe_with_lists)


def test_recipe_is_keyword_only():
    with pytest.raises(TypeError):
        AttackRecipe("custom", "character")


# ---------------------------------------------------------------- transformations


def test_character_candidates_edits():
    rng = np.random.default_rng(0)
    candidates = character_candidates("good", rng, edits=("swap", "substitute", "delete", "insert", "homoglyph"),
                                      count=8)

    assert len(candidates) == 8
    assert "good" not in candidates
    assert len(set(candidates)) == len(candidates)
    assert all(abs(len(candidate) - 4) <= 1 for candidate in candidates)
    # A one-character Chinese word can only be deleted.
    assert character_candidates("好", rng, edits=("swap", "substitute", "insert", "delete"), count=4) == [""]


def test_whole_word_vocabulary(tiny_tokenizer):
    vocabulary = WholeWordVocabulary(tiny_tokenizer)

    assert "good" in vocabulary.words
    assert "bad" in vocabulary.words
    assert not any(word.startswith("[") or word.startswith("##") for word in vocabulary.words)
    assert "a" not in vocabulary.words  # single ASCII letters are left out


# ---------------------------------------------------------------- finding the flip


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("embedding", {"candidates_per_word": ALL_WORDS}),
        ("embedding", {"candidates_per_word": ALL_WORDS, "search": "beam", "beam_width": 2}),
        ("hotflip", {"candidates_per_word": ALL_WORDS}),
        ("hotflip", {"candidates_per_word": ALL_WORDS, "search": "greedy", "importance": "deletion"}),
    ],
)
def test_attack_flips_keyword(loaded, name, overrides):
    results = make_attacker(loaded, recipe(name, **overrides)).attack_many(POSITIVE_TEXTS, labels=["pos"] * 3)

    for result in results:
        assert result.status == "flipped", (result.reason, result.adversarial_text)
        assert result.adversarial_predicted == "neg"
        assert result.adversarial_probs[1] < 0.5  # class order is (neg, pos)
        assert [span.original for span in result.changed_spans] == ["good"]
        assert_spans_consistent(result)
        assert result.words_changed == 1
        assert math.isclose(result.fraction_changed, 1 / result.words_total)
        assert result.adversarial_entropy >= 0


def test_charbug_edits_keyword_first(loaded):
    result = make_attacker(loaded, recipe("charbug")).attack("the movie was good and long", label="pos")

    assert result.changed_spans[0].original == "good"
    assert result.status in ("flipped", "failed")
    assert_spans_consistent(result)


def test_gradient_importance_edits_keyword_first(loaded):
    result = make_attacker(loaded, recipe("charbug", importance="gradient")).attack("a long film that was good",
                                                                                 label="pos")

    assert result.changed_spans[0].original == "good"


def test_mlm_recipe(loaded, tiny_model_dir, tmp_path):
    # An untrained masked language model over the tiny vocabulary: its predictions are
    # arbitrary, but with every whole word as a candidate one of them is the keyword.
    torch.manual_seed(0)
    config = BertConfig(vocab_size=loaded[1].vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertForMaskedLM(config).save_pretrained(tmp_path / "mlm", safe_serialization=True)
    loaded[1].save_pretrained(tmp_path / "mlm")
    attack = recipe("mlm", mlm_model=str(tmp_path / "mlm"), candidates_per_word=ALL_WORDS)

    result = make_attacker(loaded, attack).attack("the movie was good and long", label="pos")

    assert result.status == "flipped"
    assert result.adversarial_predicted == "neg"


def test_mlm_folder_that_cannot_load(loaded, tiny_model_dir, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}", encoding="utf-8")

    with pytest.raises(ModelLoadError, match="Cannot load a masked language model from folder"):
        make_attacker(loaded, recipe("mlm", mlm_model=str(tmp_path / "broken")))


# ---------------------------------------------------------------- constraints


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_max_words_changed_respected(loaded, fraction):
    texts = [
        "the movie was long and the plot was dark but good",
        "a good film with music and a funny cast and a long ending",
        "good",
    ]
    attacker = make_attacker(loaded, recipe("charbug", max_words_changed=fraction, protect_stop_words=False))

    for result in attacker.attack_many(texts, labels=["pos"] * 3):
        allowed = math.floor(fraction * result.words_total + 1e-9)
        assert result.words_changed <= allowed
        assert result.fraction_changed <= fraction
        if allowed == 0:
            assert (result.status, result.reason) == ("skipped", "too_few_words")


def test_stop_words_left_alone(loaded):
    texts = ["the good movie was with a good cast", "good and the very good film"]
    attack = recipe("embedding", candidates_per_word=ALL_WORDS, max_words_changed=1.0, extra_stop_words=("GOOD",))

    for result in make_attacker(loaded, attack).attack_many(texts, labels=["pos", "pos"]):
        assert result.words_changed > 0
        for span in result.changed_spans:
            assert span.original.lower() not in STOP_WORDS
            assert span.original.lower() != "good"


def test_stop_word_protection_switch(loaded):
    text = "the and was with"
    protected = make_attacker(loaded, recipe("charbug", max_words_changed=1.0)).attack(text)
    unprotected = make_attacker(loaded, recipe("charbug", max_words_changed=1.0, protect_stop_words=False)).attack(text)

    assert (protected.status, protected.reason) == ("skipped", "no_candidate_words")
    assert unprotected.status in ("flipped", "failed")
    assert unprotected.queries > 1


def test_entity_heuristic():
    text = "Great film. The actor Tom Hanks was good, and \"Paris\" too."
    words = split_words(text)
    flagged = [word.text for word, is_entity in zip(words, entity_word_mask(text, words)) if is_entity]

    assert flagged == ["Tom", "Hanks", "Paris"]


def test_entities_left_alone(loaded):
    text = "the film was Good and long"
    protected = make_attacker(loaded, recipe("embedding", candidates_per_word=ALL_WORDS)).attack(text, label="pos")
    unprotected = make_attacker(
        loaded, recipe("embedding", candidates_per_word=ALL_WORDS, protect_entities=False)
    ).attack(text, label="pos")

    assert "Good" not in [span.original for span in protected.changed_spans]
    assert [span.original for span in unprotected.changed_spans] == ["Good"]
    assert unprotected.changed_spans[0].replacement[0].isupper()  # the replacement keeps the capital


def test_min_similarity_respected(loaded):
    threshold = 0.85
    attack = recipe("embedding", candidates_per_word=ALL_WORDS, min_similarity=threshold, max_words_changed=0.5)
    results = make_attacker(loaded, attack).attack_many(POSITIVE_TEXTS, labels=["pos"] * 3)
    changed = [result for result in results if result.changed_spans]
    encoder = load_sentence_encoder(CPU)

    assert changed
    for result in changed:
        measured = encoder.similarities(result.original_text, [result.adversarial_text])[0]
        assert result.similarity >= threshold
        # Same encoder and texts. Batching with other texts only changes float32 rounding.
        assert abs(measured - result.similarity) < 1e-4


def test_similarity_threshold_blocks_every_swap(loaded):
    attack = recipe("embedding", candidates_per_word=ALL_WORDS, min_similarity=0.9999)
    result = make_attacker(loaded, attack).attack("the movie was good and long", label="pos")

    assert (result.status, result.reason) == ("failed", "no_flip_found")
    assert result.changed_spans == []


@pytest.mark.parametrize("name", ["charbug", "embedding", "hotflip"])
@pytest.mark.parametrize("budget", [1, 2, 5, 13])
def test_query_budget_never_exceeded(loaded, name, budget):
    attack = recipe(name, max_queries=budget, candidates_per_word=ALL_WORDS, max_words_changed=1.0,
                    extra_stop_words=("good",))
    attacker = make_attacker(loaded, attack)
    counter = QueryCounter(loaded[0])
    try:
        for text in ["the movie was good and long", "a very long film that was good"]:
            before = counter.rows
            result = attacker.attack(text, label="pos")
            assert counter.rows - before == result.queries
            assert result.queries <= budget
            if result.status != "flipped":
                assert result.reason in ("budget_exhausted", "no_flip_found", "max_words_changed")
    finally:
        counter.close()


def test_budget_of_one_skips(loaded):
    result = make_attacker(loaded, recipe("charbug", max_queries=1)).attack("the movie was good", label="pos")

    assert (result.status, result.reason, result.queries) == ("skipped", "budget_exhausted", 1)


@pytest.mark.parametrize("name", ["charbug", "hotflip"])
def test_time_limit_before_search_skips(loaded, name):
    result = make_attacker(loaded, recipe(name, time_limit_seconds=1e-6)).attack("the movie was good", label="pos")

    assert (result.status, result.reason, result.queries) == ("skipped", "time_limit", 1)


def test_time_limit_stops_search(loaded, monkeypatch):
    # Each model call sleeps 0.2 s, so a 0.5 s limit allows the original, the importance
    # batch and at most one search step before the deadline is checked again.
    attack = recipe("charbug", time_limit_seconds=0.5, max_words_changed=1.0, extra_stop_words=("good",),
                    protect_stop_words=True)
    attacker = make_attacker(loaded, attack)
    original_score = attacker.score

    def slow_score(texts):
        time.sleep(0.2)
        return original_score(texts)

    monkeypatch.setattr(attacker, "score", slow_score)
    result = attacker.attack("the movie was very long and dark and funny and good", label="pos")

    assert result.status == "flipped" or result.reason == "time_limit"
    # One model call may start before the deadline and end after it; 0.5 s more is slack for a busy machine.
    assert result.seconds < 0.5 + 0.2 + 0.5


# ---------------------------------------------------------------- hard texts


HARD_TEXTS = [
    "",
    "   ",
    "good",
    "bad",
    "!!! ???",
    "这部电影很好",
    "Фильм был хороший",
    "فيلم جيد",
    "😀 good 😀",
    " ".join(["film"] * 60 + ["good"]),
]


@pytest.mark.parametrize("name", ["charbug", "embedding", "hotflip"])
def test_hard_texts_give_result_or_reason(loaded, name):
    attacker = make_attacker(loaded, recipe(name, max_words_changed=1.0))
    results = attacker.attack_many(HARD_TEXTS)

    assert len(results) == len(HARD_TEXTS)
    for text, result in zip(HARD_TEXTS, results):
        assert result.status in STATUSES
        assert result.original_text == text
        if result.status == "skipped":
            assert result.reason in SKIP_REASONS
        if result.status == "failed":
            assert result.reason in FAIL_REASONS
        assert_spans_consistent(result)
    assert [result.reason for result in results[:2]] == ["empty_text", "empty_text"]
    assert results[4].reason == "empty_text"  # punctuation marks are not words


def test_words_beyond_max_length_left_alone(loaded):
    model, tokenizer, max_length, _ = loaded
    text = " ".join(["film"] * 50 + ["good"])
    result = make_attacker(loaded, recipe("charbug", max_words_changed=1.0, max_queries=60)).attack(text)
    offsets = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)["offset_mapping"]
    last_covered = max(end for _, end in offsets)

    assert max_length == 32
    assert result.changed_spans
    assert all(span.original_end <= last_covered for span in result.changed_spans)


def test_unlabelled_and_unknown_labels_attack_prediction(loaded):
    results = make_attacker(loaded, recipe("embedding", candidates_per_word=ALL_WORDS)).attack_many(
        ["a good film with a long plot"] * 2, labels=[None, "maybe"]
    )

    for result in results:
        assert result.label is None
        assert result.correct_before is None
        assert result.status == "flipped"


def test_attack_texts_reports_progress(loaded):
    model, tokenizer, max_length, class_names = loaded
    events = []
    results = attack_texts(
        model, tokenizer, ["a bad film with a long plot", "the movie was good and long"], class_names=class_names,
        recipe=recipe("charbug"), labels=["neg", "pos"], max_length=max_length, measure_similarity=False,
        progress=events.append,
    )

    assert [result.original_text for result in results] == ["a bad film with a long plot", "the movie was good and long"]
    assert [event.step for event in events] == [1, 2]
    assert all(event.total_steps == 2 for event in events)
    assert events[-1].eta_seconds == 0


def test_attack_texts_stops_on_request(loaded):
    model, tokenizer, max_length, class_names = loaded

    with pytest.raises(AttackCancelled, match="Stopped by request"):
        attack_texts(model, tokenizer, ["a good film"], class_names=class_names, recipe=recipe("charbug"),
                     max_length=max_length, should_stop=lambda: True)


def test_misclassified_text_skipped(loaded):
    result = make_attacker(loaded, recipe("charbug")).attack("the movie was good", label="neg")

    assert (result.status, result.reason, result.queries) == ("skipped", "already_misclassified", 1)


# ---------------------------------------------------------------- tables and summary


def test_summary_by_hand():
    table = pd.DataFrame({
        "status": ["flipped", "failed", "skipped", "flipped", "skipped"],
        "reason": [None, "no_flip_found", "already_misclassified", None, "empty_text"],
        "correct_before": pd.array([True, True, False, None, None], dtype="boolean"),
        "queries": [10, 30, 1, 20, 1],
        "fraction_changed": [0.1, 0.2, 0.0, 0.3, 0.0],
        "similarity": [0.9, np.nan, 1.0, np.nan, 1.0],
        "seconds": [1.0, 2.0, 0.1, 0.5, 0.4],
    })
    summary = attack_summary(table)

    assert (summary["attacked"], summary["flipped"], summary["failed"], summary["skipped"]) == (3, 2, 1, 2)
    assert summary["success_rate"] == pytest.approx(2 / 3)
    assert summary["labelled"] == 3
    assert summary["clean_accuracy"] == pytest.approx(2 / 3)
    # Labelled rows: flipped (counts against), failed and correct (survives), misclassified.
    assert summary["accuracy_under_attack"] == pytest.approx(1 / 3)
    assert summary["mean_queries"] == pytest.approx(20.0)
    assert summary["mean_queries_to_flip"] == pytest.approx(15.0)
    assert summary["mean_fraction_changed"] == pytest.approx(0.2)
    assert summary["mean_similarity"] == pytest.approx(0.9)
    assert summary["seconds_per_attacked"] == pytest.approx(4.0 / 3)
    assert summary["skip_reasons"] == {"already_misclassified": 1, "empty_text": 1}
    assert summary["fail_reasons"] == {"no_flip_found": 1}


def test_summary_of_empty_table():
    summary = attack_summary(pd.DataFrame())

    assert summary["rows"] == 0
    assert summary["success_rate"] is None
    assert summary["accuracy_under_attack"] is None


def test_results_table_and_training_rows(loaded):
    texts = ["the movie was good and long", "", "a bad film with a long plot"]
    results = make_attacker(loaded, recipe("embedding", candidates_per_word=ALL_WORDS)).attack_many(
        texts, labels=["pos", None, "neg"]
    )
    table = results_table(results, loaded[3], positions=[7, 8, 9], recipe="embedding")
    rows = adversarial_training_rows(table)

    assert list(table["position"]) == [7, 8, 9]
    assert {"prob_before:neg", "prob_before:pos", "prob_after:neg", "prob_after:pos"} <= set(table.columns)
    np.testing.assert_allclose(table[["prob_before:neg", "prob_before:pos"]].sum(axis=1), 1.0, atol=1e-6)
    assert changed_spans(table.iloc[0])[0].original == "good"
    assert list(rows.columns) == ["id", "text", "label", "source_recipe", "source_position"]
    assert list(rows["label"]) == ["pos", "neg"]
    assert list(rows["text"]) == list(table.loc[[0, 2], "adversarial_text"])
    assert list(rows["id"]) == ["adversarial-embedding-7", "adversarial-embedding-9"]


# ---------------------------------------------------------------- storage, jobs, report, CLI


def test_run_attack_resumes_after_cancel(keyword_runs, tmp_path, monkeypatch):
    run_dir = keyword_runs[0]
    positions = list(range(6))
    monkeypatch.setattr("core.attack_jobs.ROWS_PER_CHUNK", 2)
    partial = tmp_path / "partial.parquet"
    calls = {"count": 0}

    def stop_after_first_chunk() -> bool:
        calls["count"] += 1
        return partial.exists()

    attack = recipe("charbug")
    with pytest.raises(AttackCancelled):
        run_attack(run_dir, positions, attack, attack_id="resumed", device=CPU, partial_path=partial,
                   should_stop=stop_after_first_chunk)
    assert len(pd.read_parquet(partial)) == 2

    metadata = run_attack(run_dir, positions, attack, attack_id="resumed", device=CPU, partial_path=partial)
    run_attack(run_dir, positions, attack, attack_id="fresh", device=CPU)

    assert not partial.exists()
    assert metadata["positions"] == positions
    resumed_table = load_attack(run_dir, "resumed").drop(columns=["seconds"])
    fresh_table = load_attack(run_dir, "fresh").drop(columns=["seconds"])
    pd.testing.assert_frame_equal(resumed_table, fresh_table)
    assert {item["id"] for item in list_attacks(run_dir)} >= {"resumed", "fresh"}


def test_attack_job_end_to_end(keyword_runs, tmp_path):
    run_dir = keyword_runs[0]
    job = submit_attack(tmp_path / "workspace", run_dir, "test", recipe("embedding"), "cpu", limit=4)
    finished = jobs.wait(tmp_path / "workspace", job.id, timeout=JOB_TIMEOUT)
    attack_id = job.config["attack_id"]
    table = load_attack(run_dir, attack_id)
    metadata = load_attack_metadata(run_dir, attack_id)

    assert finished.state == "succeeded", finished.error
    assert finished.result["attack_id"] == attack_id
    assert finished.progress["step"] == finished.progress["total_steps"] == 4
    assert len(table) == 4
    assert metadata["split"] == "test"
    assert metadata["positions"] == list(table["position"])
    assert metadata["summary"] == attack_summary(table)
    assert metadata["settings"]["transformation"] == "embedding"
    assert attack_id in [item["id"] for item in list_attacks(run_dir)]


@pytest.mark.parametrize(
    ("selection", "overrides", "error", "message"),
    [
        ("holdout", {}, ValueError, "split must be one of train, validation, test, unlabelled; got 'holdout'"),
        ("unlabelled", {}, ValueError, "has no rows in the unlabelled split"),
        ([], {}, ValueError, "positions must name at least one row"),
        ([100_000], {}, ValueError, "row positions must be from 0 to"),
        ("test", {"max_queries": -1}, ValueError, "max_queries must be a whole number"),
        ("test", {"transformation": "mlm", "mlm_model": "/no/such/folder"}, ValueError, "mlm_model folder .* not found"),
    ],
)
def test_submit_attack_rejects(keyword_runs, tmp_path, selection, overrides, error, message):
    with pytest.raises(error, match=message):
        submit_attack(tmp_path, keyword_runs[0], selection, replace(RECIPES["charbug"], **overrides), "cpu")
    assert not (tmp_path / jobs.REGISTRY_FILE).exists() or not jobs.JobRegistry(tmp_path).list()


def test_submit_attack_needs_a_run(tmp_path):
    with pytest.raises(runs.RunNotFoundError):
        submit_attack(tmp_path, tmp_path / "missing", "test", "charbug", "cpu")


def test_load_attack_unknown_id(keyword_runs):
    with pytest.raises(FileNotFoundError, match="No attack 'nothing' in run strong"):
        load_attack(keyword_runs[0], "nothing")
    with pytest.raises(ValueError, match="attack_id may contain only letters"):
        load_attack(keyword_runs[0], "../strong/run")


def test_robustness_report_two_runs(keyword_runs):
    strong, weak = keyword_runs
    run_attack(strong, [0, 1, 2, 3], recipe("hotflip"), attack_id="report-hotflip", device=CPU)
    report = robustness_report([strong, weak])
    strong_summary = runs.read_summary(strong)

    assert list(report["run"]) == ["strong", "weak"]
    assert report.loc[0, "test_accuracy"] == pytest.approx(strong_summary.test_accuracy)
    assert report.loc[0, "test_rows"] > 0
    assert 0 <= report.loc[1, "test_ece"] <= 1
    assert report.loc[0, "hotflip:rows"] == 4
    assert 0 <= report.loc[0, "hotflip:accuracy_under_attack"] <= 1
    assert math.isnan(report.loc[1, "hotflip:success_rate"])


def test_cli_attack_and_robustness(keyword_runs, tmp_path, capsys):
    environment = {**os.environ, "UNCERTAINTY_EXPLORER_WORKSPACE": str(tmp_path / "workspace")}
    attacked = subprocess.run(
        [sys.executable, "-m", "core", "attack", "--run", str(keyword_runs[1]), "--rows", "0,1,2", "--recipe",
         "charbug", "--device", "cpu"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=600, check=False,
    )

    assert attacked.returncode == 0, attacked.stderr
    summary = json.loads(attacked.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 3
    assert summary["recipe"] == "charbug"

    assert cli_main(["attack", "--run", str(keyword_runs[1]), "--rows", "0,x"]) == 2
    assert "--rows must be comma-separated whole numbers such as 1,2,3; got '0,x'" in capsys.readouterr().err

    assert cli_main(["robustness", str(keyword_runs[0]), str(keyword_runs[1])]) == 0
    report = capsys.readouterr().out
    assert "charbug:success_rate" in report
    assert "test_accuracy" in report

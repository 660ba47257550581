"""Tests for the sampling methods (MC dropout, noise injection, augmentation, ensembles), their cache and job.

Symbols: N samples, K classes, T passes. Models are the tiny BERT of ``conftest.py``.
"""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from torch import nn
from transformers import RobertaConfig, RobertaForSequenceClassification

from conftest import keyword_rows
from core import jobs, runs
from core.augment import augment_text, augmented_variants, character_noise, tta_probs, word_noise
from core.batching import encode_texts
from core.ensemble import ensemble_probs
from core.job_handlers import submit_uncertainty
from core.mc import classification_head, dropout_active, mc_dropout_head_probs, mc_dropout_probs
from core.methods import MethodSpec, sampled_probs, split_positions
from core.models import load_classifier
from core.passes import ComputationCancelled
from core.perturbation import embedding_noise_probs, weight_noise_probs
from core.scoring import predict_logits_encoded
from core.training import TrainConfig, fine_tune
from core.uncertainty import (
    sampled_probs_from_frame,
    sampled_uncertainty,
    sampled_uncertainty_frame,
    softmax,
)
from core.uncertainty_cache import cache_path, compute_result, find_result, list_results, load_result

CPU = torch.device("cpu")
# Passes of the same model on the same rows differ only by float32 rounding, which
# depends on the batch shape (about 1e-7 in probability); 1e-5 leaves a wide margin.
SAME_MODEL = 1e-5
EXACT = 1e-12
TINY_TRAIN = dict(epochs=1, learning_rate=5e-3, max_length=32, device="cpu")


def random_mc_probs(passes, rows, classes, *, seed):
    """Return seeded Dirichlet samples of shape (T, N, K)."""
    return np.random.default_rng(seed).dirichlet(np.full(classes, 0.5), size=(passes, rows))


@pytest.fixture
def tiny_model(tiny_model_dir):
    model, _ = load_classifier(tiny_model_dir)
    return model


@pytest.fixture
def no_dropout_model(tiny_model_copy):
    """Return the tiny model with every dropout probability set to 0, loaded through core.models."""
    config_path = tiny_model_copy / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    config_path.write_text(json.dumps(config), encoding="utf-8")
    model, _ = load_classifier(tiny_model_copy)
    return model


@pytest.fixture(scope="module")
def texts():
    return keyword_rows(40, seed=5)["text"].tolist()


@pytest.fixture
def encoded(tiny_tokenizer, texts):
    return encode_texts(tiny_tokenizer, texts, max_length=32)


def deterministic_probs(model, encoded):
    return softmax(predict_logits_encoded(model, encoded, batch_size=8, device=CPU))


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, tiny_model_dir, make_keyword_dataset):
    """Train the runs the ensemble, cache and job tests share (read only).

    ``base`` and ``same_split`` share seed 0 and so the split; ``other_seed`` holds out
    other rows; ``relabelled`` has classes ``negative``/``positive``.
    """
    root = tmp_path_factory.mktemp("method-runs") / "runs"
    dataset = make_keyword_dataset(200)
    relabelled = dataset.copy()
    relabelled["label"] = relabelled["label"].map({"pos": "positive", "neg": "negative"})
    plans = {
        "base": (dataset, TrainConfig(model=str(tiny_model_dir), seed=0, **TINY_TRAIN)),
        "same_split": (dataset, TrainConfig(model=str(tiny_model_dir), seed=0, **{**TINY_TRAIN, "learning_rate": 2e-3})),
        "other_seed": (dataset, TrainConfig(model=str(tiny_model_dir), seed=1, **TINY_TRAIN)),
        "relabelled": (relabelled, TrainConfig(model=str(tiny_model_dir), seed=0, **TINY_TRAIN)),
    }
    return {name: fine_tune(rows, config, output_dir=root / name).run_dir for name, (rows, config) in plans.items()}


@pytest.fixture
def run_copy(trained_runs, tmp_path):
    """Return a private copy of the base run and its siblings, which a test may add cache files to."""
    root = tmp_path / "runs"
    for name, path in trained_runs.items():
        shutil.copytree(path, root / name)
    return root / "base"


# --------------------------------------------------------------------------- statistics over passes


def test_decomposition_hand_values():
    # Two confident passes that disagree: total log 2, aleatoric 0, epistemic log 2.
    mc_probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    summary = sampled_uncertainty(mc_probs)

    assert summary["total"][0] == pytest.approx(math.log(2), abs=EXACT)
    assert summary["expected_entropy"][0] == pytest.approx(0.0, abs=EXACT)
    assert summary["mutual_information"][0] == pytest.approx(math.log(2), abs=EXACT)
    assert summary["variation_ratio"][0] == pytest.approx(0.5, abs=EXACT)
    np.testing.assert_allclose(summary["variance"], [[0.25, 0.25]], rtol=0, atol=EXACT)


def test_identical_passes_have_no_epistemic_part():
    mc_probs = np.repeat(random_mc_probs(1, 20, 3, seed=1), 5, axis=0)
    summary = sampled_uncertainty(mc_probs)

    np.testing.assert_allclose(summary["mutual_information"], 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary["variance"], 0.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary["variation_ratio"], 0.0, rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(5))
def test_decomposition_properties(seed):
    mc_probs = random_mc_probs(7, 100, 4, seed=seed)
    summary = sampled_uncertainty(mc_probs)

    assert (summary["mutual_information"] >= 0).all()
    np.testing.assert_allclose(
        summary["total"], summary["expected_entropy"] + summary["mutual_information"], rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(summary["mean_probs"].sum(axis=1), 1.0, rtol=0, atol=1e-6)
    assert summary["variance"].shape == (100, 4)


def test_sampled_frame_round_trip():
    mc_probs = random_mc_probs(3, 6, 2, seed=2)
    frame = sampled_uncertainty_frame(mc_probs, ["neg", "pos"])

    assert frame.shape[0] == 6
    assert {"expected_entropy", "mutual_information", "variation_ratio", "var:neg", "samples:pos"} <= set(frame)
    np.testing.assert_allclose(sampled_probs_from_frame(frame, ["neg", "pos"]), mc_probs, rtol=0, atol=1e-7)


@pytest.mark.parametrize("shape", [(5, 2), (0, 3, 2), (2, 3, 1)])
def test_sampled_uncertainty_rejects_shape(shape):
    with pytest.raises(ValueError, match="mc_probs must have shape \\(T, N, K\\)"):
        sampled_uncertainty(np.full(shape, 0.5))


# --------------------------------------------------------------------------- MC dropout


def test_mc_dropout_zero_rate_equals_deterministic(no_dropout_model, encoded):
    expected = deterministic_probs(no_dropout_model, encoded)
    mc_probs = mc_dropout_probs(no_dropout_model, encoded, passes=4, batch_size=8, rows_per_forward=16, device=CPU)

    assert mc_probs.shape == (4, len(encoded), 2)
    for pass_probs in mc_probs:
        np.testing.assert_allclose(pass_probs, expected, rtol=0, atol=SAME_MODEL)


def test_mc_dropout_head_zero_rate_equals_deterministic(no_dropout_model, encoded):
    expected = deterministic_probs(no_dropout_model, encoded)
    mc_probs = mc_dropout_head_probs(no_dropout_model, encoded, passes=3, batch_size=8, device=CPU)

    for pass_probs in mc_probs:
        np.testing.assert_allclose(pass_probs, expected, rtol=0, atol=SAME_MODEL)


@pytest.mark.parametrize("compute", [mc_dropout_probs, mc_dropout_head_probs])
def test_mc_dropout_seeded(tiny_model, encoded, compute):
    first = compute(tiny_model, encoded, passes=5, seed=3, batch_size=8, device=CPU)
    again = compute(tiny_model, encoded, passes=5, seed=3, batch_size=8, device=CPU)
    other = compute(tiny_model, encoded, passes=5, seed=4, batch_size=8, device=CPU)

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.allclose(first[0], first[1], rtol=0, atol=1e-6)  # passes differ from each other


def test_mc_dropout_chunking_shapes(tiny_model, encoded):
    # 8 rows per batch and 24 rows per forward: chunks of 3 passes, the last one of 1.
    mc_probs = mc_dropout_probs(tiny_model, encoded, passes=7, batch_size=8, rows_per_forward=24, device=CPU)

    assert mc_probs.shape == (7, len(encoded), 2)
    np.testing.assert_allclose(mc_probs.sum(axis=2), 1.0, rtol=0, atol=1e-6)


def test_dropout_active_swaps_and_restores(tiny_model):
    originals = {name: module for name, module in tiny_model.named_modules() if isinstance(module, nn.Dropout)}

    with dropout_active(tiny_model):
        inside = dict(tiny_model.named_modules())
        assert originals
        assert not any(isinstance(inside[name], nn.Dropout) for name in originals)
        assert [inside[name].p for name in originals] == [module.p for module in originals.values()]
        assert not any(module.training for name, module in inside.items() if name not in originals)

    after = dict(tiny_model.named_modules())
    assert all(after[name] is module for name, module in originals.items())


def test_masked_dropout_rate_and_scale():
    torch.manual_seed(0)
    hidden = torch.ones(200_000)
    with dropout_active(nn.Sequential(nn.Dropout(0.1))) as model:
        dropped = model(hidden)

    # 200,000 Bernoulli(0.1) draws: the standard error of the zeroed share is about 0.00067.
    assert abs(float((dropped == 0).float().mean()) - 0.1) < 0.004
    assert torch.allclose(dropped[dropped != 0], torch.full_like(dropped[dropped != 0], 1 / 0.9))


def test_masked_dropout_odd_sized_tensor():
    torch.manual_seed(0)
    hidden = torch.ones(3, 5, 7).transpose(0, 2)  # 105 elements, not a multiple of 4, not contiguous
    with dropout_active(nn.Sequential(nn.Dropout(0.5))) as model:
        dropped = model(hidden)

    assert dropped.shape == hidden.shape
    assert set(dropped.unique().tolist()) == {0.0, 2.0}


def test_mc_dropout_restores_modes_and_grads(tiny_model, encoded):
    tiny_model.train()
    mc_dropout_probs(tiny_model, encoded, passes=2, batch_size=16, device=CPU)

    assert all(module.training for module in tiny_model.modules())
    assert all(parameter.grad is None for parameter in tiny_model.parameters())
    assert torch.is_grad_enabled()


def test_dropout_active_leaves_rng_alone(tiny_model, encoded):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    mc_dropout_probs(tiny_model, encoded, passes=2, batch_size=16, device=CPU)

    assert torch.equal(torch.rand(3), expected)


def test_head_only_needs_bert_head():
    config = RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=16, max_position_embeddings=40, num_labels=2)
    with pytest.raises(ValueError, match="RobertaForSequenceClassification has another head. Use full MC dropout"):
        classification_head(RobertaForSequenceClassification(config))


def test_head_only_spread_below_full(tiny_model, encoded):
    full = sampled_uncertainty(mc_dropout_probs(tiny_model, encoded, passes=20, batch_size=8, device=CPU))
    head = sampled_uncertainty(mc_dropout_head_probs(tiny_model, encoded, passes=20, batch_size=8, device=CPU))

    assert (head["mutual_information"] >= 0).all()
    assert full["mutual_information"].mean() > 0


@pytest.mark.parametrize("passes", [0, -1, 1.5, True, "10"])
def test_mc_dropout_rejects_passes(tiny_model, encoded, passes):
    with pytest.raises(ValueError, match=f"passes \\(T\\) must be a whole number of at least 1; got {passes!r}"):
        mc_dropout_probs(tiny_model, encoded, passes=passes, device=CPU)


def test_mc_dropout_cancel(tiny_model, encoded):
    calls = []

    def stop_after_first():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(ComputationCancelled, match="Stopped by request after 1 of"):
        mc_dropout_probs(tiny_model, encoded, passes=4, batch_size=8, rows_per_forward=8, device=CPU,
                         should_stop=stop_after_first)


# --------------------------------------------------------------------------- noise injection


def test_embedding_noise_zero_scale_equals_deterministic(tiny_model, encoded):
    expected = deterministic_probs(tiny_model, encoded)
    mc_probs = embedding_noise_probs(tiny_model, encoded, passes=3, scale=0.0, batch_size=8, device=CPU)

    for pass_probs in mc_probs:
        np.testing.assert_allclose(pass_probs, expected, rtol=0, atol=SAME_MODEL)


def test_embedding_noise_seeded(tiny_model, encoded):
    first = embedding_noise_probs(tiny_model, encoded, passes=4, scale=0.5, seed=1, batch_size=8, device=CPU)
    again = embedding_noise_probs(tiny_model, encoded, passes=4, scale=0.5, seed=1, batch_size=8, device=CPU)

    np.testing.assert_array_equal(first, again)
    assert sampled_uncertainty(first)["mutual_information"].max() > 0


def test_weight_noise_restores_weights(tiny_model, encoded):
    before = {name: tensor.clone() for name, tensor in tiny_model.state_dict().items()}
    mc_probs = weight_noise_probs(tiny_model, encoded, passes=3, scale=0.2, batch_size=16, device=CPU)

    assert not np.allclose(mc_probs[0], mc_probs[1], rtol=0, atol=1e-6)
    for name, tensor in tiny_model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_weight_noise_restores_after_cancel(tiny_model, encoded):
    before = {name: tensor.clone() for name, tensor in tiny_model.state_dict().items()}
    calls = []

    def stop_after_first():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(ComputationCancelled):
        weight_noise_probs(tiny_model, encoded, passes=3, scale=0.2, batch_size=8, device=CPU,
                           should_stop=stop_after_first)
    for name, tensor in tiny_model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def test_weight_noise_zero_scale_equals_deterministic(tiny_model, encoded):
    expected = deterministic_probs(tiny_model, encoded)
    mc_probs = weight_noise_probs(tiny_model, encoded, passes=2, scale=0.0, batch_size=8, device=CPU)

    for pass_probs in mc_probs:
        np.testing.assert_allclose(pass_probs, expected, rtol=0, atol=SAME_MODEL)


@pytest.mark.parametrize("compute", [embedding_noise_probs, weight_noise_probs])
@pytest.mark.parametrize("scale", [-0.1, float("nan"), float("inf")])
def test_noise_rejects_scale(tiny_model, encoded, compute, scale):
    with pytest.raises(ValueError, match=f"must be a finite number of at least 0; got {scale!r}"):
        compute(tiny_model, encoded, passes=2, scale=scale, device=CPU)


# --------------------------------------------------------------------------- test-time augmentation


def test_character_noise_rate_zero_and_seeded():
    text = "the plot was good"
    rng = np.random.default_rng(0)

    assert character_noise(text, rng, rate=0.0) == text
    first = character_noise(text, np.random.default_rng(4), rate=0.5)
    assert first == character_noise(text, np.random.default_rng(4), rate=0.5)
    assert first != text


def test_character_noise_edits_stay_local():
    # Every edit changes the length by at most one character, and spaces are never edited.
    text = "a very long and quite boring film"
    noisy = character_noise(text, np.random.default_rng(1), rate=0.3)

    assert noisy.count(" ") == text.count(" ")
    assert abs(len(noisy) - len(text)) <= len(text.replace(" ", ""))


def test_word_noise_keeps_a_word():
    assert word_noise("good", np.random.default_rng(0), rate=1.0) == "good"
    assert word_noise("a b c", np.random.default_rng(0), rate=0.0) == "a b c"


def test_word_noise_only_drops_and_swaps():
    words = "the cast and the music were good".split()
    noisy = word_noise(" ".join(words), np.random.default_rng(2), rate=0.5).split()

    assert set(noisy) <= set(words)
    assert len(noisy) <= len(words)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_augment_rejects_rate(rate):
    with pytest.raises(ValueError, match=f"rate \\(edit probability per character or word\\) must be in \\[0, 1\\]; got {rate!r}"):
        augment_text("good film", np.random.default_rng(0), kind="word", rate=rate)


def test_augment_rejects_kind():
    with pytest.raises(ValueError, match="kind must be one of character, word; got 'token'"):
        augment_text("good film", np.random.default_rng(0), kind="token", rate=0.1)


def test_tta_zero_rate_equals_deterministic(tiny_model, tiny_tokenizer, texts, encoded):
    expected = deterministic_probs(tiny_model, encoded)
    mc_probs = tta_probs(tiny_model, tiny_tokenizer, texts, passes=2, rate=0.0, max_length=32, device=CPU)

    for pass_probs in mc_probs:
        np.testing.assert_allclose(pass_probs, expected, rtol=0, atol=SAME_MODEL)


def test_tta_scores_the_shown_variants(tiny_model, tiny_tokenizer, texts):
    keys = list(range(100, 100 + len(texts)))
    mc_probs = tta_probs(tiny_model, tiny_tokenizer, texts, passes=3, kind="character", rate=0.3, seed=9,
                         sample_keys=keys, max_length=32, device=CPU)
    variants = augmented_variants(texts[4], keys[4], passes=3, kind="character", rate=0.3, seed=9)
    expected = softmax(predict_logits_encoded(tiny_model, encode_texts(tiny_tokenizer, variants, max_length=32),
                                              device=CPU))

    np.testing.assert_allclose(mc_probs[:, 4], expected, rtol=0, atol=SAME_MODEL)


# --------------------------------------------------------------------------- method settings


@pytest.mark.parametrize(
    "spec, pattern",
    [
        (MethodSpec("mc_dropout", passes=0), "passes \\(T\\) must be a whole number of at least 1; got 0"),
        (MethodSpec("mc_dropout", passes=5000), "passes \\(T\\) must be at most 1000; got 5000"),
        (MethodSpec("embedding_noise", scale=-1.0), "scale \\(embedding_noise\\) must be a finite number of at least 0; got -1.0"),
        (MethodSpec("tta_word", scale=2.0), "must be in \\[0, 1\\]; got 2.0"),
        (MethodSpec("ensemble"), "An ensemble needs at least one member run"),
        (MethodSpec("bayes"), "method must be one of softmax, .*; got 'bayes'"),
        (MethodSpec("mc_dropout", batch_size=0), "batch_size must be at least 1; got 0"),
    ],
)
def test_method_spec_rejects(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        spec.normalised()


def test_method_spec_defaults():
    assert MethodSpec("weight_noise").normalised().scale == pytest.approx(0.01)
    assert MethodSpec("softmax", passes=7, scale=0.5).normalised().passes == 1
    assert MethodSpec("ensemble", members=("a", "b")).normalised().passes == 3


# --------------------------------------------------------------------------- ensembles


def test_ensemble_from_tables(trained_runs):
    positions = split_positions(trained_runs["base"], "test")
    result = ensemble_probs(trained_runs["base"], [trained_runs["same_split"]], positions)
    base = runs.load_predictions(trained_runs["base"]).iloc[positions]
    member = runs.load_predictions(trained_runs["same_split"]).iloc[positions]

    assert result.mc_probs.shape == (2, len(positions), 2)
    np.testing.assert_allclose(result.mc_probs[0], base[["prob:neg", "prob:pos"]], rtol=0, atol=1e-7)
    np.testing.assert_allclose(result.mc_probs[1], member[["prob:neg", "prob:pos"]], rtol=0, atol=1e-7)
    assert result.members[1] == {"run": "same_split", "from_table": len(positions), "scored": 0, "train_overlap": 0}


def test_ensemble_rejects_other_labels(trained_runs):
    positions = split_positions(trained_runs["base"], "test")
    with pytest.raises(ValueError, match="Ensemble member relabelled has classes \\['negative', 'positive'\\]"):
        ensemble_probs(trained_runs["base"], [trained_runs["relabelled"]], positions)


def test_ensemble_rejects_train_overlap(trained_runs):
    positions = split_positions(trained_runs["base"], "test")
    with pytest.raises(ValueError, match="Ensemble member other_seed was trained on [0-9]+ of the [0-9]+ held-out rows"):
        ensemble_probs(trained_runs["base"], [trained_runs["other_seed"]], positions)


def test_ensemble_allows_overlap_when_asked(trained_runs):
    positions = split_positions(trained_runs["base"], "test")
    result = ensemble_probs(trained_runs["base"], [trained_runs["other_seed"]], positions, allow_train_overlap=True)

    assert result.members[1]["train_overlap"] > 0
    np.testing.assert_allclose(result.mc_probs.sum(axis=2), 1.0, rtol=0, atol=1e-6)


def test_ensemble_scores_missing_rows(run_copy):
    # Remove half the base run's test rows from the member's table: the member scores them.
    member_dir = run_copy.parent / "same_split"
    member_table = runs.load_predictions(member_dir)
    positions = split_positions(run_copy, "test")
    dropped = runs.load_predictions(run_copy).iloc[positions[::2]]["text"]
    runs.write_parquet_atomic(member_table[~member_table["text"].isin(dropped)], member_dir / runs.PREDICTIONS_FILE)
    result = ensemble_probs(run_copy, [member_dir], positions)

    assert result.members[1]["scored"] == len(positions[::2])
    # A scored row gets the member model's probabilities, which the original table also held.
    np.testing.assert_allclose(
        result.mc_probs[1, ::2], member_table.iloc[positions[::2]][["prob:neg", "prob:pos"]], rtol=0, atol=1e-5
    )


def test_ensemble_rejects_duplicate_member(trained_runs):
    with pytest.raises(ValueError, match="Ensemble member base is listed twice"):
        ensemble_probs(trained_runs["base"], [trained_runs["base"]], np.arange(3))


# --------------------------------------------------------------------------- cache and dispatch


def test_cache_written_and_reused(run_copy):
    spec = MethodSpec("mc_dropout_head", passes=4, seed=2)
    result = compute_result(run_copy, spec, "test", device=CPU)
    frame = load_result(result)

    assert result.path == cache_path(run_copy, spec, "test")
    assert result.path.with_suffix(".json").is_file()
    assert len(frame) == len(split_positions(run_copy, "test"))
    assert sampled_probs_from_frame(frame, ["neg", "pos"]).shape == (4, len(frame), 2)
    assert [path.name for path in result.path.parent.iterdir() if path.name.startswith(".")] == []

    def fail():
        raise AssertionError("a stored result was computed again")

    again = compute_result(run_copy, spec, "test", device=CPU, should_stop=fail)
    assert again.path == result.path


def test_cache_key_depends_on_settings(run_copy):
    first = cache_path(run_copy, MethodSpec("embedding_noise", scale=0.1), "test")

    assert first != cache_path(run_copy, MethodSpec("embedding_noise", scale=0.2), "test")
    assert first != cache_path(run_copy, MethodSpec("embedding_noise", scale=0.1), "validation")
    assert first == cache_path(run_copy, MethodSpec("embedding_noise"), "test")  # 0.1 is the default


def test_list_results_by_split(run_copy):
    compute_result(run_copy, MethodSpec("mc_dropout_head", passes=2), "test", device=CPU)
    compute_result(run_copy, MethodSpec("mc_dropout_head", passes=2), "validation", device=CPU)

    assert [result.split for result in list_results(run_copy, split="test")] == ["test"]
    assert len(list_results(run_copy)) == 2


def test_softmax_is_stored_pass(trained_runs):
    positions = split_positions(trained_runs["base"], "validation")
    mc_probs, _ = sampled_probs(trained_runs["base"], positions, MethodSpec("softmax"))
    table = runs.load_predictions(trained_runs["base"]).iloc[positions]

    np.testing.assert_allclose(mc_probs[0], table[["prob:neg", "prob:pos"]], rtol=0, atol=0)


def test_split_positions_rejects(trained_runs):
    with pytest.raises(ValueError, match="split must be one of train, validation, test, unlabelled; got 'dev'"):
        split_positions(trained_runs["base"], "dev")
    with pytest.raises(ValueError, match="Run base has no rows in the unlabelled split"):
        split_positions(trained_runs["base"], "unlabelled")


def test_softmax_not_cached(trained_runs):
    with pytest.raises(ValueError, match="softmax baseline is read from the run's predictions"):
        compute_result(trained_runs["base"], MethodSpec("softmax"), "test")


# --------------------------------------------------------------------------- job


def test_uncertainty_job_caches_both_splits(run_copy, tmp_path):
    workspace = tmp_path / "workspace"
    spec = MethodSpec("mc_dropout_head", passes=3)
    job = submit_uncertainty(workspace, run_copy, spec, split="test", device="cpu")
    finished = jobs.wait(workspace, job.id, timeout=300)

    assert finished.state == "succeeded", finished.error
    assert set(finished.result["splits"]) == {"test", "validation"}
    assert find_result(run_copy, spec, "test") is not None
    assert find_result(run_copy, spec, "validation") is not None
    assert finished.progress.get("phase") == "score"


@pytest.mark.parametrize(
    "spec, split, pattern",
    [
        (MethodSpec("softmax"), "test", "softmax baseline is stored with the run"),
        (MethodSpec("mc_dropout", passes=0), "test", "passes \\(T\\) must be a whole number"),
        (MethodSpec("mc_dropout"), "holdout", "split must be one of"),
        (MethodSpec("ensemble", members=("relabelled",)), "test", "Ensemble member relabelled has classes"),
    ],
)
def test_submit_uncertainty_rejects(run_copy, tmp_path, spec, split, pattern):
    with pytest.raises(ValueError, match=pattern):
        submit_uncertainty(tmp_path / "workspace", run_copy, spec, split=split)
    assert jobs.JobRegistry(tmp_path / "workspace").list() == []


"""Word attributions: closed-form results on a linear model, IG completeness on a tiny BERT, words and escaping."""

import json

import numpy as np
import pytest
import torch
from torch import nn
from transformers import BertTokenizerFast, PretrainedConfig
from transformers.modeling_outputs import SequenceClassifierOutput

from core import jobs
from core.attribution import AttributionSpec, attribute_text, attribute_texts, prepare_text
from core.attribution_cache import attribute_run_rows, cache_path, find_attribution, row_texts
from core.attribution_captum import layer_integrated_gradients_reference
from core.attribution_faithfulness import sanity_flags
from core.attribution_render import HeatmapLabels, export_html, export_png, heatmap_html
from core.attribution_sanity import randomisation_check
from core.attribution_targets import FrozenDropout, mc_forward
from core.attribution_text import aggregate_to_words, split_words, token_word_ids
from core.job_handlers import submit_attributions
from core.models import load_classifier
from core.training import TrainConfig, fine_tune

LABELS = HeatmapLabels(title="Class", legend="Score", negative="against", positive="for", cut="cut off")
# Gauss-Legendre quadrature with 50 nodes integrates the smooth path of a 1-layer BERT
# almost exactly. The float32 sums over 32 embedding dimensions and a dozen tokens
# leave errors of about 1e-6, so 1e-4 leaves a wide margin.
COMPLETENESS_TOLERANCE = 1e-4


class LinearBagModel(nn.Module):
    """logits = sum over attended tokens of embedding @ W + b, so IG has a closed form.

    The target is linear in the embeddings, so its gradient is W[:, k] everywhere and
    Integrated Gradients gives exactly (x_t - x'_t) . W[:, k] for token t and class k.
    """

    def __init__(self, vocab_size: int, hidden: int = 6, classes: int = 2, *, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.config = PretrainedConfig(num_labels=classes, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
        self.embeddings = nn.Embedding(vocab_size, hidden)
        self.classifier = nn.Linear(hidden, classes)
        with torch.no_grad():
            self.embeddings.weight.copy_(torch.randn(vocab_size, hidden, generator=generator))
            self.classifier.weight.copy_(torch.randn(classes, hidden, generator=generator))
            self.classifier.bias.zero_()
        self.eval()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None):
        if inputs_embeds is None:
            inputs_embeds = self.embeddings(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.long)
        pooled = (inputs_embeds * attention_mask.unsqueeze(-1)).sum(dim=1)  # (N, H)
        return SequenceClassifierOutput(logits=self.classifier(pooled))


@pytest.fixture
def linear_model(tiny_tokenizer):
    return LinearBagModel(tiny_tokenizer.vocab_size)


@pytest.fixture
def tiny_bert(tiny_model_dir):
    model, tokenizer = load_classifier(tiny_model_dir)
    return model, tokenizer


def expected_linear_scores(model, tokenizer, text, *, baseline_id, target):
    """Return the closed-form IG score (x_t - x'_t) . W[:, target] of each token of ``text``."""
    encoded = tokenizer(text)
    ids = torch.tensor(encoded["input_ids"])
    special = torch.tensor(tokenizer.get_special_tokens_mask(encoded["input_ids"], already_has_special_tokens=True))
    with torch.no_grad():
        inputs = model.embeddings(ids)  # (L, H)
        baseline = torch.zeros_like(inputs) if baseline_id is None else model.embeddings(torch.full_like(ids, baseline_id))
        baseline = torch.where(special.bool().unsqueeze(-1), inputs, baseline)
        return ((inputs - baseline) @ model.classifier.weight[target]).numpy()  # (L,)


# ---------------------------------------------------------------- closed forms on the linear model


@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
def test_linear_ig_closed_form(linear_model, tiny_tokenizer, baseline):
    text = "the movie was good but long"
    spec = AttributionSpec(method="integrated_gradients", target="class", target_class="pos", baseline=baseline)
    result = attribute_text(linear_model, tiny_tokenizer, text, spec=spec, max_length=32)
    baseline_id = {"pad": tiny_tokenizer.pad_token_id, "mask": tiny_tokenizer.mask_token_id, "zero": None}[baseline]
    expected = expected_linear_scores(linear_model, tiny_tokenizer, text, baseline_id=baseline_id, target=1)

    np.testing.assert_allclose(result.token_scores, expected, rtol=1e-5, atol=1e-5)
    assert result.words == text.split()
    np.testing.assert_allclose(result.word_scores, expected[1:-1], rtol=1e-5, atol=1e-5)
    assert abs(result.convergence_delta) < 1e-4
    assert not result.delta_warning


@pytest.mark.parametrize("method", ["occlusion", "kernel_shap"])
def test_linear_word_methods_match_closed_form(linear_model, tiny_tokenizer, method):
    # On an additive model, removing a word changes the logit by exactly its IG score,
    # and Shapley values equal those contributions.
    text = "good movie with a dark ending"
    spec = AttributionSpec(method=method, target="class", target_class="pos", samples=300)
    result = attribute_text(linear_model, tiny_tokenizer, text, spec=spec, max_length=32)
    expected = expected_linear_scores(linear_model, tiny_tokenizer, text, baseline_id=tiny_tokenizer.pad_token_id, target=1)

    np.testing.assert_allclose(result.word_scores, expected[1:-1], rtol=1e-3, atol=1e-3)


def test_linear_gradient_methods(linear_model, tiny_tokenizer):
    text = "bad film"
    weight = linear_model.classifier.weight[0].detach()
    saliency = attribute_text(linear_model, tiny_tokenizer, text, max_length=32,
                              spec=AttributionSpec(method="saliency", target="class", target_class="neg"))
    times_input = attribute_text(linear_model, tiny_tokenizer, text, max_length=32,
                                 spec=AttributionSpec(method="gradient_x_input", target="class", target_class="neg"))
    ids = torch.tensor(tiny_tokenizer(text)["input_ids"][1:-1])
    expected = (linear_model.embeddings(ids) @ weight).detach().numpy()

    np.testing.assert_allclose(saliency.word_scores, [float(weight.norm())] * 2, rtol=1e-5)
    np.testing.assert_allclose(times_input.word_scores, expected, rtol=1e-5, atol=1e-6)


def test_lime_ranks_linear_words(linear_model, tiny_tokenizer):
    text = "good movie with a dark ending"
    spec = AttributionSpec(method="lime", target="class", target_class="pos", samples=400)
    result = attribute_text(linear_model, tiny_tokenizer, text, spec=spec, max_length=32)
    expected = expected_linear_scores(linear_model, tiny_tokenizer, text, baseline_id=tiny_tokenizer.pad_token_id, target=1)

    assert int(np.argmax(result.word_scores)) == int(np.argmax(expected[1:-1]))
    assert np.corrcoef(result.word_scores, expected[1:-1])[0, 1] > 0.9


def test_linear_faithfulness(linear_model, tiny_tokenizer):
    # With a zero baseline, a word's IG score on the bag model is exactly what deleting it
    # takes from the logit, so the ERASER bins can be recomputed by deleting words by hand.
    text = "the movie was good but long"
    result = attribute_text(linear_model, tiny_tokenizer, text, max_length=32,
                            spec=AttributionSpec(target="class", target_class="pos", baseline="zero"))
    ids = tiny_tokenizer(text)["input_ids"]
    order = np.argsort(-np.asarray(result.word_scores), kind="stable")

    def probability(word_indices):
        kept = [ids[0], *[ids[1 + index] for index in sorted(word_indices)], ids[-1]]
        with torch.no_grad():
            return float(torch.softmax(linear_model(input_ids=torch.tensor([kept])).logits, dim=-1)[0, 1])

    full = probability(range(6))
    top_counts = [1, 1, 1, 2, 3]  # ceil of 1%, 5%, 10%, 20% and 50% of 6 words
    comprehensiveness = [full - probability(set(range(6)) - set(order[:count])) for count in top_counts]
    sufficiency = [full - probability(order[:count]) for count in top_counts]
    scores = result.faithfulness

    assert scores["comprehensiveness_bins"] == pytest.approx(comprehensiveness, abs=1e-6)
    assert scores["sufficiency_bins"] == pytest.approx(sufficiency, abs=1e-6)
    assert scores["comprehensiveness"] == pytest.approx(np.mean(comprehensiveness), abs=1e-6)
    assert len(scores["deletion_curve"]) == len(result.words) + 1
    assert scores["deletion_curve"][0] == pytest.approx(full, abs=1e-6)
    assert scores["deletion_curve"][-1] == pytest.approx(probability([]), abs=1e-6)
    assert scores["deletion_fractions"][-1] == 1.0


# ---------------------------------------------------------------- tiny BERT


@pytest.mark.parametrize("target", ["predicted", "entropy", "mc_entropy", "mutual_information"])
def test_ig_completeness_tiny_bert(tiny_bert, target):
    model, tokenizer = tiny_bert
    texts = ["the movie was good", "bad plot and a long boring script", "funny"]
    spec = AttributionSpec(target=target, passes=4)
    results = attribute_texts(model, tokenizer, texts, spec=spec, max_length=32)

    for result in results:
        difference = result.output - result.baseline_output
        assert abs(sum(result.token_scores) - difference) <= COMPLETENESS_TOLERANCE
        assert abs(result.convergence_delta) <= COMPLETENESS_TOLERANCE


def test_batched_ig_matches_captum(tiny_bert):
    model, tokenizer = tiny_bert
    texts = ["the movie was good", "bad plot and a long boring script with music", "funny", "a dark film"]
    spec = AttributionSpec(target="predicted", batch_size=4)
    results = attribute_texts(model, tokenizer, texts, spec=spec, max_length=32, with_faithfulness=False)

    for text, result in zip(texts, results):
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        special = torch.tensor(tokenizer(text, return_special_tokens_mask=True)["special_tokens_mask"]).bool()
        baseline = torch.where(special, ids[0], tokenizer.pad_token_id).unsqueeze(0)
        target = result.class_names.index(result.target_class)
        reference, _ = layer_integrated_gradients_reference(model, ids, baseline, target)
        scale = float(reference.abs().max())
        assert float((torch.tensor(result.token_scores) - reference).abs().max()) <= 1e-4 * scale


def test_mc_target_deterministic_across_batches(tiny_bert):
    model, tokenizer = tiny_bert
    forward = mc_forward(model, kind="mutual_information", passes=5, seed=3, max_length=32)
    ids = torch.tensor([tokenizer("good film")["input_ids"] + [0, 0], tokenizer("bad long boring plot")["input_ids"]])
    mask = (ids != 0).long()
    embeddings = model.get_input_embeddings()(ids).detach()  # (2, L, H)
    with torch.no_grad():
        together = forward(embeddings, mask)  # (2,)
        alone = forward(embeddings[:1, :4], mask[:1, :4])  # (1,)
        again = forward(embeddings, mask)

    assert together.shape == (2,)
    assert torch.equal(together, again)
    assert float(together[0]) == pytest.approx(float(alone[0]), abs=1e-6)
    assert (together >= -1e-6).all()


def test_frozen_dropout_needs_dropout(linear_model):
    with pytest.raises(ValueError, match="no dropout"):
        FrozenDropout(linear_model, passes=3, seed=0, max_length=8)


def test_randomisation_check_reports(tiny_bert):
    model, tokenizer = tiny_bert
    report = randomisation_check(model, tokenizer, ["the movie was good and funny", "bad plot"],
                                 spec=AttributionSpec(method="gradient_x_input"), max_length=32)

    assert report["texts"] == 2
    assert len(report["rank_correlations"]) == 2
    assert report["rank_correlations"][1] is None  # two words are too few to rank
    assert -1.0 <= report["rank_correlations"][0] <= 1.0
    assert isinstance(report["fails"], bool)


# ---------------------------------------------------------------- words, texts and edge cases


@pytest.fixture
def wordpiece_tokenizer(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "##ed", "un", "##believ", "##able", "!"]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)


def test_wordpiece_tokens_map_to_words(wordpiece_tokenizer):
    prepared = prepare_text(wordpiece_tokenizer, "Playing unbelievable!", max_length=32)

    assert prepared.tokens == ["[CLS]", "play", "##ing", "un", "##believ", "##able", "!", "[SEP]"]
    assert [word.text for word in prepared.words] == ["Playing", "unbelievable", "!"]
    assert prepared.token_words.tolist() == [-1, 0, 0, 1, 1, 1, 2, -1]


@pytest.mark.parametrize(("how", "expected"), [("sum", [0.5, -0.5, 0.25]), ("max", [0.75, -1.0, 0.25])])
def test_word_aggregation(how, expected):
    token_scores = np.array([9.0, 0.75, -0.25, 0.5, -1.0, 0.0, 0.25, 9.0])
    token_words = np.array([-1, 0, 0, 1, 1, 1, 2, -1])

    assert aggregate_to_words(token_scores, token_words, 3, how=how).tolist() == expected


def test_split_words_latin_punctuation():
    words = split_words("Don't stop, it's great!", cjk_segmenter="character")

    assert [word.text for word in words] == ["Don", "'", "t", "stop", ",", "it", "'", "s", "great", "!"]


def test_split_words_chinese_per_character():
    text = "我爱NLP模型，really!"
    words = split_words(text, cjk_segmenter="character")

    assert [word.text for word in words] == ["我", "爱", "NLP", "模", "型", "，", "really", "!"]
    assert all(text[word.start : word.end] == word.text for word in words)


def test_chinese_text_attributed_per_character(tiny_bert):
    model, tokenizer = tiny_bert
    result = attribute_text(model, tokenizer, "这部电影很好 good", max_length=32,
                            spec=AttributionSpec(cjk_segmenter="character"))

    assert result.words == ["这", "部", "电", "影", "很", "好", "good"]
    assert all(score is not None for score in result.word_scores)


def test_token_outside_words_is_unassigned():
    words = split_words("a b")
    token_words = token_word_ids(words, [(0, 0), (0, 1), (1, 2), (2, 3), (0, 0)], [1, 0, 0, 0, 1], 3)

    assert token_words.tolist() == [-1, 0, -1, 1, -1]


def test_long_text_truncated(tiny_bert):
    model, tokenizer = tiny_bert
    text = " ".join(["good movie"] * 30)
    result = attribute_text(model, tokenizer, text, spec=AttributionSpec(), max_length=16)

    assert result.truncated
    assert result.kept_tokens == 16
    assert result.total_tokens == 62
    assert result.words_cut == 60 - 14
    assert all(score is not None for score in result.word_scores[:14])
    assert result.faithfulness is not None


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text(tiny_bert, text):
    model, tokenizer = tiny_bert
    result = attribute_text(model, tokenizer, text, spec=AttributionSpec(), max_length=16)

    assert result.words == []
    assert result.faithfulness is None
    assert result.flags == []
    assert not result.truncated


def test_sanity_flags():
    assert sanity_flags(np.zeros(4)) == ["all_zero"]
    assert sanity_flags(np.array([0.0, 5.0, 0.01, np.nan])) == ["concentrated"]
    assert sanity_flags(np.array([0.5, -0.4, 0.3])) == []
    assert sanity_flags(np.array([np.nan])) == []


# ---------------------------------------------------------------- escaping and export


def test_heatmap_escapes_tokens(linear_model, tiny_tokenizer):
    text = "<script>alert(\"x\")</script> it's <b>good</b>"
    result = attribute_text(linear_model, tiny_tokenizer, text, spec=AttributionSpec(), max_length=64)
    labels = HeatmapLabels(title="<i>Class</i>", legend="\"score\"", negative="against", positive="for", cut="cut")
    fragment = heatmap_html(result, labels)
    page = export_html("<title>", [(result, labels)], [("<k>", "'v'")])

    for markup in (fragment, page):
        assert "<script" not in markup
        assert "<b>" not in markup
        assert "<i>" not in markup
        assert "&lt;" in markup
        assert "&quot;" in markup
        assert "&#x27;" in markup
    assert page.startswith("<!DOCTYPE html>")


def test_export_png(linear_model, tiny_tokenizer):
    result = attribute_text(linear_model, tiny_tokenizer, "good $x$ movie 好", spec=AttributionSpec(), max_length=32)
    image = export_png([(result, LABELS), (result, LABELS)])

    assert image[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_steps": 0}, "n_steps must be a whole number from 1"),
        ({"method": "deeplift"}, "method must be one of integrated_gradients.*got 'deeplift'"),
        ({"target": "loss"}, "target must be one of .*got 'loss'"),
        ({"baseline": "random"}, "baseline must be one of pad, mask, zero; got 'random'"),
        ({"aggregation": "mean"}, "aggregation must be one of sum, max; got 'mean'"),
        ({"target": "class"}, "target 'class' needs target_class"),
        ({"passes": 1, "target": "mutual_information"}, "passes must be a whole number from 2"),
        ({"internal_batch_size": 0}, "internal_batch_size must be"),
    ],
)
def test_invalid_spec(settings, message):
    with pytest.raises(ValueError, match=message):
        AttributionSpec(**settings).normalised()


def test_unknown_target_class(tiny_bert):
    model, tokenizer = tiny_bert
    with pytest.raises(ValueError, match="target_class must be one of the model's classes .*got 'maybe'"):
        attribute_text(model, tokenizer, "good", spec=AttributionSpec(target="class", target_class="maybe"), max_length=16)


def test_label_target_needs_known_label(tiny_bert):
    model, tokenizer = tiny_bert
    with pytest.raises(ValueError, match="label must be one of the model's classes"):
        attribute_text(model, tokenizer, "good", spec=AttributionSpec(target="label"), max_length=16, label="neutral")


def test_spec_is_keyword_only():
    with pytest.raises(TypeError):
        AttributionSpec("saliency")


def test_normalised_resets_unused_settings():
    spec = AttributionSpec(method="saliency", n_steps=7, baseline="zero", samples=9, passes=3).normalised()

    assert (spec.n_steps, spec.baseline, spec.samples, spec.passes) == (50, "pad", 200, 10)


# ---------------------------------------------------------------- cache and job


@pytest.fixture
def keyword_run(tmp_path, tiny_model_dir, keyword_dataset):
    config = TrainConfig(model=str(tiny_model_dir), epochs=1, learning_rate=5e-3, max_length=32, device="cpu")
    return fine_tune(keyword_dataset, config, output_dir=tmp_path / "runs" / "keyword-run", data_info={"name": "kw"}).run_dir


def test_run_rows_cached(keyword_run):
    spec = AttributionSpec(method="gradient_x_input", target="entropy")
    first = attribute_run_rows(keyword_run, [0, 1, 2], spec, device=torch.device("cpu"))
    texts, labels = row_texts(keyword_run, [0, 1, 2])
    path = cache_path(keyword_run, texts[0], spec, max_length=32, label=labels[0])

    assert path.is_file()
    assert json.loads(path.read_text(encoding="utf-8"))["result"]["text"] == texts[0]
    assert find_attribution(keyword_run, texts[0], spec, max_length=32).word_scores == first[0].word_scores
    assert find_attribution(keyword_run, texts[0], AttributionSpec(method="saliency"), max_length=32) is None
    second = attribute_run_rows(keyword_run, [0, 1, 2], spec, device=torch.device("cpu"))
    assert [result.to_dict() for result in second] == [result.to_dict() for result in first]


def test_attribution_job(tmp_path, keyword_run):
    workspace = tmp_path / "workspace"
    spec = AttributionSpec(method="integrated_gradients", target="entropy", n_steps=8)
    job = submit_attributions(workspace, keyword_run, [0, 1, 2, 3], spec, device="cpu", randomisation_check=True)
    job = jobs.wait(workspace, job.id, timeout=300)
    texts, labels = row_texts(keyword_run, [3])

    assert job.state == "succeeded", job.error
    assert job.result["rows"] == 4
    assert "randomisation_rank_correlation" in job.result
    assert find_attribution(keyword_run, texts[0], spec, max_length=32) is not None


def test_attribution_job_rejects_bad_rows(tmp_path, keyword_run):
    with pytest.raises(ValueError, match="row positions must be from 0 to"):
        submit_attributions(tmp_path / "workspace", keyword_run, [10_000], AttributionSpec(), device="cpu")

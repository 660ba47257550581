"""Word attributions: which words push a prediction, and which words make the model unsure.

Symbols: N texts, K classes, B texts in a batch, L tokens, H embedding size, W words,
T dropout passes.

:func:`attribute_texts` explains one target per text with one method, through Captum:

- methods (:data:`METHODS`): Integrated Gradients over the word-embedding layer,
  gradient x input, saliency, word occlusion, LIME and Kernel SHAP with words as
  features (see :mod:`core.attribution_captum` for the papers);
- targets (:data:`TARGETS`): the logit of the predicted class, of the labelled class
  or of any class, or an uncertainty of the prediction itself: the predictive entropy,
  the entropy of T MC dropout passes or their mutual information (see
  :mod:`core.attribution_targets`);
- baselines (:data:`BASELINES`): every non-special token replaced by [PAD], by
  [MASK], or by a zero embedding. Special tokens ([CLS], [SEP]) keep their own
  embedding in the baseline, so their attribution is zero and they are left out.

Sub-word scores are combined per word (:mod:`core.attribution_text`). Texts longer
than ``max_length`` tokens are truncated. The result reports the truncation, and the words
that were cut off have no score. Gradient methods run several texts of similar length in one
batch (length-grouped, as in :mod:`core.batching`), so Integrated Gradients evaluates
the interpolation steps of several texts in each forward and backward call.

Each result carries faithfulness scores (:mod:`core.attribution_faithfulness`) and
sanity flags.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import numpy as np
import torch

from core import attribution_faithfulness as faithfulness_module
from core.attribution_captum import (
    GRADIENT_METHODS,
    WORD_METHODS,
    gradient_token_scores,
    logits_without_grad,
    word_feature_scores,
)
from core.attribution_targets import (
    MC_TARGETS,
    TARGETS,
    UNCERTAINTY_TARGETS,
    TargetForward,
    target_forward,
)
from core.attribution_text import (
    AGGREGATIONS,
    CJK_SEGMENTERS,
    WordSpan,
    aggregate_to_words,
    check_segmenter,
    split_words,
    token_word_ids,
)
from core.batching import sorted_batches
from core.models import model_label_names
from core.passes import PassLoop, ProgressCallback, StopCallback

logger = logging.getLogger(__name__)

METHODS = (*GRADIENT_METHODS, *WORD_METHODS)
BASELINES = ("pad", "mask", "zero")
# Methods that compare the input with a baseline.
BASELINE_METHODS = ("integrated_gradients", *WORD_METHODS)
SAMPLING_METHODS = ("lime", "kernel_shap")
MAX_STEPS = 1000
MAX_PASSES = 100
MAX_SAMPLES = 5000
# Integrated Gradients results are flagged when the convergence delta exceeds this
# fraction of the output difference f(input) - f(baseline). IG completeness makes the
# delta zero in the limit of many steps; 5% is this project's tolerance.
DELTA_WARNING_RATIO = 0.05
# Output differences below this are treated as this value when the delta is compared,
# so a near-zero difference does not flag every result.
DELTA_FLOOR = 1e-3
# Without an internal batch size, a forward call of IG contains at most this many tokens
# (interpolation steps x texts x tokens per text). On a CPU, 2,048 tokens keep a BERT-base
# sized layer's activations near the caches: on a 2-core CPU with MiniLM, 2,048 ran about
# 20% faster than 16,384 (bench/bench_attributions.py). NOTE: the GPU value is an
# estimate, not measured; GPUs need large batches to be busy.
DEFAULT_TOKENS_PER_FORWARD = {"cpu": 2048, "cuda": 32768}


@dataclass(frozen=True, kw_only=True)
class AttributionSpec:
    """One attribution method with its settings; :meth:`normalised` validates and fills defaults.

    Attributes:
        method: one of :data:`METHODS`.
        target: one of :data:`TARGETS`.
        target_class: the class name for ``target="class"``.
        baseline: one of :data:`BASELINES`, for the methods in :data:`BASELINE_METHODS`.
        n_steps: Integrated Gradients steps (Gauss-Legendre nodes).
        internal_batch_size: IG rows (steps x texts) per forward call; ``None`` sizes
            it to the device's :data:`DEFAULT_TOKENS_PER_FORWARD` tokens.
        batch_size: texts per length-grouped batch for the gradient methods.
        aggregation: how sub-word scores combine into a word score, one of
            :data:`AGGREGATIONS`; word-level methods score words directly.
        passes: T for the MC dropout targets.
        samples: perturbed inputs for LIME and Kernel SHAP.
        seed: seeds the dropout masks of MC targets and the sampling of LIME and SHAP.
        cjk_segmenter: how Chinese and Japanese text is split into words, one of
            :data:`core.attribution_text.CJK_SEGMENTERS`.
    """

    method: str = "integrated_gradients"
    target: str = "predicted"
    target_class: str | None = None
    baseline: str = "pad"
    n_steps: int = 50
    internal_batch_size: int | None = None
    batch_size: int = 8
    aggregation: str = "sum"
    passes: int = 10
    samples: int = 200
    seed: int = 0
    cjk_segmenter: str = "auto"

    def normalised(self) -> "AttributionSpec":
        """Return a validated copy with settings the method does not use reset to their defaults.

        Raises:
            ValueError: naming the invalid setting, its allowed values and the value received.
        """
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}.")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}.")
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}; got {self.baseline!r}.")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; got {self.aggregation!r}.")
        check_segmenter(self.cjk_segmenter)
        _check_whole("n_steps", self.n_steps, 1, MAX_STEPS)
        _check_whole("batch_size", self.batch_size, 1, 4096)
        _check_whole("passes", self.passes, 2, MAX_PASSES)
        _check_whole("samples", self.samples, 2, MAX_SAMPLES)
        _check_whole("seed", self.seed, 0, 2**31 - 1)
        if self.internal_batch_size is not None:
            _check_whole("internal_batch_size", self.internal_batch_size, 1, 10**6)
        if self.target == "class" and not self.target_class:
            raise ValueError("target 'class' needs target_class, the name of the class to explain; got none.")
        defaults = AttributionSpec()
        spec = self
        if spec.target != "class":
            spec = replace(spec, target_class=None)
        if spec.method not in BASELINE_METHODS:
            spec = replace(spec, baseline=defaults.baseline)
        if spec.method != "integrated_gradients":
            spec = replace(spec, n_steps=defaults.n_steps, internal_batch_size=None)
        if spec.method in WORD_METHODS:
            spec = replace(spec, aggregation=defaults.aggregation, batch_size=defaults.batch_size)
        if spec.method not in SAMPLING_METHODS:
            spec = replace(spec, samples=defaults.samples)
        if spec.target not in MC_TARGETS:
            spec = replace(spec, passes=defaults.passes)
        if spec.target not in MC_TARGETS and spec.method not in SAMPLING_METHODS:
            spec = replace(spec, seed=defaults.seed)
        return spec

    def settings(self) -> dict:
        """Return the settings as a JSON-ready dict (cache keys hash it)."""
        return asdict(self)

    @classmethod
    def from_settings(cls, values: dict) -> "AttributionSpec":
        """Rebuild a spec from :meth:`settings` output."""
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"Unknown attribution setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(cls.__dataclass_fields__))}."
            )
        return cls(**values)


def _check_whole(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}; got {value!r}.")


@dataclass
class PreparedText:
    """One text tokenized for attribution, with its words.

    Attributes:
        input_ids: L token ids after truncation, special tokens included.
        special: bool array of shape (L,), true for special tokens.
        token_words: int64 array of shape (L,), the word of each token or -1.
        truncated: whether tokens were cut at ``max_length``.
        total_tokens: token count before truncation.
    """

    text: str
    input_ids: list[int]
    tokens: list[str]
    special: np.ndarray
    words: list[WordSpan]
    token_words: np.ndarray
    truncated: bool
    total_tokens: int


def prepare_text(tokenizer, text: str, *, max_length: int, cjk_segmenter: str = "auto") -> PreparedText:
    """Tokenize ``text`` (truncated to ``max_length`` tokens) and align its tokens with its words.

    Raises:
        ValueError: the tokenizer is not a fast tokenizer (character offsets are needed),
            or ``max_length`` is below 2.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"Attributions need a fast (Rust) tokenizer for character offsets; got {type(tokenizer).__name__}. "
            "Save the model with a tokenizer.json or load it with use_fast=True."
        )
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens; got {max_length}.")
    text = str(text)
    encoded = tokenizer(
        text, truncation=True, max_length=max_length, return_offsets_mapping=True, return_special_tokens_mask=True,
        verbose=False,
    )
    input_ids = list(encoded["input_ids"])
    total_tokens = len(input_ids)
    if len(input_ids) >= max_length:
        total_tokens = len(tokenizer(text, truncation=False, verbose=False)["input_ids"])
    special = np.asarray(encoded["special_tokens_mask"], dtype=bool)  # (L,)
    words = split_words(text, cjk_segmenter=cjk_segmenter)
    token_words = token_word_ids(words, list(encoded["offset_mapping"]), special.astype(int).tolist(), len(text))
    return PreparedText(
        text=text,
        input_ids=input_ids,
        tokens=tokenizer.convert_ids_to_tokens(input_ids),
        special=special,
        words=words,
        token_words=token_words,
        truncated=total_tokens > len(input_ids),
        total_tokens=total_tokens,
    )


@dataclass
class TextAttribution:
    """The attribution of one text: word and token scores, the explained output and checks.

    Attributes:
        word_scores: W scores; ``None`` for words without tokens (cut off by truncation).
        token_scores: L scores, 0 for special tokens.
        token_words: L word indices, -1 for special tokens.
        target_class: the explained class for class targets, else ``None``.
        output: the explained target at the input: a logit, or an uncertainty in nats.
        baseline_output: the target at the baseline (Integrated Gradients only).
        convergence_delta: sum of attributions minus (output - baseline_output), IG only.
        delta_warning: the delta exceeds :data:`DELTA_WARNING_RATIO` of the output difference.
        probabilities: K class probabilities of the input (one deterministic pass).
        flags: sanity flags from :func:`core.attribution_faithfulness.sanity_flags`.
        faithfulness: comprehensiveness, sufficiency and the deletion curve, or ``None``.
    """

    text: str
    method: str
    target: str
    target_class: str | None
    aggregation: str
    words: list[str]
    word_spans: list[tuple[int, int]]
    word_scores: list[float | None]
    tokens: list[str]
    token_scores: list[float]
    token_words: list[int]
    class_names: list[str]
    probabilities: list[float]
    predicted: str
    output: float
    baseline_output: float | None
    convergence_delta: float | None
    delta_warning: bool
    truncated: bool
    total_tokens: int
    kept_tokens: int
    flags: list[str] = field(default_factory=list)
    faithfulness: dict | None = None
    settings: dict = field(default_factory=dict)

    @property
    def relative_delta(self) -> float | None:
        """Return |delta| / max(|output - baseline_output|, DELTA_FLOOR), or ``None`` without IG."""
        if self.convergence_delta is None or self.baseline_output is None:
            return None
        return abs(self.convergence_delta) / max(abs(self.output - self.baseline_output), DELTA_FLOOR)

    @property
    def words_cut(self) -> int:
        """Return how many words have no score because truncation cut them off."""
        return sum(score is None for score in self.word_scores)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["word_spans"] = [list(span) for span in self.word_spans]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "TextAttribution":
        values = dict(values)
        values["word_spans"] = [tuple(span) for span in values.get("word_spans", [])]
        return cls(**values)


def class_index(class_names: Sequence[str], name: str | None, *, parameter: str) -> int:
    """Return the index of class ``name``, or raise ``ValueError`` naming the known classes."""
    if name not in class_names:
        raise ValueError(f"{parameter} must be one of the model's classes {', '.join(map(str, class_names))}; got {name!r}.")
    return list(class_names).index(name)


def attribute_texts(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    spec: AttributionSpec,
    max_length: int,
    labels: Sequence[str | None] | None = None,
    target_indices: Sequence[int] | None = None,
    with_faithfulness: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> list[TextAttribution]:
    """Explain ``spec.target`` for each of N texts with ``spec.method``; return one result per text.

    Args:
        model: a sequence classifier that accepts ``inputs_embeds`` and
            ``attention_mask`` and has ``get_input_embeddings()``; it is used on its
            current device and left in eval mode.
        labels: N class names (or ``None``), needed for ``target="label"``.
        target_indices: N class indices that override the class target (used by the
            randomisation check to keep the original model's classes).
        with_faithfulness: also compute comprehensiveness, sufficiency and the deletion curve.

    Raises:
        ValueError: invalid settings, an unknown ``target_class``, a missing or unknown
            label for ``target="label"``, [MASK] baseline without a mask token, or MC
            targets on a model without dropout.
        ComputationCancelled: ``should_stop`` returned true.
    """
    spec = spec.normalised()
    class_names = model_label_names(model)
    if spec.target == "class":
        class_index(class_names, spec.target_class, parameter="target_class")
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"labels must have one entry per text ({len(texts)}); got {len(labels)}.")
    if spec.target == "label":
        if labels is None:
            raise ValueError("target 'label' needs labels, one class name per text; got none.")
        for label in labels:
            class_index(class_names, label, parameter="label")
    if target_indices is not None and len(target_indices) != len(texts):
        raise ValueError(f"target_indices must have one entry per text ({len(texts)}); got {len(target_indices)}.")
    _baseline_token_id(tokenizer, spec.baseline)
    model.eval()
    prepared = [prepare_text(tokenizer, text, max_length=max_length, cjk_segmenter=spec.cjk_segmenter) for text in texts]
    started = time.perf_counter()
    runner = _Runner(model, tokenizer, spec, class_names, max_length)
    results = runner.run(prepared, labels, target_indices, with_faithfulness, progress, should_stop)
    logger.info(
        "Attributed %d texts with %s (target %s) in %.1f s", len(texts), spec.method, spec.target,
        time.perf_counter() - started,
    )
    return results


def attribute_text(model, tokenizer, text: str, *, spec: AttributionSpec, max_length: int, label: str | None = None,
                   with_faithfulness: bool = True) -> TextAttribution:
    """Explain one text; see :func:`attribute_texts`."""
    labels = None if label is None else [label]
    return attribute_texts(model, tokenizer, [text], spec=spec, max_length=max_length, labels=labels,
                           with_faithfulness=with_faithfulness)[0]


def _baseline_token_id(tokenizer, baseline: str) -> int | None:
    if baseline == "zero":
        return None
    token_id = tokenizer.pad_token_id if baseline == "pad" else tokenizer.mask_token_id
    if token_id is None:
        raise ValueError(
            f"baseline {baseline!r} needs a {'[PAD]' if baseline == 'pad' else '[MASK]'} token, which this tokenizer "
            f"lacks. Choose another of {', '.join(BASELINES)}."
        )
    return int(token_id)


class _Runner:
    """Runs one spec over prepared texts: batching, targets, Captum and result assembly."""

    def __init__(self, model, tokenizer, spec: AttributionSpec, class_names: list[str], max_length: int) -> None:
        self.model = model
        self.spec = spec
        self.class_names = class_names
        self.max_length = max_length
        self.device = next(model.parameters()).device
        self.embedding = model.get_input_embeddings()
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.baseline_id = _baseline_token_id(tokenizer, spec.baseline)

    # ---------------------------------------------------------------- forward functions

    def forward(self) -> TargetForward:
        """Return the target as a function of (embeddings (N, L, H), attention mask (N, L))."""
        return target_forward(self.model, self.spec, self.max_length)

    def collate(self, items: list[PreparedText]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return padded ids (B, L), attention mask (B, L) and a keep-in-baseline mask (B, L)."""
        width = max(len(item.input_ids) for item in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)  # (B, L)
        attention = torch.zeros((len(items), width), dtype=torch.long)  # (B, L)
        keep = torch.ones((len(items), width), dtype=torch.bool)  # (B, L), padding and specials stay
        for row, item in enumerate(items):
            length = len(item.input_ids)
            ids[row, :length] = torch.tensor(item.input_ids)
            attention[row, :length] = 1
            keep[row, :length] = torch.from_numpy(item.special)
        return ids.to(self.device), attention.to(self.device), keep.to(self.device)

    def embeddings(self, ids: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return input and baseline embeddings, float (B, L, H) each, without gradients."""
        with torch.no_grad():
            inputs = self.embedding(ids)  # (B, L, H)
            if self.baseline_id is None:
                replaced = torch.zeros_like(inputs)
            else:
                replaced = self.embedding(torch.full_like(ids, self.baseline_id))  # (B, L, H)
            baselines = torch.where(keep.unsqueeze(-1), inputs, replaced)  # (B, L, H)
        return inputs.detach(), baselines.detach()

    # ---------------------------------------------------------------- main loop

    def run(self, prepared, labels, target_indices, with_faithfulness, progress, should_stop) -> list[TextAttribution]:
        spec = self.spec
        lengths = np.asarray([len(item.input_ids) for item in prepared], dtype=np.int64)
        if spec.method in GRADIENT_METHODS:
            # Captum needs at least one row per text in each internal batch.
            group = spec.batch_size if spec.internal_batch_size is None else min(spec.batch_size, spec.internal_batch_size)
            batches = sorted_batches(lengths, group)
        else:
            batches = [np.asarray([index]) for index in np.argsort(-lengths, kind="stable")]
        loop = PassLoop(len(batches), len(prepared), progress, should_stop)
        loop.check_stop()
        logger.info(
            "Attributing %d texts with %s, target %s, %d batches of up to %d texts",
            len(prepared), spec.method, spec.target, len(batches), max(len(batch) for batch in batches) if batches else 0,
        )
        results: list[TextAttribution | None] = [None] * len(prepared)
        forward = self.forward()
        for indices in batches:
            items = [prepared[index] for index in indices]
            batch_labels = None if labels is None else [labels[index] for index in indices]
            batch_targets = None if target_indices is None else [target_indices[index] for index in indices]
            for index, result in zip(indices, self.run_batch(items, batch_labels, batch_targets, forward)):
                results[index] = result
            loop.step(len(indices))
        if with_faithfulness:
            scorer = faithfulness_module.TargetScorer(self.model, self.embedding, self.pad_id, spec, self.class_names,
                                                      self.max_length)
            for item, result in zip(prepared, results):
                result.faithfulness = scorer.evaluate(item, result)
        return results

    def run_batch(self, items, labels, target_indices, forward) -> list[TextAttribution]:
        spec = self.spec
        ids, attention, keep = self.collate(items)
        inputs, baselines = self.embeddings(ids, keep)
        logits = logits_without_grad(self.model, inputs, attention)  # (B, K), one deterministic pass
        probs = torch.softmax(logits, dim=-1)  # (B, K)
        classes = self.target_classes(logits, labels, target_indices)
        target = None if classes is None else torch.tensor(classes, device=self.device)
        with torch.no_grad():
            both = forward(torch.cat([inputs, baselines]), torch.cat([attention, attention])).float()  # (2B, ...)
        if target is not None:
            both = both.gather(1, target.repeat(2).unsqueeze(1)).squeeze(1)  # (2B,)
        outputs, baseline_outputs = both[: len(items)], both[len(items) :]  # (B,) each

        if spec.method in GRADIENT_METHODS:
            internal = spec.internal_batch_size
            if spec.method == "integrated_gradients" and internal is None:
                budget = DEFAULT_TOKENS_PER_FORWARD.get(self.device.type, DEFAULT_TOKENS_PER_FORWARD["cpu"])
                steps_per_call = max(1, budget // (ids.shape[1] * len(items)))
                internal = len(items) * min(spec.n_steps, steps_per_call)
            scores = gradient_token_scores(
                forward, inputs, baselines, attention, target, method=spec.method, n_steps=spec.n_steps,
                internal_batch_size=internal,
            ).detach()  # (B, L)
        else:
            scores = self.word_method_scores(items[0], inputs, baselines, attention, target, forward)  # (1, L)
        scores = scores.float().cpu().numpy()
        results = []
        for row, item in enumerate(items):
            length = len(item.input_ids)
            token_scores = np.where(item.special, 0.0, scores[row, :length])  # (L,)
            results.append(self.assemble(
                item, token_scores, probs[row], None if classes is None else classes[row],
                float(outputs[row]), float(baseline_outputs[row]),
            ))
        return results

    def target_classes(self, logits: torch.Tensor, labels, target_indices) -> list[int] | None:
        spec = self.spec
        if spec.target in UNCERTAINTY_TARGETS:
            return None
        if target_indices is not None:
            return [int(index) for index in target_indices]
        if spec.target == "predicted":
            return logits.argmax(dim=-1).tolist()
        if spec.target == "label":
            return [class_index(self.class_names, label, parameter="label") for label in labels]
        return [class_index(self.class_names, spec.target_class, parameter="target_class")] * logits.shape[0]

    def word_method_scores(self, item: PreparedText, inputs, baselines, attention, target, forward) -> torch.Tensor:
        """Score words with occlusion, LIME or SHAP and spread each score over the word's tokens, (1, L)."""
        kept_words = sorted({int(word) for word in item.token_words if word >= 0})
        scores = torch.zeros((1, inputs.shape[1]), dtype=torch.float32)  # (1, L)
        if not kept_words:
            return scores
        feature_of = {word: feature for feature, word in enumerate(kept_words)}
        # Special and padding tokens join feature 0: they equal the baseline, so toggling them changes nothing.
        features = [feature_of.get(int(word), 0) for word in item.token_words]
        feature_mask = torch.tensor(features, device=self.device).view(1, -1, 1)  # (1, L, 1)
        feature_scores = word_feature_scores(
            forward, inputs, baselines, attention, None if target is None else int(target[0]), feature_mask,
            method=self.spec.method, samples=self.spec.samples, seed=self.spec.seed,
        ).float().cpu()  # (F,)
        scores[0] = feature_scores[torch.tensor(features)]
        return scores

    def assemble(self, item: PreparedText, token_scores: np.ndarray, probs: torch.Tensor, target_class: int | None,
                 output: float, baseline_output: float) -> TextAttribution:
        spec = self.spec
        if spec.method in WORD_METHODS:
            word_scores = aggregate_to_words(token_scores, item.token_words, len(item.words), how="max")
        else:
            word_scores = aggregate_to_words(token_scores, item.token_words, len(item.words), how=spec.aggregation)
        is_ig = spec.method == "integrated_gradients"
        delta = float(token_scores.sum() - (output - baseline_output)) if is_ig else None
        delta_warning = bool(
            is_ig and abs(delta) > DELTA_WARNING_RATIO * max(abs(output - baseline_output), DELTA_FLOOR)
        )
        flags = faithfulness_module.sanity_flags(word_scores)
        if delta_warning:
            flags.append("large_delta")
        probabilities = probs.float().cpu().numpy()
        return TextAttribution(
            text=item.text,
            method=spec.method,
            target=spec.target,
            target_class=None if target_class is None else self.class_names[target_class],
            aggregation=spec.aggregation,
            words=[word.text for word in item.words],
            word_spans=[(word.start, word.end) for word in item.words],
            word_scores=[None if math.isnan(score) else float(score) for score in word_scores],
            tokens=list(item.tokens),
            token_scores=[float(score) for score in token_scores],
            token_words=[int(word) for word in item.token_words],
            class_names=list(self.class_names),
            probabilities=[float(value) for value in probabilities],
            predicted=self.class_names[int(np.argmax(probabilities))],
            output=output,
            baseline_output=baseline_output if is_ig else None,
            convergence_delta=delta,
            delta_warning=delta_warning,
            truncated=item.truncated,
            total_tokens=item.total_tokens,
            kept_tokens=len(item.input_ids),
            flags=flags,
            settings=spec.settings(),
        )

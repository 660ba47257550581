"""Adversarial attacks on a text classifier: word importance, candidate words, constraints and search.

Symbols: N texts, K classes, W words of one text, C candidate texts of one search step.

An attack on one text works in four steps:

1. **Score the original.** The attack moves the prediction away from the predicted
   class (the *target class*). A labelled text that the model already gets wrong is
   skipped.
2. **Rank the words.** Words come from :func:`core.attribution_text.split_words`
   (punctuation marks are not words, and each Chinese character is one word by default).
   Protected words (stop words, named entities) and words cut off by the model's
   maximum length are left out. ``deletion`` importance scores the text once per word
   with that word removed and ranks words by the drop in the target-class probability.
   ``gradient`` importance ranks words by the summed L2 norm of the gradient of log
   p(target) with respect to their tokens' input embeddings (one forward and backward
   pass, counted as one query).
3. **Search.** ``greedy`` walks the words in importance order. For each word it scores
   every candidate text of the recipe's transformation (see
   :mod:`core.attack_transforms`) in one batch, keeps the candidate with the lowest
   target-class probability when it lowers that probability, and stops at the first
   text predicted as another class. ``beam`` does the same with the best
   ``beam_width`` texts so far, each expanded by the candidates of the next word, with
   the unchanged texts staying in the pool.
4. **Constrain.** Candidates whose sentence embedding is less similar to the original
   than ``min_similarity`` are dropped before they are scored. The number of changed
   words, the queries and the time per sample are limited (see
   :class:`core.attack_recipe.AttackRecipe`).

All model queries go through :func:`core.scoring.predict_logits_encoded`, which groups
texts of similar length into batches padded to their longest text.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable, Sequence

import numpy as np
import torch

from core.attack_constraints import (
    Deadline,
    QueryBudget,
    SentenceEncoder,
    entity_word_mask,
    load_sentence_encoder,
    stop_word_mask,
)
from core.attack_recipe import AttackRecipe
from core.attack_results import AttackResult, ChangedSpan, attack_summary, results_table
from core.attack_transforms import (
    EmbeddingNeighbours,
    HotFlipCandidates,
    MaskedLMCandidates,
    character_candidates,
    text_gradients,
)
from core.attribution_text import WordSpan, split_words, token_word_ids
from core.batching import encode_texts
from core.progress import ComputationCancelled, Progress
from core.scoring import predict_logits_encoded
from core.uncertainty import predictive_entropy, softmax

__all__ = ["AttackCancelled", "Attacker", "attack_summary", "attack_texts", "results_table"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
StopCallback = Callable[[], bool]


class AttackCancelled(ComputationCancelled):
    """Raised when an attack's ``should_stop`` callback returned true."""


class _Stop(Exception):
    """Ends one sample's search early.

    Attributes:
        reason: ``budget_exhausted`` or ``time_limit``.
        best: the best search state found before the stop, set by the search.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.best = None


# A search state: the replaced words, as sorted (word index, replacement) pairs.
State = tuple[tuple[int, str], ...]


class _Sample:
    """One text being attacked: its words, budget, deadline and rendering of search states."""

    def __init__(self, text: str, words: list[WordSpan], budget: QueryBudget, deadline: Deadline) -> None:
        self.text = text
        self.words = words
        self.budget = budget
        self.deadline = deadline

    def render(self, state: State) -> tuple[str, list[ChangedSpan]]:
        """Return the text with the state's replacements and the changed spans in both texts."""
        replacements = dict(state)
        pieces: list[str] = []
        spans: list[ChangedSpan] = []
        cursor = 0
        length = 0
        for index, word in enumerate(self.words):
            gap = self.text[cursor : word.start]
            pieces.append(gap)
            length += len(gap)
            new = replacements.get(index, word.text)
            if index in replacements:
                spans.append(ChangedSpan(word.start, word.end, length, length + len(new), word.text, new))
            pieces.append(new)
            length += len(new)
            cursor = word.end
        pieces.append(self.text[cursor:])
        return "".join(pieces), spans

    def word_span_in(self, state: State, index: int) -> tuple[int, int]:
        """Return the character span of word ``index`` in the rendered text of ``state``."""
        replacements = dict(state)
        shift = 0
        for other, new in replacements.items():
            if other < index:
                shift += len(new) - len(self.words[other].text)
        word = self.words[index]
        return word.start + shift, word.start + shift + len(replacements.get(index, word.text))


class Attacker:
    """Attacks texts with one recipe against a loaded classifier.

    Args:
        model: a sequence classifier in eval mode on ``device``.
        tokenizer: its tokenizer (a fast tokenizer: offsets map tokens to words).
        class_names: the K class names in the model's output order.
        recipe: the attack settings (validated here).
        device: where the model runs (default: the device of its parameters).
        max_length: the maximum tokens per text, as the model was trained with.
        encoder: the sentence encoder for the similarity constraint (default: the
            built-in one, loaded on first need and shared).
        measure_similarity: also measure the similarity of each final adversarial text
            when ``recipe.min_similarity`` is 0 (loads the sentence encoder).
        mixed_precision: score with autocast on CUDA.

    Raises:
        ValueError: an invalid recipe, class names that do not fit the model, or a slow
            tokenizer.
        ModelLoadError: the recipe's masked language model cannot be loaded.
    """

    def __init__(
        self,
        model,
        tokenizer,
        class_names: Sequence[str],
        *,
        recipe: AttackRecipe,
        device: torch.device | None = None,
        max_length: int = 128,
        encoder: SentenceEncoder | None = None,
        measure_similarity: bool = True,
        mixed_precision: bool = True,
    ) -> None:
        self.recipe = recipe.validate()
        if len(class_names) != model.config.num_labels:
            raise ValueError(
                f"class_names has {len(class_names)} names but the model has {model.config.num_labels} outputs."
            )
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("Attacks need a fast tokenizer (character offsets of tokens); this tokenizer is slow.")
        self.model = model
        self.tokenizer = tokenizer
        self.class_names = [str(name) for name in class_names]
        self.device = device or next(model.parameters()).device
        self.max_length = int(max_length)
        self.mixed_precision = mixed_precision
        self.measure_similarity = measure_similarity
        self._encoder = encoder
        self._neighbours = EmbeddingNeighbours(model, tokenizer) if recipe.transformation == "embedding" else None
        self._hotflip = HotFlipCandidates(model, tokenizer) if recipe.transformation == "hotflip" else None
        self._masked_lm = (
            MaskedLMCandidates(str(recipe.mlm_model), self.device) if recipe.transformation == "mlm" else None
        )

    # ------------------------------------------------------------------ model calls

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            self._encoder = load_sentence_encoder(self.device)
        return self._encoder

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Return class probabilities of shape (N, K) for ``texts``, in batches of ``recipe.batch_size``.

        This does not count queries: callers take them from a :class:`QueryBudget` first.
        """
        encoded = encode_texts(self.tokenizer, list(texts), max_length=self.max_length)
        logits = predict_logits_encoded(
            self.model, encoded, batch_size=self.recipe.batch_size, device=self.device,
            mixed_precision=self.mixed_precision,
        )  # (N, K)
        return softmax(logits)

    @staticmethod
    def _take_queries(sample: _Sample, requested: int) -> int:
        """Return how many of ``requested`` queries may run now. Raise ``_Stop`` when none may."""
        if sample.deadline.passed:
            raise _Stop("time_limit")
        granted = sample.budget.take(requested)
        if granted == 0 and requested:
            raise _Stop("budget_exhausted")
        return granted

    def _score_limited(self, sample: _Sample, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Score as many of ``texts`` as the budget allows, in order."""
        texts = texts[: self._take_queries(sample, len(texts))]
        return texts, self.score(texts) if texts else np.zeros((0, len(self.class_names)))

    # ------------------------------------------------------------------ public entry points

    def attack(self, text: str, *, label: str | None = None, sample_key: int = 0,
               should_stop: StopCallback | None = None) -> AttackResult:
        """Attack one text (see :func:`attack_texts`)."""
        started = time.monotonic()
        original_probs = self.score([text])[0]
        return self._attack(text, label, original_probs, sample_key=sample_key, started=started,
                            should_stop=should_stop)

    def attack_many(
        self,
        texts: Sequence[str],
        *,
        labels: Sequence[str | None] | None = None,
        sample_keys: Sequence[int] | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCallback | None = None,
    ) -> list[AttackResult]:
        """Attack every text in turn, after scoring all originals in one batched call."""
        texts = [str(text) for text in texts]
        labels = list(labels) if labels is not None else [None] * len(texts)
        keys = list(range(len(texts))) if sample_keys is None else [int(key) for key in sample_keys]
        if len(labels) != len(texts) or len(keys) != len(texts):
            raise ValueError(
                f"labels and sample_keys must have one entry per text ({len(texts)}); got {len(labels)} and {len(keys)}."
            )
        if not texts:
            return []
        started = time.monotonic()
        original_probs = self.score(texts)  # (N, K)
        share = (time.monotonic() - started) / len(texts)
        logger.debug(
            "Attacking %d texts with recipe %s (%s, %s importance, %s search), batch size %d, at most %d queries "
            "per text", len(texts), self.recipe.name, self.recipe.transformation, self.recipe.importance,
            self.recipe.search, self.recipe.batch_size, self.recipe.max_queries,
        )
        results = []
        for index, (text, label, key) in enumerate(zip(texts, labels, keys)):
            if should_stop is not None and should_stop():
                raise AttackCancelled(f"Stopped by request after {index} of {len(texts)} texts.")
            results.append(self._attack(text, label, original_probs[index], sample_key=key,
                                        started=time.monotonic() - share, should_stop=should_stop))
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(Progress(
                    phase="score", step=index + 1, total_steps=len(texts), samples=index + 1,
                    elapsed_seconds=elapsed, eta_seconds=elapsed / (index + 1) * (len(texts) - index - 1),
                ))
        return results

    # ------------------------------------------------------------------ one sample

    def _attack(self, text: str, label: str | None, original_probs: np.ndarray, *, sample_key: int,
                started: float, should_stop: StopCallback | None) -> AttackResult:
        recipe = self.recipe
        label = label if label in self.class_names else None
        target = int(np.argmax(original_probs))
        budget = QueryBudget(recipe.max_queries, used=1)
        deadline = Deadline(started, recipe.time_limit_seconds)
        words = [word for word in split_words(text, cjk_segmenter=recipe.cjk_segmenter)
                 if any(character.isalnum() for character in word.text)]
        sample = _Sample(text, words, budget, deadline)

        def finish(status: str, reason: str | None, state: State = (), probs: np.ndarray | None = None,
                   similarity: float = math.nan) -> AttackResult:
            adversarial, spans = sample.render(state)
            probs = original_probs if probs is None else probs
            if state and math.isnan(similarity) and self.measure_similarity:
                similarity = float(self.encoder.similarities(text, [adversarial])[0])
            return AttackResult(
                status=status, reason=reason, original_text=text, adversarial_text=adversarial, label=label,
                target_class=self.class_names[target],
                original_predicted=self.class_names[target],
                adversarial_predicted=self.class_names[int(np.argmax(probs))],
                original_probs=[float(value) for value in original_probs],
                adversarial_probs=[float(value) for value in probs],
                original_entropy=float(predictive_entropy(original_probs[np.newaxis])[0]),
                adversarial_entropy=float(predictive_entropy(np.asarray(probs)[np.newaxis])[0]),
                queries=budget.used, words_total=len(words), words_changed=len(state),
                fraction_changed=len(state) / len(words) if words else 0.0,
                similarity=1.0 if not state else similarity,
                seconds=time.monotonic() - started, changed_spans=spans,
            )

        if not text.strip() or not words:
            return finish("skipped", "empty_text")
        if label is not None and label != self.class_names[target]:
            return finish("skipped", "already_misclassified")
        allowed_changes = math.floor(recipe.max_words_changed * len(words) + 1e-9)
        if allowed_changes < 1:
            return finish("skipped", "too_few_words")
        attackable = self._attackable_words(text, words)
        if not attackable:
            return finish("skipped", "no_candidate_words")

        best: tuple[State, np.ndarray, float] = ((), original_probs, math.nan)
        try:
            order = self._importance_order(sample, attackable, target, original_probs[target])
            search = self._beam_search if recipe.search == "beam" else self._greedy_search
            outcome = search(sample, order, target, original_probs, allowed_changes, sample_key, should_stop)
        except _Stop as stop:
            # Only the original was scored: the attack itself never ran.
            status = "skipped" if budget.used <= 1 else "failed"
            return finish(status, stop.reason, *(stop.best or best))
        flipped, reason, best = outcome
        return finish("flipped" if flipped else "failed", None if flipped else reason, *best)

    def _attackable_words(self, text: str, words: list[WordSpan]) -> list[int]:
        """Return indices of the words the attack may change, in text order."""
        mask = np.ones(len(words), dtype=bool)
        if self.recipe.protect_stop_words:
            mask &= ~stop_word_mask(words, self.recipe.extra_stop_words)
        if self.recipe.protect_entities:
            mask &= ~entity_word_mask(text, words)
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length, return_offsets_mapping=True,
                                 return_special_tokens_mask=True)
        covered = token_word_ids(words, encoded["offset_mapping"], encoded["special_tokens_mask"], len(text))
        in_model = np.zeros(len(words), dtype=bool)
        in_model[covered[covered >= 0]] = True
        return np.flatnonzero(mask & in_model).tolist()

    def _importance_order(self, sample: _Sample, attackable: list[int], target: int, target_prob: float) -> list[int]:
        """Return the attackable word indices, most important first (ties in text order)."""
        if self.recipe.importance == "gradient":
            self._take_queries(sample, 1)
            gradients = text_gradients(self.model, self.tokenizer, [sample.text], [target],
                                       max_length=self.max_length, device=self.device)[0]
            encoded_words = token_word_ids(sample.words, gradients.offsets, gradients.special.astype(int).tolist(),
                                           len(sample.text))
            norms = gradients.gradients.norm(dim=-1).numpy()  # (L,)
            scores = np.array([norms[encoded_words == index].sum() for index in attackable])
        else:
            deleted = [sample.render(((index, ""),))[0] for index in attackable]
            scored, probs = self._score_limited(sample, deleted)
            # Words the budget left unscored rank after the scored ones.
            scores = np.full(len(attackable), -np.inf)
            scores[: len(scored)] = target_prob - probs[:, target]
        order = np.argsort(-scores, kind="stable")
        return [attackable[index] for index in order]

    def _candidates(self, sample: _Sample, states: list[State], index: int, target: int,
                    sample_key: int) -> list[list[str]]:
        """Return the replacement strings the recipe proposes for word ``index``, one list per state."""
        recipe = self.recipe
        word = sample.words[index].text
        if recipe.transformation == "character":
            rng = np.random.default_rng([recipe.seed, sample_key, index])
            found = character_candidates(word, rng, edits=recipe.character_edits, count=recipe.candidates_per_word)
            return [found] * len(states)
        if recipe.transformation == "embedding":
            return [self._neighbours.candidates(word, recipe.candidates_per_word)] * len(states)
        rendered = [sample.render(state)[0] for state in states]
        spans = [sample.word_span_in(state, index) for state in states]
        if recipe.transformation == "mlm":
            return [self._masked_lm.candidates(text, start, end, recipe.candidates_per_word)
                    for text, (start, end) in zip(rendered, spans)]
        # hotflip: one gradient pass per state, all states in one batch, each counted as a query.
        granted = self._take_queries(sample, len(states))
        all_gradients = text_gradients(self.model, self.tokenizer, rendered[:granted], [target] * granted,
                                       max_length=self.max_length, device=self.device)
        found: list[list[str]] = [[] for _ in states]
        for row, (gradients, (start, end)) in enumerate(zip(all_gradients, spans)):
            for position, ((token_start, _), special) in enumerate(zip(gradients.offsets, gradients.special)):
                if not special and start <= token_start < end:
                    found[row] = self._hotflip.candidates(word, gradients, position, recipe.candidates_per_word)
                    break
        return found

    def _expand(self, sample: _Sample, states: list[State], index: int, target: int, sample_key: int,
                seen: set[str]) -> tuple[list[State], list[str], np.ndarray]:
        """Return the new states that replace word ``index`` in each of ``states``, their texts and similarities.

        Texts already seen and texts below the similarity threshold are dropped.
        """
        new_states: list[State] = []
        texts: list[str] = []
        for state, candidates in zip(states, self._candidates(sample, states, index, target, sample_key)):
            for candidate in candidates:
                new_state = tuple(sorted((*state, (index, candidate))))
                rendered, _ = sample.render(new_state)
                if rendered in seen:
                    continue
                seen.add(rendered)
                new_states.append(new_state)
                texts.append(rendered)
        similarities = np.full(len(texts), math.nan)
        if texts and self.recipe.min_similarity > 0:
            similarities = self.encoder.similarities(sample.text, texts)
            keep = similarities >= self.recipe.min_similarity
            new_states = [state for state, kept in zip(new_states, keep) if kept]
            texts = [text for text, kept in zip(texts, keep) if kept]
            similarities = similarities[keep]
        return new_states, texts, similarities

    def _greedy_search(self, sample, order, target, original_probs, allowed_changes, sample_key, should_stop):
        state: State = ()
        current = (state, original_probs, math.nan)
        seen = {sample.text}
        for index in order:
            _check_stop(should_stop)
            if len(state) >= allowed_changes:
                return False, "max_words_changed", current
            try:
                states, texts, similarities = self._expand(sample, [state], index, target, sample_key, seen)
                texts, probs = self._score_limited(sample, texts)
            except _Stop as stop:
                stop.best = current
                raise
            if not len(texts):
                continue
            flipped = np.flatnonzero(probs.argmax(axis=1) != target)
            if len(flipped):
                choice = _best_flip(flipped, probs, similarities, target)
                return True, None, (states[choice], probs[choice], float(similarities[choice]))
            choice = int(np.argmin(probs[:, target]))
            if probs[choice, target] < current[1][target]:
                state = states[choice]
                current = (state, probs[choice], float(similarities[choice]))
            if sample.budget.left == 0:
                return False, "budget_exhausted", current
        return False, "no_flip_found", current

    def _beam_search(self, sample, order, target, original_probs, allowed_changes, sample_key, should_stop):
        beam: list[tuple[State, np.ndarray, float]] = [((), original_probs, math.nan)]
        seen = {sample.text}
        for index in order:
            _check_stop(should_stop)
            open_states = [state for state, _, _ in beam if len(state) < allowed_changes]
            if not open_states:
                return False, "max_words_changed", beam[0]
            try:
                states, texts, similarities = self._expand(sample, open_states, index, target, sample_key, seen)
                texts, probs = self._score_limited(sample, texts)
            except _Stop as stop:
                stop.best = beam[0]
                raise
            flipped = np.flatnonzero(probs.argmax(axis=1) != target) if len(texts) else []
            if len(flipped):
                choice = _best_flip(flipped, probs, similarities, target)
                return True, None, (states[choice], probs[choice], float(similarities[choice]))
            pool = beam + [(states[row], probs[row], float(similarities[row])) for row in range(len(texts))]
            pool.sort(key=lambda entry: entry[1][target])
            beam = pool[: self.recipe.beam_width]
            if sample.budget.left == 0:
                return False, "budget_exhausted", beam[0]
        return False, "no_flip_found", beam[0]


def _best_flip(flipped: np.ndarray, probs: np.ndarray, similarities: np.ndarray, target: int) -> int:
    """Return the row among ``flipped`` with the highest similarity, or the lowest target probability."""
    if not np.isnan(similarities[flipped]).all():
        return int(flipped[np.nanargmax(similarities[flipped])])
    return int(flipped[np.argmin(probs[flipped, target])])


def _check_stop(should_stop: StopCallback | None) -> None:
    if should_stop is not None and should_stop():
        raise AttackCancelled("Stopped by request during an attack.")


def attack_texts(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    class_names: Sequence[str],
    recipe: AttackRecipe,
    labels: Sequence[str | None] | None = None,
    sample_keys: Sequence[int] | None = None,
    device: torch.device | None = None,
    max_length: int = 128,
    measure_similarity: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> list[AttackResult]:
    """Attack each text with ``recipe`` and return one :class:`AttackResult` per text, in order.

    Args:
        class_names: the K class names in the model's output order.
        labels: gold labels, ``None`` for unlabelled texts. A labelled text the model
            misclassifies is skipped. An unlabelled text is attacked away from its prediction.
        sample_keys: N integers that seed each text's random character edits (default:
            0 .. N - 1). Pass row numbers to make a text's edits independent of the others.
        max_length: maximum tokens per text. Words beyond it are not attacked.
        measure_similarity: measure the sentence similarity of each adversarial text
            even when the recipe does not constrain it.

    Raises:
        ValueError: an invalid recipe, or labels or keys of the wrong length.
        ModelLoadError: the recipe's masked language model cannot be loaded.
        AttackCancelled: ``should_stop`` returned true.
    """
    attacker = Attacker(model, tokenizer, class_names, recipe=recipe, device=device, max_length=max_length,
                        measure_similarity=measure_similarity)
    return attacker.attack_many(texts, labels=labels, sample_keys=sample_keys, progress=progress,
                                should_stop=should_stop)

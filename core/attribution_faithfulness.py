"""How faithful an attribution is to the model: ERASER scores, deletion curves and sanity flags.

Symbols: W words, L tokens, V variants of one text (words removed or kept).

Faithfulness follows DeYoung et al. 2020, "ERASER: A Benchmark to Evaluate
Rationalized NLP Models". Words are ranked by attribution, highest
first, and the tokens of the top k words are deleted from the input:

- comprehensiveness: g(x) - g(x without the top k words); higher is more faithful;
- sufficiency: g(x) - g(only the top k words); lower is more faithful;

each averaged over k = ceil(fraction x W) for the fractions in :data:`ERASER_FRACTIONS`
(the area over the perturbation curve, AOPC, of ERASER). For class targets g is the
probability of the explained class, as in ERASER; for uncertainty targets g is the
explained uncertainty itself. Special tokens are never deleted.

The deletion curve records g while words are deleted one at a time in ranked order,
at most :data:`DELETION_POINTS` points. A faithful attribution makes it fall fast.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.attribution_targets import CLASS_TARGETS, MC_TARGETS, entropy_of, model_logits, target_forward

ERASER_FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)
DELETION_POINTS = 21
# Rows per forward call when scoring the variants of one text.
VARIANTS_PER_FORWARD = 64
# A result whose largest absolute word score is at most this is flagged as all zero.
ZERO_TOLERANCE = 1e-10
# A result is flagged as concentrated when one word has at least this share of the
# total absolute attribution (over two words or more).
CONCENTRATION_LIMIT = 0.95
SANITY_FLAGS = ("all_zero", "concentrated", "large_delta")


def sanity_flags(word_scores: np.ndarray) -> list[str]:
    """Return the sanity flags of float (W,) word scores (NaN for words without a score).

    ``all_zero``: every score is zero. ``concentrated``: one word has at least
    :data:`CONCENTRATION_LIMIT` of the absolute attribution mass.
    """
    scores = np.abs(np.asarray(word_scores, dtype=np.float64))
    scores = scores[~np.isnan(scores)]
    if len(scores) == 0:
        return []
    if scores.max() <= ZERO_TOLERANCE:
        return ["all_zero"]
    if len(scores) >= 2 and scores.max() / scores.sum() >= CONCENTRATION_LIMIT:
        return ["concentrated"]
    return []


def ranked_words(word_scores) -> list[int]:
    """Return the indices of words with a score, highest score first (ties keep text order)."""
    scored = [(index, score) for index, score in enumerate(word_scores) if score is not None and not math.isnan(score)]
    return [index for index, _ in sorted(scored, key=lambda pair: -pair[1])]


class TargetScorer:
    """Computes g, the faithfulness quantity of a target, on variants of a text."""

    def __init__(self, model, embedding, pad_id: int, spec, class_names: list[str], max_length: int) -> None:
        self.model = model
        self.embedding = embedding
        self.pad_id = pad_id
        self.spec = spec
        self.class_names = class_names
        self.max_length = max_length
        self.device = next(model.parameters()).device
        # The same seeded masks as the attribution, so g is the function that was explained.
        self.mc_forward = target_forward(model, spec, max_length) if spec.target in MC_TARGETS else None

    @torch.no_grad()
    def score(self, variants: list[list[int]], class_index: int | None) -> np.ndarray:
        """Return g for each token-id list, float64 (V,)."""
        values = []
        for start in range(0, len(variants), VARIANTS_PER_FORWARD):
            chunk = variants[start : start + VARIANTS_PER_FORWARD]
            width = max(len(ids) for ids in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)  # (V, L)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)  # (V, L)
            for row, token_ids in enumerate(chunk):
                ids[row, : len(token_ids)] = torch.tensor(token_ids)
                mask[row, : len(token_ids)] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            embeddings = self.embedding(ids)  # (V, L, H)
            if self.mc_forward is not None:
                values.append(self.mc_forward(embeddings, mask).float().cpu())
                continue
            probs = torch.softmax(model_logits(self.model, embeddings, mask).float(), dim=-1)  # (V, K)
            if self.spec.target in CLASS_TARGETS:
                values.append(probs[:, class_index].cpu())
            else:
                values.append(entropy_of(probs).cpu())
        return torch.cat(values).double().numpy()

    def evaluate(self, item, result) -> dict | None:
        """Return ERASER comprehensiveness and sufficiency and the deletion curve of one result.

        Returns ``None`` for a text without scored words (an empty text).
        """
        order = ranked_words(result.word_scores)
        if not order:
            return None
        class_index = None
        if self.spec.target in CLASS_TARGETS:
            class_index = self.class_names.index(result.target_class)
        token_words = np.asarray(item.token_words)
        input_ids = np.asarray(item.input_ids)

        def without(words: list[int]) -> list[int]:
            return input_ids[~np.isin(token_words, words) | item.special].tolist()

        def only(words: list[int]) -> list[int]:
            return input_ids[np.isin(token_words, words) | item.special].tolist()

        counts = [max(1, math.ceil(fraction * len(order))) for fraction in ERASER_FRACTIONS]
        if len(order) <= DELETION_POINTS - 1:
            deletion_counts = list(range(len(order) + 1))
        else:
            deletion_counts = sorted({round(value) for value in np.linspace(0, len(order), DELETION_POINTS)})
        variants = [item.input_ids]
        variants += [without(order[:count]) for count in counts]
        variants += [only(order[:count]) for count in counts]
        variants += [without(order[:count]) for count in deletion_counts]
        values = self.score(variants, class_index)
        full = float(values[0])
        removed = values[1 : 1 + len(counts)]
        kept = values[1 + len(counts) : 1 + 2 * len(counts)]
        curve = values[1 + 2 * len(counts) :]
        fractions = [count / len(order) for count in deletion_counts]
        return {
            "quantity": "probability" if class_index is not None else self.spec.target,
            "full": full,
            "fractions": list(ERASER_FRACTIONS),
            "comprehensiveness_bins": [float(full - value) for value in removed],
            "sufficiency_bins": [float(full - value) for value in kept],
            "comprehensiveness": float(np.mean(full - removed)),
            "sufficiency": float(np.mean(full - kept)),
            "deletion_fractions": fractions,
            "deletion_curve": [float(value) for value in curve],
            "deletion_area": float(np.trapezoid(curve, fractions)) if len(fractions) > 1 else float(curve[0]),
        }

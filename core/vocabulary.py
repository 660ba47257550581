"""How much of a text sample a tokenizer's vocabulary covers.

A WordPiece or SentencePiece tokenizer maps every piece it cannot spell with its
vocabulary to one unknown token (``[UNK]`` in BERT). An English model reading Chinese
text turns most characters into it, and a classifier then learns from little more
than punctuation, so the Data page warns before such a model is trained.

Byte-level BPE tokenizers (GPT-2, RoBERTa) have no unknown token, because every byte
is in their vocabulary; for them coverage is not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_SAMPLE_SIZE = 2_000
# A text counts as mostly unknown when at least this share of its tokens is the unknown token.
MOSTLY_UNKNOWN_TEXT_SHARE = 0.5
# The Data page warns when the sample reaches either share. With the built-in English
# model, a 2,000-tweet sample of the demo corpus gives 3 unknown tokens in 63,333, and
# Chinese review sentences give 60-75% unknown tokens.
LOW_COVERAGE_UNKNOWN_SHARE = 0.1
LOW_COVERAGE_TEXT_SHARE = 0.1


@dataclass(frozen=True)
class VocabularyCoverage:
    """Unknown-token counts of a tokenizer over a sample of texts.

    Attributes:
        texts: texts in the sample.
        tokens: tokens over the sample, special tokens excluded.
        unknown_tokens: how many of them are the unknown token.
        mostly_unknown_texts: texts in which at least :data:`MOSTLY_UNKNOWN_TEXT_SHARE`
            of the tokens are unknown.
        unknown_token: the tokenizer's unknown token, such as ``"[UNK]"``.
    """

    texts: int
    tokens: int
    unknown_tokens: int
    mostly_unknown_texts: int
    unknown_token: str

    @property
    def unknown_share(self) -> float:
        """Share of tokens that are unknown, 0 for an empty sample."""
        return self.unknown_tokens / self.tokens if self.tokens else 0.0

    @property
    def mostly_unknown_share(self) -> float:
        """Share of texts that are mostly unknown tokens, 0 for an empty sample."""
        return self.mostly_unknown_texts / self.texts if self.texts else 0.0

    @property
    def is_low(self) -> bool:
        """Whether the vocabulary covers too little of the sample to train on it as is."""
        return (
            self.unknown_share >= LOW_COVERAGE_UNKNOWN_SHARE
            or self.mostly_unknown_share >= LOW_COVERAGE_TEXT_SHARE
        )


def vocabulary_coverage(
    tokenizer, texts: Sequence[str], *, sample_size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0
) -> VocabularyCoverage | None:
    """Count the unknown tokens a tokenizer produces on a seeded sample of ``texts``.

    Args:
        tokenizer: a Hugging Face tokenizer.
        texts: the texts to check; empty and whitespace-only texts are skipped.
        sample_size: at most this many texts are drawn without replacement.
        seed: seed of the draw, so the same data gives the same numbers.

    Returns:
        The counts, or ``None`` when the tokenizer has no unknown token.

    Raises:
        ValueError: ``sample_size`` is below 1.
    """
    if sample_size < 1:
        raise ValueError(f"sample_size must be at least 1; got {sample_size}.")
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    if unknown_id is None:
        return None
    candidates = [text for text in texts if isinstance(text, str) and text.strip()]
    if len(candidates) > sample_size:
        chosen = np.sort(np.random.default_rng(seed).choice(len(candidates), size=sample_size, replace=False))
        candidates = [candidates[index] for index in chosen]
    return _count_unknown(tokenizer, candidates, unknown_id)


def _count_unknown(tokenizer, texts: list[str], unknown_id: int) -> VocabularyCoverage:
    tokens = 0
    unknown_tokens = 0
    mostly_unknown_texts = 0
    if texts:
        encoded = tokenizer(
            texts,
            add_special_tokens=False,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        for ids in encoded["input_ids"]:
            unknown_in_text = sum(1 for token_id in ids if token_id == unknown_id)
            tokens += len(ids)
            unknown_tokens += unknown_in_text
            if ids and unknown_in_text >= MOSTLY_UNKNOWN_TEXT_SHARE * len(ids):
                mostly_unknown_texts += 1
    return VocabularyCoverage(
        texts=len(texts),
        tokens=tokens,
        unknown_tokens=unknown_tokens,
        mostly_unknown_texts=mostly_unknown_texts,
        unknown_token=str(tokenizer.unk_token),
    )

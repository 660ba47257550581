"""Words of a text, their alignment to model tokens, and sub-word score aggregation.

Symbols: L tokens of one text (special tokens included), W words.

Words are found in the text itself, never from the tokenizer, so that every method
and every tokenizer reports scores for the same words:

- Latin and other space-separated scripts: a word is a run of letters, digits and
  underscores, and each punctuation mark is a word of its own.
- Chinese and Japanese text has no spaces between words. Each CJK ideograph and each
  kana character is a word of its own; when the ``jieba`` package is importable, runs
  of Chinese characters are cut into jieba segments instead.

Tokens are mapped to words through the character offsets of a fast tokenizer.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

import numpy as np

AGGREGATIONS = ("sum", "max")
CJK_SEGMENTERS = ("auto", "character", "jieba")

# CJK ideographs (unified, extension A, compatibility, extensions B to F) and Japanese kana.
_CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_WORD_PATTERN = re.compile(rf"(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>(?:(?![{_CJK_CLASS}])\w)+)|(?P<mark>[^\w\s])")


@dataclass(frozen=True)
class WordSpan:
    """One word of a text: its characters ``text[start:end]``."""

    text: str
    start: int
    end: int


def jieba_available() -> bool:
    """Return whether the optional ``jieba`` Chinese segmenter can be imported."""
    return importlib.util.find_spec("jieba") is not None


def check_segmenter(segmenter: str) -> str:
    if segmenter not in CJK_SEGMENTERS:
        raise ValueError(f"cjk_segmenter must be one of {', '.join(CJK_SEGMENTERS)}; got {segmenter!r}.")
    if segmenter == "jieba" and not jieba_available():
        raise ValueError(
            "cjk_segmenter 'jieba' needs the jieba package, which is not installed. "
            "Install it or use 'character' or 'auto'."
        )
    return segmenter


def split_words(text: str, *, cjk_segmenter: str = "auto") -> list[WordSpan]:
    """Split ``text`` into words with their character spans, in text order.

    Args:
        cjk_segmenter: ``"character"`` makes each CJK character a word; ``"jieba"``
            cuts runs of CJK characters with jieba; ``"auto"`` uses jieba when it is
            importable and characters otherwise.
    """
    check_segmenter(cjk_segmenter)
    use_jieba = cjk_segmenter == "jieba" or (cjk_segmenter == "auto" and jieba_available())
    words: list[WordSpan] = []
    for match in _WORD_PATTERN.finditer(text):
        if match.lastgroup != "cjk":
            words.append(WordSpan(match.group(), match.start(), match.end()))
            continue
        run, offset = match.group(), match.start()
        pieces = _jieba_pieces(run) if use_jieba else list(run)
        for piece in pieces:
            words.append(WordSpan(piece, offset, offset + len(piece)))
            offset += len(piece)
    return words


def _jieba_pieces(run: str) -> list[str]:
    import jieba

    return [piece for piece in jieba.cut(run, HMM=True) if piece]


def token_word_ids(
    words: list[WordSpan], offsets: list[tuple[int, int]], special_mask: list[int], text_length: int
) -> np.ndarray:
    """Return the word index of each token, or -1 for special tokens and tokens outside every word.

    A token belongs to the word of its first character that lies inside a word, so a
    token whose span includes a leading space (SentencePiece) still finds its word.

    Args:
        offsets: L (start, end) character spans from the tokenizer.
        special_mask: L flags, 1 for special tokens.

    Returns:
        int64 array of shape (L,).
    """
    char_word = np.full(text_length, -1, dtype=np.int64)  # (characters,)
    for index, word in enumerate(words):
        char_word[word.start : word.end] = index
    token_words = np.full(len(offsets), -1, dtype=np.int64)  # (L,)
    for position, ((start, end), special) in enumerate(zip(offsets, special_mask)):
        if special or end <= start:
            continue
        inside = char_word[start:end]
        found = inside[inside >= 0]
        if len(found):
            token_words[position] = found[0]
    return token_words


def aggregate_to_words(token_scores: np.ndarray, token_words: np.ndarray, num_words: int, *, how: str) -> np.ndarray:
    """Combine sub-word scores into one score per word.

    Args:
        token_scores: float array of shape (L,).
        token_words: int array of shape (L,) from :func:`token_word_ids`; tokens with
            -1 are left out.
        how: ``"sum"`` adds the scores of a word's tokens (so IG completeness applies
            per word). ``"max"`` keeps the token score of largest magnitude, with its sign.

    Returns:
        float64 array of shape (W,); NaN for words that no token covers (for example
        words cut off by truncation).
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; got {how!r}.")
    word_scores = np.full(num_words, np.nan, dtype=np.float64)  # (W,)
    for word in range(num_words):
        scores = np.asarray(token_scores, dtype=np.float64)[token_words == word]
        if len(scores) == 0:
            continue
        word_scores[word] = scores.sum() if how == "sum" else scores[np.argmax(np.abs(scores))]
    return word_scores

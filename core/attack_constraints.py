"""Constraints of an attack: protected words, sentence similarity, query budget and time limit.

Symbols: N texts, H hidden size of the sentence encoder, W words of one text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from core import resources
from core.attribution_text import WordSpan, jieba_available
from core.batching import collate, encode_texts, sorted_batches
from core.models import ModelLoadError

# A short list of English function words (articles, pronouns, auxiliaries,
# prepositions, conjunctions) and common Chinese function characters. Edits to them
# rarely change what a reader takes from a text, so an attack built on them shows
# little about the model. Negations (not, no, never) are left out on purpose, because
# they carry sentiment. A user who wants them protected adds them to ``extra_stop_words``.
STOP_WORDS = frozenset(
    """
    a an the this that these those
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs themselves
    who whom whose which what
    am is are was were be been being have has had having do does did doing
    will would shall should can could may might must
    and or but if then else so than as because while until
    of at by for with about against between into through during before after above below
    to from up down in out on off over under again further once
    here there when where why how all any both each few more most other some such
    only own same too very just
    的 了 是 在 和 也 就 都 而 及 与 着 或 一个 这 那 之 其 被 把 给 从 对
    """.split()
)

# Characters that end a sentence. A capitalised word right after one, or at the start
# of the text, is not counted as a named entity.
SENTENCE_END = frozenset(".!?…。！？\n")
# jieba part-of-speech tags for person, place, organisation and other proper names.
JIEBA_ENTITY_TAGS = ("nr", "ns", "nt", "nz")
SENTENCE_ENCODER_MAX_LENGTH = 256


def stop_word_mask(words: Sequence[WordSpan], extra: Sequence[str] = ()) -> np.ndarray:
    """Return a bool array of shape (W,), true for words in :data:`STOP_WORDS` or ``extra`` (case-insensitive)."""
    extra_lower = {word.lower() for word in extra}
    return np.array([word.text.lower() in STOP_WORDS or word.text.lower() in extra_lower for word in words], dtype=bool)


def entity_word_mask(text: str, words: Sequence[WordSpan]) -> np.ndarray:
    """Return a bool array of shape (W,), true for words that look like named entities.

    The heuristic, for scripts with letter case: a word is an entity when its first
    character is upper case and it does not start a sentence. A word starts a sentence
    when only spaces, quotes or brackets separate it from the start of the text or from
    one of :data:`SENTENCE_END`. So "Paris" in "I saw Paris" counts and "Great" in
    "Great film." does not, and "I" is left to the stop-word list. Text without letter
    case (Chinese, Japanese) has no entities by this rule. When ``jieba`` is installed,
    Chinese words that jieba tags as proper names (tags :data:`JIEBA_ENTITY_TAGS`) count
    as well.
    """
    mask = np.zeros(len(words), dtype=bool)
    for index, word in enumerate(words):
        first = word.text[0]
        if not (first.isalpha() and first.isupper()):
            continue
        before = text[: word.start].rstrip(" \t\"'“‘([{«")
        if before and before[-1] not in SENTENCE_END:
            mask[index] = True
    if jieba_available() and any("\u4e00" <= character <= "\u9fff" for character in text):
        mask |= _jieba_entity_mask(text, words)
    return mask


def _jieba_entity_mask(text: str, words: Sequence[WordSpan]) -> np.ndarray:
    import jieba.posseg

    entity_chars = np.zeros(len(text), dtype=bool)
    offset = 0
    for piece in jieba.posseg.cut(text):
        if piece.flag in JIEBA_ENTITY_TAGS:
            entity_chars[offset : offset + len(piece.word)] = True
        offset += len(piece.word)
    return np.array([bool(entity_chars[word.start : word.end].any()) for word in words], dtype=bool)


class SentenceEncoder:
    """Mean-pooled sentence embeddings from a Hugging Face encoder (the built-in all-MiniLM-L6-v2).

    all-MiniLM-L6-v2 was trained with mean pooling over token embeddings followed by L2
    normalisation (its ``1_Pooling`` and ``modules.json`` settings), so cosine
    similarity of these embeddings is what the model was trained for.

    NOTE: all-MiniLM-L6-v2 is an English model that maps most Chinese characters to
    ``[UNK]``, so its similarity is a weak measure for Chinese texts.
    """

    def __init__(self, model, tokenizer, device: torch.device, *, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 unit-length embeddings of shape (N, H)."""
        embeddings = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        if not len(texts):
            return embeddings
        encoded = encode_texts(self.tokenizer, list(texts), max_length=SENTENCE_ENCODER_MAX_LENGTH)
        for indices in sorted_batches(encoded.lengths, self.batch_size):
            inputs = collate(encoded, indices, self.device)
            hidden = self.model(**inputs).last_hidden_state  # (B, L, H)
            weights = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, H)
            pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            embeddings[indices] = pooled.cpu().numpy()
        return embeddings

    def similarities(self, original: str, candidates: Sequence[str]) -> np.ndarray:
        """Return the cosine similarity of each candidate to ``original``, float64 of shape (N,)."""
        if not len(candidates):
            return np.zeros(0, dtype=np.float64)
        embeddings = self.encode([original, *candidates])  # (N + 1, H)
        return (embeddings[1:] @ embeddings[0]).astype(np.float64)


_ENCODERS: dict[tuple[str, str], SentenceEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_sentence_encoder(device: torch.device | None = None, *, folder: str | Path | None = None) -> SentenceEncoder:
    """Return the sentence encoder for ``device``, loading it on first use and reusing it afterwards.

    Args:
        folder: a Hugging Face encoder folder (default: the built-in all-MiniLM-L6-v2).

    Raises:
        ModelLoadError: the folder cannot be loaded.
    """
    device = device or torch.device("cpu")
    folder = Path(folder) if folder is not None else resources.builtin_model_dir()
    key = (str(folder), str(device))
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            try:
                model = AutoModel.from_pretrained(str(folder), use_safetensors=True, trust_remote_code=False)
                tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"Cannot load the sentence encoder from folder {folder}: {exc}") from exc
            model.to(device).eval()
            _ENCODERS[key] = SentenceEncoder(model, tokenizer, device)
        return _ENCODERS[key]


@dataclass
class QueryBudget:
    """Model queries of one sample: each text the attacked model scores counts as one.

    :meth:`take` grants at most what is left, so callers score only the granted
    texts and ``used`` never exceeds ``limit``.
    """

    limit: int
    used: int = 0

    @property
    def left(self) -> int:
        return self.limit - self.used

    def take(self, requested: int) -> int:
        """Return how many of ``requested`` queries may run now, and count them as used."""
        granted = max(0, min(int(requested), self.left))
        self.used += granted
        return granted


@dataclass
class Deadline:
    """The time limit of one sample, on the monotonic clock."""

    started: float
    seconds: float

    @classmethod
    def start(cls, seconds: float) -> "Deadline":
        return cls(time.monotonic(), float(seconds))

    @property
    def passed(self) -> bool:
        return time.monotonic() - self.started >= self.seconds

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

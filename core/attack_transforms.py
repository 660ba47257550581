"""Transformations of an attack: candidate replacements for one word of a text.

Symbols: V vocabulary entries, H embedding size, L tokens, B texts in a batch.

- **character**: edits in the style of DeepWordBug (Gao et al. 2018): swap two
  adjacent characters, substitute one, delete one, insert one, or replace one letter by
  a look-alike from another script (homoglyph). Substituted and inserted characters
  are random lowercase ASCII letters, so those two edits apply only to words made of
  ASCII letters. A one-character word (such as a Chinese character) can only be deleted
  or have a homoglyph.
- **embedding**: the nearest whole-word vocabulary entries to the word in the attacked
  model's own input-embedding matrix, by cosine similarity. A word the tokenizer splits
  into several pieces is represented by the mean of its pieces' rows.
- **mlm**: the top predictions of a masked language model for the word's position,
  with the word replaced by one mask token (as in BERT-Attack, Li et al. 2020).
- **hotflip**: the whole-word tokens v with the most negative first-order estimate
  (E_v - e_i) . g_i of the change in the log-probability of the attacked class, where
  e_i is the embedding of the word's first token, g_i the gradient there and E the
  embedding matrix (Ebrahimi et al. 2018, "HotFlip", section 3.1, for one flip).

Candidates are whole-word vocabulary entries only (:class:`WholeWordVocabulary`):
no ``##`` continuation pieces, alphabetic, never the word itself.

WordNet synonyms are not offered, because none of the PyPI packages checked installs
with WordNet's synsets included. ``nltk`` and ``wn`` download the data at run time,
which an offline machine cannot do. ``wordnet-lookup`` ships only a word list, and
``oewn-core`` ships no data.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from core.models import ModelLoadError

logger = logging.getLogger(__name__)

_ASCII_LETTERS = string.ascii_lowercase
# Latin letters and Cyrillic or Greek letters that most fonts draw the same way.
HOMOGLYPHS = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "i": "\u0456", "j": "\u0458", "o": "\u043e", "p": "\u0440",
    "s": "\u0455", "x": "\u0445", "y": "\u0443", "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415",
    "H": "\u041d", "I": "\u0406", "K": "\u041a", "M": "\u041c", "O": "\u041e", "P": "\u0420", "T": "\u0422",
    "X": "\u0425", "v": "\u03bd",
}


def character_candidates(word: str, rng: np.random.Generator, *, edits: Sequence[str], count: int) -> list[str]:
    """Return up to ``count`` distinct edited copies of ``word``, one edit each, never ``word`` itself.

    Each candidate picks an edit from ``edits`` and a position at random. Edits that
    are not possible for this word (a swap in a one-character word) are never drawn.
    An empty string (the word deleted) is a valid candidate.
    """
    allowed = [edit for edit in edits if _edit_possible(edit, word)]
    found: list[str] = []
    if not allowed:
        return found
    for _ in range(count * 6):
        if len(found) >= count:
            break
        edit = allowed[int(rng.integers(len(allowed)))]
        candidate = _apply_edit(word, edit, rng)
        if candidate != word and candidate not in found:
            found.append(candidate)
    return found


def _edit_possible(edit: str, word: str) -> bool:
    ascii_word = word.isascii() and word.isalpha()
    if edit == "swap":
        return len(word) >= 2 and len(set(word)) > 1
    if edit in ("substitute", "insert"):
        return ascii_word
    if edit == "homoglyph":
        return any(character in HOMOGLYPHS for character in word)
    return edit == "delete" and len(word) >= 1


def _apply_edit(word: str, edit: str, rng: np.random.Generator) -> str:
    if edit == "swap":
        position = int(rng.integers(len(word) - 1))
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    if edit == "substitute":
        position = int(rng.integers(len(word)))
        return word[:position] + _ASCII_LETTERS[int(rng.integers(26))] + word[position + 1 :]
    if edit == "insert":
        position = int(rng.integers(len(word) + 1))
        return word[:position] + _ASCII_LETTERS[int(rng.integers(26))] + word[position:]
    if edit == "homoglyph":
        positions = [index for index, character in enumerate(word) if character in HOMOGLYPHS]
        position = positions[int(rng.integers(len(positions)))]
        return word[:position] + HOMOGLYPHS[word[position]] + word[position + 1 :]
    position = int(rng.integers(len(word)))  # delete
    return word[:position] + word[position + 1 :]


def match_case(candidate: str, word: str) -> str:
    """Return ``candidate`` in the letter case of ``word`` (upper, capitalised or as is)."""
    if len(word) > 1 and word.isupper():
        return candidate.upper()
    if word[:1].isupper():
        return candidate[:1].upper() + candidate[1:]
    return candidate


class WholeWordVocabulary:
    """The vocabulary entries of a tokenizer that are whole words.

    WordPiece continuation pieces (``##...``), special tokens, entries that are not
    alphabetic and single ASCII letters are left out. For SentencePiece (``▁``) and
    byte-level BPE (``Ġ``) vocabularies only word-initial entries count, shown without
    the marker.

    Attributes:
        ids: int64 array of shape (V,), token ids.
        words: V strings, the words as they would appear in text.
    """

    def __init__(self, tokenizer, *, num_rows: int | None = None) -> None:
        vocabulary = tokenizer.get_vocab()
        special = set(tokenizer.all_special_tokens)
        keys = list(vocabulary)
        if any(key.startswith("##") for key in keys):
            marker, continuation = "", "##"
        elif sum(key.startswith("\u2581") for key in keys) > len(keys) // 10:
            marker, continuation = "\u2581", None
        elif sum(key.startswith("\u0120") for key in keys) > len(keys) // 10:
            marker, continuation = "\u0120", None
        else:
            marker, continuation = "", None
        ids, words = [], []
        for key, token_id in sorted(vocabulary.items(), key=lambda item: item[1]):
            if key in special or (num_rows is not None and token_id >= num_rows):
                continue
            if continuation and key.startswith(continuation):
                continue
            if marker:
                if not key.startswith(marker):
                    continue
                key = key[len(marker):]
            if not key.isalpha() or (len(key) == 1 and key.isascii()):
                continue
            ids.append(token_id)
            words.append(key)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.words = words

    def __len__(self) -> int:
        return len(self.words)


def _word_piece_ids(tokenizer, word: str) -> list[int]:
    return tokenizer(word, add_special_tokens=False)["input_ids"]


class EmbeddingNeighbours:
    """Nearest whole-word neighbours of a word in a model's input-embedding matrix (cosine).

    NOTE: neighbours in a classifier's input embeddings are often related words, not
    synonyms (antonyms such as good and bad can be close), so a swap may change the
    meaning. The sentence-similarity constraint catches some of these, not all.
    """

    def __init__(self, model, tokenizer) -> None:
        matrix = model.get_input_embeddings().weight.detach().float().cpu()  # (vocabulary rows, H)
        self.tokenizer = tokenizer
        self.vocabulary = WholeWordVocabulary(tokenizer, num_rows=matrix.shape[0])
        self.matrix = torch.nn.functional.normalize(matrix, dim=-1)  # (vocabulary rows, H)
        self.word_matrix = self.matrix[torch.from_numpy(self.vocabulary.ids)]  # (V, H)
        self._cache: dict[tuple[str, int], list[str]] = {}

    def candidates(self, word: str, count: int) -> list[str]:
        """Return up to ``count`` neighbours of ``word``, closest first, in the case of ``word``."""
        key = (word.lower(), count)
        if key not in self._cache:
            self._cache[key] = self._compute(word.lower(), count)
        return [match_case(candidate, word) for candidate in self._cache[key]]

    def _compute(self, word: str, count: int) -> list[str]:
        piece_ids = [index for index in _word_piece_ids(self.tokenizer, word) if index < self.matrix.shape[0]]
        # A word that the tokenizer maps only to the unknown token has no embedding of its own.
        if not len(self.vocabulary) or all(index == self.tokenizer.unk_token_id for index in piece_ids):
            return []
        vector = torch.nn.functional.normalize(self.matrix[piece_ids].mean(dim=0), dim=0)  # (H,)
        scores = self.word_matrix @ vector  # (V,)
        order = torch.argsort(scores, descending=True).tolist()
        found: list[str] = []
        for index in order:
            candidate = self.vocabulary.words[index]
            if candidate.lower() != word:
                found.append(candidate)
            if len(found) >= count:
                break
        return found


def load_masked_lm(folder: str, device: torch.device):
    """Load a masked language model and its tokenizer from a local folder (safetensors only).

    Raises:
        ModelLoadError: the folder cannot be loaded as a masked language model, or its
            tokenizer has no mask token.
    """
    try:
        model = AutoModelForMaskedLM.from_pretrained(folder, use_safetensors=True, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        details = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        details = details if len(details) <= 300 else details[:300] + "..."
        raise ModelLoadError(
            f"Cannot load a masked language model from folder {folder}: {details} Give a folder written by "
            "save_pretrained() of a masked language model (for example BertForMaskedLM) with safetensors weights."
        ) from exc
    if tokenizer.mask_token is None:
        raise ModelLoadError(f"The tokenizer in {folder} has no mask token, so it cannot fill in words.")
    model.to(device).eval()
    return model, tokenizer


class MaskedLMCandidates:
    """Top-k whole-word predictions of a masked language model for one word in context."""

    def __init__(self, folder: str, device: torch.device, *, max_length: int = 512) -> None:
        self.model, self.tokenizer = load_masked_lm(folder, device)
        self.device = device
        self.max_length = max_length
        num_rows = self.model.get_output_embeddings().weight.shape[0]
        self.vocabulary = WholeWordVocabulary(self.tokenizer, num_rows=num_rows)
        allowed = torch.zeros(num_rows, dtype=torch.bool)
        allowed[torch.from_numpy(self.vocabulary.ids)] = True
        self.allowed = allowed.to(device)  # (vocabulary rows,)
        self.word_of_id = dict(zip(self.vocabulary.ids.tolist(), self.vocabulary.words))
        self._cache: dict[tuple[str, int, int, int], list[str]] = {}

    @torch.inference_mode()
    def candidates(self, text: str, start: int, end: int, count: int) -> list[str]:
        """Return up to ``count`` predictions for ``text[start:end]``, most probable first.

        Returns no candidates when the masked position falls beyond the MLM's maximum length.
        """
        key = (text, start, end, count)
        if key in self._cache:
            return self._cache[key]
        word = text[start:end]
        masked = text[:start] + self.tokenizer.mask_token + text[end:]
        encoded = self.tokenizer(masked, truncation=True, max_length=self.max_length, return_tensors="pt")
        positions = (encoded["input_ids"][0] == self.tokenizer.mask_token_id).nonzero().flatten()
        found: list[str] = []
        if len(positions):
            inputs = {name: tensor.to(self.device) for name, tensor in encoded.items()}
            logits = self.model(**inputs).logits[0, int(positions[0])].float()  # (vocabulary rows,)
            logits = logits.masked_fill(~self.allowed, float("-inf"))
            for token_id in torch.topk(logits, min(count + 1, int(self.allowed.sum()))).indices.tolist():
                candidate = self.word_of_id[token_id]
                if candidate.lower() != word.lower():
                    found.append(match_case(candidate, word))
                if len(found) >= count:
                    break
        self._cache[key] = found
        return found


@dataclass
class TokenGradients:
    """Gradient of log p(target class) with respect to the input embeddings of one text.

    Attributes:
        input_ids: int64 array of shape (L,), special tokens included, no padding.
        offsets: L (start, end) character spans of the tokens in the text.
        special: bool array of shape (L,), true for special tokens.
        embeddings: float32 tensor of shape (L, H), the input embeddings.
        gradients: float32 tensor of shape (L, H).
    """

    input_ids: np.ndarray
    offsets: list[tuple[int, int]]
    special: np.ndarray
    embeddings: torch.Tensor
    gradients: torch.Tensor


def text_gradients(
    model, tokenizer, texts: Sequence[str], targets: Sequence[int], *, max_length: int, device: torch.device
) -> list[TokenGradients]:
    """Return the gradient of log p(target) with respect to the input embeddings of each text.

    All texts go through one padded forward and backward pass in float32, with the
    model in eval mode (no dropout). Only the embeddings receive gradients.
    """
    encoded = tokenizer(
        list(texts), truncation=True, max_length=max_length, padding=True, return_offsets_mapping=True,
        return_special_tokens_mask=True, return_tensors="pt",
    )
    input_ids = encoded["input_ids"].to(device)  # (B, L)
    attention_mask = encoded["attention_mask"].to(device)  # (B, L)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            embeddings = model.get_input_embeddings()(input_ids).detach().float().requires_grad_(True)  # (B, L, H)
            logits = model(inputs_embeds=embeddings, attention_mask=attention_mask).logits.float()  # (B, K)
            log_probs = torch.log_softmax(logits, dim=-1)
            chosen = log_probs[torch.arange(len(texts), device=device), torch.as_tensor(list(targets), device=device)]
            (gradients,) = torch.autograd.grad(chosen.sum(), embeddings)  # (B, L, H)
    finally:
        model.train(was_training)
    results = []
    for row in range(len(texts)):
        length = int(attention_mask[row].sum())
        results.append(
            TokenGradients(
                input_ids=encoded["input_ids"][row, :length].numpy(),
                offsets=[tuple(pair) for pair in encoded["offset_mapping"][row, :length].tolist()],
                special=encoded["special_tokens_mask"][row, :length].numpy().astype(bool),
                embeddings=embeddings[row, :length].detach().cpu(),
                gradients=gradients[row, :length].detach().cpu(),
            )
        )
    return results


class HotFlipCandidates:
    """Whole-word token flips ranked by HotFlip's first-order estimate (see the module docstring)."""

    def __init__(self, model, tokenizer) -> None:
        matrix = model.get_input_embeddings().weight.detach().float().cpu()  # (vocabulary rows, H)
        self.vocabulary = WholeWordVocabulary(tokenizer, num_rows=matrix.shape[0])
        self.word_matrix = matrix[torch.from_numpy(self.vocabulary.ids)]  # (V, H)

    def candidates(self, word: str, gradients: TokenGradients, token_index: int, count: int) -> list[str]:
        """Return up to ``count`` replacements for ``word``, whose first token is ``token_index``.

        The replacements lower the log-probability of the attacked class most by the
        first-order estimate, most negative first.
        """
        if not len(self.vocabulary):
            return []
        embedding = gradients.embeddings[token_index]  # (H,)
        gradient = gradients.gradients[token_index]  # (H,)
        estimate = (self.word_matrix - embedding) @ gradient  # (V,)
        found: list[str] = []
        for index in torch.argsort(estimate).tolist():
            candidate = self.vocabulary.words[index]
            if candidate.lower() != word.lower():
                found.append(match_case(candidate, word))
            if len(found) >= count:
                break
        return found

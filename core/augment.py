"""Test-time augmentation of text: T noisy copies of each text, scored in one batched run.

Symbols: N samples, K classes, T passes.

Each pass edits every text independently with character noise or word noise, and
the model (in eval mode) scores the N x T edited texts. The spread of the T
predictions per sample measures how much the prediction depends on surface details.
This is the text counterpart of the test-time augmentation studied by Ayhan and
Berens 2018, "Test-time Data Augmentation for Estimation of Heteroscedastic Aleatoric
Uncertainty in Deep Neural Networks".

- **character noise**: each non-space character is edited with probability ``rate``,
  by one of: swap with the next character, delete, insert a random lowercase letter
  before it, or substitute a random lowercase letter.
- **word noise**: each word (split on whitespace) is edited with probability
  ``rate``, by one of: drop it, or swap it with the next word. A text never loses all
  its words: when every word would be dropped, the first one is kept.

The edits of pass t on sample i come from a generator seeded with (seed, t, i), so a
sample's edited texts do not depend on which other rows are scored with it, and
:func:`augmented_variants` reproduces them for display.
"""

from __future__ import annotations

import logging
import string
from typing import Sequence

import numpy as np
import torch

from core.batching import encode_texts
from core.passes import ComputationCancelled, ProgressCallback, StopCallback, check_passes, eval_mode
from core.scoring import predict_logits_encoded
from core.uncertainty import softmax

logger = logging.getLogger(__name__)

NOISE_KINDS = ("character", "word")
CHARACTER_EDITS = ("swap", "delete", "insert", "substitute")
WORD_EDITS = ("drop", "swap")
_LETTERS = np.array(list(string.ascii_lowercase))


def check_rate(rate: float) -> float:
    """Return ``rate`` as a float, or raise ``ValueError`` unless it is in [0, 1]."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate (edit probability per character or word) must be in [0, 1]; got {rate!r}.")
    return float(rate)


def _check_kind(kind: str) -> None:
    if kind not in NOISE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(NOISE_KINDS)}; got {kind!r}.")


def character_noise(text: str, rng: np.random.Generator, *, rate: float) -> str:
    """Return ``text`` with each non-space character edited with probability ``rate``."""
    characters = list(text)
    output: list[str] = []
    index = 0
    while index < len(characters):
        character = characters[index]
        if character.isspace() or rng.random() >= rate:
            output.append(character)
            index += 1
            continue
        edit = CHARACTER_EDITS[rng.integers(len(CHARACTER_EDITS))]
        if edit == "swap" and index + 1 < len(characters):
            output.extend((characters[index + 1], character))
            index += 2
            continue
        if edit == "insert":
            output.extend((str(rng.choice(_LETTERS)), character))
        elif edit == "substitute":
            output.append(str(rng.choice(_LETTERS)))
        elif edit == "swap":  # the last character has no neighbour to swap with
            output.append(character)
        index += 1  # "delete" appends nothing
    return "".join(output)


def word_noise(text: str, rng: np.random.Generator, *, rate: float) -> str:
    """Return ``text`` with each word dropped or swapped with its neighbour with probability ``rate``."""
    words = text.split()
    output: list[str] = []
    index = 0
    while index < len(words):
        if rng.random() >= rate:
            output.append(words[index])
            index += 1
            continue
        edit = WORD_EDITS[rng.integers(len(WORD_EDITS))]
        if edit == "swap" and index + 1 < len(words):
            output.extend((words[index + 1], words[index]))
            index += 2
            continue
        if edit == "swap":
            output.append(words[index])
        index += 1  # "drop" appends nothing
    if not output and words:
        output.append(words[0])
    return " ".join(output)


def augment_text(text: str, rng: np.random.Generator, *, kind: str, rate: float) -> str:
    """Return one noisy copy of ``text`` (see the module docstring for the edits)."""
    _check_kind(kind)
    rate = check_rate(rate)
    if kind == "character":
        return character_noise(text, rng, rate=rate)
    return word_noise(text, rng, rate=rate)


def augmented_variants(
    text: str, sample_key: int, *, passes: int, kind: str, rate: float, seed: int = 0
) -> list[str]:
    """Return the T edited copies of one text that :func:`tta_probs` scores for it.

    Args:
        sample_key: the sample's key, as passed to :func:`tta_probs` in ``sample_keys``.
    """
    passes = check_passes(passes)
    return [
        augment_text(text, np.random.default_rng([seed, pass_index, sample_key]), kind=kind, rate=rate)
        for pass_index in range(passes)
    ]


def tta_probs(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    passes: int = 10,
    kind: str = "character",
    rate: float = 0.05,
    seed: int = 0,
    sample_keys: Sequence[int] | None = None,
    max_length: int = 128,
    batch_size: int = 64,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Return the probabilities of T augmented copies of every text, float32 (T, N, K).

    All T * N edited texts are tokenized in one call and scored in length-grouped
    batches, so T passes cost about T deterministic passes plus the editing.

    Args:
        kind: ``"character"`` or ``"word"`` noise.
        rate: edit probability per character or word, in [0, 1].
        sample_keys: N non-negative integers that seed each sample's edits (default:
            0 .. N - 1). Pass stable row numbers so that a sample's edits do not
            change when other rows are added or removed.

    Raises:
        ValueError: ``passes`` below 1, unknown ``kind``, ``rate`` outside [0, 1], or
            ``sample_keys`` of the wrong length.
    """
    passes = check_passes(passes)
    _check_kind(kind)
    rate = check_rate(rate)
    keys = list(range(len(texts))) if sample_keys is None else [int(key) for key in sample_keys]
    if len(keys) != len(texts):
        raise ValueError(f"sample_keys has {len(keys)} entries but there are {len(texts)} texts.")
    if any(key < 0 for key in keys):
        raise ValueError("sample_keys must be non-negative integers.")
    # Pass-major order: edited text t * N + i is pass t of sample i.
    edited = [
        augment_text(str(text), np.random.default_rng([seed, pass_index, key]), kind=kind, rate=rate)
        for pass_index in range(passes)
        for text, key in zip(texts, keys)
    ]
    if should_stop is not None and should_stop():
        raise ComputationCancelled("Stopped by request before scoring the augmented texts.")
    encoded = encode_texts(tokenizer, edited, max_length=max_length)
    with eval_mode(model):
        logits = _predict_with_stop(
            model, encoded, batch_size=batch_size, device=device, mixed_precision=mixed_precision,
            progress=progress, should_stop=should_stop,
        )  # (T * N, K)
    return softmax(logits).astype(np.float32).reshape(passes, len(texts), -1)  # (T, N, K)


def _predict_with_stop(model, encoded, *, batch_size, device, mixed_precision, progress, should_stop) -> np.ndarray:
    """Run :func:`core.scoring.predict_logits_encoded`, checking ``should_stop`` at every progress event."""
    def report(event) -> None:
        if progress is not None:
            progress(event)
        if should_stop is not None and should_stop():
            raise ComputationCancelled(f"Stopped by request after {event.step} of {event.total_steps} batches.")

    return predict_logits_encoded(
        model, encoded, batch_size=batch_size, device=device, mixed_precision=mixed_precision, progress=report
    )

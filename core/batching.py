"""Tokenize once, then build length-grouped, dynamically padded batches.

Dimension symbols used in this package: N samples, K classes, T stochastic passes,
L tokens, B batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@dataclass
class EncodedTexts:
    """Token ids of N texts without padding.

    Attributes:
        input_ids: N lists of token ids, special tokens included, truncated to ``max_length``.
        lengths: int64 array of shape (N,), token count after truncation.
        truncated: bool array of shape (N,), whether the text was cut at ``max_length``.
        pad_token_id: id used to pad batches.
    """

    input_ids: list[list[int]]
    lengths: np.ndarray
    truncated: np.ndarray
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_texts(tokenizer, texts: Sequence[str], *, max_length: int, chunk_size: int = 4096) -> EncodedTexts:
    """Tokenize all texts once (fast tokenizers batch this in Rust), with no padding."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens; got {max_length}.")
    input_ids: list[list[int]] = []
    truncated: list[bool] = []
    for start in range(0, len(texts), chunk_size):
        chunk = [str(text) for text in texts[start : start + chunk_size]]
        encoded = tokenizer(
            chunk,
            truncation=True,
            max_length=max_length,
            return_overflowing_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            return_length=False,
            verbose=False,
        )
        ids = encoded["input_ids"]
        input_ids.extend(ids)
        # A sequence that fills max_length exactly may or may not have been cut; a
        # second, untruncated length check would double the cost, so count it as cut
        # only when the untruncated text is longer.
        full = [len(x) >= max_length for x in ids]
        if any(full):
            long_indices = [i for i, is_full in enumerate(full) if is_full]
            untruncated = tokenizer([chunk[i] for i in long_indices], truncation=False, verbose=False)["input_ids"]
            lookup = dict(zip(long_indices, (len(x) > max_length for x in untruncated)))
            truncated.extend(lookup.get(i, False) for i in range(len(chunk)))
        else:
            truncated.extend([False] * len(chunk))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
    return EncodedTexts(input_ids, lengths, np.asarray(truncated, dtype=bool), int(pad_id))


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split indices into batches of similar length, longest first (for inference)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def length_grouped_batches(
    lengths: np.ndarray,
    batch_size: int,
    *,
    rng: np.random.Generator,
    group_factor: int = 50,
) -> list[np.ndarray]:
    """Shuffle, sort by length inside mega-batches of ``group_factor * batch_size``, then shuffle batches.

    Batches hold texts of similar length, so little compute goes to padding, while
    each epoch's batches still differ. The order is a function of ``rng`` alone, so
    a generator seeded with (seed, epoch) reproduces it exactly.
    """
    permutation = rng.permutation(len(lengths))
    mega = batch_size * group_factor
    batches: list[np.ndarray] = []
    for start in range(0, len(permutation), mega):
        chunk = permutation[start : start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def collate(encoded: EncodedTexts, indices: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    """Pad the selected sequences to the longest among them.

    Returns:
        ``input_ids`` and ``attention_mask``, each a (B, L) int64 tensor on ``device``.
    """
    width = int(encoded.lengths[indices].max())
    input_ids = np.full((len(indices), width), encoded.pad_token_id, dtype=np.int64)  # (B, L)
    attention_mask = np.zeros((len(indices), width), dtype=np.int64)  # (B, L)
    for row, index in enumerate(indices):
        ids = encoded.input_ids[index]
        input_ids[row, : len(ids)] = ids
        attention_mask[row, : len(ids)] = 1
    return {
        "input_ids": torch.from_numpy(input_ids).to(device, non_blocking=True),
        "attention_mask": torch.from_numpy(attention_mask).to(device, non_blocking=True),
    }


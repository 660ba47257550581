"""Choose which rows to label next: acquisition scores, then a diverse pick among the top rows.

Symbols: N samples, K classes, T stochastic passes (or models), D embedding size,
L tokens.

Acquisition scores are higher for rows the model would learn more from:

- ``entropy``: predictive entropy of the mean probabilities.
- ``margin``: 1 minus the gap between the two largest probabilities.
- ``bald``: mutual information between the prediction and the model parameters,
  estimated from T sampled probability vectors per row (Houlsby, Huszár, Ghahramani
  and Lengyel 2011, "Bayesian Active Learning for Classification and Preference
  Learning"). It needs (T, N, K) probabilities: MC dropout passes
  (:func:`core.methods.sampled_probs`) or the K-fold models of :mod:`core.crossval`.

The top rows by score are often near-copies of each other (the same tweet retweeted),
so :func:`select_diverse` picks among them by greedy k-centre selection on sentence
embeddings, in the spirit of the core-set approach of Sener and Savarese 2018,
"Active Learning for Convolutional Neural Networks: A Core-Set Approach".
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from core.progress import ComputationCancelled, Progress
from core.uncertainty import margin, mutual_information, predictive_entropy

logger = logging.getLogger(__name__)

ACQUISITION_FUNCTIONS = ("entropy", "margin", "bald")
# Embeddings closer than this (Euclidean, on unit vectors) count as the same text.
DUPLICATE_DISTANCE = 1e-4


class EmbeddingCancelled(ComputationCancelled):
    """Raised when ``should_stop`` returned true between two embedding batches."""


def acquisition_scores(
    function: str, *, probs: np.ndarray | None = None, mc_probs: np.ndarray | None = None
) -> np.ndarray:
    """Return the acquisition score of each row, shape (N,). Label rows with higher scores first.

    Args:
        function: one of :data:`ACQUISITION_FUNCTIONS`.
        probs: float array (N, K); for ``entropy`` and ``margin`` when ``mc_probs`` is
            not given.
        mc_probs: float array (T, N, K); required for ``bald``. For ``entropy`` and
            ``margin`` its mean over T is used.

    Raises:
        ValueError: an unknown function, ``bald`` without ``mc_probs``, or neither input.
    """
    if function not in ACQUISITION_FUNCTIONS:
        raise ValueError(f"function must be one of {', '.join(ACQUISITION_FUNCTIONS)}; got {function!r}.")
    if function == "bald":
        if mc_probs is None:
            raise ValueError(
                "BALD needs T sampled probabilities per row (mc_probs of shape (T, N, K)), such as MC dropout "
                "passes or the cross-validation fold models; use 'entropy' or 'margin' with single probabilities."
            )
        return mutual_information(mc_probs)
    if mc_probs is not None:
        probs = np.asarray(mc_probs, dtype=np.float64).mean(axis=0)  # (T, N, K) -> (N, K)
    if probs is None:
        raise ValueError(f"{function!r} needs probs of shape (N, K) or mc_probs of shape (T, N, K); got neither.")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, K) with K >= 2; got {probs.shape}.")
    if function == "entropy":
        return predictive_entropy(probs)
    return 1.0 - margin(probs)


def greedy_k_centres(
    embeddings: np.ndarray, count: int, *, first: int = 0, min_distance: float = DUPLICATE_DISTANCE
) -> np.ndarray:
    """Pick up to ``count`` rows that cover the embedding space, farthest first.

    Starting from row ``first``, each step adds the row whose distance to its nearest
    already-picked row is largest (ties go to the lower index). Selection stops early
    when every remaining row lies within ``min_distance`` of a picked one, so exact
    duplicates are never picked twice.

    Args:
        embeddings: float array (N, D); Euclidean distances are used.
        count: the maximum number of rows to pick.
        first: index of the row picked first (the best-scoring one, for acquisition).

    Returns:
        int64 indices into ``embeddings`` in the order they were picked, at most ``count``.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (N, D); got {embeddings.shape}.")
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}.")
    num_rows = embeddings.shape[0]
    if num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    if not 0 <= first < num_rows:
        raise ValueError(f"first must be a row index in [0, {num_rows - 1}]; got {first}.")
    picked = [first]
    nearest = np.linalg.norm(embeddings - embeddings[first], axis=1)  # (N,) distance to the nearest picked row
    while len(picked) < min(count, num_rows):
        candidate = int(np.argmax(nearest))
        if nearest[candidate] <= min_distance:
            break
        picked.append(candidate)
        nearest = np.minimum(nearest, np.linalg.norm(embeddings - embeddings[candidate], axis=1))
    return np.asarray(picked, dtype=np.int64)


def select_diverse(
    scores: np.ndarray, count: int, *, embeddings: np.ndarray | None = None, pool_size: int | None = None
) -> np.ndarray:
    """Return up to ``count`` row indices to label next, best first.

    Without ``embeddings`` these are the ``count`` highest scores. With them, greedy
    k-centre selection (:func:`greedy_k_centres`) runs on the ``pool_size`` highest
    scores (default: 5 x ``count``), starting from the best one. Rows whose embedding
    equals an already-picked row's are skipped, so fewer than ``count`` rows come back
    when the pool contains fewer distinct texts.

    Args:
        scores: float array (N,), acquisition scores, higher first.
        embeddings: float array (N, D), unit-length sentence embeddings of the same rows.
        pool_size: rows of the top of the ranking that the diverse pick chooses from.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must have shape (N,); got {scores.shape}.")
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}.")
    order = np.argsort(-scores, kind="stable")
    if embeddings is None:
        return order[:count]
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(scores):
        raise ValueError(f"embeddings must have shape ({len(scores)}, D); got {embeddings.shape}.")
    pool_size = 5 * count if pool_size is None else pool_size
    if pool_size < count:
        raise ValueError(f"pool_size must be at least count ({count}); got {pool_size}.")
    pool = order[:pool_size]
    picked = greedy_k_centres(embeddings[pool], count, first=0)
    return pool[picked]


@torch.inference_mode()
def sentence_embeddings(
    texts: Sequence[str],
    *,
    model_source: str | Path | None = None,
    batch_size: int = 64,
    max_length: int = 128,
    device: torch.device | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Return unit-length sentence embeddings of ``texts``, float32 of shape (N, D).

    Each embedding is the mean of the encoder's last hidden states over the text's
    tokens (padding excluded), then scaled to unit length, which is how
    all-MiniLM-L6-v2 was trained to be used. The encoder is loaded with ``AutoModel``
    from safetensors, without remote code.

    Args:
        model_source: a local checkpoint folder; default the built-in all-MiniLM-L6-v2.
        max_length: longer texts are cut to this many tokens.
    """
    from transformers import AutoModel

    from core.batching import collate, encode_texts, sorted_batches
    from core.models import load_tokenizer, resolve_device, resolve_model_source

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    texts = [str(text) for text in texts]
    resolved = resolve_model_source(model_source)
    tokenizer = load_tokenizer(resolved)
    encoder = AutoModel.from_pretrained(resolved, use_safetensors=True, trust_remote_code=False)
    device = device or resolve_device("auto")
    encoder.to(device).eval()
    width = int(encoder.config.hidden_size)
    embeddings = np.zeros((len(texts), width), dtype=np.float32)
    if not texts:
        return embeddings
    encoded = encode_texts(tokenizer, texts, max_length=max_length)
    batches = sorted_batches(encoded.lengths, batch_size)
    if progress is not None:
        progress(Progress(phase="score", total_steps=len(batches), message=f"Embedding {len(texts)} texts"))
    started = time.perf_counter()
    for step, indices in enumerate(batches, start=1):
        if should_stop is not None and should_stop():
            raise EmbeddingCancelled(f"Stopped by request after {step - 1} of {len(batches)} embedding batches.")
        inputs = collate(encoded, indices, device)
        hidden = encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state  # (B, L, D)
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)  # (B, D)
        pooled = torch.nn.functional.normalize(pooled.float(), dim=1)
        embeddings[indices] = pooled.cpu().numpy()
        if progress is not None:
            elapsed = time.perf_counter() - started
            progress(Progress(phase="score", step=step, total_steps=len(batches), elapsed_seconds=elapsed))
    return embeddings

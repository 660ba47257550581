"""Batched inference: logits and per-sample uncertainty tables.

Symbols: N samples, K classes, L tokens, B batch size.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from core import data as data_module
from core.batching import EncodedTexts, collate, encode_texts, sorted_batches
from core.models import autocast_context, autocast_dtype, model_label_names
from core.progress import Progress
from core.uncertainty import softmax, uncertainty_frame

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]


@torch.inference_mode()
def predict_logits_encoded(
    model,
    encoded: EncodedTexts,
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Return float32 logits of shape (N, K) for pre-tokenized texts, in input order.

    Batches are formed longest first, so each holds sequences of similar length
    and almost no compute goes to padding.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    device = device or next(model.parameters()).device
    dtype = autocast_dtype(device, enabled=mixed_precision)
    was_training = model.training
    model.eval()
    num_classes = model.config.num_labels
    logits = np.zeros((len(encoded), num_classes), dtype=np.float32)
    batches = sorted_batches(encoded.lengths, batch_size)
    started = time.perf_counter()
    done = 0
    try:
        for step, indices in enumerate(batches, start=1):
            inputs = collate(encoded, indices, device)
            with autocast_context(device, dtype):
                output = model(**inputs).logits  # (B, K)
            logits[indices] = output.float().cpu().numpy()
            done += len(indices)
            if progress is not None:
                elapsed = time.perf_counter() - started
                progress(
                    Progress(
                        phase="score",
                        step=step,
                        total_steps=len(batches),
                        samples=done,
                        elapsed_seconds=elapsed,
                        eta_seconds=elapsed / done * (len(encoded) - done),
                    )
                )
    finally:
        model.train(was_training)
    return logits


def predict_logits(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Tokenize ``texts`` once and return float32 logits of shape (N, K)."""
    encoded = encode_texts(tokenizer, texts, max_length=max_length)
    return predict_logits_encoded(
        model, encoded, batch_size=batch_size, device=device, mixed_precision=mixed_precision, progress=progress
    )


def predictions_table(dataset: pd.DataFrame, logits: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Join the dataset with probabilities and uncertainty scores, one row per sample.

    ``correct`` is missing for unlabelled rows and for labels outside ``class_names``.
    """
    probs = softmax(logits)
    labels = None
    if data_module.LABEL_COLUMN in dataset:
        known = set(class_names)
        # A label the model has no class for cannot be right or wrong: leave correctness missing.
        labels = [label if label in known else None for label in dataset[data_module.LABEL_COLUMN].tolist()]
    scores = uncertainty_frame(probs, class_names, labels)
    base = dataset.reset_index(drop=True)
    overlap = [column for column in scores.columns if column in base.columns]
    if overlap:
        base = base.rename(columns={column: f"{column}_source" for column in overlap})
    return pd.concat([base, scores], axis=1)


def score_dataset(
    model,
    tokenizer,
    dataset: pd.DataFrame,
    *,
    max_length: int = 128,
    batch_size: int = 64,
    device: torch.device | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Score every row of a mapped dataset and return its predictions table."""
    texts = dataset[data_module.TEXT_COLUMN].astype(str).tolist()
    encoded = encode_texts(tokenizer, texts, max_length=max_length)
    logits = predict_logits_encoded(model, encoded, batch_size=batch_size, device=device, progress=progress)
    table = predictions_table(dataset, logits, model_label_names(model))
    table["token_count"] = encoded.lengths
    table["truncated"] = encoded.truncated
    return table


def unknown_labels(dataset: pd.DataFrame, class_names: Sequence[str]) -> list[str]:
    """Return the labels in ``dataset`` that are not classes of the model, sorted."""
    if data_module.LABEL_COLUMN not in dataset:
        return []
    present = set(dataset[data_module.LABEL_COLUMN].dropna())
    return sorted(present - set(class_names))

"""Monte Carlo dropout: T stochastic forward passes with dropout left on at inference.

Gal and Ghahramani 2016, "Dropout as a Bayesian Approximation: Representing Model
Uncertainty in Deep Learning". Each pass samples new dropout masks, and the T class
probability vectors approximate samples from the predictive posterior; statistics
over them are in :func:`core.uncertainty.sampled_uncertainty`.

Symbols: N samples, K classes, T passes, B batch size, L tokens, H hidden size.

Two variants:

- **full**: every ``torch.nn.Dropout`` module samples a mask, in every layer, while
  the rest of the model stays in eval mode and no gradients are kept. Each batch is repeated along the batch dimension
  so one forward call computes several passes (:func:`core.passes.replicated_passes`).
- **head-only**: a cheap approximation. The encoder runs once per batch in eval mode,
  and only the dropout right before the classification layer is sampled, T times, on
  the captured pooled output. Its cost is about one deterministic pass, but it
  ignores the uncertainty of the encoder, so its mutual information is usually much
  smaller than that of the full variant.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch
from torch import nn

from core.batching import EncodedTexts, collate, sorted_batches
from core.models import autocast_context, autocast_dtype
from core.passes import (
    DEFAULT_ROWS_PER_FORWARD,
    PassLoop,
    ProgressCallback,
    StopCallback,
    check_batching,
    check_passes,
    eval_mode,
    replicate_inputs,
    replicated_passes,
    seeded_torch_rng,
)

logger = logging.getLogger(__name__)


# Random bits per mask element: one 64-bit draw gives four 16-bit uniform integers.
_MASK_BITS = 16


class _MaskedDropout(nn.Module):
    """Inverted dropout whose mask comes from 16-bit uniform integers, four per 64-bit draw.

    Each element is zeroed with probability round(p * 2**16) / 2**16, within 2**-17 of
    p, and the survivors are scaled by 1 / (1 - p), as ``nn.Dropout`` does in training
    mode. ``torch.rand_like`` makes one draw per element, and torch 2.13 draws CPU
    random numbers on one thread, so T passes spent most of their extra time there.
    Four elements per draw cut the mask time by about a third on a 2-core CPU
    (bench/bench_uncertainty.py).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        # Signed 16-bit integers are uniform on [-2**15, 2**15), so this share of them lies below the threshold.
        self.threshold = round(self.p * 2**_MASK_BITS) - 2 ** (_MASK_BITS - 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.p <= 0.0:
            return hidden
        if self.p >= 1.0:
            return torch.zeros_like(hidden)
        count = hidden.numel()
        words = torch.empty((count + 3) // 4, dtype=torch.int64, device=hidden.device)
        # Every int64 but the largest, so each 16-bit part is uniform to within 2**-64.
        words.random_(-(2**63), 2**63 - 1)
        bits = words.view(torch.int16)[:count].view(hidden.shape)
        return torch.where(bits >= self.threshold, hidden, 0.0).mul_(1.0 / (1.0 - self.p))


@contextlib.contextmanager
def dropout_active(model):
    """Put ``model`` in eval mode with every ``nn.Dropout`` sampling a fresh mask per call.

    Inside the block each ``nn.Dropout`` submodule is replaced by an equivalent
    sampling module (:class:`_MaskedDropout`, same rate); the originals come back
    on exit.

    NOTE: transformers' SDPA attention (the default for BERT in transformers 4.57)
    applies attention-probability dropout only when the attention module itself is in
    training mode. Under SDPA that one dropout therefore stays off, and only the
    hidden-state dropouts (embeddings, attention output, feed-forward output,
    classifier head) are sampled. Load the model with ``attn_implementation="eager"``
    to sample attention dropout too.
    """
    with eval_mode(model):
        swapped: list[tuple[nn.Module, str, nn.Dropout]] = []
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Dropout):
                    swapped.append((parent, name, child))
        if not any(child.p > 0 for _, _, child in swapped):
            logger.warning("The model has no dropout with p > 0, so every MC dropout pass is identical")
        try:
            for parent, name, child in swapped:
                setattr(parent, name, _MaskedDropout(child.p))
            yield model
        finally:
            for parent, name, child in swapped:
                setattr(parent, name, child)


def mc_dropout_probs(
    model,
    encoded: EncodedTexts,
    *,
    passes: int = 10,
    seed: int = 0,
    batch_size: int = 64,
    rows_per_forward: int = DEFAULT_ROWS_PER_FORWARD,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Return the class probabilities of T full MC dropout passes, float32 (T, N, K).

    Each batch of B texts is stacked ``rows_per_forward // B`` times along the batch
    dimension, so one forward call samples that many passes with independent masks.
    Results are reproducible for the same ``seed``, ``batch_size`` and
    ``rows_per_forward``; other batch layouts draw the masks in another order.

    Raises:
        ValueError: ``passes`` below 1 or a batch size below 1.
    """
    passes = check_passes(passes)
    check_batching(batch_size, rows_per_forward)
    device = device or next(model.parameters()).device

    def forward(inputs: dict[str, torch.Tensor], copies: int) -> torch.Tensor:
        return model(**replicate_inputs(inputs, copies)).logits  # (copies * B, K)

    with dropout_active(model), seeded_torch_rng(seed, device):
        return replicated_passes(
            model, encoded, forward, passes=passes, batch_size=batch_size, rows_per_forward=rows_per_forward,
            device=device, mixed_precision=mixed_precision, progress=progress, should_stop=should_stop,
        )


def classification_head(model) -> tuple[nn.Dropout, nn.Linear]:
    """Return the (dropout, classifier) pair that ends the model, as BERT-style heads have.

    Supported: models whose forward applies ``model.dropout`` and then the linear layer
    ``model.classifier`` to a pooled vector (BERT, ALBERT, DistilBERT and others in
    transformers).

    Raises:
        ValueError: the model has another head (RoBERTa's, for example), for which
            only full MC dropout is available.
    """
    dropout = getattr(model, "dropout", None)
    classifier = getattr(model, "classifier", None)
    if not isinstance(dropout, nn.Dropout) or not isinstance(classifier, nn.Linear):
        raise ValueError(
            f"Head-only MC dropout needs a model whose head is `dropout` followed by a linear `classifier` "
            f"(BERT-style); {type(model).__name__} has another head. Use full MC dropout instead."
        )
    return dropout, classifier


def mc_dropout_head_probs(
    model,
    encoded: EncodedTexts,
    *,
    passes: int = 10,
    seed: int = 0,
    batch_size: int = 64,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Return the probabilities of T head-only MC dropout passes, float32 (T, N, K).

    The encoder runs once per batch in eval mode. A forward pre-hook on ``classifier``
    captures its (B, H) input, which in eval mode is the pooled output without dropout.
    Then T dropout masks with the head's rate p are drawn from a generator seeded with
    ``seed``, scaled by 1 / (1 - p) as ``nn.Dropout`` does, and all T passes go through
    the classifier in one (T * B, H) matrix product.

    Raises:
        ValueError: ``passes`` below 1, or a model without a BERT-style head.
    """
    passes = check_passes(passes)
    check_batching(batch_size, 1)
    dropout, classifier = classification_head(model)
    rate = float(dropout.p)
    device = device or next(model.parameters()).device
    dtype = autocast_dtype(device, enabled=mixed_precision)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    batches = sorted_batches(encoded.lengths, batch_size)
    loop = PassLoop(len(batches), len(encoded) * passes, progress, should_stop)
    mc_probs = np.zeros((passes, len(encoded), model.config.num_labels), dtype=np.float32)
    captured: list[torch.Tensor] = []

    def capture(_module, args):
        captured.append(args[0])

    handle = classifier.register_forward_pre_hook(capture)
    loop.check_stop()
    try:
        with eval_mode(model), torch.inference_mode():
            for indices in batches:
                captured.clear()
                inputs = collate(encoded, indices, device)
                with autocast_context(device, dtype):
                    model(**inputs)
                pooled = captured[-1].float()  # (B, H)
                keep = torch.rand((passes, *pooled.shape), generator=generator, device=device) >= rate  # (T, B, H)
                scale = 1.0 / (1.0 - rate) if rate < 1.0 else 0.0
                dropped = pooled.unsqueeze(0) * keep * scale  # (T, B, H)
                logits = classifier(dropped.reshape(passes * len(indices), -1).to(classifier.weight.dtype))  # (T * B, K)
                probs = torch.softmax(logits.float(), dim=-1).view(passes, len(indices), -1)  # (T, B, K)
                mc_probs[:, indices] = probs.cpu().numpy()
                loop.step(len(indices) * passes)
    finally:
        handle.remove()
    return mc_probs


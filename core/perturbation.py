"""Noise injection at inference: Gaussian noise on the input embeddings or on the weights.

Symbols: N samples, K classes, T passes, B batch size, L tokens, H hidden size.

Both methods run T passes with dropout off (eval mode). The spread of the T
predictions measures how sensitive the model is around this input or these weights.
Statistics over the (T, N, K) probabilities are in
:func:`core.uncertainty.sampled_uncertainty`.

- **Input embeddings**: every pass adds noise drawn from N(0, (scale * rms)^2) to
  every token's word embedding, where rms is the root mean square of the model's
  word-embedding matrix. ``scale`` is therefore relative: 0.1 means noise at a
  tenth of a typical embedding entry, for any model. Position and token-type
  embeddings are added by the model afterwards, without noise. Passes are stacked
  along the batch dimension as for MC dropout.
- **Weights**: every pass multiplies every floating-point parameter (biases,
  LayerNorm and embeddings included) by (1 + scale * eps), eps ~ N(0, 1) drawn per
  entry, so ``scale`` is the relative standard deviation of each weight. A pass needs
  its own weights, so the T passes are T sweeps over the data. The original weights
  are saved once and copied back after every pass and at the end, also when the
  computation fails or is cancelled; the model then contains bit-for-bit the weights it
  had before.

Using weight noise to probe a trained network's posterior follows the
Gaussian-perturbation view of Blundell, Cornebise, Kavukcuoglu and Wierstra 2015,
"Weight Uncertainty in Neural Networks", but here the noise scale is a user setting,
not a learned posterior.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch

from core.batching import EncodedTexts
from core.passes import (
    DEFAULT_ROWS_PER_FORWARD,
    ProgressCallback,
    StopCallback,
    check_batching,
    check_passes,
    check_scale,
    eval_mode,
    replicated_passes,
    sequential_passes,
)

logger = logging.getLogger(__name__)


def embedding_rms(model) -> float:
    """Return the root mean square of the entries of the model's word-embedding matrix."""
    weight = model.get_input_embeddings().weight.detach()
    return float(weight.float().pow(2).mean().sqrt())


def embedding_noise_probs(
    model,
    encoded: EncodedTexts,
    *,
    passes: int = 10,
    scale: float = 0.1,
    seed: int = 0,
    batch_size: int = 64,
    rows_per_forward: int = DEFAULT_ROWS_PER_FORWARD,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Return the probabilities of T passes with noisy input embeddings, float32 (T, N, K).

    Args:
        scale: noise standard deviation relative to the word-embedding RMS (see the
            module docstring); 0 gives T copies of the deterministic pass.

    Raises:
        ValueError: ``passes`` below 1 or a negative or non-finite ``scale``.
    """
    passes = check_passes(passes)
    scale = check_scale("scale (embedding noise)", scale)
    check_batching(batch_size, rows_per_forward)
    device = device or next(model.parameters()).device
    noise_std = scale * embedding_rms(model)
    embed = model.get_input_embeddings()
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)

    def forward(inputs: dict[str, torch.Tensor], copies: int) -> torch.Tensor:
        embeddings = embed(inputs["input_ids"]).float()  # (B, L, H)
        stacked = embeddings.repeat(copies, 1, 1)  # (copies * B, L, H)
        noise = torch.randn(stacked.shape, generator=generator, device=device) * noise_std
        attention_mask = inputs["attention_mask"].repeat(copies, 1)  # (copies * B, L)
        return model(inputs_embeds=(stacked + noise).to(embed.weight.dtype), attention_mask=attention_mask).logits

    with eval_mode(model):
        return replicated_passes(
            model, encoded, forward, passes=passes, batch_size=batch_size, rows_per_forward=rows_per_forward,
            device=device, mixed_precision=mixed_precision, progress=progress, should_stop=should_stop,
        )


@contextlib.contextmanager
def restored_weights(model):
    """Save a copy of every parameter and copy it back when the block ends, however it ends.

    Yields:
        The list of ``(parameter, saved copy)`` pairs of the floating-point parameters.
    """
    saved = [
        (parameter, parameter.detach().clone())
        for parameter in model.parameters()
        if parameter.dtype.is_floating_point
    ]
    try:
        yield saved
    finally:
        with torch.no_grad():
            for parameter, original in saved:
                parameter.copy_(original)


def weight_noise_probs(
    model,
    encoded: EncodedTexts,
    *,
    passes: int = 10,
    scale: float = 0.01,
    seed: int = 0,
    batch_size: int = 64,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Return the probabilities of T passes with multiplicatively perturbed weights, float32 (T, N, K).

    Args:
        scale: relative standard deviation of each weight's noise (see the module
            docstring); 0 gives T copies of the deterministic pass.

    Raises:
        ValueError: ``passes`` below 1 or a negative or non-finite ``scale``.
    """
    passes = check_passes(passes)
    scale = check_scale("scale (weight noise)", scale)
    check_batching(batch_size, 1)
    device = device or next(model.parameters()).device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)

    with eval_mode(model), restored_weights(model) as saved:

        def perturb(pass_index: int) -> None:
            del pass_index  # the generator's state advances from pass to pass
            with torch.no_grad():
                for parameter, original in saved:
                    noise = torch.randn(original.shape, generator=generator, device=original.device)
                    parameter.copy_(original * (1.0 + scale * noise.to(original.dtype)))

        return sequential_passes(
            model, encoded, perturb, passes=passes, batch_size=batch_size, device=device,
            mixed_precision=mixed_precision, progress=progress, should_stop=should_stop,
        )

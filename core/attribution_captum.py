"""Captum calls behind :mod:`core.attribution`, one function per family of methods.

Symbols: B texts in a batch, L tokens, H embedding size, F word features.

Every method explains a target function of the input embeddings (see
:mod:`core.attribution_targets`). Integrated Gradients over those embeddings is
the same computation as Captum's ``LayerIntegratedGradients`` over the model's
word-embedding layer: both interpolate the layer output between the baseline's and
the input's embeddings. Working on the embeddings directly lets one call cover a
batch of texts with a zero-embedding baseline too, which has no token id.
:func:`layer_integrated_gradients_reference` calls ``LayerIntegratedGradients`` itself,
one text at a time with Captum's defaults, for tests and benchmarks.
"""

from __future__ import annotations

import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import (
    FeatureAblation,
    InputXGradient,
    IntegratedGradients,
    KernelShap,
    LayerIntegratedGradients,
    Lime,
    Saliency,
)

from core.attribution_targets import TargetForward, model_logits
from core.passes import seeded_torch_rng

GRADIENT_METHODS = ("integrated_gradients", "gradient_x_input", "saliency")
WORD_METHODS = ("occlusion", "lime", "kernel_shap")
# Ridge penalty of the LIME surrogate model, as in the reference LIME implementation
# (Ribeiro et al. 2016, the ``lime`` package's LimeBase).
LIME_RIDGE_ALPHA = 1.0
# Perturbed inputs per forward call for occlusion, LIME and Kernel SHAP.
PERTURBATIONS_PER_EVAL = 32


def gradient_token_scores(
    forward: TargetForward,
    embeddings: torch.Tensor,
    baselines: torch.Tensor,
    attention_mask: torch.Tensor,
    target: torch.Tensor | None,
    *,
    method: str,
    n_steps: int,
    internal_batch_size: int | None,
) -> torch.Tensor:
    """Return per-token scores, float (B, L), for one of :data:`GRADIENT_METHODS`.

    - ``integrated_gradients`` (Sundararajan et al. 2017, "Axiomatic Attribution for
      Deep Networks", equation 1): Gauss-Legendre quadrature with ``n_steps`` nodes,
      attributions summed over the embedding dimension.
    - ``gradient_x_input`` (Shrikumar et al. 2016): gradient times embedding, summed
      over the embedding dimension.
    - ``saliency`` (Simonyan et al. 2014): the L2 norm of the gradient over the
      embedding dimension, so it is never negative.

    Args:
        embeddings, baselines: float (B, L, H); ``baselines`` is used by IG only.
        attention_mask: int (B, L).
        target: int (B,) class indices, or ``None`` when ``forward`` returns (B,) values.
    """
    if method == "integrated_gradients":
        attributions = IntegratedGradients(forward).attribute(
            embeddings,
            baselines=baselines,
            target=target,
            additional_forward_args=(attention_mask,),
            n_steps=n_steps,
            method="gausslegendre",
            internal_batch_size=internal_batch_size,
        )  # (B, L, H)
        return attributions.sum(dim=-1)
    leaf = embeddings.detach().clone().requires_grad_()  # (B, L, H), the tensor Captum differentiates by
    if method == "gradient_x_input":
        attributions = InputXGradient(forward).attribute(
            leaf, target=target, additional_forward_args=(attention_mask,)
        )  # (B, L, H)
        return attributions.sum(dim=-1)
    if method == "saliency":
        gradients = Saliency(forward).attribute(
            leaf, target=target, abs=False, additional_forward_args=(attention_mask,)
        )  # (B, L, H)
        return gradients.norm(dim=-1)
    raise ValueError(f"method must be one of {', '.join(GRADIENT_METHODS)}; got {method!r}.")


def word_feature_scores(
    forward: TargetForward,
    embeddings: torch.Tensor,
    baselines: torch.Tensor,
    attention_mask: torch.Tensor,
    target: int | None,
    feature_mask: torch.Tensor,
    *,
    method: str,
    samples: int,
    seed: int,
) -> torch.Tensor:
    """Return one score per word feature, float (F,), for one of :data:`WORD_METHODS`.

    - ``occlusion``: feature ablation (Zeiler and Fergus 2014), the change of the
      target when one word's embeddings are replaced by the baseline's.
    - ``lime`` (Ribeiro et al. 2016, "Why Should I Trust You?"): a ridge surrogate fitted
      on ``samples`` random subsets of words.
    - ``kernel_shap`` (Lundberg and Lee 2017, "A Unified Approach to Interpreting Model
      Predictions"): Shapley value estimates from ``samples`` weighted coalitions.

    Args:
        embeddings, baselines: float (1, L, H) of one text.
        feature_mask: int (1, L, 1) word feature of each token, 0 to F - 1.
    """
    num_features = int(feature_mask.max().item()) + 1
    mask = feature_mask.expand_as(embeddings)  # (1, L, H)
    common = dict(baselines=baselines, target=target, additional_forward_args=(attention_mask,), feature_mask=mask)
    per_eval = min(PERTURBATIONS_PER_EVAL, max(1, samples))
    device = embeddings.device
    with seeded_torch_rng(seed, device):
        if method == "occlusion":
            attributions = FeatureAblation(forward).attribute(
                embeddings, perturbations_per_eval=min(num_features, PERTURBATIONS_PER_EVAL), **common
            )
        elif method == "lime":
            explainer = Lime(forward, interpretable_model=SkLearnRidge(alpha=LIME_RIDGE_ALPHA))
            attributions = explainer.attribute(embeddings, n_samples=samples, perturbations_per_eval=per_eval, **common)
        elif method == "kernel_shap":
            attributions = KernelShap(forward).attribute(
                embeddings, n_samples=samples, perturbations_per_eval=per_eval, **common
            )
        else:
            raise ValueError(f"method must be one of {', '.join(WORD_METHODS)}; got {method!r}.")
    # Every element of a feature contains that feature's score, so one token per feature is read.
    first_token = [int((feature_mask[0, :, 0] == feature).nonzero()[0]) for feature in range(num_features)]
    return attributions[0, first_token, 0].detach()  # (F,)


def layer_integrated_gradients_reference(
    model,
    input_ids: torch.Tensor,
    baseline_ids: torch.Tensor,
    target: int,
    *,
    n_steps: int = 50,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run Captum's ``LayerIntegratedGradients`` on one text, as a user would without batching.

    The layer is the model's input (word) embedding layer and ``target`` a class
    index of the logits. Everything else is Captum's default: Gauss-Legendre, all
    steps in one forward call.

    Args:
        input_ids, baseline_ids: int (1, L).

    Returns:
        ``(token_scores, delta)``: float (L,) attributions summed over the embedding
        dimension, and the convergence delta, float (1,).
    """

    def forward(ids: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits  # (n, K)

    explainer = LayerIntegratedGradients(forward, model.get_input_embeddings())
    attributions, delta = explainer.attribute(
        input_ids, baselines=baseline_ids, target=target, n_steps=n_steps, return_convergence_delta=True
    )  # (1, L, H), (1,)
    return attributions.sum(dim=-1)[0].detach(), delta.detach()


def logits_without_grad(model, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Return (B, K) float logits, computed without gradients."""
    with torch.no_grad():
        return model_logits(model, embeddings, attention_mask).float()

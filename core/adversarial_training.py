"""Adversarial training on the word embeddings: FGM and PGD perturbations.

Symbols: B batch size, L tokens, H embedding size.

Both methods perturb the output of the model's input (word) embedding module, before
the model adds position and token-type embeddings, and train on the sum of the clean
loss and the loss on the perturbed batch:

- **FGM** follows Miyato, Dai and Goodfellow 2017, "Adversarial Training Methods for
  Semi-Supervised Text Classification" (ICLR 2017): one perturbation
  r = epsilon * g / ||g||_2, where g is the gradient of the clean loss with respect to
  one text's word embeddings. The paper also normalises the embedding vectors before
  perturbing them. Here the embeddings stay as the model has them, so epsilon is in
  the model's own embedding units.
- **PGD** follows Madry, Makelov, Schmidt, Tsipras and Vladu 2018, "Towards Deep
  Learning Models Resistant to Adversarial Attacks" (ICLR 2018), with an L2 ball in
  place of the paper's L-infinity ball. Starting from r = 0, each of ``steps`` ascent
  steps moves r by ``alpha`` along g / ||g||_2 at the current r and projects the
  result back onto the ball ||r||_2 <= epsilon. The training loss is then taken at
  the final r.

Unit of epsilon and alpha: the functions here take the L2 norm of the perturbation
of one text, over all its real tokens together (padding is never perturbed), in the
units of the model's word-embedding vectors. ``TrainConfig`` states both relative to
:func:`mean_token_embedding_norm`, the mean length of one token's embedding vector
in the pretrained model, so that one setting means the same for models whose
embeddings differ in scale. Its default epsilon of 0.1 lets the perturbation of a
whole text be a tenth as long as one typical token embedding. At 1.0 the gradient
puts most of the perturbation on the one or two words that decide the label, which
can then be replaced outright. Measured with ``TrainConfig(model="builtin", epochs=2,
max_length=64, max_rows=1000)`` on MR sentence polarity on a 2-core CPU, FGM at 1.0
stayed at chance (test accuracy 0.50) while clean training reached 0.75 and FGM at
0.1 reached 0.72.

Cost per optimizer step, counted in forward and backward passes of the model: clean
training takes 1 forward and 1 backward. FGM takes 2 of each. PGD takes
``steps + 1`` forwards, 2 full backwards and ``steps - 1`` backwards that compute
only the gradient with respect to the perturbation. Every graph is freed by its
backward before the next forward starts, so the peak activation memory equals that
of a clean step. The extra memory is a few float32 tensors of shape (B, L, H): the
perturbation, its gradient and the intermediate results of one update. Measured
times per step are in the README.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

ADVERSARIAL_MODES = ("none", "fgm", "pgd")
# Below this gradient norm a text's gradient direction is treated as undefined, and the text gets no perturbation.
_MIN_GRADIENT_NORM = 1e-12


@dataclass(frozen=True)
class AdversarialSettings:
    """Adversarial training settings of one run, with epsilon and alpha in embedding units (see the module docstring)."""

    mode: str
    epsilon: float
    steps: int
    alpha: float


@dataclass
class AdversarialLosses:
    """Detached results of one adversarial training step.

    Attributes:
        clean_loss: Scalar tensor, mean cross-entropy of the unperturbed batch.
        adversarial_loss: Scalar tensor, mean cross-entropy of the perturbed batch.
        perturbation_norm: Mean over the batch of the per-text L2 norm of the final perturbation.
    """

    clean_loss: torch.Tensor
    adversarial_loss: torch.Tensor
    perturbation_norm: float


def per_text_norms(tensor: torch.Tensor) -> torch.Tensor:
    """Return the L2 norm of each text's slice of a (B, L, H) tensor, shape (B, 1, 1), float32."""
    return tensor.float().flatten(1).norm(dim=1).view(-1, 1, 1)  # (B,) -> (B, 1, 1)


def gradient_direction(gradient: torch.Tensor) -> torch.Tensor:
    """Return g / ||g||_2 per text for a (B, L, H) gradient, float32.

    A text whose gradient is zero, or not finite (an overflow under float16 loss
    scaling, in which case the scaler skips the step anyway), gets a zero direction.
    """
    gradient = gradient.float()
    norms = per_text_norms(gradient)  # (B, 1, 1)
    usable = torch.isfinite(norms) & (norms > _MIN_GRADIENT_NORM)
    direction = gradient / torch.where(usable, norms, torch.ones_like(norms))
    return torch.where(usable, direction, torch.zeros_like(direction))


def project_to_ball(perturbation: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Scale down each text's slice of a (B, L, H) perturbation whose L2 norm exceeds ``epsilon``."""
    norms = per_text_norms(perturbation)  # (B, 1, 1)
    factors = torch.clamp(epsilon / torch.clamp(norms, min=_MIN_GRADIENT_NORM), max=1.0)
    return perturbation * factors


def fgm_perturbation(gradient: torch.Tensor, *, epsilon: float) -> torch.Tensor:
    """Return the FGM perturbation epsilon * g / ||g||_2 per text, float32 (B, L, H)."""
    return epsilon * gradient_direction(gradient)


def pgd_step(perturbation: torch.Tensor, gradient: torch.Tensor, *, alpha: float, epsilon: float) -> torch.Tensor:
    """Return one PGD ascent step: r + alpha * g / ||g||_2, projected onto ||r||_2 <= epsilon per text."""
    return project_to_ball(perturbation.float() + alpha * gradient_direction(gradient), epsilon)


class EmbeddingPerturbation:
    """Adds a (B, L, H) perturbation to the output of the model's input embedding module.

    The forward hook exists only inside :meth:`attached`, and it adds nothing while
    :attr:`perturbation` is ``None``. Evaluation, scoring and checkpoints therefore
    never see it.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.embedding = model.get_input_embeddings()
        if self.embedding is None:
            raise ValueError(
                f"Adversarial training needs the model's input embeddings, but {type(model).__name__}."
                "get_input_embeddings() returned None. Set adversarial to 'none'."
            )
        self.perturbation: torch.Tensor | None = None

    def _hook(self, module, args, output):
        if self.perturbation is None:
            return output
        if self.perturbation.shape != output.shape:
            raise RuntimeError(
                f"Perturbation of shape {tuple(self.perturbation.shape)} does not match the embedding output "
                f"{tuple(output.shape)}."
            )
        return output + self.perturbation.to(output.dtype)

    @contextlib.contextmanager
    def attached(self) -> Iterator["EmbeddingPerturbation"]:
        """Register the hook for the block and remove it and the perturbation when the block ends, however it ends."""
        handle = self.embedding.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()
            self.perturbation = None


def adversarial_backward(
    compute_loss: Callable[[], torch.Tensor],
    scale_loss: Callable[[torch.Tensor], torch.Tensor],
    perturber: EmbeddingPerturbation,
    *,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    settings: AdversarialSettings,
) -> AdversarialLosses:
    """Backpropagate the clean loss and the loss at the FGM or PGD perturbation into the parameters' ``.grad``.

    The parameter gradients end up as those of (clean loss + adversarial loss). The
    PGD ascent steps take gradients with respect to the perturbation only, so they
    leave ``.grad`` unchanged. The caller unscales, clips and steps as usual.

    Args:
        compute_loss: Runs the model on the batch (under autocast where used) and
            returns the scalar float32 loss. The perturbation is added by
            ``perturber``, whose hook must be attached.
        scale_loss: ``GradScaler.scale``, or the identity without loss scaling.
            NOTE: only CPU runs have exercised this function. The float16 GradScaler
            path is covered by a scale-invariance test on CPU, not by a GPU run.
        input_ids: int64 (B, L) token ids of the batch.
        attention_mask: (B, L), 1 on real tokens and 0 on padding.
    """
    if settings.mode not in ("fgm", "pgd"):
        raise ValueError(f"settings.mode must be 'fgm' or 'pgd' for an adversarial step; got {settings.mode!r}.")
    hidden_size = perturber.embedding.weight.shape[1]
    token_mask = attention_mask.to(torch.float32).unsqueeze(-1)  # (B, L) -> (B, L, 1)

    # The clean pass runs with a zero perturbation so that the same backward also gives dLoss/dEmbeddings.
    zero = torch.zeros(
        (*input_ids.shape, hidden_size), dtype=torch.float32, device=input_ids.device, requires_grad=True
    )  # (B, L, H)
    perturber.perturbation = zero
    clean_loss = compute_loss()
    scale_loss(clean_loss).backward()
    gradient = zero.grad * token_mask  # (B, L, H)

    if settings.mode == "fgm":
        perturbation = fgm_perturbation(gradient, epsilon=settings.epsilon)
    else:
        perturbation = torch.zeros_like(gradient)
        for step in range(settings.steps):
            perturbation = pgd_step(perturbation, gradient, alpha=settings.alpha, epsilon=settings.epsilon)
            if step + 1 == settings.steps:
                break
            probe = perturbation.detach().requires_grad_(True)
            perturber.perturbation = probe
            (gradient,) = torch.autograd.grad(scale_loss(compute_loss()), probe)
            gradient = gradient * token_mask

    perturbation = perturbation.detach()
    perturber.perturbation = perturbation
    adversarial_loss = compute_loss()
    scale_loss(adversarial_loss).backward()
    perturber.perturbation = None
    return AdversarialLosses(
        clean_loss=clean_loss.detach(),
        adversarial_loss=adversarial_loss.detach(),
        perturbation_norm=float(per_text_norms(perturbation).mean()),
    )


def mean_token_embedding_norm(model: torch.nn.Module) -> float:
    """Return the mean L2 norm of the rows of the model's word-embedding matrix, for comparison with epsilon."""
    weight = model.get_input_embeddings().weight.detach()
    return float(weight.float().norm(dim=1).mean())

"""The scalar outputs that attributions explain: a class logit, or the model's uncertainty.

Symbols: N rows, L tokens, H embedding size, K classes, T dropout passes.

Every target is a differentiable function of the input embeddings (the output of the
model's word-embedding layer). Class targets return the (N, K) logits and a class
index selects one; uncertainty targets return one value per row, shape (N,):

- ``entropy``: the predictive entropy H(p) = -sum_k p_k log p_k of one deterministic
  pass, in nats.
- ``mc_entropy``: the entropy of the mean of T MC dropout passes (Gal and Ghahramani
  2016, "Dropout as a Bayesian Approximation").
- ``mutual_information``: H(mean_t p_t) - mean_t H(p_t) over the same T passes, the
  epistemic part of the uncertainty (Houlsby et al. 2011, "Bayesian Active Learning
  for Classification and Preference Learning", the BALD score).

Attribution methods evaluate the target many times (IG along a path of 50 inputs,
LIME on hundreds of perturbations). Fresh dropout masks on every call would make the
MC targets a different random function at each evaluation, and IG completeness would
not hold. :class:`FrozenDropout` therefore draws the T masks once, from a seed, and
applies the same masks to every row and every call.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

CLASS_TARGETS = ("predicted", "label", "class")
UNCERTAINTY_TARGETS = ("entropy", "mc_entropy", "mutual_information")
TARGETS = (*CLASS_TARGETS, *UNCERTAINTY_TARGETS)
MC_TARGETS = ("mc_entropy", "mutual_information")

TargetForward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def model_logits(model, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Return (N, K) logits for (N, L, H) input embeddings and an (N, L) attention mask."""
    output = model(inputs_embeds=embeddings, attention_mask=attention_mask)
    return output.logits if hasattr(output, "logits") else output


def entropy_of(probs: torch.Tensor) -> torch.Tensor:
    """Return the entropy in nats over the last dimension; 0 log 0 counts as 0."""
    return -torch.special.xlogy(probs, probs).sum(dim=-1)


def _dropout_modules(model) -> list[nn.Dropout]:
    return [module for module in model.modules() if isinstance(module, nn.Dropout) and module.p > 0]


class FrozenDropout:
    """T fixed dropout masks, applied while the model stays in eval mode.

    Inside :meth:`active`, every forward call must stack its rows pass-major: a batch
    of ``passes * n`` rows where row ``t * n + i`` is pass t of row i. Each
    ``nn.Dropout`` with p > 0 then multiplies pass t by mask t, scaled by 1 / (1 - p)
    as in training. Mask t of a module is drawn once, for a row of ``max_length``
    tokens, from a generator seeded with ``seed`` and the module's index. It is sliced
    to the current length, so the masks do not depend on how rows are batched or padded.

    NOTE: under SDPA attention (the transformers 4.57 default for BERT) the attention
    dropout is not an ``nn.Dropout`` call, so it is not sampled, as in :mod:`core.mc`.

    Raises:
        ValueError: the model has no dropout with p > 0, so every pass would be the same.
    """

    def __init__(self, model, *, passes: int, seed: int, max_length: int) -> None:
        self.model = model
        self.passes = passes
        self.seed = seed
        self.max_length = max_length
        self.modules = _dropout_modules(model)
        if not self.modules:
            raise ValueError("The model has no dropout with p > 0, so MC dropout targets are undefined. "
                             "Choose the 'entropy' target instead.")
        self._masks: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    def mask(self, index: int, row_shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Return the (T, *row_shape) mask of dropout module ``index``."""
        probability = self.modules[index].p
        # Rows of shape (L, H) get masks drawn for (max_length, H) and sliced to L.
        full_shape = (self.max_length, *row_shape[1:]) if len(row_shape) >= 2 else tuple(row_shape)
        key = (index, full_shape)
        if key not in self._masks:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            keep = torch.bernoulli(torch.full((self.passes, *full_shape), 1.0 - probability), generator=generator)
            self._masks[key] = keep / (1.0 - probability)  # (T, *full_shape)
        mask = self._masks[key]
        if len(row_shape) >= 2:
            mask = mask[:, : row_shape[0]]
        return mask.to(device=like.device, dtype=like.dtype)

    def _hook(self, index: int):
        def hook(module, inputs, output):
            rows = output.shape[0]
            if rows % self.passes:
                raise RuntimeError(f"Dropout input has {rows} rows, not a multiple of T={self.passes}.")
            row_shape = tuple(output.shape[1:])
            per_pass = output.reshape(self.passes, rows // self.passes, *row_shape)  # (T, n, *row)
            mask = self.mask(index, row_shape, output).unsqueeze(1)  # (T, 1, *row)
            return (per_pass * mask).reshape(output.shape)

        return hook

    @contextlib.contextmanager
    def active(self):
        """Put the model in eval mode with the masks applied inside the block, then restore it."""
        was_training = {module: module.training for module in self.model.modules()}
        self.model.eval()
        handles = [module.register_forward_hook(self._hook(index)) for index, module in enumerate(self.modules)]
        try:
            yield self.model
        finally:
            for handle in handles:
                handle.remove()
            for module, training in was_training.items():
                module.train(training)


def class_logits_forward(model) -> TargetForward:
    """Return a function from embeddings and mask to (N, K) logits."""

    def forward(embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return model_logits(model, embeddings, attention_mask)

    return forward


def entropy_forward(model) -> TargetForward:
    """Return a function from embeddings and mask to the (N,) predictive entropy."""

    def forward(embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = model_logits(model, embeddings, attention_mask)  # (N, K)
        return entropy_of(torch.softmax(logits.float(), dim=-1))

    return forward


def mc_forward(model, *, kind: str, passes: int, seed: int, max_length: int) -> TargetForward:
    """Return a function from embeddings and mask to an (N,) MC dropout uncertainty.

    The T dropout masks are drawn once (:class:`FrozenDropout`) and reused by every call.
    """
    if kind not in MC_TARGETS:
        raise ValueError(f"kind must be one of {', '.join(MC_TARGETS)}; got {kind!r}.")
    frozen = FrozenDropout(model, passes=passes, seed=seed, max_length=max_length)

    def forward(embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        rows = embeddings.shape[0]
        stacked = embeddings.repeat(passes, 1, 1)  # (T * N, L, H), row t * N + i is pass t of row i
        stacked_mask = attention_mask.repeat(passes, 1)  # (T * N, L)
        with frozen.active():
            logits = model_logits(model, stacked, stacked_mask)  # (T * N, K)
        probs = torch.softmax(logits.float(), dim=-1).reshape(passes, rows, -1)  # (T, N, K)
        total = entropy_of(probs.mean(dim=0))  # (N,)
        if kind == "mc_entropy":
            return total
        expected = entropy_of(probs).mean(dim=0)  # (N,)
        return total - expected

    return forward


def target_forward(model, spec, max_length: int) -> TargetForward:
    """Return the forward function of ``spec.target``: (N, K) logits for class targets, else (N,) values."""
    if spec.target in CLASS_TARGETS:
        return class_logits_forward(model)
    if spec.target == "entropy":
        return entropy_forward(model)
    return mc_forward(model, kind=spec.target, passes=spec.passes, seed=spec.seed, max_length=max_length)

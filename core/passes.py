"""Batched stochastic forward passes: the loop shared by MC dropout and noise injection.

Symbols: N samples, K classes, T passes, B batch size, L tokens, H hidden size.

Texts are tokenized once (:func:`core.batching.encode_texts`) and grouped into
batches of similar length. Some methods draw their randomness inside one forward
call (dropout masks, input noise). For them each batch is repeated along the batch
dimension, so one forward call computes several passes. A (B, L) batch becomes a
(c * B, L) batch for a chunk of c passes, with c * B at most ``rows_per_forward``.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable

import numpy as np
import torch

from core.batching import EncodedTexts, collate, sorted_batches
from core.models import autocast_context, autocast_dtype
from core.progress import ComputationCancelled, Progress

ProgressCallback = Callable[[Progress], None]
StopCallback = Callable[[], bool]
# Rows per forward call when passes are stacked along the batch dimension. With the default
# batch size of 64 no passes are stacked: on 2-core CPUs, forward calls of 256 rows were slower
# per row than calls of 64 (bench/bench_uncertainty.py). NOTE: on a GPU, where stacking may pay,
# this has not been measured.
DEFAULT_ROWS_PER_FORWARD = 64


def check_passes(passes: int) -> int:
    """Return ``passes`` as an int, or raise ``ValueError`` unless it is a whole number of at least 1."""
    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 1:
        raise ValueError(f"passes (T) must be a whole number of at least 1; got {passes!r}.")
    return int(passes)


def check_scale(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and at least 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of at least 0; got {value!r}.")
    return float(value)


def check_batching(batch_size: int, rows_per_forward: int) -> None:
    """Raise ``ValueError`` unless both sizes are at least 1."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if rows_per_forward < 1:
        raise ValueError(f"rows_per_forward must be at least 1; got {rows_per_forward}.")


def replicate_inputs(inputs: dict[str, torch.Tensor], copies: int) -> dict[str, torch.Tensor]:
    """Stack ``copies`` copies of every (B, ...) tensor along dimension 0, giving (copies * B, ...).

    Row ``j * B + i`` is copy ``j`` of sample ``i``, so a (copies * B, K) output
    reshapes to (copies, B, K).
    """
    return {name: tensor.repeat(copies, *([1] * (tensor.ndim - 1))) for name, tensor in inputs.items()}


@contextlib.contextmanager
def seeded_torch_rng(seed: int, device: torch.device):
    """Seed torch's global generators inside the block and restore their state afterwards.

    Modules such as ``nn.Dropout`` draw from the global generator, so seeding it is the
    only way to make their masks reproducible. Forking keeps the caller's random state.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class PassLoop:
    """Progress, cancellation and timing of one batched computation.

    Call :meth:`step` after every forward call; it reports a ``score`` progress event
    and raises :class:`ComputationCancelled` when ``should_stop`` returns true.
    """

    def __init__(
        self, total_steps: int, total_samples: int, progress: ProgressCallback | None, should_stop: StopCallback | None
    ) -> None:
        self.total_steps = total_steps
        self.total_samples = total_samples
        self.progress = progress
        self.should_stop = should_stop
        self.started = time.perf_counter()
        self.steps = 0
        self.samples = 0

    def check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise ComputationCancelled(f"Stopped by request after {self.steps} of {self.total_steps} forward calls.")

    def step(self, samples: int) -> None:
        self.steps += 1
        self.samples += samples
        if self.progress is not None:
            elapsed = time.perf_counter() - self.started
            self.progress(
                Progress(
                    phase="score",
                    step=self.steps,
                    total_steps=self.total_steps,
                    samples=self.samples,
                    elapsed_seconds=elapsed,
                    eta_seconds=elapsed / self.steps * (self.total_steps - self.steps),
                )
            )
        self.check_stop()


def replicated_passes(
    model,
    encoded: EncodedTexts,
    forward: Callable[[dict[str, torch.Tensor], int], torch.Tensor],
    *,
    passes: int,
    batch_size: int = 64,
    rows_per_forward: int = DEFAULT_ROWS_PER_FORWARD,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Run T passes over length-grouped batches, several passes per forward call.

    Args:
        forward: called as ``forward(inputs, copies)`` with a collated (B, L) batch on
            ``device``. It returns logits of shape (copies * B, K), where row
            ``j * B + i`` belongs to pass ``j`` of sample ``i``, and runs under
            inference mode and autocast.
        passes: T.

    Returns:
        Probabilities, float32 array of shape (T, N, K), in input order.
    """
    passes = check_passes(passes)
    check_batching(batch_size, rows_per_forward)
    device = device or next(model.parameters()).device
    dtype = autocast_dtype(device, enabled=mixed_precision)
    batches = sorted_batches(encoded.lengths, batch_size)
    chunk_of = [max(1, rows_per_forward // len(indices)) for indices in batches]
    total_steps = sum(math.ceil(passes / chunk) for chunk in chunk_of)
    loop = PassLoop(total_steps, len(encoded) * passes, progress, should_stop)
    mc_probs = np.zeros((passes, len(encoded), model.config.num_labels), dtype=np.float32)
    loop.check_stop()
    with torch.inference_mode():
        for indices, chunk in zip(batches, chunk_of):
            inputs = collate(encoded, indices, device)
            for start in range(0, passes, chunk):
                copies = min(chunk, passes - start)
                with autocast_context(device, dtype):
                    logits = forward(inputs, copies)  # (copies * B, K)
                probs = torch.softmax(logits.float(), dim=-1).view(copies, len(indices), -1)  # (copies, B, K)
                mc_probs[start : start + copies, indices] = probs.cpu().numpy()
                loop.step(copies * len(indices))
    return mc_probs


def sequential_passes(
    model,
    encoded: EncodedTexts,
    prepare_pass: Callable[[int], None],
    *,
    passes: int,
    batch_size: int = 64,
    device: torch.device | None = None,
    mixed_precision: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> np.ndarray:
    """Run T full sweeps over the data, calling ``prepare_pass(t)`` before sweep t.

    For randomness that cannot be stacked along the batch dimension, such as one
    perturbed copy of the weights per pass. The model runs in eval mode.

    Returns:
        Probabilities, float32 array of shape (T, N, K), in input order.
    """
    passes = check_passes(passes)
    check_batching(batch_size, 1)
    device = device or next(model.parameters()).device
    dtype = autocast_dtype(device, enabled=mixed_precision)
    batches = sorted_batches(encoded.lengths, batch_size)
    loop = PassLoop(len(batches) * passes, len(encoded) * passes, progress, should_stop)
    mc_probs = np.zeros((passes, len(encoded), model.config.num_labels), dtype=np.float32)
    loop.check_stop()
    with torch.inference_mode():
        for pass_index in range(passes):
            prepare_pass(pass_index)
            for indices in batches:
                inputs = collate(encoded, indices, device)
                with autocast_context(device, dtype):
                    logits = model(**inputs).logits  # (B, K)
                mc_probs[pass_index, indices] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                loop.step(len(indices))
    return mc_probs


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` in eval mode inside the block and restore each module's mode afterwards."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)

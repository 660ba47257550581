"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint folder contains ``ckpt-<global step>/`` folders and a ``latest.json``
pointer that is replaced atomically once a new checkpoint is complete, so a crash
while writing leaves the previous checkpoint in force. Each ``ckpt-*`` holds:

    model.safetensors      current weights (state dict)
    best.safetensors       weights of the best epoch so far, when there is one
    optimizer.safetensors  per-parameter optimizer state (AdamW step, exp_avg, exp_avg_sq)
    rng.safetensors        torch CPU (and CUDA) random generator states
    state.json             loop position, history, optimizer param groups, scheduler and scaler state
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

LATEST_POINTER = "latest.json"
FORMAT_VERSION = 1


def _contiguous_cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in tensors.items()}


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            tensors[f"{index}.{name}"] = value
    return tensors, state["param_groups"]


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})


def latest_checkpoint(directory: Path) -> Path | None:
    """Return the newest complete checkpoint folder in ``directory``, or ``None``."""
    pointer = Path(directory) / LATEST_POINTER
    if not pointer.is_file():
        return None
    name = json.loads(pointer.read_text(encoding="utf-8")).get("checkpoint")
    path = Path(directory) / str(name)
    if not (path / "state.json").is_file():
        logger.warning("Checkpoint pointer %s names %s, which is incomplete; ignoring it", pointer, path)
        return None
    return path


def save_checkpoint(
    directory: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler,
    best_state: dict[str, torch.Tensor] | None,
    state: dict,
    best_is_current: bool = False,
) -> Path:
    """Write a complete checkpoint and point ``latest.json`` at it; older checkpoints are removed.

    Set ``best_is_current`` when ``best_state`` equals the model's current weights.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{int(state['global_step']):08d}"
    target = directory / name
    staging = directory / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()

    save_file(_contiguous_cpu(model.state_dict()), staging / "model.safetensors")
    if best_state is not None:
        # Hard links avoid rewriting unchanged weights: the best weights are either the
        # current ones (right after an improving epoch) or those of the previous checkpoint.
        previous = latest_checkpoint(directory)
        previous_best = previous / "best.safetensors" if previous else None
        if best_is_current:
            os.link(staging / "model.safetensors", staging / "best.safetensors")
        elif previous_best is not None and previous_best.exists() and state.get("best_unchanged_since_last", False):
            os.link(previous_best, staging / "best.safetensors")
        else:
            save_file(_contiguous_cpu(best_state), staging / "best.safetensors")
    optimizer_tensors, param_groups = _optimizer_tensors(optimizer)
    save_file(_contiguous_cpu(optimizer_tensors), staging / "optimizer.safetensors")
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"torch_cuda_{index}"] = cuda_state
    save_file(rng, staging / "rng.safetensors")
    payload = dict(state)
    payload.update(
        format_version=FORMAT_VERSION,
        optimizer_param_groups=param_groups,
        scheduler=scheduler.state_dict(),
        scaler=scaler.state_dict(),
        has_best=best_state is not None,
    )
    (staging / "state.json").write_text(json.dumps(payload), encoding="utf-8")

    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    pointer_tmp = directory / f".{LATEST_POINTER}.{os.getpid()}.tmp"
    pointer_tmp.write_text(json.dumps({"checkpoint": name, "global_step": state["global_step"]}), encoding="utf-8")
    os.replace(pointer_tmp, directory / LATEST_POINTER)
    for old in directory.glob("ckpt-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    logger.info("Checkpoint written to %s", target)
    return target


def load_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler,
) -> tuple[dict, dict[str, torch.Tensor] | None]:
    """Restore model, optimizer, scheduler, scaler and RNG states in place.

    Returns:
        ``(state, best_state)``: the loop state saved with the checkpoint and the best
        weights (on the CPU), or ``None`` when no epoch had finished.
    """
    path = Path(path)
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"Checkpoint {path} has format version {state.get('format_version')}; this version reads "
            f"{FORMAT_VERSION}. Start the training again instead of resuming."
        )
    # Tensors load on the CPU; load_state_dict copies weights onto the model's device, and the
    # optimizer moves its state next to each parameter.
    model.load_state_dict(load_file(path / "model.safetensors"))
    optimizer_tensors = load_file(path / "optimizer.safetensors")
    _restore_optimizer(optimizer, optimizer_tensors, state["optimizer_param_groups"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = load_file(path / "rng.safetensors")
    torch.set_rng_state(rng["torch_cpu"])
    if torch.cuda.is_available():
        cuda_states = [rng[key] for key in sorted(rng) if key.startswith("torch_cuda_")]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    best_state = load_file(path / "best.safetensors") if state.get("has_best") else None
    return state, best_state

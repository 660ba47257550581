"""Fine-tune a sequence classifier and write a run folder.

The loop is plain PyTorch: AdamW with linear warm-up and decay, dynamic padding with
length-grouped batches, gradient clipping, evaluation on the validation split after
each epoch, and the best epoch's weights kept. Mixed precision is used on CUDA only.
Progress goes through a callback so that the CLI, the dashboard and the job runner
each render it their own way.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import transformers
from transformers import get_linear_schedule_with_warmup

from core import data as data_module
from core import checkpoint, runs
from core.batching import EncodedTexts, collate, encode_texts, length_grouped_batches
from core.metrics import classification_metrics
from core.models import (
    DEVICE_CHOICES,
    autocast_context,
    autocast_dtype,
    load_classifier,
    model_max_length,
    resolve_device,
)
from core.progress import ComputationCancelled, Progress
from core.scoring import predict_logits_encoded, predictions_table
from core.uncertainty import softmax

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
SELECTION_METRICS = ("macro_f1", "accuracy", "nll")
_LOSS_WINDOW = 20


class TrainingCancelled(ComputationCancelled):
    """Raised when ``should_stop`` returned true between two steps."""


@dataclass
class TrainConfig:
    """Settings of one fine-tuning run. Every field is stored in the run folder."""

    model: str = "builtin"
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 128
    seed: int = 0
    max_rows: int | None = None
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    drop_duplicates: bool = True
    selection_metric: str = "macro_f1"
    device: str = "auto"
    mixed_precision: bool = True
    trust_remote_code: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field, its value and the allowed range."""
        checks = [
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "at least 1"),
            ("learning_rate", 0 < self.learning_rate < 1, "between 0 and 1 (typical: 1e-5 to 1e-4)"),
            ("weight_decay", self.weight_decay >= 0, "0 or more"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "in [0, 1)"),
            ("max_grad_norm", self.max_grad_norm > 0, "above 0"),
            ("max_length", 8 <= self.max_length <= 8192, "between 8 and 8192 tokens"),
            ("max_rows", self.max_rows is None or self.max_rows >= 10, "empty or at least 10"),
            ("validation_fraction", 0 < self.validation_fraction < 0.5, "in (0, 0.5)"),
            ("test_fraction", 0 <= self.test_fraction < 0.5, "in [0, 0.5)"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name} must be {allowed}; got {getattr(self, name)!r}.")
        if self.selection_metric not in SELECTION_METRICS:
            raise ValueError(
                f"selection_metric must be one of {', '.join(SELECTION_METRICS)}; got {self.selection_metric!r}."
            )
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {self.device!r}.")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        return cls(**values)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict


def _is_better(metric: str, candidate: float, best: float | None) -> bool:
    if best is None:
        return True
    return candidate < best if metric == "nll" else candidate > best


def _optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    # Biases and LayerNorm weights get no weight decay, as in the BERT recipe.
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    try:
        # The fused kernel is several times faster than the per-tensor loop, on CPU too (torch >= 2.4).
        return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)
    except (RuntimeError, TypeError) as exc:
        logger.info("Fused AdamW unavailable on this device (%s); using the default implementation", exc)
        return torch.optim.AdamW(groups, lr=config.learning_rate)


def _evaluate(model, encoded: EncodedTexts, label_ids: np.ndarray, class_names, config, device) -> tuple[dict, np.ndarray]:
    logits = predict_logits_encoded(
        model, encoded, batch_size=config.eval_batch_size, device=device, mixed_precision=config.mixed_precision
    )
    probs = softmax(logits)
    return classification_metrics(label_ids, probs, class_names), logits


def _subset(encoded: EncodedTexts, indices: np.ndarray) -> EncodedTexts:
    return EncodedTexts(
        [encoded.input_ids[i] for i in indices], encoded.lengths[indices], encoded.truncated[indices], encoded.pad_token_id
    )


def prepare_training_data(dataset: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """Drop unusable rows, subsample to ``max_rows`` and add the ``split`` column (seeded)."""
    prepared = data_module.prepare_for_training(dataset, drop_duplicates=config.drop_duplicates)
    if config.max_rows is not None:
        prepared = data_module.stratified_subsample(prepared, config.max_rows, seed=config.seed)
    if prepared.empty:
        raise ValueError("No rows with both text and label remain; check the column mapping.")
    classes = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    if len(classes) < 2:
        raise ValueError(f"Training needs at least 2 classes; the labelled rows have {classes!r}.")
    prepared = prepared.copy()
    prepared[data_module.SPLIT_COLUMN] = data_module.assign_splits(
        prepared,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    ).to_numpy()
    for split in ("train", "validation"):
        if not (prepared[data_module.SPLIT_COLUMN] == split).any():
            raise ValueError(f"The {split} split is empty; use more rows (max_rows) or a larger fraction.")
    return prepared


def fine_tune(
    dataset: pd.DataFrame,
    config: TrainConfig,
    *,
    output_dir: str | Path,
    data_info: dict | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every_seconds: float = 120.0,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune ``config.model`` on a mapped dataset and write the run to ``output_dir``.

    Args:
        dataset: Output of :func:`core.data.apply_mapping`.
        output_dir: The run folder to create; it must not exist yet. The run is
            written to a temporary sibling and renamed at the end, so a crash never
            leaves a half-written run under this name.
        data_info: Where the data came from (file, mapping), stored in the run config.
        progress: Called with a :class:`Progress` after each step and phase.
        should_stop: Polled between steps; returning true writes a checkpoint (when
            ``checkpoint_dir`` is set) and raises :class:`TrainingCancelled`.
        checkpoint_dir: Where to keep a resumable checkpoint: written every
            ``checkpoint_every_seconds``, after each epoch but the last, and on cancel.
        resume: Continue from the latest checkpoint in ``checkpoint_dir`` with the same
            weights, optimizer, scheduler, random state and batch order. Without a
            checkpoint there, training starts from the beginning.

    Returns:
        The run folder and its metrics (history, best epoch, validation and test metrics).
    """
    config.validate()
    output_dir = Path(output_dir)
    runs.check_new_run_dir(output_dir)
    emit = progress or (lambda event: None)
    started = time.perf_counter()

    if checkpoint_every_seconds <= 0:
        raise ValueError(f"checkpoint_every_seconds must be above 0; got {checkpoint_every_seconds}.")
    transformers.set_seed(config.seed)
    device = resolve_device(config.device)
    prepared = prepare_training_data(dataset, config)
    class_names = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    label_index = {name: index for index, name in enumerate(class_names)}
    emit(Progress(phase="prepare", message=f"Loading model {config.model} for {len(class_names)} classes"))

    model, tokenizer = load_classifier(config.model, label_names=class_names, trust_remote_code=config.trust_remote_code)
    max_length = min(config.max_length, model_max_length(tokenizer, model))
    model.to(device)
    dtype = autocast_dtype(device, enabled=config.mixed_precision)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    texts = prepared[data_module.TEXT_COLUMN].tolist()
    encoded = encode_texts(tokenizer, texts, max_length=max_length)
    split = prepared[data_module.SPLIT_COLUMN].to_numpy()
    label_ids = prepared[data_module.LABEL_COLUMN].map(label_index).to_numpy(dtype=np.int64)
    index_of = {name: np.flatnonzero(split == name) for name in data_module.SPLIT_NAMES}
    train_encoded = _subset(encoded, index_of["train"])
    train_labels = torch.from_numpy(label_ids[index_of["train"]])
    validation_encoded = _subset(encoded, index_of["validation"])

    steps_per_epoch = math.ceil(len(train_encoded) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = _optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    logger.info(
        "Fine-tuning %s on %s: %d train / %d validation / %d test rows, %d classes, batch size %d, "
        "%d epochs, %d optimizer steps, max_length %d",
        config.model, device, len(index_of["train"]), len(index_of["validation"]), len(index_of["test"]),
        len(class_names), config.batch_size, config.epochs, total_steps, max_length,
    )

    loop = {
        "epoch": 1,  # epoch in progress, 1-based
        "step_in_epoch": 0,  # optimizer steps already taken in that epoch
        "global_step": 0,
        "history": [],
        "best_score": None,
        "best_epoch": 0,
        "recent_losses": [],
        "epoch_loss_sum": 0.0,
        "epoch_samples": 0,
        "train_seconds": 0.0,  # accumulated over resumed segments
        "best_unchanged_since_last": False,
    }
    best_state: dict[str, torch.Tensor] | None = None
    if checkpoint_dir is not None and resume:
        found = checkpoint.latest_checkpoint(Path(checkpoint_dir))
        if found is not None:
            saved, best_state = checkpoint.load_checkpoint(
                found, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler
            )
            loop.update({key: saved[key] for key in loop if key in saved})
            logger.info("Resumed from %s at epoch %d, step %d", found, loop["epoch"], loop["global_step"])
            emit(Progress(phase="prepare", message=f"Resumed from step {loop['global_step']} of {total_steps}"))

    def save(reason: str, *, best_is_current: bool = False) -> None:
        if checkpoint_dir is None:
            return
        emit(Progress(phase="train", step=loop["global_step"], total_steps=total_steps, epoch=loop["epoch"],
                      message=f"Writing checkpoint ({reason}) at step {loop['global_step']}"))
        checkpoint.save_checkpoint(
            Path(checkpoint_dir), model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
            best_state=best_state, state=loop, best_is_current=best_is_current,
        )
        loop["best_unchanged_since_last"] = True

    segment_started = time.perf_counter()
    segment_base_seconds = loop["train_seconds"]
    segment_base_step = loop["global_step"]
    last_checkpoint = time.monotonic()

    while loop["epoch"] <= config.epochs:
        epoch = loop["epoch"]
        model.train()
        # The order depends on (seed, epoch) only, so a resumed run skips exactly the batches it already took.
        batches = length_grouped_batches(
            train_encoded.lengths, config.batch_size, rng=np.random.default_rng([config.seed, epoch])
        )
        for batch_indices in batches[loop["step_in_epoch"] :]:
            if should_stop is not None and should_stop():
                loop["train_seconds"] = segment_base_seconds + time.perf_counter() - segment_started
                save("cancel")
                raise TrainingCancelled(f"Stopped by request at step {loop['global_step']} of {total_steps}.")
            inputs = collate(train_encoded, batch_indices, device)
            targets = train_labels[batch_indices].to(device)
            with autocast_context(device, dtype):
                logits = model(**inputs).logits  # (B, K)
            loss = torch.nn.functional.cross_entropy(logits.float(), targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"Training loss became {loss.item()} at step {loop['global_step'] + 1}; lower learning_rate "
                    f"(now {config.learning_rate}) or turn off mixed precision."
                )
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            loss_value = float(loss.detach())
            loop["global_step"] += 1
            loop["step_in_epoch"] += 1
            loop["epoch_loss_sum"] += loss_value * len(batch_indices)
            loop["epoch_samples"] += len(batch_indices)
            loop["recent_losses"] = (loop["recent_losses"] + [loss_value])[-_LOSS_WINDOW:]
            segment_elapsed = time.perf_counter() - segment_started
            segment_steps = loop["global_step"] - segment_base_step
            emit(
                Progress(
                    phase="train",
                    step=loop["global_step"],
                    total_steps=total_steps,
                    epoch=epoch,
                    samples=loop["epoch_samples"],
                    loss=float(np.mean(loop["recent_losses"])),
                    elapsed_seconds=segment_base_seconds + segment_elapsed,
                    eta_seconds=segment_elapsed / segment_steps * (total_steps - loop["global_step"]),
                )
            )
            if checkpoint_dir is not None and time.monotonic() - last_checkpoint >= checkpoint_every_seconds:
                loop["train_seconds"] = segment_base_seconds + time.perf_counter() - segment_started
                save("periodic")
                last_checkpoint = time.monotonic()

        emit(Progress(phase="evaluate", step=loop["global_step"], total_steps=total_steps, epoch=epoch))
        validation_metrics, _ = _evaluate(
            model, validation_encoded, label_ids[index_of["validation"]], class_names, config, device
        )
        score = validation_metrics[config.selection_metric]
        improved = _is_better(config.selection_metric, score, loop["best_score"])
        if improved:
            loop["best_score"], loop["best_epoch"] = score, epoch
            best_state = {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}
            loop["best_unchanged_since_last"] = False
        elapsed_total = segment_base_seconds + time.perf_counter() - segment_started
        record = {
            "epoch": epoch,
            "step": loop["global_step"],
            "train_loss": loop["epoch_loss_sum"] / max(loop["epoch_samples"], 1),
            "validation": {k: v for k, v in validation_metrics.items() if k != "per_class"},
            "best": improved,
            "elapsed_seconds": elapsed_total,
        }
        loop["history"].append(record)
        logger.info(
            "Epoch %d/%d: train loss %.4f, validation accuracy %.4f, macro F1 %.4f",
            epoch, config.epochs, record["train_loss"], validation_metrics["accuracy"], validation_metrics["macro_f1"],
        )
        emit(
            Progress(
                phase="evaluate",
                step=loop["global_step"],
                total_steps=total_steps,
                epoch=epoch,
                loss=record["train_loss"],
                metrics=record["validation"],
                elapsed_seconds=elapsed_total,
                message=f"Epoch {epoch}: validation accuracy {validation_metrics['accuracy']:.4f}",
            )
        )
        loop.update(epoch=epoch + 1, step_in_epoch=0, epoch_loss_sum=0.0, epoch_samples=0, train_seconds=elapsed_total)
        if epoch < config.epochs:
            save("epoch end", best_is_current=improved)
            last_checkpoint = time.monotonic()

    train_seconds = loop["train_seconds"]
    history = loop["history"]
    best_epoch = loop["best_epoch"]
    if best_state is not None:
        model.load_state_dict(best_state)

    emit(Progress(phase="score", message="Scoring all rows with the best checkpoint"))
    logits = predict_logits_encoded(
        model, encoded, batch_size=config.eval_batch_size, device=device, mixed_precision=config.mixed_precision,
        progress=emit,
    )
    table = predictions_table(prepared, logits, class_names)
    table["token_count"] = encoded.lengths
    table["truncated"] = encoded.truncated
    probs = softmax(logits)
    split_metrics = {
        name: classification_metrics(label_ids[indices], probs[indices], class_names)
        for name, indices in index_of.items()
        if len(indices)
    }

    metrics = {
        "history": history,
        "best_epoch": best_epoch,
        "selection_metric": config.selection_metric,
        "splits": split_metrics,
        "train_seconds": train_seconds,
        "train_samples_per_second": len(index_of["train"]) * config.epochs / train_seconds if train_seconds else None,
        "total_seconds": time.perf_counter() - started,
        "rows": {name: int(len(indices)) for name, indices in index_of.items()},
        "truncated_rows": int(encoded.truncated.sum()),
        "max_length": max_length,
    }
    emit(Progress(phase="save", message=f"Writing run to {output_dir}"))
    runs.write_run(
        output_dir,
        model=model,
        tokenizer=tokenizer,
        class_names=class_names,
        config=asdict(config),
        data_info=data_info or {},
        metrics=metrics,
        predictions=table,
        device=device,
    )
    emit(Progress(phase="done", step=total_steps, total_steps=total_steps, message=f"Run saved to {output_dir}"))
    return TrainResult(output_dir, metrics)

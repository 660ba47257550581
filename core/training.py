"""Fine-tune a sequence classifier and write a run folder.

The loop is plain PyTorch: AdamW with linear warm-up and decay, dynamic padding with
length-grouped batches, gradient clipping, evaluation on the validation split after
each epoch, and the best epoch's weights kept. Mixed precision is used on CUDA only.
Options add FGM or PGD adversarial training on the word embeddings
(:mod:`core.adversarial_training`), and noisy copies of the training rows and extra
training rows (:mod:`core.training_augment`).
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
from core.adversarial_training import (
    ADVERSARIAL_MODES,
    AdversarialSettings,
    EmbeddingPerturbation,
    adversarial_backward,
    mean_token_embedding_norm,
)
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
from core.training_augment import AUGMENT_KINDS, TrainingRows, prepare_extra_rows, row_keys
from core.uncertainty import softmax

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
SELECTION_METRICS = ("macro_f1", "accuracy", "nll")
_LOSS_WINDOW = 20
# Inclusive bounds that TrainConfig.validate enforces and the Train page's inputs use.
ADVERSARIAL_STEPS_RANGE = (1, 20)
AUGMENT_COPIES_RANGE = (1, 10)


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
    # Adversarial training (core.adversarial_training). epsilon and alpha are L2 norms of the
    # perturbation of one text's word embeddings, in multiples of the mean norm of one token's
    # embedding in the pretrained model.
    adversarial: str = "none"
    adversarial_epsilon: float = 0.1
    adversarial_steps: int = 3
    adversarial_alpha: float = 0.05
    # Noisy copies of the training rows (core.training_augment), made anew every epoch.
    augment: str = "none"
    augment_rate: float = 0.1
    augment_copies: int = 1

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
            (
                "adversarial_epsilon",
                _is_number(self.adversarial_epsilon) and 0 < self.adversarial_epsilon < math.inf,
                "a finite number above 0 (L2 norm per text, in multiples of the mean token-embedding norm)",
            ),
            (
                "adversarial_steps",
                _is_whole_number(self.adversarial_steps)
                and ADVERSARIAL_STEPS_RANGE[0] <= self.adversarial_steps <= ADVERSARIAL_STEPS_RANGE[1],
                "a whole number from {} to {}".format(*ADVERSARIAL_STEPS_RANGE),
            ),
            (
                "adversarial_alpha",
                _is_number(self.adversarial_alpha) and 0 < self.adversarial_alpha < math.inf,
                "a finite number above 0 (L2 norm of one PGD step, in multiples of the mean token-embedding norm)",
            ),
            (
                "augment_rate",
                _is_number(self.augment_rate) and 0 < self.augment_rate <= 1,
                "in (0, 1] (edit probability per character or word)",
            ),
            (
                "augment_copies",
                _is_whole_number(self.augment_copies)
                and AUGMENT_COPIES_RANGE[0] <= self.augment_copies <= AUGMENT_COPIES_RANGE[1],
                "a whole number from {} to {}".format(*AUGMENT_COPIES_RANGE),
            ),
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
        if self.adversarial not in ADVERSARIAL_MODES:
            raise ValueError(f"adversarial must be one of {', '.join(ADVERSARIAL_MODES)}; got {self.adversarial!r}.")
        if self.augment not in AUGMENT_KINDS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT_KINDS)}; got {self.augment!r}.")

    def adversarial_settings(self, embedding_norm: float) -> AdversarialSettings:
        """Return the adversarial settings with epsilon and alpha in embedding units, given the mean token-embedding norm."""
        return AdversarialSettings(
            mode=self.adversarial,
            epsilon=float(self.adversarial_epsilon) * embedding_norm,
            steps=int(self.adversarial_steps),
            alpha=float(self.adversarial_alpha) * embedding_norm,
        )

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        return cls(**values)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_whole_number(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


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


def _describe_adversarial(config: TrainConfig, embedding_norm: float) -> str:
    steps = f", {config.adversarial_steps} steps of size {config.adversarial_alpha:g}" if config.adversarial == "pgd" else ""
    return (
        f"Adversarial training: {config.adversarial.upper()} on the word embeddings, epsilon "
        f"{config.adversarial_epsilon:g}{steps}, in multiples of the mean token-embedding norm {embedding_norm:.4f}"
    )


def _check_finite_loss(loss: torch.Tensor, name: str, step: int, config: TrainConfig) -> None:
    if torch.isfinite(loss):
        return
    advice = f"lower learning_rate (now {config.learning_rate}) or turn off mixed precision"
    if name != "Training loss":
        advice = f"lower adversarial_epsilon (now {config.adversarial_epsilon}), {advice}"
    raise FloatingPointError(f"{name} became {loss.item()} at step {step}. To fix it, {advice}.")


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


def prepare_training_data(
    dataset: pd.DataFrame, config: TrainConfig, *, preassigned_splits: bool = False
) -> pd.DataFrame:
    """Drop unusable rows, subsample to ``max_rows`` and add the ``split`` column (seeded).

    With ``preassigned_splits`` the dataset's own ``split`` column decides the split of
    each row instead. Then ``max_rows`` and the split fractions are not applied, and rows
    whose split is not train, validation or test are left out. Cross-validation and
    retraining on the splits of an earlier run use this.
    """
    if preassigned_splits and data_module.SPLIT_COLUMN not in dataset:
        raise ValueError(
            f"preassigned_splits needs a {data_module.SPLIT_COLUMN!r} column with train, validation or test "
            "per row; the dataset has none."
        )
    prepared = data_module.prepare_for_training(dataset, drop_duplicates=config.drop_duplicates)
    if preassigned_splits:
        assigned = prepared[data_module.SPLIT_COLUMN].isin(data_module.SPLIT_NAMES)
        if not assigned.all():
            logger.info("Leaving out %d rows whose preassigned split is not train, validation or test", (~assigned).sum())
        prepared = prepared[assigned].reset_index(drop=True)
    elif config.max_rows is not None:
        prepared = data_module.stratified_subsample(prepared, config.max_rows, seed=config.seed)
    if prepared.empty:
        raise ValueError("No rows with both text and label remain; check the column mapping.")
    classes = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    if len(classes) < 2:
        raise ValueError(f"Training needs at least 2 classes; the labelled rows have {classes!r}.")
    prepared = prepared.copy()
    if not preassigned_splits:
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
    preassigned_splits: bool = False,
    extra_train_rows: pd.DataFrame | None = None,
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
        preassigned_splits: Keep the dataset's own ``split`` column (see
            :func:`prepare_training_data`).
        extra_train_rows: Labelled rows to add to the training split only, with the
            mapped-dataset columns ``text`` and ``label`` (other columns are ignored).
            Labels must be classes of ``dataset``. Rows whose text is also a validation
            or test text are dropped with a warning. They are trained on every epoch
            but get no noisy copies, and they are not scored into the predictions table.

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
    prepared = prepare_training_data(dataset, config, preassigned_splits=preassigned_splits)
    class_names = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    label_index = {name: index for index, name in enumerate(class_names)}
    extra_rows, extra_dropped = (
        prepare_extra_rows(extra_train_rows, prepared, class_names) if extra_train_rows is not None else (None, 0)
    )
    emit(Progress(phase="prepare", message=f"Loading model {config.model} for {len(class_names)} classes"))

    model, tokenizer = load_classifier(config.model, label_names=class_names, trust_remote_code=config.trust_remote_code)
    max_length = min(config.max_length, model_max_length(tokenizer, model))
    perturber = embedding_norm = adversarial = None
    if config.adversarial != "none":
        perturber = EmbeddingPerturbation(model)
        # Measured on the pretrained weights, before any checkpoint is loaded, so a resumed run uses the same value.
        embedding_norm = mean_token_embedding_norm(model)
        adversarial = config.adversarial_settings(embedding_norm)
    model.to(device)
    dtype = autocast_dtype(device, enabled=config.mixed_precision)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

    texts = prepared[data_module.TEXT_COLUMN].tolist()
    encoded = encode_texts(tokenizer, texts, max_length=max_length)
    split = prepared[data_module.SPLIT_COLUMN].to_numpy()
    label_ids = prepared[data_module.LABEL_COLUMN].map(label_index).to_numpy(dtype=np.int64)
    index_of = {name: np.flatnonzero(split == name) for name in data_module.SPLIT_NAMES}
    train_encoded = _subset(encoded, index_of["train"])
    validation_encoded = _subset(encoded, index_of["validation"])
    training_set = TrainingRows(
        train=train_encoded,
        train_label_ids=label_ids[index_of["train"]],
        train_texts=[texts[i] for i in index_of["train"]],
        train_keys=row_keys(prepared)[index_of["train"]],
        tokenizer=tokenizer,
        max_length=max_length,
        kind=config.augment,
        rate=config.augment_rate,
        copies=config.augment_copies if config.augment != "none" else 0,
        seed=config.seed,
        extra_dropped=extra_dropped,
    )
    if extra_rows is not None and len(extra_rows):
        training_set.extra = encode_texts(tokenizer, extra_rows[data_module.TEXT_COLUMN].tolist(), max_length=max_length)
        training_set.extra_label_ids = extra_rows[data_module.LABEL_COLUMN].map(label_index).to_numpy(dtype=np.int64)
    training_rows = training_set.counts()

    steps_per_epoch = math.ceil(training_rows["per_epoch"] / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    optimizer = _optimizer(model, config)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    logger.info(
        "Fine-tuning %s on %s: %d train / %d validation / %d test rows, %d classes, batch size %d, "
        "%d epochs, %d optimizer steps, max_length %d",
        config.model, device, len(index_of["train"]), len(index_of["validation"]), len(index_of["test"]),
        len(class_names), config.batch_size, config.epochs, total_steps, max_length,
    )
    if training_set.copies or training_rows["extra"]:
        logger.info(
            "Training rows per epoch: %d train + %d noisy copies (%s noise, rate %g) + %d extra rows",
            training_rows["train"], training_rows["noisy_copies"], config.augment, config.augment_rate,
            training_rows["extra"],
        )
    if perturber is not None:
        description = _describe_adversarial(config, embedding_norm)
        logger.info("%s", description)
        emit(Progress(phase="prepare", message=description))

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
        "epoch_adversarial_loss_sum": 0.0,
        "epoch_perturbation_norm_sum": 0.0,
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
        epoch_encoded, epoch_label_ids = training_set.for_epoch(epoch)
        epoch_labels = torch.from_numpy(epoch_label_ids)
        # The rows and their order depend on (seed, epoch) only, so a resumed run skips exactly the batches it
        # already took.
        batches = length_grouped_batches(
            epoch_encoded.lengths, config.batch_size, rng=np.random.default_rng([config.seed, epoch])
        )
        for batch_indices in batches[loop["step_in_epoch"] :]:
            if should_stop is not None and should_stop():
                loop["train_seconds"] = segment_base_seconds + time.perf_counter() - segment_started
                save("cancel")
                raise TrainingCancelled(f"Stopped by request at step {loop['global_step']} of {total_steps}.")
            inputs = collate(epoch_encoded, batch_indices, device)
            targets = epoch_labels[batch_indices].to(device)

            def compute_loss() -> torch.Tensor:
                with autocast_context(device, dtype):
                    logits = model(**inputs).logits  # (B, K)
                return torch.nn.functional.cross_entropy(logits.float(), targets)

            if perturber is None:
                loss = compute_loss()
                _check_finite_loss(loss, "Training loss", loop["global_step"] + 1, config)
                scaler.scale(loss).backward()
            else:
                with perturber.attached():
                    losses = adversarial_backward(
                        compute_loss, scaler.scale, perturber, input_ids=inputs["input_ids"],
                        attention_mask=inputs["attention_mask"], settings=adversarial,
                    )
                loss = losses.clean_loss
                _check_finite_loss(loss, "Training loss", loop["global_step"] + 1, config)
                _check_finite_loss(losses.adversarial_loss, "Adversarial loss", loop["global_step"] + 1, config)
                loop["epoch_adversarial_loss_sum"] += float(losses.adversarial_loss) * len(batch_indices)
                loop["epoch_perturbation_norm_sum"] += losses.perturbation_norm * len(batch_indices)
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
        if perturber is not None:
            samples = max(loop["epoch_samples"], 1)
            record["train_adversarial_loss"] = loop["epoch_adversarial_loss_sum"] / samples
            record["mean_perturbation_norm"] = loop["epoch_perturbation_norm_sum"] / samples
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
                message=f"Epoch {epoch}: validation accuracy {validation_metrics['accuracy']:.4f}"
                + (
                    f", {config.adversarial.upper()} adversarial loss {record['train_adversarial_loss']:.4f}"
                    if perturber is not None
                    else ""
                ),
            )
        )
        loop.update(
            epoch=epoch + 1, step_in_epoch=0, epoch_loss_sum=0.0, epoch_samples=0, epoch_adversarial_loss_sum=0.0,
            epoch_perturbation_norm_sum=0.0, train_seconds=elapsed_total,
        )
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
        "train_samples_per_second": training_rows["per_epoch"] * config.epochs / train_seconds if train_seconds else None,
        "total_seconds": time.perf_counter() - started,
        "rows": {name: int(len(indices)) for name, indices in index_of.items()},
        "training_rows": training_rows,
        "adversarial": {
            "mode": config.adversarial,
            "epsilon": config.adversarial_epsilon,
            "steps": config.adversarial_steps,
            "alpha": config.adversarial_alpha,
            "mean_token_embedding_norm": embedding_norm,
            "epsilon_in_embedding_units": adversarial.epsilon if adversarial else None,
            "alpha_in_embedding_units": adversarial.alpha if adversarial else None,
        },
        "augment": {"kind": config.augment, "rate": config.augment_rate, "copies": training_set.copies},
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

"""Out-of-sample class probabilities by F-fold cross-validated fine-tuning.

Symbols: N labelled rows, U unlabelled rows, K classes, F folds.

The labelled rows are split into F stratified folds (scikit-learn ``StratifiedKFold``,
seeded). Rows with the same text always share a fold, so a repeated sentence never
sits in the training set of its own copy. For each fold, a model is fine-tuned with
:func:`core.training.fine_tune` on the other F - 1 folds, minus a validation part
carved from them for best-epoch selection, and predicts the held-out fold. Every row
thus gets probabilities from a model that never saw it. Each fold model also scores
the rows without labels, which gives F probability vectors per unlabelled row (the
input of BALD in :mod:`core.acquisition`).

A cross-validation folder (``<workspace>/triage/<id>/``) contains::

    dataset.parquet          the mapped dataset as submitted (every row)
    plan.json                settings and fold sizes, written first
    assignments.parquet      the labelled rows with their fold
    fold-<i>.parquet         held-out probabilities of fold i (and fold-<i>.json, its metrics)
    fold-<i>-unlabelled.parquet  fold i's model on the unlabelled rows
                             (the fold files are merged into the next three and removed)
    oos.parquet              every labelled row: id, text, label, prob:<class>, fold
    unlabelled.parquet       unlabelled rows: mean prob:<class> and the F samples per class
    crossval.json            written last: settings, per-fold and overall metrics

Each file is written under a temporary name and renamed. A fold whose files exist is
not computed again, so a cancelled or interrupted cross-validation resumes at the
next fold, and inside a fold from the training checkpoint when one was kept.

A finished run's stored predictions can stand in for a quick look
(:func:`in_sample_source`), but they are in-sample for the training rows: the model
has fitted those labels, wrong ones included, so they flag far fewer label errors.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from core import data as data_module
from core import runs
from core.progress import ComputationCancelled, Progress
from core.training import TrainConfig
from core.uncertainty import PROB_PREFIX, SAMPLES_PREFIX, probability_columns

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]

TRIAGE_DIR = "triage"
MARKER_FILE = "crossval.json"
PLAN_FILE = "plan.json"
DATASET_FILE = "dataset.parquet"
ASSIGNMENTS_FILE = "assignments.parquet"
OOS_FILE = "oos.parquet"
UNLABELLED_FILE = "unlabelled.parquet"
DEFAULT_FOLDS = 5
SOURCE_KINDS = ("out_of_sample", "in_sample")
FOLD_COLUMN = "fold"
HELD_OUT_COLUMN = "held_out"
POSITION_COLUMN = "position"
# Columns of a source table besides the prob:<class> columns.
SOURCE_COLUMNS = (
    data_module.ROW_COLUMN,
    data_module.ID_COLUMN,
    data_module.TEXT_COLUMN,
    data_module.LABEL_COLUMN,
    data_module.CONFIDENCE_COLUMN,
    FOLD_COLUMN,
    HELD_OUT_COLUMN,
)


class CrossvalCancelled(ComputationCancelled):
    """Raised when ``should_stop`` returned true between two folds."""


class CrossvalNotFoundError(FileNotFoundError):
    """A path is not a finished cross-validation folder or run folder."""


@dataclass
class TriageSource:
    """Class probabilities of the rows of one dataset, the input of :func:`core.triage.build_queue`.

    Attributes:
        table: one row per scored dataset row: the columns of :data:`SOURCE_COLUMNS`
            (``fold`` is -1 where no fold applies, ``held_out`` is true where the model
            that produced the probabilities never trained on the row), then
            ``prob:<class>`` for each class. Unlabelled rows have ``label`` None.
        class_names: K class names in probability-column order.
        kind: ``"out_of_sample"`` (cross-validation) or ``"in_sample"`` (a run's own
            predictions, weaker for finding label errors).
        dataset: the whole mapped dataset the table came from, for duplicate and
            annotator checks on every row.
        path: the cross-validation or run folder.
        info: the folder's summary (``crossval.json``, or the run's ``run.json``).
        sampled_probs: float array (T, N, K) aligned with ``table`` (NaN for rows
            without samples), or ``None``. Cross-validation fills it for unlabelled rows
            with the F fold models' probabilities.
    """

    table: pd.DataFrame
    class_names: list[str]
    kind: str
    dataset: pd.DataFrame
    path: Path
    info: dict
    sampled_probs: np.ndarray | None = None

    @property
    def in_sample(self) -> bool:
        return self.kind == "in_sample"


def triage_root(workspace: str | Path) -> Path:
    """Return ``<workspace>/triage``, creating it if needed."""
    root = Path(workspace) / TRIAGE_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_crossval_id() -> str:
    """Return a sortable, unique id such as ``20261204-203012-crossval-3fa1``."""
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-crossval-{secrets.token_hex(2)}"


def check_folds(folds: int) -> int:
    """Return ``folds`` as an int when it is at least 2, else raise ``ValueError``."""
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be a whole number of at least 2; got {folds!r}.")
    return int(folds)


def split_labelled(dataset: pd.DataFrame, config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(labelled, unlabelled)`` rows of a mapped dataset, prepared as training prepares them.

    Labelled rows lose repeated (text, label) copies when ``config.drop_duplicates`` is
    set and are subsampled to ``config.max_rows`` (stratified, seeded). Unlabelled rows
    are the rows with text but no label. Both come back with a fresh index.

    Raises:
        ValueError: the dataset is empty, has no labelled rows, or fewer than 2 classes.
    """
    if dataset is None or len(dataset) == 0:
        raise ValueError("The dataset is empty; cross-validation needs labelled rows of at least 2 classes.")
    required = (data_module.ROW_COLUMN, data_module.ID_COLUMN, data_module.TEXT_COLUMN, data_module.LABEL_COLUMN)
    missing = [column for column in required if column not in dataset]
    if missing:
        raise ValueError(
            f"The dataset has no {', '.join(missing)} column; pass the output of core.data.apply_mapping."
        )
    # Metadata columns that share a name with a column this module adds keep a _source suffix.
    clashes = {column: f"{column}_source" for column in (POSITION_COLUMN, FOLD_COLUMN, HELD_OUT_COLUMN) if column in dataset}
    dataset = dataset.rename(columns=clashes)
    labelled = data_module.prepare_for_training(dataset, drop_duplicates=config.drop_duplicates)
    if config.max_rows is not None:
        labelled = data_module.stratified_subsample(labelled, config.max_rows, seed=config.seed)
    if labelled.empty:
        raise ValueError("No rows with both text and label; cross-validation needs labelled rows. Check the label column.")
    classes = data_module.label_names(labelled[data_module.LABEL_COLUMN])
    if len(classes) < 2:
        raise ValueError(f"Cross-validation needs at least 2 classes; the labelled rows have {classes!r}.")
    has_text = dataset[data_module.TEXT_COLUMN].astype(str).str.strip() != ""
    unlabelled = dataset[has_text & dataset[data_module.LABEL_COLUMN].isna()].reset_index(drop=True)
    return labelled.reset_index(drop=True), unlabelled


def assign_folds(labelled: pd.DataFrame, folds: int, *, seed: int = 0) -> np.ndarray:
    """Assign each labelled row to one of ``folds`` stratified folds, shape (N,), values 0 to F - 1.

    One representative row per distinct text is split by ``StratifiedKFold`` (shuffled,
    ``random_state=seed``) on its label, and every copy of a text joins its
    representative's fold.

    Raises:
        ValueError: ``folds`` below 2, or above the number of distinct texts of the
            smallest class (each fold must contain every class).
    """
    from sklearn.model_selection import StratifiedKFold

    folds = check_folds(folds)
    groups = labelled.drop_duplicates(subset=[data_module.TEXT_COLUMN], keep="first")
    group_labels = groups[data_module.LABEL_COLUMN].to_numpy()
    counts = pd.Series(group_labels).value_counts()
    smallest = counts.idxmin()
    if counts.min() < folds:
        raise ValueError(
            f"folds must be at most the number of distinct texts in the smallest class: class {smallest!r} has "
            f"{int(counts.min())}, but folds is {folds}. Use fewer folds or add rows to that class."
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    group_fold = np.full(len(groups), -1, dtype=np.int64)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(groups)), group_labels)):
        group_fold[held_out] = fold
    fold_of_text = dict(zip(groups[data_module.TEXT_COLUMN].to_numpy(), group_fold))
    return labelled[data_module.TEXT_COLUMN].map(fold_of_text).to_numpy(dtype=np.int64)


def fold_training_table(assignments: pd.DataFrame, fold: int, config: TrainConfig) -> pd.DataFrame:
    """Return the rows of one fold's run with a preassigned ``split`` column.

    The held-out fold becomes the ``test`` split. The other folds become ``train``, except
    a ``config.validation_fraction`` share of them (stratified, rows with equal text
    together) that becomes ``validation``.
    """
    table = assignments.copy()
    held_out = table[FOLD_COLUMN].to_numpy() == fold
    rest = table[~held_out]
    # A different seed per fold, so the validation parts differ between folds.
    rest_splits = data_module.assign_splits(
        rest, validation_fraction=config.validation_fraction, test_fraction=0.0, seed=config.seed + fold
    )
    table[data_module.SPLIT_COLUMN] = "test"
    table.loc[rest.index, data_module.SPLIT_COLUMN] = rest_splits.to_numpy()
    return table


class _FoldProgress:
    """Forward a fold's training progress as progress over all folds.

    Training and evaluation steps are offset by the steps of earlier folds. The total
    assumes that every later fold takes as many steps as the current one. One progress
    bar, and the job's loss curve (keyed by step), then run across folds without
    restarting.
    """

    def __init__(self, emit: ProgressCallback, fold: int, folds: int, steps_before: int) -> None:
        self.emit = emit
        self.fold = fold
        self.folds = folds
        self.steps_before = steps_before

    def __call__(self, event: Progress) -> None:
        message = f"Fold {self.fold + 1} of {self.folds}: {event.message}" if event.message else ""
        if event.phase not in ("train", "evaluate") or not event.total_steps:
            self.emit(replace(event, message=message))
            return
        remaining_folds = self.folds - self.fold - 1
        total = self.steps_before + event.total_steps * (remaining_folds + 1)
        step = self.steps_before + event.step
        eta = event.eta_seconds
        if eta is not None and event.step and event.elapsed_seconds:
            eta = eta + event.elapsed_seconds / event.step * event.total_steps * remaining_folds
        self.emit(replace(event, step=step, total_steps=total, eta_seconds=eta, message=message))


def _fold_paths(output_dir: Path, fold: int) -> tuple[Path, Path, Path, Path]:
    """Return (held-out table, metrics, unlabelled table, temporary run folder) of one fold."""
    return (
        output_dir / f"fold-{fold}.parquet",
        output_dir / f"fold-{fold}.json",
        output_dir / f"fold-{fold}-unlabelled.parquet",
        output_dir / f".fold-{fold}-run",
    )


def _settings(config: TrainConfig, folds: int, score_unlabelled: bool) -> dict:
    return {"train": asdict(config), "folds": folds, "score_unlabelled": bool(score_unlabelled)}


def _start_or_resume(
    output_dir: Path, dataset: pd.DataFrame, settings: dict, data_info: dict, labelled: pd.DataFrame,
    unlabelled: pd.DataFrame, folds: int, seed: int,
) -> tuple[pd.DataFrame, list[str]]:
    """Write the plan, dataset and fold assignments, or check and read those of an earlier attempt."""
    from core.review import dataset_key

    plan_path = output_dir / PLAN_FILE
    key = dataset_key(dataset)
    if plan_path.is_file():
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        if plan.get("settings") != json.loads(json.dumps(settings)) or plan.get("dataset_key") != key:
            raise FileExistsError(
                f"{output_dir} contains a cross-validation of other data or with other settings. Choose a new "
                "folder, or resume with the dataset and the settings stored in its plan.json."
            )
        assignments = pd.read_parquet(output_dir / ASSIGNMENTS_FILE)
        logger.info("Resuming cross-validation in %s", output_dir)
        return assignments, list(plan["labels"])

    if output_dir.exists() and any(output_dir.iterdir()):
        raise FileExistsError(f"Output folder {output_dir} already exists and is not empty. Choose a new folder.")
    output_dir.mkdir(parents=True, exist_ok=True)
    assignments = labelled.copy()
    assignments.insert(0, POSITION_COLUMN, np.arange(len(assignments), dtype=np.int64))
    assignments[FOLD_COLUMN] = assign_folds(labelled, folds, seed=seed)
    class_names = data_module.label_names(labelled[data_module.LABEL_COLUMN])
    runs.write_parquet_atomic(dataset.reset_index(drop=True), output_dir / DATASET_FILE)
    runs.write_parquet_atomic(assignments, output_dir / ASSIGNMENTS_FILE)
    runs.write_json_atomic(
        plan_path,
        {
            "settings": settings,
            "dataset_key": key,
            "data": data_info,
            "labels": class_names,
            "rows": int(len(assignments)),
            "unlabelled_rows": int(len(unlabelled)),
            "fold_rows": np.bincount(assignments[FOLD_COLUMN], minlength=folds).tolist(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return assignments, class_names


def cross_validate(
    dataset: pd.DataFrame,
    config: TrainConfig,
    *,
    output_dir: str | Path,
    folds: int = DEFAULT_FOLDS,
    data_info: dict | None = None,
    score_unlabelled: bool = True,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every_seconds: float = 120.0,
    keep_fold_runs: bool = False,
) -> TriageSource:
    """Compute out-of-sample probabilities of every labelled row by F-fold cross-validation.

    Args:
        dataset: output of :func:`core.data.apply_mapping`. Rows are prepared as
            :func:`split_labelled` describes, so ``config.max_rows`` and
            ``config.drop_duplicates`` apply.
        config: training settings of every fold; ``config.seed`` also seeds the folds.
            ``selection_metric="nll"`` is the better choice here. The epoch with the best
            accuracy or F1 can still give probabilities near 1/K, and confident learning
            then counts few rows (the tiny model of the tests does this).
        output_dir: the cross-validation folder. A new or empty folder starts a new
            cross-validation. The folder of an unfinished one with the same settings
            resumes it, and a finished one is read back without training.
        folds: F, at least 2 and at most the distinct texts of the smallest class.
        score_unlabelled: also score the rows without labels with every fold model.
        progress: called with :class:`Progress` events; steps count across all folds.
        should_stop: polled between folds and between training steps; returning true
            raises a :class:`~core.progress.ComputationCancelled` subclass. Finished
            folds stay on disk.
        checkpoint_dir: where each fold keeps a resumable training checkpoint
            (``<checkpoint_dir>/fold-<i>``); without it a cancelled fold restarts.
        keep_fold_runs: keep each fold's run folder (model included) under
            ``output_dir``; by default it is removed once its predictions are stored.

    Returns:
        The :class:`TriageSource` of the finished folder.

    Raises:
        ValueError: invalid settings, an empty dataset, fewer than 2 classes, or too many folds.
        FileExistsError: ``output_dir`` contains something else.
    """
    from core.training import fine_tune

    config.validate()
    folds = check_folds(folds)
    if checkpoint_every_seconds <= 0:
        raise ValueError(f"checkpoint_every_seconds must be above 0; got {checkpoint_every_seconds}.")
    output_dir = Path(output_dir)
    if (output_dir / MARKER_FILE).is_file():
        return load_crossval(output_dir)
    emit = progress or (lambda event: None)
    started = time.perf_counter()
    labelled, unlabelled = split_labelled(dataset, config)
    settings = _settings(config, folds, score_unlabelled)
    assign_folds(labelled, folds, seed=config.seed)  # raises on too many folds before anything is written
    assignments, class_names = _start_or_resume(
        output_dir, dataset, settings, data_info or {}, labelled, unlabelled, folds, config.seed
    )
    if not score_unlabelled:
        unlabelled = unlabelled.iloc[:0]
    fold_config = replace(config, max_rows=None, drop_duplicates=False)
    logger.info(
        "Cross-validating %s: %d labelled rows in %d folds, %d unlabelled rows, %d classes",
        config.model, len(assignments), folds, len(unlabelled), len(class_names),
    )

    steps_before = 0
    for fold in range(folds):
        held_out_path, metrics_path, unlabelled_path, run_dir = _fold_paths(output_dir, fold)
        if held_out_path.is_file() and metrics_path.is_file() and (unlabelled.empty or unlabelled_path.is_file()):
            steps_before += json.loads(metrics_path.read_text(encoding="utf-8")).get("train_steps", 0)
            continue
        if should_stop is not None and should_stop():
            raise CrossvalCancelled(f"Stopped by request before fold {fold + 1} of {folds}; earlier folds are kept.")
        emit(Progress(phase="prepare", message=f"Fold {fold + 1} of {folds}: fine-tuning on the other folds"))
        fold_started = time.perf_counter()
        fold_progress = _FoldProgress(emit, fold, folds, steps_before)
        fold_checkpoints = Path(checkpoint_dir) / f"fold-{fold}" if checkpoint_dir is not None else None
        if not (run_dir / runs.RUN_MARKER).is_file():
            shutil.rmtree(run_dir, ignore_errors=True)
            fine_tune(
                fold_training_table(assignments, fold, config),
                fold_config,
                output_dir=run_dir,
                data_info={"name": f"cross-validation fold {fold + 1} of {folds}"},
                progress=fold_progress,
                should_stop=should_stop,
                checkpoint_dir=fold_checkpoints,
                checkpoint_every_seconds=checkpoint_every_seconds,
                resume=fold_checkpoints is not None,
                preassigned_splits=True,
            )
        _store_fold(run_dir, fold, assignments, unlabelled, class_names, fold_config, output_dir,
                    seconds=time.perf_counter() - fold_started, emit=fold_progress)
        steps_before += json.loads(metrics_path.read_text(encoding="utf-8")).get("train_steps", 0)
        if fold_checkpoints is not None:
            shutil.rmtree(fold_checkpoints, ignore_errors=True)
        if not keep_fold_runs:
            shutil.rmtree(run_dir, ignore_errors=True)

    emit(Progress(phase="save", message=f"Writing out-of-sample probabilities to {output_dir}"))
    _write_results(output_dir, assignments, unlabelled, class_names, folds, settings, data_info or {},
                   seconds=time.perf_counter() - started)
    emit(Progress(phase="done", message=f"Cross-validation saved to {output_dir}"))
    return load_crossval(output_dir)


def _store_fold(
    run_dir: Path, fold: int, assignments: pd.DataFrame, unlabelled: pd.DataFrame, class_names: list[str],
    config: TrainConfig, output_dir: Path, *, seconds: float, emit: ProgressCallback,
) -> None:
    """Copy a fold run's held-out probabilities and metrics into the cross-validation folder."""
    held_out_path, metrics_path, unlabelled_path, _ = _fold_paths(output_dir, fold)
    summary = runs.read_summary(run_dir)
    if summary.labels != class_names:
        raise RuntimeError(f"Fold {fold} trained on classes {summary.labels}, expected {class_names}.")
    predictions = runs.load_predictions(run_dir)
    prob_columns = [f"{PROB_PREFIX}{name}" for name in class_names]
    held_out = predictions[predictions[data_module.SPLIT_COLUMN] == "test"]
    expected = assignments.loc[assignments[FOLD_COLUMN] == fold, POSITION_COLUMN]
    if sorted(held_out[POSITION_COLUMN].tolist()) != sorted(expected.tolist()):
        raise RuntimeError(f"Fold {fold}'s run scored other rows than its held-out fold.")
    runs.write_parquet_atomic(held_out[[POSITION_COLUMN, *prob_columns]].reset_index(drop=True), held_out_path)

    metrics = runs.read_json(run_dir, "metrics.json")
    if not unlabelled.empty:
        emit(Progress(phase="score", message=f"Scoring {len(unlabelled)} unlabelled rows"))
        unlabelled_probs = _score_texts(run_dir, unlabelled[data_module.TEXT_COLUMN].tolist(), config,
                                        int(metrics.get("max_length") or config.max_length))
        frame = pd.DataFrame(unlabelled_probs.astype(np.float32), columns=prob_columns)
        frame.insert(0, POSITION_COLUMN, np.arange(len(unlabelled), dtype=np.int64))
        runs.write_parquet_atomic(frame, unlabelled_path)
    test = metrics["splits"].get("test", {})
    history = metrics.get("history", [])
    runs.write_json_atomic(
        metrics_path,
        {
            "fold": fold,
            "rows": int(test.get("n", len(held_out))),
            "accuracy": test.get("accuracy"),
            "macro_f1": test.get("macro_f1"),
            "nll": test.get("nll"),
            "best_epoch": metrics.get("best_epoch"),
            "train_rows": metrics.get("rows", {}).get("train"),
            "validation_rows": metrics.get("rows", {}).get("validation"),
            "train_steps": int(history[-1]["step"]) if history else 0,
            "seconds": seconds,
        },
    )
    logger.info("Fold %d: held-out accuracy %s on %d rows", fold + 1, test.get("accuracy"), len(held_out))


def _score_texts(run_dir: Path, texts: list[str], config: TrainConfig, max_length: int) -> np.ndarray:
    """Return the fold model's probabilities of ``texts``, float64 (U, K) in the run's class order."""
    from core.models import load_classifier, resolve_device
    from core.scoring import predict_logits
    from core.uncertainty import softmax

    device = resolve_device(config.device)
    model, tokenizer = load_classifier(runs.model_dir(run_dir))
    model.to(device)
    logits = predict_logits(
        model, tokenizer, texts, max_length=max_length, batch_size=config.eval_batch_size, device=device,
        mixed_precision=config.mixed_precision,
    )
    return softmax(logits)


def _write_results(
    output_dir: Path, assignments: pd.DataFrame, unlabelled: pd.DataFrame, class_names: list[str], folds: int,
    settings: dict, data_info: dict, *, seconds: float,
) -> None:
    """Merge the folds into ``oos.parquet`` and ``unlabelled.parquet``, then write ``crossval.json``."""
    from core.metrics import classification_metrics

    prob_columns = [f"{PROB_PREFIX}{name}" for name in class_names]
    held_out = pd.concat(
        [pd.read_parquet(_fold_paths(output_dir, fold)[0]) for fold in range(folds)], ignore_index=True
    )
    oos = assignments.merge(held_out, on=POSITION_COLUMN, how="left", validate="one_to_one")
    if oos[prob_columns].isna().any().any():
        raise RuntimeError("Some labelled rows got no held-out probabilities; rerun the cross-validation.")
    oos = oos.sort_values(POSITION_COLUMN).reset_index(drop=True)
    keep = [column for column in SOURCE_COLUMNS if column in oos and column != HELD_OUT_COLUMN]
    oos_table = oos[keep + prob_columns]
    runs.write_parquet_atomic(oos_table, output_dir / OOS_FILE)

    if not unlabelled.empty:
        fold_probs = np.stack(
            [pd.read_parquet(_fold_paths(output_dir, fold)[2])[prob_columns].to_numpy(np.float64) for fold in range(folds)]
        )  # (F, U, K)
        base = [column for column in SOURCE_COLUMNS if column in unlabelled and column not in (FOLD_COLUMN, HELD_OUT_COLUMN)]
        table = unlabelled[base].reset_index(drop=True).copy()
        mean_probs = fold_probs.mean(axis=0)  # (U, K)
        per_row = np.ascontiguousarray(fold_probs.transpose(1, 2, 0).astype(np.float32))  # (U, K, F)
        for k, name in enumerate(class_names):
            table[f"{PROB_PREFIX}{name}"] = mean_probs[:, k].astype(np.float32)
        for k, name in enumerate(class_names):
            table[f"{SAMPLES_PREFIX}{name}"] = list(per_row[:, k, :])
        runs.write_parquet_atomic(table, output_dir / UNLABELLED_FILE)

    fold_metrics = [
        json.loads(_fold_paths(output_dir, fold)[1].read_text(encoding="utf-8")) for fold in range(folds)
    ]
    label_index = {name: index for index, name in enumerate(class_names)}
    oos_probs = oos[prob_columns].to_numpy(np.float64, copy=True)
    oos_probs /= oos_probs.sum(axis=1, keepdims=True)  # float32 storage leaves rows off 1 by about 1e-7
    overall = classification_metrics(oos[data_module.LABEL_COLUMN].map(label_index).to_numpy(), oos_probs, class_names)
    runs.write_json_atomic(
        output_dir / MARKER_FILE,
        {
            "id": output_dir.name,
            "kind": "out_of_sample",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "settings": settings,
            "folds": folds,
            "data": data_info,
            "labels": class_names,
            "rows": int(len(oos)),
            "unlabelled_rows": int(len(unlabelled)),
            "accuracy": overall["accuracy"],
            "macro_f1": overall["macro_f1"],
            "nll": overall["nll"],
            "fold_metrics": fold_metrics,
            "seconds": seconds,
        },
    )
    # The per-fold tables are merged into oos.parquet and unlabelled.parquet, and their metrics into crossval.json.
    for fold in range(folds):
        held_out_path, metrics_path, unlabelled_path, _ = _fold_paths(output_dir, fold)
        for path in (held_out_path, metrics_path, unlabelled_path):
            path.unlink(missing_ok=True)


def load_crossval(path: str | Path) -> TriageSource:
    """Read a finished cross-validation folder (or its ``oos.parquet``) as a :class:`TriageSource`.

    Raises:
        CrossvalNotFoundError: the folder has no ``crossval.json`` (not finished, or not one).
    """
    folder = Path(path)
    if folder.is_file() and folder.name == OOS_FILE:
        folder = folder.parent
    marker = folder / MARKER_FILE
    if not marker.is_file():
        raise CrossvalNotFoundError(
            f"{path} is not a finished cross-validation folder (no {MARKER_FILE}). Pass a folder written by "
            "`python -m core triage crossval`, and wait for its job to succeed."
        )
    info = json.loads(marker.read_text(encoding="utf-8"))
    class_names = list(info["labels"])
    oos = pd.read_parquet(folder / OOS_FILE)
    oos[HELD_OUT_COLUMN] = True
    parts = [oos]
    sampled = None
    unlabelled_path = folder / UNLABELLED_FILE
    if unlabelled_path.is_file():
        unlabelled = pd.read_parquet(unlabelled_path)
        from core.uncertainty import sampled_probs_from_frame

        unlabelled_samples = sampled_probs_from_frame(unlabelled, class_names)  # (F, U, K)
        unlabelled = unlabelled.drop(columns=[f"{SAMPLES_PREFIX}{name}" for name in class_names])
        unlabelled[FOLD_COLUMN] = -1
        unlabelled[HELD_OUT_COLUMN] = True
        parts.append(unlabelled)
        sampled = np.full((unlabelled_samples.shape[0], len(oos) + len(unlabelled), len(class_names)), np.nan)
        sampled[:, len(oos):, :] = unlabelled_samples  # (F, N + U, K); labelled rows have no samples
    table = pd.concat(parts, ignore_index=True)
    table = _source_table(table, class_names)
    dataset = pd.read_parquet(folder / DATASET_FILE)
    return TriageSource(table, class_names, "out_of_sample", dataset, folder, info, sampled)


def _source_table(table: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Keep the :data:`SOURCE_COLUMNS` and the probability columns, in that order."""
    prob_columns = [f"{PROB_PREFIX}{name}" for name in class_names]
    table = table.copy()
    if data_module.CONFIDENCE_COLUMN not in table:
        table[data_module.CONFIDENCE_COLUMN] = np.nan
    table[FOLD_COLUMN] = table[FOLD_COLUMN].astype(np.int64)
    table[HELD_OUT_COLUMN] = table[HELD_OUT_COLUMN].astype(bool)
    table[data_module.LABEL_COLUMN] = table[data_module.LABEL_COLUMN].astype(object).where(
        table[data_module.LABEL_COLUMN].notna(), None
    )
    return table[[*SOURCE_COLUMNS, *prob_columns]].reset_index(drop=True)


def in_sample_source(run_dir: str | Path) -> TriageSource:
    """Return a finished run's stored predictions as an in-sample :class:`TriageSource`.

    Only the run's test rows are held out. The model trained on the train rows (and
    picked its best epoch on the validation rows), so their probabilities lean towards
    their given labels, wrong or not, and label-error scores on them are weaker than
    cross-validated ones.

    Raises:
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    predictions = runs.load_predictions(run_dir)
    class_names = list(summary.labels)
    prob_columns = probability_columns(predictions)
    if prob_columns != [f"{PROB_PREFIX}{name}" for name in class_names]:
        raise ValueError(f"Run {summary.id}'s predictions do not have one probability column per class {class_names}.")
    table = predictions.copy()
    table[FOLD_COLUMN] = -1
    table[HELD_OUT_COLUMN] = (table[data_module.SPLIT_COLUMN] == "test").to_numpy()
    scoring_columns = {
        *prob_columns, "predicted", "entropy", "entropy_normalized", "confidence", "margin", "correct",
        "token_count", "truncated", FOLD_COLUMN, HELD_OUT_COLUMN,
    }
    dataset = predictions[[column for column in predictions.columns if column not in scoring_columns]]
    info = {"id": summary.id, "kind": "in_sample", "labels": class_names, "data": summary.data,
            "test_accuracy": summary.test_accuracy, "rows": summary.rows}
    return TriageSource(_source_table(table, class_names), class_names, "in_sample", dataset.reset_index(drop=True),
                        run_dir, info)


def load_source(path: str | Path) -> TriageSource:
    """Read a cross-validation folder, its ``oos.parquet``, or a run folder (in-sample).

    Raises:
        CrossvalNotFoundError: ``path`` is not found, or is not one of these.
    """
    path = Path(path)
    if not path.exists():
        raise CrossvalNotFoundError(f"{path} not found. Pass a cross-validation folder, its oos.parquet, or a run folder.")
    if (path / runs.RUN_MARKER).is_file():
        return in_sample_source(path)
    return load_crossval(path)


def list_crossvals(workspace: str | Path) -> list[dict]:
    """Return the ``crossval.json`` of every finished cross-validation in a workspace, newest first."""
    root = Path(workspace) / TRIAGE_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        marker = child / MARKER_FILE
        if child.name.startswith(".") or not marker.is_file():
            continue
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("Skipping cross-validation folder %s: %s", child, exc)
            continue
        info["path"] = str(child)
        found.append(info)
    return sorted(found, key=lambda info: (info.get("created", ""), info.get("id", "")), reverse=True)

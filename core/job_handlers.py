"""Job kinds: what a worker process runs for each kind, and how each kind is submitted.

Every worker is a new Python process that imports this module, so the modules only
one kind needs (uncertainty methods, Captum) are imported inside that kind's
functions. A fine-tuning worker then starts without them.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core import data as data_module
from core import jobs, runs
from core.models import DEVICE_CHOICES, resolve_device
from core.progress import Progress
from core.training import TrainConfig, fine_tune
from core.training_augment import check_extra_train_rows

if TYPE_CHECKING:
    from core.attribution import AttributionSpec
    from core.methods import MethodSpec

logger = logging.getLogger(__name__)

DATASET_FILE = "dataset.parquet"
EXTRA_TRAIN_ROWS_FILE = "extra_train_rows.parquet"


def submit_training(
    workspace: str | Path,
    dataset: pd.DataFrame,
    config: TrainConfig,
    *,
    data_info: dict | None = None,
    output_dir: str | Path | None = None,
    checkpoint_every_seconds: float = 120.0,
    preassigned_splits: bool = False,
    extra_train_rows: pd.DataFrame | None = None,
) -> jobs.Job:
    """Store the mapped dataset with the job and submit a background fine-tuning job.

    The dataset, and ``extra_train_rows`` when given (see :func:`core.training.fine_tune`),
    are written next to the job before the job is recorded, so a worker (or a resume
    after a crash) always finds exactly the rows that were submitted.
    ``preassigned_splits`` keeps the dataset's own ``split`` column, as in
    :func:`core.training.prepare_training_data`.

    Raises:
        ValueError: invalid settings, or extra rows without text or label.
        FileExistsError: ``output_dir`` exists and is not empty.
    """
    config.validate()
    if extra_train_rows is not None:
        extra_train_rows = check_extra_train_rows(extra_train_rows)
    if checkpoint_every_seconds <= 0:
        raise ValueError(f"checkpoint_every_seconds must be above 0; got {checkpoint_every_seconds}.")
    workspace = Path(workspace)
    registry = jobs.JobRegistry(workspace)
    job_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-train-{secrets.token_hex(3)}"
    if output_dir is None:
        output_dir = runs.runs_root(workspace) / runs.new_run_id(config.model)
    output_dir = Path(output_dir).resolve()
    runs.check_new_run_dir(output_dir)
    job_dir = registry.job_dir(job_id)
    job_dir.mkdir(parents=True)
    runs.write_parquet_atomic(dataset, job_dir / DATASET_FILE)
    if extra_train_rows is not None:
        runs.write_parquet_atomic(extra_train_rows, job_dir / EXTRA_TRAIN_ROWS_FILE)
    payload = {
        "train": asdict(config),
        "data_info": data_info or {},
        "output_dir": str(output_dir),
        "rows": int(len(dataset)),
        "checkpoint_every_seconds": float(checkpoint_every_seconds),
        "preassigned_splits": bool(preassigned_splits),
        "extra_train_rows": None if extra_train_rows is None else int(len(extra_train_rows)),
    }
    registry.create("train", payload, requested_device=config.device, job_id=job_id)
    registry.reconcile()
    return registry.get(job_id, reconcile=False)


def run_train_job(context: jobs.JobContext) -> dict:
    """Worker body of a ``train`` job: fine-tune with checkpoints, resuming when one exists."""
    payload = context.job.config
    config = TrainConfig.from_dict(payload["train"])
    dataset = pd.read_parquet(context.job_dir / DATASET_FILE)
    extra_path = context.job_dir / EXTRA_TRAIN_ROWS_FILE
    extra_train_rows = pd.read_parquet(extra_path) if extra_path.is_file() else None
    logger.info(
        "Worker %d running job %s (attempt %d) on %s",
        os.getpid(), context.job.id, context.job.attempts, context.job.resource,
    )
    result = fine_tune(
        dataset,
        config,
        output_dir=payload["output_dir"],
        data_info=payload.get("data_info", {}),
        progress=context.progress,
        should_stop=context.should_stop,
        checkpoint_dir=context.checkpoint_dir,
        checkpoint_every_seconds=payload.get("checkpoint_every_seconds", 120.0),
        resume=True,
        preassigned_splits=payload.get("preassigned_splits", False),
        extra_train_rows=extra_train_rows,
    )
    # The run folder contains the final model, so the resumable checkpoint can go.
    shutil.rmtree(context.checkpoint_dir, ignore_errors=True)
    test = result.metrics["splits"].get("test", {})
    return {
        "run_dir": str(result.run_dir),
        "test_accuracy": test.get("accuracy"),
        "validation_accuracy": result.metrics["splits"]["validation"]["accuracy"],
        "best_epoch": result.metrics["best_epoch"],
        "train_seconds": result.metrics["train_seconds"],
    }


def submit_uncertainty(
    workspace: str | Path,
    run_dir: str | Path,
    spec: MethodSpec,
    *,
    split: str = "test",
    device: str = "auto",
) -> jobs.Job:
    """Submit a background job that computes ``spec`` on every row of ``split`` of a run.

    The job also computes the validation split (unless ``split`` is the validation
    split or the run has none), because temperature scaling and conformal sets are
    fitted on it. Splits already in the run's cache are not computed again.

    Raises:
        ValueError: invalid settings, an unknown device, an unknown or empty split,
            ``softmax`` (stored with the run, nothing to compute), or ensemble members
            that do not fit the run.
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    if device not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {device!r}.")
    run_dir = Path(run_dir).resolve()
    from core.methods import check_spec_for_run, split_positions

    spec = check_spec_for_run(run_dir, spec)
    if spec.method == "softmax":
        raise ValueError("The softmax baseline is stored with the run; choose another method to compute.")
    split_positions(run_dir, split)
    splits = [split]
    predictions = runs.load_predictions(run_dir)
    if split != "validation" and (predictions[data_module.SPLIT_COLUMN] == "validation").any():
        splits.append("validation")
    payload = {"run_dir": str(run_dir), "method": spec.settings(), "splits": splits}
    return jobs.submit(workspace, "uncertainty", payload, requested_device=device)


def run_uncertainty_job(context: jobs.JobContext) -> dict:
    """Worker body of an ``uncertainty`` job: compute and cache the method on each split in turn."""
    from core.methods import MethodSpec, RunModel
    from core.uncertainty_cache import compute_result, find_result

    payload = context.job.config
    run_dir = Path(payload["run_dir"])
    spec = MethodSpec.from_settings(payload["method"]).normalised()
    device = resolve_device(context.job.requested_device)
    logger.info(
        "Worker %d running job %s: %s on splits %s of run %s, device %s",
        os.getpid(), context.job.id, spec.method, ", ".join(payload["splits"]), run_dir.name, device,
    )
    run_model = RunModel(run_dir, device)
    stored = {}
    for index, split in enumerate(payload["splits"], start=1):
        if find_result(run_dir, spec, split) is None:
            context.progress(Progress(phase="prepare", message=f"Split {index} of {len(payload['splits'])}: {split}"))
        result = compute_result(
            run_dir, spec, split, device=device, run_model=run_model, progress=context.progress,
            should_stop=context.should_stop,
        )
        stored[split] = {"file": result.path.name, "rows": result.rows, "seconds": result.seconds}
    return {"run_dir": str(run_dir), "method": spec.method, "splits": stored}


def submit_attributions(
    workspace: str | Path,
    run_dir: str | Path,
    positions: list[int],
    spec: AttributionSpec,
    *,
    device: str = "auto",
    randomisation_check: bool = False,
) -> jobs.Job:
    """Submit a background job that attributes rows ``positions`` of a run and caches each result.

    With ``randomisation_check`` the job also runs the randomised-weights check
    (:mod:`core.attribution_sanity`) on the same rows.

    Raises:
        ValueError: invalid settings, an unknown device, no rows, a row outside the
            run, or an unlabelled row for the ``label`` target.
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    if device not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {device!r}.")
    spec = spec.normalised()
    run_dir = Path(run_dir).resolve()
    from core.attribution_cache import row_texts

    runs.read_summary(run_dir)
    positions = [int(position) for position in positions]
    if not positions:
        raise ValueError("positions must name at least one row of the run; got none.")
    _, labels = row_texts(run_dir, positions)
    if spec.target == "label":
        unlabelled = [position for position, label in zip(positions, labels) if label is None]
        if unlabelled:
            raise ValueError(
                f"target 'label' needs labelled rows; rows {unlabelled[:5]} have no label. Choose labelled rows or "
                "another target."
            )
    payload = {
        "run_dir": str(run_dir),
        "positions": positions,
        "attribution": spec.settings(),
        "randomisation_check": bool(randomisation_check),
    }
    return jobs.submit(workspace, "attribution", payload, requested_device=device)


def run_attribution_job(context: jobs.JobContext) -> dict:
    """Worker body of an ``attribution`` job: attribute the rows, cached, then the optional randomisation check."""
    from core.attribution import AttributionSpec
    from core.attribution_cache import attribute_run_rows, compute_randomisation
    from core.methods import RunModel

    payload = context.job.config
    run_dir = Path(payload["run_dir"])
    spec = AttributionSpec.from_settings(payload["attribution"]).normalised()
    positions = payload["positions"]
    device = resolve_device(context.job.requested_device)
    logger.info(
        "Worker %d running job %s: %s attributions (target %s) of %d rows of run %s, device %s",
        os.getpid(), context.job.id, spec.method, spec.target, len(positions), run_dir.name, device,
    )
    run_model = RunModel(run_dir, device)
    results = attribute_run_rows(
        run_dir, positions, spec, run_model=run_model, progress=context.progress, should_stop=context.should_stop
    )
    scored = [result.faithfulness for result in results if result.faithfulness]
    summary = {
        "run_dir": str(run_dir),
        "method": spec.method,
        "target": spec.target,
        "rows": len(results),
        "comprehensiveness": float(sum(f["comprehensiveness"] for f in scored) / len(scored)) if scored else None,
        "sufficiency": float(sum(f["sufficiency"] for f in scored) / len(scored)) if scored else None,
        "flagged": sum(bool(result.flags) for result in results),
    }
    if payload.get("randomisation_check"):
        context.progress(Progress(phase="score", message="Randomised-weights check"))
        report = compute_randomisation(run_dir, positions, spec, run_model=run_model)
        summary["randomisation_rank_correlation"] = report["mean_rank_correlation"]
        summary["randomisation_fails"] = report["fails"]
    return summary

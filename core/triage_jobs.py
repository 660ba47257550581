"""The ``crossval`` job kind: cross-validated out-of-sample probabilities in a background worker.

:func:`submit_crossval` stores the dataset with the job and records it;
:func:`run_crossval_job` is what the worker process runs (:mod:`core.jobs` dispatches
to it). Cancelling stops at the next training step. Folds that finished stay in the
cross-validation folder, and resuming the job continues with the next fold, inside it
from the fold's last training checkpoint.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pandas as pd

from core import jobs, runs
from core.crossval import (
    DEFAULT_FOLDS,
    assign_folds,
    check_folds,
    cross_validate,
    new_crossval_id,
    split_labelled,
    triage_root,
)
from core.training import TrainConfig

logger = logging.getLogger(__name__)

DATASET_FILE = "dataset.parquet"


def submit_crossval(
    workspace: str | Path,
    dataset: pd.DataFrame,
    config: TrainConfig,
    folds: int = DEFAULT_FOLDS,
    *,
    data_info: dict | None = None,
    output_dir: str | Path | None = None,
    score_unlabelled: bool = True,
    checkpoint_every_seconds: float = 120.0,
) -> jobs.Job:
    """Store the mapped dataset with the job and submit a background cross-validation job.

    Args:
        config: training settings of every fold (see :func:`core.crossval.cross_validate`).
        folds: F, at least 2 and at most the distinct texts of the smallest class.
        output_dir: the cross-validation folder to create; default
            ``<workspace>/triage/<new id>``. The job result's ``crossval_dir`` names it.
        score_unlabelled: also score the rows without labels with every fold model.

    Raises:
        ValueError: invalid settings, an empty dataset, fewer than 2 classes or too many folds.
        FileExistsError: ``output_dir`` exists and is not empty.
    """
    config.validate()
    folds = check_folds(folds)
    if checkpoint_every_seconds <= 0:
        raise ValueError(f"checkpoint_every_seconds must be above 0; got {checkpoint_every_seconds}.")
    labelled, _ = split_labelled(dataset, config)
    assign_folds(labelled, folds, seed=config.seed)  # checks the fold count against the smallest class now
    workspace = Path(workspace)
    if output_dir is None:
        output_dir = triage_root(workspace) / new_crossval_id()
    output_dir = Path(output_dir).resolve()
    runs.check_new_run_dir(output_dir)
    registry = jobs.JobRegistry(workspace)
    job_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-crossval-{secrets.token_hex(3)}"
    job_dir = registry.job_dir(job_id)
    job_dir.mkdir(parents=True)
    runs.write_parquet_atomic(dataset, job_dir / DATASET_FILE)
    payload = {
        "train": asdict(config),
        "folds": folds,
        "data_info": data_info or {},
        # Not "output_dir": the jobs page reads that key as a run folder to open in Explore.
        "crossval_dir": str(output_dir),
        "rows": int(len(dataset)),
        "score_unlabelled": bool(score_unlabelled),
        "checkpoint_every_seconds": float(checkpoint_every_seconds),
    }
    registry.create("crossval", payload, requested_device=config.device, job_id=job_id)
    registry.reconcile()
    return registry.get(job_id, reconcile=False)


def run_crossval_job(context: jobs.JobContext) -> dict:
    """Worker body of a ``crossval`` job: run or resume the folds, with progress and cancel."""
    payload = context.job.config
    config = TrainConfig.from_dict(payload["train"])
    dataset = pd.read_parquet(context.job_dir / DATASET_FILE)
    logger.info(
        "Worker %d running job %s (attempt %d): %d-fold cross-validation on %s",
        os.getpid(), context.job.id, context.job.attempts, payload["folds"], context.job.resource,
    )
    source = cross_validate(
        dataset,
        config,
        output_dir=payload["crossval_dir"],
        folds=payload["folds"],
        data_info=payload.get("data_info", {}),
        score_unlabelled=payload.get("score_unlabelled", True),
        progress=context.progress,
        should_stop=context.should_stop,
        checkpoint_dir=context.checkpoint_dir,
        checkpoint_every_seconds=payload.get("checkpoint_every_seconds", 120.0),
    )
    shutil.rmtree(context.checkpoint_dir, ignore_errors=True)
    info = source.info
    return {
        "crossval_dir": str(source.path),
        "folds": info["folds"],
        "rows": info["rows"],
        "unlabelled_rows": info["unlabelled_rows"],
        "accuracy": info["accuracy"],
        "macro_f1": info["macro_f1"],
        "fold_accuracy": [fold.get("accuracy") for fold in info["fold_metrics"]],
    }

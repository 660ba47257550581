"""Retrain a run on the review-corrected dataset, and compare the metrics of two runs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from core import data as data_module
from core import jobs, runs
from core.review import ReviewStore, corrected_dataset, dataset_key
from core.training import TrainConfig

logger = logging.getLogger(__name__)

COMPARED_METRICS = ("accuracy", "macro_f1", "ece", "nll")


def retrain_with_corrections(
    workspace: str | Path,
    run_dir: str | Path,
    dataset: pd.DataFrame,
    store: ReviewStore,
    *,
    key: str | None = None,
    drop_flagged: bool = False,
    keep_splits: bool = True,
    output_dir: str | Path | None = None,
) -> jobs.Job:
    """Submit a background ``train`` job on the corrected dataset with the same settings as a run.

    Args:
        run_dir: the finished run whose :class:`~core.training.TrainConfig` is reused.
        dataset: the mapped dataset the reviews were made on (the one ``key`` identifies).
        key: the dataset key of the reviews; default :func:`core.review.dataset_key` of ``dataset``.
        drop_flagged: leave out rows whose latest decision is ``flag``.
        keep_splits: give every row the split it had in ``run_dir`` (matched on ``id``),
            so both runs are tested on the same rows. Rows that were not in the run are
            then left out. Corrections to test rows still change the labels they are
            scored against; :func:`compare_runs` reports how many.

    Returns:
        The submitted job; its result names the new run folder.

    Raises:
        RunNotFoundError: ``run_dir`` is not a finished run.
        ValueError: the dataset's ids are not unique, or no row of it was in the run.
    """
    from core.job_handlers import submit_training

    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    run_config = runs.read_json(run_dir, "config.json")
    config = TrainConfig.from_dict(run_config["train"])
    key = key or dataset_key(dataset)
    corrected = corrected_dataset(dataset, store, key=key, drop_flagged=drop_flagged)
    if keep_splits:
        predictions = runs.load_predictions(run_dir)
        split_of_id = dict(zip(predictions[data_module.ID_COLUMN].astype(str), predictions[data_module.SPLIT_COLUMN]))
        corrected[data_module.SPLIT_COLUMN] = corrected[data_module.ID_COLUMN].astype(str).map(split_of_id)
        if corrected[data_module.SPLIT_COLUMN].isna().all():
            raise ValueError(
                f"No row id of the dataset occurs in run {summary.id}; pass the dataset the run was trained on, or "
                "keep_splits=False."
            )
    data_info = dict(run_config.get("data", {}))
    data_info["name"] = f"{data_info.get('name') or summary.data or 'dataset'} (reviewed)"
    data_info["corrections"] = {
        "dataset_key": key,
        "based_on_run": summary.id,
        "relabelled": int((corrected["review_action"] == "relabel").sum()),
        "flagged_dropped": bool(drop_flagged),
        "kept_splits": bool(keep_splits),
    }
    logger.info("Retraining run %s with %d relabelled rows", summary.id, data_info["corrections"]["relabelled"])
    return submit_training(
        workspace, corrected, config, data_info=data_info, output_dir=output_dir, preassigned_splits=keep_splits
    )


def compare_runs(before: str | Path, after: str | Path, *, split: str = "test") -> pd.DataFrame:
    """Return two runs' metrics on one split side by side.

    Returns:
        A frame indexed by metric (accuracy, macro F1, ECE with 15 equal-width bins,
        NLL) with columns ``before``, ``after`` and ``change`` (after - before). Its
        ``attrs`` contain ``split``, ``before_id``, ``after_id``, ``rows_before``,
        ``rows_after``, ``same_rows`` (both splits contain the same row ids) and
        ``changed_labels`` (rows of the split, present in both, whose label differs).

    Raises:
        RunNotFoundError: either folder is not a finished run.
        ValueError: a run has no rows in ``split``.
    """
    summaries = [runs.read_summary(Path(run)) for run in (before, after)]
    split_metrics = []
    for run, summary in zip((before, after), summaries):
        metrics = runs.read_json(Path(run), "metrics.json").get("splits", {}).get(split)
        if not metrics or not metrics.get("n"):
            raise ValueError(f"Run {summary.id} has no rows in the {split} split. Choose another split.")
        split_metrics.append(metrics)
    table = pd.DataFrame(
        {
            "before": [split_metrics[0].get(name, np.nan) for name in COMPARED_METRICS],
            "after": [split_metrics[1].get(name, np.nan) for name in COMPARED_METRICS],
        },
        index=pd.Index(COMPARED_METRICS, name="metric"),
    )
    table["change"] = table["after"] - table["before"]

    rows = []
    for run in (before, after):
        predictions = runs.load_predictions(Path(run))
        in_split = predictions[predictions[data_module.SPLIT_COLUMN] == split]
        labels = in_split.set_index(in_split[data_module.ID_COLUMN].astype(str))[data_module.LABEL_COLUMN]
        rows.append(labels[~labels.index.duplicated()])
    common = rows[0].index.intersection(rows[1].index)
    table.attrs.update(
        split=split,
        before_id=summaries[0].id,
        after_id=summaries[1].id,
        rows_before=int(len(rows[0])),
        rows_after=int(len(rows[1])),
        same_rows=bool(set(rows[0].index) == set(rows[1].index)),
        changed_labels=int((rows[0].loc[common] != rows[1].loc[common]).sum()),
    )
    return table

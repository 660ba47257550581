"""Robustness report: clean metrics and stored attack results of several runs, side by side.

Symbols: N samples, K classes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from core import data as data_module
from core import runs
from core.attack_jobs import list_attacks
from core.metrics import expected_calibration_error, negative_log_likelihood
from core.uncertainty import PROB_PREFIX

logger = logging.getLogger(__name__)

# Summary keys of an attack shown per recipe, as ``<recipe>:<key>`` columns.
ATTACK_COLUMNS = ("accuracy_under_attack", "success_rate", "mean_queries_to_flip", "rows")


def clean_metrics(run_dir: str | Path, *, split: str = "test") -> dict:
    """Return accuracy, ECE (15 equal-width bins) and NLL of a run's stored predictions on ``split``.

    Rows without a label, or with a label the run has no class for, are left out.
    Values are NaN when no such row is in the split.
    """
    run_dir = Path(run_dir)
    class_names = runs.read_summary(run_dir).labels
    table = runs.load_predictions(run_dir)
    table = table[table[data_module.SPLIT_COLUMN] == split]
    known = table[data_module.LABEL_COLUMN].isin(class_names).to_numpy(dtype=bool)
    table = table[known]
    if table.empty:
        return {"rows": 0, "accuracy": np.nan, "ece": np.nan, "nll": np.nan}
    probs = table[[f"{PROB_PREFIX}{name}" for name in class_names]].to_numpy(dtype=np.float64)  # (N, K)
    label_ids = table[data_module.LABEL_COLUMN].map({name: index for index, name in enumerate(class_names)})
    label_ids = label_ids.to_numpy(dtype=np.int64)  # (N,)
    return {
        "rows": int(len(table)),
        "accuracy": float((probs.argmax(axis=1) == label_ids).mean()),
        "ece": expected_calibration_error(label_ids, probs, bins=15),
        "nll": negative_log_likelihood(label_ids, probs),
    }


def robustness_report(run_dirs: Sequence[str | Path], *, split: str = "test") -> pd.DataFrame:
    """Return one row per run: clean metrics on ``split`` and, per attack recipe, the attack results.

    Columns: ``run``, ``test_rows``, ``test_accuracy``, ``test_ece``, ``test_nll`` (named
    after ``split``), then for each recipe name found in any run's stored attacks
    ``<recipe>:accuracy_under_attack``, ``<recipe>:success_rate``,
    ``<recipe>:mean_queries_to_flip`` and ``<recipe>:rows`` (rows the attack covered).
    A run's newest attack of a recipe is used, and a run without one has NaN there.

    NOTE: accuracy under attack is measured on the attacked rows only. When an attack
    covered a subset of the split (``--limit``), compare it with that subset's clean
    accuracy (``clean_accuracy`` in the stored summary), not with the split's.

    Raises:
        ValueError: no run folders given.
        RunNotFoundError: a folder is not a finished run.
    """
    if not run_dirs:
        raise ValueError("run_dirs must name at least one run folder; got none.")
    rows = []
    recipes: list[str] = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        summary = runs.read_summary(run_dir)
        metrics = clean_metrics(run_dir, split=split)
        row = {
            "run": summary.id,
            f"{split}_rows": metrics["rows"],
            f"{split}_accuracy": metrics["accuracy"],
            f"{split}_ece": metrics["ece"],
            f"{split}_nll": metrics["nll"],
        }
        newest: dict[str, dict] = {}
        for attack in list_attacks(run_dir):  # newest first
            newest.setdefault(str(attack.get("recipe")), attack)
        for recipe, attack in newest.items():
            if recipe not in recipes:
                recipes.append(recipe)
            stored = attack.get("summary", {})
            for key in ATTACK_COLUMNS:
                value = stored.get(key)
                row[f"{recipe}:{key}"] = np.nan if value is None else value
        rows.append(row)
    columns = ["run", f"{split}_rows", f"{split}_accuracy", f"{split}_ece", f"{split}_nll"]
    columns += [f"{recipe}:{key}" for recipe in recipes for key in ATTACK_COLUMNS]
    return pd.DataFrame(rows).reindex(columns=columns)

"""Deep ensembles: the class probabilities of several finished runs on the same rows.

Lakshminarayanan, Pritzel and Blundell 2017, "Simple and Scalable Predictive
Uncertainty Estimation using Deep Ensembles". The ensemble's prediction is the mean
of its members' probabilities, and the T = (number of members) probability vectors
per sample go through the same statistics as MC dropout passes
(:func:`core.uncertainty.sampled_uncertainty`).

Symbols: N samples, K classes, T members.

Rows are matched by (text, label). A member's probabilities come from its own
predictions table where it has the row, and from scoring the text with its model
where it does not (a member trained on another sample of the data). A member that
was trained on a row that the base run holds out would make the ensemble look
better than it is, so that is an error unless ``allow_train_overlap`` is set.

NOTE: ``TrainConfig.seed`` sets both the data split and the weight initialisation,
so runs trained with different seeds hold out different rows, and each trained on
part of the others' validation and test rows. Ensembles whose members differ in
seed therefore need ``allow_train_overlap=True``. Members that share the seed (and
so the split) but differ in learning rate, epochs or model do not need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from core import data as data_module
from core import runs
from core.models import load_classifier, model_max_length, resolve_device
from core.passes import ComputationCancelled, ProgressCallback, StopCallback
from core.scoring import predict_logits
from core.uncertainty import PROB_PREFIX, softmax

logger = logging.getLogger(__name__)

MIN_MEMBERS = 2


@dataclass
class EnsembleResult:
    """Probabilities of every member and where each member's rows came from.

    Attributes:
        mc_probs: float32 array of shape (T, N, K), member t in the order of ``members``.
        members: one record per member: ``run`` (id), ``from_table`` and ``scored``
            (row counts), and ``train_overlap`` (rows of the base run's held-out
            splits that this member trained on).
    """

    mc_probs: np.ndarray
    members: list[dict] = field(default_factory=list)


def _row_keys(frame: pd.DataFrame) -> pd.Series:
    return frame[data_module.TEXT_COLUMN].astype(str) + "\x00" + frame[data_module.LABEL_COLUMN].astype(str)


def check_members(base_run_dir: str | Path, member_run_dirs: Sequence[str | Path]) -> list[runs.RunSummary]:
    """Return the summaries of the base run and its members, or raise ``ValueError``.

    Raises:
        ValueError: fewer than one member besides the base run, a member listed twice
            (or equal to the base run), or a member whose label set differs.
        RunNotFoundError: a path is not a finished run.
    """
    base = runs.read_summary(Path(base_run_dir))
    summaries = [base]
    seen = {Path(base_run_dir).resolve()}
    for member_dir in member_run_dirs:
        resolved = Path(member_dir).resolve()
        if resolved in seen:
            raise ValueError(f"Ensemble member {resolved.name} is listed twice (or is the base run); list each run once.")
        seen.add(resolved)
        member = runs.read_summary(resolved)
        if set(member.labels) != set(base.labels):
            raise ValueError(
                f"Ensemble member {member.id} has classes {member.labels}, but run {base.id} has {base.labels}. "
                "Every member must be trained on the same label set."
            )
        summaries.append(member)
    if len(summaries) < MIN_MEMBERS:
        raise ValueError(
            f"An ensemble needs at least {MIN_MEMBERS} runs, the base run and one more; got "
            f"{len(summaries)} run(s). Choose other runs trained on the same data."
        )
    return summaries


def ensemble_probs(
    base_run_dir: str | Path,
    member_run_dirs: Sequence[str | Path],
    positions: np.ndarray,
    *,
    allow_train_overlap: bool = False,
    batch_size: int = 64,
    device: torch.device | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> EnsembleResult:
    """Return the probabilities of the base run and each member on rows of the base run.

    Args:
        base_run_dir: the run whose rows are scored; it is member 0.
        member_run_dirs: the other runs, trained on the same data and label set.
        positions: int array of shape (N,), row positions in the base run's predictions table.
        allow_train_overlap: accept members that trained on rows the base run holds out.

    Raises:
        ValueError: see :func:`check_members`; a position outside the base table; or,
            without ``allow_train_overlap``, a member that trained on held-out rows.
    """
    summaries = check_members(base_run_dir, member_run_dirs)
    class_names = summaries[0].labels
    prob_columns = [f"{PROB_PREFIX}{name}" for name in class_names]
    base_table = runs.load_predictions(summaries[0].path)
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= len(base_table)):
        raise ValueError(
            f"positions must lie in [0, {len(base_table) - 1}], the rows of run {summaries[0].id}; got values "
            f"from {positions.min()} to {positions.max()}."
        )
    rows = base_table.iloc[positions]
    keys = _row_keys(rows).to_numpy()
    held_out = (rows[data_module.SPLIT_COLUMN] != "train").to_numpy()

    mc_probs = np.zeros((len(summaries), len(rows), len(class_names)), dtype=np.float32)
    mc_probs[0] = rows[prob_columns].to_numpy(dtype=np.float32)
    records = [{"run": summaries[0].id, "from_table": len(rows), "scored": 0, "train_overlap": 0}]
    for member_index, member in enumerate(summaries[1:], start=1):
        if should_stop is not None and should_stop():
            raise ComputationCancelled(f"Stopped by request before ensemble member {member.id}.")
        table = runs.load_predictions(member.path)
        table = table.drop_duplicates(subset=[data_module.TEXT_COLUMN, data_module.LABEL_COLUMN], keep="first")
        lookup = pd.Series(np.arange(len(table)), index=_row_keys(table).to_numpy())
        found = lookup.reindex(keys).to_numpy()  # (N,) float, NaN where the member lacks the row
        present = ~np.isnan(found)
        member_rows = table.iloc[found[present].astype(np.int64)]
        overlap = int((held_out[present] & (member_rows[data_module.SPLIT_COLUMN] == "train").to_numpy()).sum())
        if overlap and not allow_train_overlap:
            raise ValueError(
                f"Ensemble member {member.id} was trained on {overlap} of the {int(held_out.sum())} held-out rows "
                f"of run {summaries[0].id}, so the ensemble would be scored partly on its own training data. "
                "Runs trained with different seeds have different splits: choose members trained with the same "
                "seed, or allow the overlap to accept optimistic results."
            )
        mc_probs[member_index, present] = member_rows[prob_columns].to_numpy(dtype=np.float32)
        missing = np.flatnonzero(~present)
        if len(missing):
            texts = rows[data_module.TEXT_COLUMN].iloc[missing].astype(str).tolist()
            mc_probs[member_index, missing] = _score_member(member, class_names, texts, batch_size, device, progress)
        records.append(
            {"run": member.id, "from_table": int(present.sum()), "scored": int(len(missing)), "train_overlap": overlap}
        )
        logger.info(
            "Ensemble member %s: %d rows from its predictions table, %d scored, %d trained on held-out rows",
            member.id, int(present.sum()), len(missing), overlap,
        )
    return EnsembleResult(mc_probs, records)


def _score_member(member: runs.RunSummary, class_names, texts, batch_size, device, progress) -> np.ndarray:
    """Score ``texts`` with a member's model; returns (n, K) probabilities in ``class_names`` order."""
    model, tokenizer = load_classifier(runs.model_dir(member.path))
    device = device or resolve_device("auto")
    model.to(device)
    metrics = runs.read_json(member.path, "metrics.json")
    max_length = int(metrics.get("max_length") or model_max_length(tokenizer, model))
    logits = predict_logits(model, tokenizer, texts, max_length=max_length, batch_size=batch_size, device=device,
                            progress=progress)
    member_order = [str(model.config.id2label[index]) for index in range(model.config.num_labels)]
    column_of = [member_order.index(name) for name in class_names]
    return softmax(logits)[:, column_of].astype(np.float32)

"""Per-sample attack results, their table form and the summary of an attack.

Symbols: N samples, K classes.

Statuses:

- ``flipped``: the attack found a text, within every constraint, that the model
  assigns to another class than the original prediction.
- ``failed``: the attack ran but found no such text. ``reason`` gives why it stopped:
  ``no_flip_found`` (every word in importance order was tried), ``max_words_changed``
  (the allowed number of changed words was reached), ``budget_exhausted`` or
  ``time_limit``.
- ``skipped``: the attack did not run. ``reason`` is one of ``empty_text``,
  ``already_misclassified``, ``too_few_words`` (the maximum fraction of words changed
  allows no change), ``no_candidate_words`` (every word is protected or cut off by
  truncation), ``budget_exhausted`` or ``time_limit`` (nothing but the original text
  could be scored).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from core import data as data_module

STATUSES = ("flipped", "failed", "skipped")
SKIP_REASONS = (
    "empty_text", "already_misclassified", "too_few_words", "no_candidate_words", "budget_exhausted", "time_limit",
)
FAIL_REASONS = ("no_flip_found", "max_words_changed", "budget_exhausted", "time_limit")
BEFORE_PREFIX = "prob_before:"
AFTER_PREFIX = "prob_after:"


@dataclass(frozen=True)
class ChangedSpan:
    """One changed word: its character span in the original and in the adversarial text."""

    original_start: int
    original_end: int
    adversarial_start: int
    adversarial_end: int
    original: str
    replacement: str


@dataclass
class AttackResult:
    """The outcome of attacking one text.

    Attributes:
        status: one of :data:`STATUSES`. ``reason`` explains ``failed`` and ``skipped``.
        label: the gold label, ``None`` for an unlabelled text or a label the model has no class for.
        target_class: the class the attack moves the prediction away from (the original prediction).
        original_probs, adversarial_probs: K class probabilities before and after.
        original_entropy, adversarial_entropy: predictive entropy in nats.
        queries: texts the attacked model scored for this sample, the original included.
        words_total: words of the original text (punctuation marks excluded).
        words_changed: words that differ in the adversarial text.
        fraction_changed: words_changed / words_total (0 when the text has no words).
        similarity: cosine similarity of the sentence embeddings, NaN when not measured.
        seconds: wall time spent on this sample.
        changed_spans: the changed words, in text order.
    """

    status: str
    reason: str | None
    original_text: str
    adversarial_text: str
    label: str | None
    target_class: str
    original_predicted: str
    adversarial_predicted: str
    original_probs: list[float]
    adversarial_probs: list[float]
    original_entropy: float
    adversarial_entropy: float
    queries: int
    words_total: int
    words_changed: int
    fraction_changed: float
    similarity: float
    seconds: float
    changed_spans: list[ChangedSpan] = field(default_factory=list)

    @property
    def correct_before(self) -> bool | None:
        """Whether the original prediction matches the label, ``None`` without a label."""
        return None if self.label is None else self.label == self.original_predicted


def results_table(
    results: Sequence[AttackResult], class_names: Sequence[str], *, positions: Sequence[int] | None = None,
    recipe: str | None = None,
) -> pd.DataFrame:
    """Return one row per result.

    Columns: ``position`` (when given), ``status``, ``reason``, ``label``,
    ``correct_before`` (nullable boolean), ``original_text``, ``adversarial_text``,
    ``original_predicted``, ``adversarial_predicted``, ``prob_before:<class>`` and
    ``prob_after:<class>`` for each class, ``original_entropy``,
    ``adversarial_entropy``, ``queries``, ``words_total``, ``words_changed``,
    ``fraction_changed``, ``similarity``, ``seconds``, ``changed_spans`` (a JSON list of
    :class:`ChangedSpan` dicts) and ``recipe`` (when given).
    """
    rows = []
    for index, result in enumerate(results):
        row = {}
        if positions is not None:
            row["position"] = int(positions[index])
        row.update(
            status=result.status,
            reason=result.reason,
            label=result.label,
            correct_before=result.correct_before,
            original_text=result.original_text,
            adversarial_text=result.adversarial_text,
            original_predicted=result.original_predicted,
            adversarial_predicted=result.adversarial_predicted,
        )
        for name, value in zip(class_names, result.original_probs):
            row[f"{BEFORE_PREFIX}{name}"] = float(value)
        for name, value in zip(class_names, result.adversarial_probs):
            row[f"{AFTER_PREFIX}{name}"] = float(value)
        row.update(
            original_entropy=result.original_entropy,
            adversarial_entropy=result.adversarial_entropy,
            queries=result.queries,
            words_total=result.words_total,
            words_changed=result.words_changed,
            fraction_changed=result.fraction_changed,
            similarity=result.similarity,
            seconds=result.seconds,
            changed_spans=json.dumps([asdict(span) for span in result.changed_spans], ensure_ascii=False),
        )
        if recipe is not None:
            row["recipe"] = recipe
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["correct_before"] = pd.array(table["correct_before"].tolist(), dtype="boolean")
    return table


def changed_spans(row: pd.Series | dict) -> list[ChangedSpan]:
    """Return the changed spans of one table row (parsed from its JSON column)."""
    return [ChangedSpan(**span) for span in json.loads(row["changed_spans"] or "[]")]


def _mean_or_none(values: pd.Series) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def attack_summary(table: pd.DataFrame) -> dict:
    """Return the summary of an attack results table (:func:`results_table`).

    Keys:

    - ``rows``: samples in the table. ``attacked``: samples not skipped.
    - ``flipped``, ``failed``, ``skipped``: counts per status. ``skip_reasons``,
      ``fail_reasons``: counts per reason.
    - ``success_rate``: flipped / attacked.
    - ``labelled``: rows with a label the model has a class for.
    - ``clean_accuracy``: accuracy of the original predictions over the labelled rows.
    - ``accuracy_under_attack``: the labelled rows predicted correctly and not flipped,
      divided by the labelled rows.
    - ``mean_queries``: mean queries per attacked sample.
    - ``mean_queries_to_flip``, ``mean_fraction_changed``, ``mean_similarity``: means
      over flipped samples (similarity where measured).
    - ``seconds_per_attacked``: the seconds of all rows divided by the attacked samples.

    A value with nothing to average over is ``None``.
    """
    total = len(table)
    statuses = table["status"] if total else pd.Series([], dtype=object)
    attacked_mask = statuses != "skipped"
    flipped_mask = statuses == "flipped"
    attacked = int(attacked_mask.sum())
    flipped = int(flipped_mask.sum())
    summary: dict = {
        "rows": total,
        "attacked": attacked,
        "flipped": flipped,
        "failed": int((statuses == "failed").sum()),
        "skipped": int((statuses == "skipped").sum()),
        "skip_reasons": _reason_counts(table, "skipped"),
        "fail_reasons": _reason_counts(table, "failed"),
        "success_rate": flipped / attacked if attacked else None,
    }
    correct = table["correct_before"] if total else pd.Series([], dtype="boolean")
    labelled_mask = correct.notna().to_numpy(dtype=bool)
    labelled = int(labelled_mask.sum())
    correct_values = correct.fillna(False).to_numpy(dtype=bool)
    summary["labelled"] = labelled
    summary["clean_accuracy"] = float(correct_values[labelled_mask].mean()) if labelled else None
    survived = correct_values & ~flipped_mask.to_numpy(dtype=bool)
    summary["accuracy_under_attack"] = float(survived[labelled_mask].mean()) if labelled else None
    summary["mean_queries"] = _mean_or_none(table.loc[attacked_mask, "queries"]) if attacked else None
    summary["mean_queries_to_flip"] = _mean_or_none(table.loc[flipped_mask, "queries"]) if flipped else None
    summary["mean_fraction_changed"] = _mean_or_none(table.loc[flipped_mask, "fraction_changed"]) if flipped else None
    summary["mean_similarity"] = _mean_or_none(table.loc[flipped_mask, "similarity"]) if flipped else None
    seconds = float(table["seconds"].sum()) if total else 0.0
    summary["seconds_per_attacked"] = seconds / attacked if attacked else None
    return {key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in summary.items()}


def _reason_counts(table: pd.DataFrame, status: str) -> dict[str, int]:
    if not len(table):
        return {}
    reasons = table.loc[table["status"] == status, "reason"].fillna("")
    return {str(reason): int(count) for reason, count in reasons.value_counts().sort_index().items()}


def adversarial_training_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Return the flipped, labelled results as new labelled rows for training.

    Each row has the adversarial text and the original gold label, in the columns of a
    mapped dataset (``id``, ``text``, ``label``). When the table has ``recipe`` and
    ``position`` columns, ``source_recipe`` and ``source_position`` (the row position
    in the run's predictions table) are added. Concatenate the rows with the original
    data and pass them to :func:`core.training.fine_tune` for adversarial training.
    """
    keep = (table["status"] == "flipped") & table["label"].notna() if len(table) else pd.Series([], dtype=bool)
    flipped = table.loc[keep].reset_index(drop=True)
    rows = pd.DataFrame({
        data_module.ID_COLUMN: [f"adversarial-{index}" for index in range(len(flipped))],
        data_module.TEXT_COLUMN: flipped["adversarial_text"].astype(str).tolist() if len(flipped) else [],
        data_module.LABEL_COLUMN: flipped["label"].astype(str).tolist() if len(flipped) else [],
    })
    if "recipe" in flipped:
        rows["source_recipe"] = flipped["recipe"].astype(str).to_numpy()
    if "position" in flipped:
        rows["source_position"] = flipped["position"].to_numpy(dtype=np.int64)
        recipes = rows["source_recipe"] if "source_recipe" in rows else [""] * len(rows)
        rows[data_module.ID_COLUMN] = [
            "-".join(filter(None, ("adversarial", recipe, str(position))))
            for recipe, position in zip(recipes, rows["source_position"])
        ]
    return rows

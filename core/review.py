"""Label-review decisions: a SQLite store, the corrected dataset, and CSV or Parquet export.

The store is ``<workspace>/reviews.sqlite3`` in WAL mode, like the job registry. Each
edit is committed (with a full sync) before :meth:`ReviewStore.record` returns. A
dashboard restart loses nothing, and another process that opens the same workspace
reads every edit. Edits are never deleted: undo marks the reviewer's latest edit as
undone, and the audit history keeps it.

Rows are named by their dataset ``id`` and grouped by a dataset key
(:func:`dataset_key`), a hash of the rows' ids, texts and given labels, so reviews of
one dataset never apply to another.

A page typically calls::

    store = ReviewStore(workspace)
    key = dataset_key(source.dataset)
    store.record(key, row_id, "relabel", reviewer="ana", old_label="neg", new_label="pos")
    store.undo(key, reviewer="ana")
    store.progress(key, queue["id"])          # reviewed 120 of 500 queued
    corrected = corrected_dataset(source.dataset, store)
    export_corrections(corrected, "corrections.csv")
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from core import data as data_module
from core.sqlite_store import create_database, transaction

logger = logging.getLogger(__name__)

ACTIONS = ("relabel", "accept", "skip", "flag")
# Actions that settle a row; a skipped row stays to be reviewed.
REVIEWED_ACTIONS = ("relabel", "accept", "flag")
REVIEW_FILE = "reviews.sqlite3"
AUDIT_COLUMNS = ("original_label", "new_label", "review_action", "reviewer", "reviewed_at")
EXPORT_FORMATS = ("csv", "parquet")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS review_edits (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_key TEXT NOT NULL,
    row_id TEXT NOT NULL,
    action TEXT NOT NULL,
    old_label TEXT,
    new_label TEXT,
    reviewer TEXT NOT NULL,
    created_at REAL NOT NULL,
    undone_at REAL
);
CREATE INDEX IF NOT EXISTS review_edits_row ON review_edits(dataset_key, row_id, seq);
CREATE INDEX IF NOT EXISTS review_edits_reviewer ON review_edits(dataset_key, reviewer, seq);
"""


def format_time(timestamp: float | None) -> str | None:
    """Return a UTC ISO 8601 time such as ``2026-12-05T10:31:02+00:00``, or ``None``."""
    if timestamp is None or pd.isna(timestamp):
        return None
    return datetime.fromtimestamp(float(timestamp), tz=timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ReviewEdit:
    """One stored edit.

    Attributes:
        seq: increasing number of the edit in the store.
        created_at: Unix time of the edit; ``undone_at`` that of its undo, or ``None``.
    """

    seq: int
    dataset_key: str
    row_id: str
    action: str
    old_label: str | None
    new_label: str | None
    reviewer: str
    created_at: float
    undone_at: float | None = None


@dataclass(frozen=True)
class ReviewProgress:
    """Review progress of a queue: ``reviewed`` of ``queued`` rows are settled.

    Attributes:
        queued: distinct row ids in the queue.
        reviewed: queued rows whose latest decision is relabel, accept or flag.
        skipped: queued rows whose latest decision is skip (still to review).
        by_action: queued rows per latest action, every entry of :data:`ACTIONS`.
    """

    queued: int
    reviewed: int
    skipped: int
    by_action: dict[str, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.queued - self.reviewed

    @property
    def fraction(self) -> float:
        return self.reviewed / self.queued if self.queued else 0.0


def dataset_key(dataset: pd.DataFrame) -> str:
    """Return a key of the dataset's rows: ``ds-`` and 16 hex digits of SHA-256 over id, text and label.

    The same rows in the same order always give the same key, in any process.
    """
    digest = hashlib.sha256()
    for column in (data_module.ID_COLUMN, data_module.TEXT_COLUMN, data_module.LABEL_COLUMN):
        if column not in dataset:
            raise ValueError(f"The dataset has no {column!r} column; pass the output of core.data.apply_mapping.")
    for row_id, text, label in zip(dataset[data_module.ID_COLUMN], dataset[data_module.TEXT_COLUMN],
                                   dataset[data_module.LABEL_COLUMN]):
        label_text = "" if label is None or (isinstance(label, float) and pd.isna(label)) else f"={label}"
        # Unit (0x1F) and record (0x1E) separators mark field ends, so ("ab", "c") and ("a", "bc") differ.
        digest.update(f"{row_id}\x1f{text}\x1f{label_text}\x1e".encode("utf-8", errors="surrogatepass"))
    return f"ds-{digest.hexdigest()[:16]}"


def _clean_name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string; got {value!r}.")
    return value.strip()


class ReviewStore:
    """The review decisions of one workspace (``<workspace>/reviews.sqlite3``)."""

    def __init__(self, workspace: str | Path) -> None:
        self.workspace = Path(workspace)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.path = self.workspace / REVIEW_FILE
        create_database(self.path, _SCHEMA)

    def _connect(self, *, immediate: bool = False):
        # FULL syncs the WAL on every commit, so an edit survives a power cut too, not only a crash.
        return transaction(self.path, immediate=immediate, synchronous="FULL")

    @staticmethod
    def _edit(row: sqlite3.Row) -> ReviewEdit:
        return ReviewEdit(
            seq=row["seq"], dataset_key=row["dataset_key"], row_id=row["row_id"], action=row["action"],
            old_label=row["old_label"], new_label=row["new_label"], reviewer=row["reviewer"],
            created_at=row["created_at"], undone_at=row["undone_at"],
        )

    def record(
        self,
        dataset_key: str,
        row_id: str,
        action: str,
        *,
        reviewer: str,
        old_label: str | None = None,
        new_label: str | None = None,
        labels: Sequence[str] | None = None,
    ) -> ReviewEdit:
        """Store one decision about one row and return it once it is committed.

        Args:
            row_id: the row's ``id`` in the dataset.
            action: one of :data:`ACTIONS`. ``relabel`` needs ``new_label`` (different
                from ``old_label``); ``accept`` keeps ``old_label``; ``skip`` (decide
                later) and ``flag`` (mark for discussion, label unchanged) take no new label.
            reviewer: who decided; undo and the audit columns use it.
            old_label: the row's given label, or ``None`` for an unlabelled row.
            labels: when given, ``new_label`` must be one of them (the model's classes).

        Raises:
            ValueError: an unknown action, an empty reviewer, key or row id, or a new
                label that the action does not allow.
        """
        dataset_key = _clean_name("dataset_key", dataset_key)
        row_id = _clean_name("row_id", str(row_id) if row_id is not None else row_id)
        reviewer = _clean_name("reviewer", reviewer)
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}.")
        if action == "relabel":
            if new_label is None or not str(new_label).strip():
                raise ValueError("action 'relabel' needs a new_label; got none.")
            new_label = str(new_label).strip()
            if new_label == old_label:
                raise ValueError(f"new_label {new_label!r} equals the old label; use action 'accept' to keep it.")
            if labels is not None and new_label not in labels:
                raise ValueError(f"new_label {new_label!r} is not a class; choose one of {', '.join(map(repr, labels))}.")
        elif action == "accept":
            if new_label is not None and new_label != old_label:
                raise ValueError(f"action 'accept' keeps the old label {old_label!r}; use 'relabel' for {new_label!r}.")
            new_label = old_label
        elif new_label is not None:
            raise ValueError(f"action {action!r} takes no new_label; got {new_label!r}.")
        created_at = time.time()
        with self._connect(immediate=True) as connection:
            cursor = connection.execute(
                "INSERT INTO review_edits (dataset_key, row_id, action, old_label, new_label, reviewer, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (dataset_key, row_id, action, old_label, new_label, reviewer, created_at),
            )
            seq = cursor.lastrowid
        return ReviewEdit(seq, dataset_key, row_id, action, old_label, new_label, reviewer, created_at)

    def undo(self, dataset_key: str, *, reviewer: str) -> ReviewEdit | None:
        """Undo ``reviewer``'s latest edit of ``dataset_key`` that is not undone yet.

        Returns:
            The undone edit (with ``undone_at`` set), or ``None`` when there is none.
        """
        dataset_key = _clean_name("dataset_key", dataset_key)
        reviewer = _clean_name("reviewer", reviewer)
        with self._connect(immediate=True) as connection:
            row = connection.execute(
                "SELECT * FROM review_edits WHERE dataset_key = ? AND reviewer = ? AND undone_at IS NULL "
                "ORDER BY seq DESC LIMIT 1",
                (dataset_key, reviewer),
            ).fetchone()
            if row is None:
                return None
            undone_at = time.time()
            connection.execute("UPDATE review_edits SET undone_at = ? WHERE seq = ?", (undone_at, row["seq"]))
        edit = self._edit(row)
        return ReviewEdit(**{**edit.__dict__, "undone_at": undone_at})

    def history(self, dataset_key: str, *, include_undone: bool = True) -> pd.DataFrame:
        """Return every edit of a dataset, oldest first, one row per edit (the audit trail).

        Columns: ``seq``, ``row_id``, ``action``, ``old_label``, ``new_label``,
        ``reviewer``, ``created_at`` and ``undone_at`` (Unix times, NaN when not undone).
        """
        query = "SELECT * FROM review_edits WHERE dataset_key = ?"
        if not include_undone:
            query += " AND undone_at IS NULL"
        with self._connect() as connection:
            rows = connection.execute(query + " ORDER BY seq", (dataset_key,)).fetchall()
        columns = ["seq", "row_id", "action", "old_label", "new_label", "reviewer", "created_at", "undone_at"]
        history = pd.DataFrame({column: pd.Series([row[column] for row in rows], dtype=object) for column in columns})
        history["seq"] = history["seq"].astype(np.int64)
        for column in ("created_at", "undone_at"):
            history[column] = history[column].astype(float)
        return history

    def decisions(self, dataset_key: str) -> pd.DataFrame:
        """Return the latest edit per row that is not undone, indexed by ``row_id``.

        Columns: ``action``, ``old_label``, ``new_label``, ``reviewer``, ``created_at``.
        """
        edits = self.history(dataset_key, include_undone=False)
        latest = edits.drop_duplicates(subset=["row_id"], keep="last")
        return latest.set_index("row_id")[["action", "old_label", "new_label", "reviewer", "created_at"]]

    def progress(self, dataset_key: str, queued_ids: Iterable[str]) -> ReviewProgress:
        """Count the queued rows by their latest decision (``reviewed`` of ``queued``)."""
        queued = {str(row_id) for row_id in queued_ids}
        decisions = self.decisions(dataset_key)
        in_queue = decisions[decisions.index.isin(queued)]
        by_action = {action: int((in_queue["action"] == action).sum()) for action in ACTIONS}
        reviewed = sum(by_action[action] for action in REVIEWED_ACTIONS)
        return ReviewProgress(queued=len(queued), reviewed=reviewed, skipped=by_action["skip"], by_action=by_action)


def corrected_dataset(
    dataset: pd.DataFrame, store: ReviewStore, *, key: str | None = None, drop_flagged: bool = False
) -> pd.DataFrame:
    """Return a copy of ``dataset`` with each row's latest review decision applied.

    ``label`` becomes the new label of relabelled rows. The audit columns
    (:data:`AUDIT_COLUMNS`) are added: ``original_label``, ``new_label`` (set for
    relabelled rows only), ``review_action``, ``reviewer`` and ``reviewed_at`` (UTC ISO
    time), all None for rows without a decision. Source columns with these names keep
    a ``_source`` suffix.

    Args:
        key: the dataset key the reviews were stored under; default :func:`dataset_key` of ``dataset``.
        drop_flagged: leave out rows whose latest decision is ``flag``.

    Raises:
        ValueError: the dataset's ids are not unique, so decisions cannot be matched to rows.
    """
    key = key or dataset_key(dataset)
    ids = dataset[data_module.ID_COLUMN].astype(str)
    repeated = ids[ids.duplicated()]
    if not repeated.empty:
        raise ValueError(
            f"The dataset's ids are not unique (for example {repeated.iloc[0]!r}), so review decisions cannot be "
            "matched to rows. Map an id column with unique values, or none to use row numbers."
        )
    clashes = {column: f"{column}_source" for column in AUDIT_COLUMNS if column in dataset}
    corrected = dataset.rename(columns=clashes).reset_index(drop=True).copy()
    ids = ids.reset_index(drop=True)
    decisions = store.decisions(key)
    unknown = decisions.index.difference(ids)
    if len(unknown):
        logger.warning("%d review decisions name ids that are not in the dataset (for example %r); they are ignored",
                       len(unknown), unknown[0])
    matched = decisions.reindex(ids)  # one row per dataset row, NaN where no decision
    action = matched["action"].to_numpy()
    relabelled = action == "relabel"
    def text_column(values) -> pd.Series:
        # Object dtype keeps None for missing values; pandas would infer a string dtype with NaN.
        return pd.Series(list(values), index=corrected.index, dtype=object)

    corrected["original_label"] = text_column(corrected[data_module.LABEL_COLUMN])
    corrected["new_label"] = text_column(
        value if is_relabel else None for value, is_relabel in zip(matched["new_label"], relabelled)
    )
    corrected.loc[relabelled, data_module.LABEL_COLUMN] = matched.loc[relabelled, "new_label"].to_numpy()
    corrected["review_action"] = text_column(value if isinstance(value, str) else None for value in action)
    corrected["reviewer"] = text_column(value if isinstance(value, str) else None for value in matched["reviewer"])
    corrected["reviewed_at"] = text_column(format_time(value) for value in matched["created_at"])
    changed_under_review = (
        matched["old_label"].notna().to_numpy()
        & (matched["old_label"].to_numpy() != corrected["original_label"].to_numpy())
    )
    if changed_under_review.any():
        logger.warning("%d decisions were recorded against another label than the dataset's current one",
                       int(changed_under_review.sum()))
    if drop_flagged:
        corrected = corrected[action != "flag"].reset_index(drop=True)
    return corrected


def neutralise_formula(value: object) -> object:
    """Return ``value`` with a single quote in front when it is a string a spreadsheet would run as a formula.

    Strings that start with one of :data:`FORMULA_PREFIXES` get the quote, except a
    plain decimal number such as ``-1`` or ``+0.5``: a spreadsheet reads it as a
    number, and labels such as ``-1`` stay usable.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` with :func:`neutralise_formula` applied to every text column."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_formula)
    out.columns = [neutralise_formula(str(column)) for column in out.columns]
    return out


def export_corrections(corrected: pd.DataFrame, path: str | Path, *, file_format: str | None = None) -> Path:
    """Write the corrected dataset to CSV or Parquet atomically and return the path.

    The bytes are those of :func:`corrections_bytes`. The file is written under a
    temporary name beside ``path`` and renamed, so no reader sees half a file.

    Args:
        file_format: ``csv`` or ``parquet``; default from the file extension.

    Raises:
        ValueError: the format is neither, or the frame has no audit columns.
    """
    path = Path(path)
    payload = corrections_bytes(corrected, file_format or path.suffix.lower().lstrip("."), name=path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(payload)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def corrections_bytes(corrected: pd.DataFrame, file_format: str, *, name: str = "export") -> bytes:
    """Return the corrected dataset as CSV or Parquet bytes, for a download button or a file.

    CSV is meant for spreadsheets. Text cells that start with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return get a leading single quote, so the spreadsheet
    shows them as text instead of running them. Plain numbers such as ``-1`` are
    exempt (see :func:`neutralise_formula`). The CSV is UTF-8 with a byte-order mark,
    which spreadsheet programs need to detect UTF-8, and has CRLF line ends as in
    RFC 4180, so the writer quotes every cell that contains a carriage return or a
    line feed. Parquet keeps every value unchanged.

    Args:
        file_format: one of :data:`EXPORT_FORMATS`.
        name: the file name that error messages show.

    Raises:
        ValueError: the format is not one of :data:`EXPORT_FORMATS`, or the frame has no audit columns.
    """
    if file_format not in EXPORT_FORMATS:
        raise ValueError(
            f"Export format must be one of {', '.join(EXPORT_FORMATS)} (from file_format or the file extension); "
            f"got {file_format!r} for {name}."
        )
    missing = [column for column in AUDIT_COLUMNS if column not in corrected]
    if missing:
        raise ValueError(f"The frame has no audit columns {missing}; pass the output of corrected_dataset.")
    buffer = io.BytesIO()
    if file_format == "parquet":
        corrected.to_parquet(buffer, index=False)
    else:
        neutralise_formulas(corrected).to_csv(buffer, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return buffer.getvalue()

"""Training-split augmentation: noisy copies of the training rows and extra labelled rows.

Only the training split grows. Validation and test rows, and the split that each
dataset row is assigned to, are the same as in a run without augmentation, so runs
with and without it are evaluated on the same rows.

- **Noisy copies**: every epoch, each training row gets ``copies`` edited copies
  with the character or word noise of :mod:`core.augment`. Copy c of row r in epoch
  e comes from a generator seeded with (seed, epoch, row key, c), so a resumed run
  rebuilds exactly the texts the interrupted one trained on. The row key is the
  row's ``row`` column (its position in the source file), which does not change
  when ``max_rows`` sampling keeps a different subset of the other rows.
- **Extra rows**: labelled rows from outside the dataset (for example adversarial
  examples that an attack found) are appended to the training split as they are,
  without noisy copies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from core import data as data_module
from core.augment import NOISE_KINDS, augment_text
from core.batching import EncodedTexts, encode_texts

logger = logging.getLogger(__name__)

AUGMENT_KINDS = ("none", *NOISE_KINDS)


def row_keys(prepared: pd.DataFrame) -> np.ndarray:
    """Return the int64 (N,) keys that seed each prepared row's noise: the ``row`` column, else the position."""
    if data_module.ROW_COLUMN in prepared:
        keys = pd.to_numeric(prepared[data_module.ROW_COLUMN], errors="coerce")
        if keys.notna().all() and (keys >= 0).all():
            return keys.to_numpy(dtype=np.int64)
    return np.arange(len(prepared), dtype=np.int64)


def noisy_copies(
    texts: Sequence[str], keys: Sequence[int], *, kind: str, rate: float, copies: int, seed: int, epoch: int
) -> list[str]:
    """Return ``copies`` noisy copies of each text, row-major: copy c of text i is at i * copies + c."""
    if len(texts) != len(keys):
        raise ValueError(f"keys has {len(keys)} entries but there are {len(texts)} texts.")
    return [
        augment_text(str(text), np.random.default_rng([seed, epoch, int(key), copy]), kind=kind, rate=rate)
        for text, key in zip(texts, keys)
        for copy in range(copies)
    ]


def concatenate_encoded(parts: Sequence[EncodedTexts]) -> EncodedTexts:
    """Return one :class:`EncodedTexts` with the texts of ``parts`` in order."""
    return EncodedTexts(
        [ids for part in parts for ids in part.input_ids],
        np.concatenate([part.lengths for part in parts]),
        np.concatenate([part.truncated for part in parts]),
        parts[0].pad_token_id,
    )


@dataclass
class TrainingRows:
    """The rows trained on in each epoch: the train split, its noisy copies for that epoch, then the extra rows.

    Attributes:
        train: Token ids of the N train-split rows.
        train_label_ids: int64 (N,) class indices of the train-split rows.
        train_texts: The N train-split texts that noisy copies are made from.
        train_keys: int64 (N,) noise seeds of the train-split rows (:func:`row_keys`).
        copies: Noisy copies per train-split row per epoch; 0 without augmentation.
        extra: Token ids of the M extra rows, or ``None``.
        extra_label_ids: int64 (M,) class indices of the extra rows, or ``None``.
        extra_dropped: Extra rows left out because their text is a validation or test text.
    """

    train: EncodedTexts
    train_label_ids: np.ndarray
    train_texts: list[str]
    train_keys: np.ndarray
    tokenizer: object
    max_length: int
    kind: str
    rate: float
    copies: int
    seed: int
    extra: EncodedTexts | None = None
    extra_label_ids: np.ndarray | None = None
    extra_dropped: int = 0

    def counts(self) -> dict[str, int]:
        """Return the number of rows per epoch by origin, as stored in the run's metrics."""
        train = len(self.train)
        noisy = train * self.copies
        extra = 0 if self.extra is None else len(self.extra)
        return {
            "train": train,
            "noisy_copies": noisy,
            "extra": extra,
            "extra_dropped": int(self.extra_dropped),
            "per_epoch": train + noisy + extra,
        }

    def for_epoch(self, epoch: int) -> tuple[EncodedTexts, np.ndarray]:
        """Return the token ids and int64 class indices of the rows of ``epoch``, in the order of the class docstring."""
        if not self.copies and self.extra is None:
            return self.train, self.train_label_ids
        parts, label_parts = [self.train], [self.train_label_ids]
        if self.copies:
            noisy = noisy_copies(
                self.train_texts, self.train_keys, kind=self.kind, rate=self.rate, copies=self.copies,
                seed=self.seed, epoch=epoch,
            )
            parts.append(encode_texts(self.tokenizer, noisy, max_length=self.max_length))
            label_parts.append(np.repeat(self.train_label_ids, self.copies))  # row-major, as noisy_copies orders them
        if self.extra is not None:
            parts.append(self.extra)
            label_parts.append(self.extra_label_ids)
        return concatenate_encoded(parts), np.concatenate(label_parts)


def check_extra_train_rows(extra_rows: pd.DataFrame) -> pd.DataFrame:
    """Return the ``text`` and ``label`` columns of extra training rows, or raise ``ValueError``.

    Raises:
        ValueError: ``extra_rows`` is not a DataFrame, lacks a ``text`` or ``label``
            column, or has a row with an empty text or a missing label.
    """
    if not isinstance(extra_rows, pd.DataFrame):
        raise ValueError(f"extra_train_rows must be a pandas DataFrame; got {type(extra_rows).__name__}.")
    required = (data_module.TEXT_COLUMN, data_module.LABEL_COLUMN)
    missing = [column for column in required if column not in extra_rows.columns]
    if missing:
        raise ValueError(
            f"extra_train_rows lacks the column(s) {', '.join(missing)}. It needs the mapped-dataset columns "
            f"{', '.join(required)}, as core.data.apply_mapping writes them."
        )
    rows = extra_rows[list(required)].reset_index(drop=True)
    texts = rows[data_module.TEXT_COLUMN]
    empty = texts.isna() | (texts.astype(str).str.strip() == "")
    if empty.any():
        first = int(np.flatnonzero(empty.to_numpy())[0])
        raise ValueError(f"extra_train_rows row {first} has an empty text. Fill in the text or remove the row.")
    unlabelled = rows[data_module.LABEL_COLUMN].isna()
    if unlabelled.any():
        first = int(np.flatnonzero(unlabelled.to_numpy())[0])
        raise ValueError(f"extra_train_rows row {first} has no label. Give it a label or remove the row.")
    return pd.DataFrame(
        {
            data_module.TEXT_COLUMN: texts.astype(str).to_numpy(),
            data_module.LABEL_COLUMN: rows[data_module.LABEL_COLUMN].astype(str).to_numpy(),
        }
    )


def prepare_extra_rows(extra_rows: pd.DataFrame, prepared: pd.DataFrame, class_names: list[str]) -> tuple[pd.DataFrame, int]:
    """Check extra training rows against the prepared dataset and drop those that would leak held-out texts.

    A row whose text is also the text of a validation or test row is dropped with a
    warning, because the split assignment keeps every text in one split only.

    Returns:
        The kept ``text``/``label`` rows and the number of rows dropped.

    Raises:
        ValueError: as :func:`check_extra_train_rows`, or a label that is not a class of the dataset.
    """
    rows = check_extra_train_rows(extra_rows)
    unknown = sorted(set(rows[data_module.LABEL_COLUMN]) - set(class_names))
    if unknown:
        raise ValueError(
            f"extra_train_rows has label(s) {', '.join(map(repr, unknown[:5]))} that are not classes of the dataset "
            f"({', '.join(map(repr, class_names))}). Map them to one of these classes or remove those rows."
        )
    held_out = prepared[data_module.SPLIT_COLUMN].isin(["validation", "test"])
    held_out_texts = set(prepared.loc[held_out, data_module.TEXT_COLUMN])
    leaking = rows[data_module.TEXT_COLUMN].isin(held_out_texts)
    dropped = int(leaking.sum())
    if dropped:
        logger.warning(
            "Dropped %d of %d extra training rows whose text is also a validation or test text", dropped, len(rows)
        )
    return rows[~leaking].reset_index(drop=True), dropped

"""Build one ranked review queue from label-quality, acquisition, annotator and duplicate checks.

Symbols: N scored rows, K classes, T sampled probability vectors per row, D embedding size.

A row enters the queue for one or more of :data:`REASONS`:

- ``likely_mislabelled``: confident learning (:mod:`core.label_quality`) marks its
  given label as likely wrong.
- ``uncertain``: it is among the rows to label next by an acquisition score
  (:mod:`core.acquisition`), picked for diversity.
- ``annotators_disagreed``: its annotator confidence is below a threshold.
- ``conflicting_duplicate``: another row with the same normalised text has another label.

Queue columns, one row per queued dataset row (see :data:`QUEUE_COLUMNS`):

- ``rank`` (int, 1 = review first), ``row`` (position in the mapped dataset), ``id``,
  ``text``, ``label`` (given label, None when unlabelled).
- ``suggested_label`` and ``suggested_probability``: the most probable other class
  for a likely mislabelled row, the predicted class otherwise, or the majority label
  of a conflicting group when the row has no probabilities.
- ``reasons``: list of :data:`REASONS` entries, in that order.
- ``priority``: the sum over the row's reasons of a strength in [0, 1]:
  1 - normalised margin, the acquisition score divided by its maximum, 1 - annotator
  confidence, and 1 - the majority label's share in the duplicate group.
- Scores, NaN where they do not apply: ``self_confidence``, ``normalised_margin``,
  ``acquisition_score``, ``annotator_confidence``; ``duplicate_group`` (nullable int)
  and ``duplicate_labels`` (such as ``"neg: 2, pos: 1"``).
- ``predicted``, ``held_out`` (the probabilities come from a model that never trained
  on the row), ``fold``, and ``prob:<class>`` for each class.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from core import data as data_module
from core.acquisition import ACQUISITION_FUNCTIONS, acquisition_scores, select_diverse
from core.crossval import FOLD_COLUMN, HELD_OUT_COLUMN, TriageSource
from core.label_quality import DEFAULT_ISSUE_METHOD, check_issue_method, label_quality
from core.uncertainty import PROB_PREFIX

logger = logging.getLogger(__name__)

REASONS = ("likely_mislabelled", "uncertain", "annotators_disagreed", "conflicting_duplicate")
ACQUISITION_POOLS = ("unlabelled", "all")
DEFAULT_CONFIDENCE_THRESHOLD = 0.7
QUEUE_COLUMNS = (
    "rank",
    data_module.ROW_COLUMN,
    data_module.ID_COLUMN,
    data_module.TEXT_COLUMN,
    data_module.LABEL_COLUMN,
    "suggested_label",
    "suggested_probability",
    "reasons",
    "priority",
    "self_confidence",
    "normalised_margin",
    "acquisition_score",
    data_module.CONFIDENCE_COLUMN,
    "duplicate_group",
    "duplicate_labels",
    "predicted",
    HELD_OUT_COLUMN,
    FOLD_COLUMN,
)
_WHITESPACE = re.compile(r"\s+")

Embedder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class QueueSettings:
    """Options of :func:`build_queue`; :meth:`validate` checks them.

    Attributes:
        issue_method: confident-learning pruning method, one of
            :data:`core.label_quality.ISSUE_METHODS`.
        acquisition: ``entropy``, ``margin`` or ``bald`` (:data:`core.acquisition.ACQUISITION_FUNCTIONS`).
        uncertain_count: the maximum number of rows marked ``uncertain``. 0 turns the check off.
        acquisition_pool: ``unlabelled`` scores the rows without labels, ``all`` a
            seeded sample of ``sample_size`` scored rows of any kind.
        sample_size: rows drawn for the ``all`` pool; ``None`` takes every row.
        diversity: pick the uncertain rows by greedy k-centre selection on sentence
            embeddings among the ``pool_factor`` x ``uncertain_count`` best scores.
        pool_factor: see ``diversity``.
        confidence_threshold: rows with annotator confidence below it are marked
            ``annotators_disagreed``; ``None`` turns the check off.
        seed: seeds the ``all`` pool sample.
    """

    issue_method: str = DEFAULT_ISSUE_METHOD
    acquisition: str = "entropy"
    uncertain_count: int = 50
    acquisition_pool: str = "unlabelled"
    sample_size: int | None = 2000
    diversity: bool = True
    pool_factor: int = 5
    confidence_threshold: float | None = DEFAULT_CONFIDENCE_THRESHOLD
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid option, its allowed values and the value given."""
        check_issue_method(self.issue_method)
        if self.acquisition not in ACQUISITION_FUNCTIONS:
            raise ValueError(
                f"acquisition must be one of {', '.join(ACQUISITION_FUNCTIONS)}; got {self.acquisition!r}."
            )
        if self.acquisition_pool not in ACQUISITION_POOLS:
            raise ValueError(
                f"acquisition_pool must be one of {', '.join(ACQUISITION_POOLS)}; got {self.acquisition_pool!r}."
            )
        if self.uncertain_count < 0:
            raise ValueError(f"uncertain_count must be 0 or more; got {self.uncertain_count}.")
        if self.sample_size is not None and self.sample_size < 1:
            raise ValueError(f"sample_size must be empty or at least 1; got {self.sample_size}.")
        if self.pool_factor < 1:
            raise ValueError(f"pool_factor must be at least 1; got {self.pool_factor}.")
        threshold = self.confidence_threshold
        if threshold is not None and not (0.0 < threshold <= 1.0):
            raise ValueError(f"confidence_threshold must be in (0, 1] or empty; got {threshold!r}.")


def normalise_text(text: str) -> str:
    """Return ``text`` in Unicode NFKC form, case-folded, with runs of whitespace as one space and no ends."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", str(text)).casefold()).strip()


def conflicting_duplicates(dataset: pd.DataFrame) -> pd.DataFrame:
    """Return the labelled rows whose normalised text also occurs with another label.

    Returns:
        One row per such dataset row, indexed like ``dataset``. Its columns:
        ``duplicate_group`` (int, numbered in order of first appearance),
        ``duplicate_labels`` (label counts of the group, such as ``"neg: 2, pos: 1"``),
        ``majority_label`` (the most common label, with ties going to the first in
        :func:`core.data.label_names` order) and ``majority_share`` (its share of the
        group's rows).
    """
    columns = ["duplicate_group", "duplicate_labels", "majority_label", "majority_share"]
    labelled = dataset[dataset[data_module.LABEL_COLUMN].notna()]
    labelled = labelled[labelled[data_module.TEXT_COLUMN].astype(str).str.strip() != ""]
    if labelled.empty:
        return pd.DataFrame(columns=columns)
    keys = labelled[data_module.TEXT_COLUMN].map(normalise_text)
    distinct = labelled.groupby(keys, sort=False)[data_module.LABEL_COLUMN].nunique()
    conflicting_keys = distinct[distinct > 1].index
    members = labelled[keys.isin(conflicting_keys)]
    if members.empty:
        return pd.DataFrame(columns=columns)
    member_keys = keys[members.index]
    group_number = {key: number for number, key in enumerate(dict.fromkeys(member_keys))}
    summaries = {}
    for key, labels in members[data_module.LABEL_COLUMN].groupby(member_keys, sort=False):
        counts = labels.value_counts()
        ordered = data_module.label_names(counts.index)
        majority = max(ordered, key=lambda name: (counts[name], -ordered.index(name)))
        summaries[key] = (
            ", ".join(f"{name}: {counts[name]}" for name in ordered),
            majority,
            float(counts[majority] / counts.sum()),
        )
    out = pd.DataFrame(index=members.index)
    out["duplicate_group"] = member_keys.map(group_number).astype(np.int64)
    out["duplicate_labels"] = member_keys.map(lambda key: summaries[key][0])
    out["majority_label"] = member_keys.map(lambda key: summaries[key][1])
    out["majority_share"] = member_keys.map(lambda key: summaries[key][2]).astype(float)
    return out


def annotator_disagreements(dataset: pd.DataFrame, *, threshold: float = DEFAULT_CONFIDENCE_THRESHOLD) -> pd.Series:
    """Return a boolean Series aligned with ``dataset``: annotator confidence below ``threshold``.

    Rows without annotator confidence are never marked. The demo corpus stores the
    share of annotators who chose the label, so 0.7 means fewer than 70% agreed.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold!r}.")
    if data_module.CONFIDENCE_COLUMN not in dataset:
        return pd.Series(False, index=dataset.index)
    confidence = pd.to_numeric(dataset[data_module.CONFIDENCE_COLUMN], errors="coerce")
    return (confidence < threshold).fillna(False).astype(bool)


def acquisition_candidates(source: TriageSource, settings: QueueSettings) -> np.ndarray:
    """Return the positions in ``source.table`` that the ``uncertain`` check scores, shape (n,).

    ``unlabelled``: every row without a label. ``all``: a seeded sample of
    ``settings.sample_size`` rows (every row when it is ``None`` or larger). Compute
    sampled probabilities for BALD on exactly these rows (:func:`with_sampled_probs`).
    """
    settings.validate()
    table = source.table
    if settings.acquisition_pool == "unlabelled":
        return np.flatnonzero(table[data_module.LABEL_COLUMN].isna().to_numpy())
    positions = np.arange(len(table))
    if settings.sample_size is not None and settings.sample_size < len(positions):
        rng = np.random.default_rng(settings.seed)
        positions = np.sort(rng.choice(positions, size=settings.sample_size, replace=False))
    return positions


def with_sampled_probs(source: TriageSource, positions: Sequence[int], mc_probs: np.ndarray) -> TriageSource:
    """Return a copy of ``source`` with sampled probabilities for rows ``positions`` of its table.

    Args:
        positions: n row positions in ``source.table``.
        mc_probs: float array (T, n, K), such as :func:`core.methods.sampled_probs` of a
            run on the same rows. Rows not in ``positions`` get NaN.
    """
    from dataclasses import replace

    positions = np.asarray(positions, dtype=np.int64)
    mc_probs = np.asarray(mc_probs, dtype=np.float64)
    num_classes = len(source.class_names)
    if mc_probs.ndim != 3 or mc_probs.shape[1:] != (len(positions), num_classes):
        raise ValueError(
            f"mc_probs must have shape (T, {len(positions)}, {num_classes}) for {len(positions)} positions; "
            f"got {mc_probs.shape}."
        )
    if len(positions) and (positions.min() < 0 or positions.max() >= len(source.table)):
        raise ValueError(f"positions must be in [0, {len(source.table) - 1}].")
    sampled = np.full((mc_probs.shape[0], len(source.table), num_classes), np.nan)  # (T, N, K)
    sampled[:, positions, :] = mc_probs
    return replace(source, sampled_probs=sampled)


def with_mc_dropout(
    source: TriageSource,
    settings: QueueSettings,
    *,
    passes: int = 10,
    seed: int = 0,
    device=None,
    progress=None,
) -> TriageSource:
    """Return a copy of an in-sample ``source`` with MC dropout samples of its run on the candidate rows.

    The run's model scores the rows of :func:`acquisition_candidates` ``passes`` times
    with dropout on (:func:`core.methods.sampled_probs`), which BALD needs.

    Raises:
        ValueError: ``source`` is not a run's in-sample source (cross-validation keeps no
            model), or ``passes`` is invalid.
    """
    from core.methods import MethodSpec, sampled_probs

    if not source.in_sample:
        raise ValueError(
            "MC dropout needs a run's model, and a cross-validation folder keeps none. Use the unlabelled pool, "
            "whose rows have the fold models' probabilities, or a run folder."
        )
    positions = acquisition_candidates(source, settings)
    spec = MethodSpec("mc_dropout", passes=passes, seed=seed)
    mc_probs, _ = sampled_probs(source.path, positions, spec, device=device, progress=progress)  # (T, n, K)
    return with_sampled_probs(source, positions, mc_probs)


def build_queue(
    source: TriageSource,
    settings: QueueSettings | None = None,
    *,
    embed: Embedder | None = None,
) -> pd.DataFrame:
    """Return the ranked review queue of a dataset, one row per queued row (columns in the module docstring).

    Args:
        source: probabilities and dataset from :func:`core.crossval.cross_validate`,
            :func:`core.crossval.load_source` or :func:`core.crossval.in_sample_source`.
        settings: which checks run and how; defaults to :class:`QueueSettings`.
        embed: maps a list of texts to unit-length embeddings (n, D) for the diversity
            step; default :func:`core.acquisition.sentence_embeddings` with the
            built-in encoder. A page can pass a cached function.

    The returned frame's ``attrs`` contain ``kind`` (``out_of_sample`` or
    ``in_sample``), ``class_names``, ``estimated_noise_rate`` (None without labelled
    rows), ``issue_method`` and ``acquisition``.

    Raises:
        ValueError: invalid settings, or ``bald`` without sampled probabilities for
            every candidate row.
    """
    settings = settings or QueueSettings()
    settings.validate()
    table = source.table
    class_names = list(source.class_names)
    prob_columns = [f"{PROB_PREFIX}{name}" for name in class_names]
    probs = table[prob_columns].to_numpy(np.float64)  # (N, K)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 storage leaves rows off 1 by about 1e-7

    scores = pd.DataFrame(index=table.index)
    scores["predicted"] = np.asarray(class_names, dtype=object)[probs.argmax(axis=1)]
    scores["suggested_label"] = scores["predicted"]
    scores["suggested_probability"] = probs.max(axis=1)
    for column in ("self_confidence", "normalised_margin", "acquisition_score"):
        scores[column] = np.nan
    strengths = {reason: pd.Series(np.nan, index=table.index) for reason in REASONS[:2]}

    noise_rate = _score_labels(table, probs, class_names, settings, scores, strengths)
    _score_acquisition(source, probs, settings, scores, strengths, embed)

    scored = table.join(scores)
    queue = _merge_dataset_checks(source.dataset, scored, strengths, class_names, settings)
    queue.attrs.update(
        kind=source.kind, class_names=class_names, estimated_noise_rate=noise_rate,
        issue_method=settings.issue_method, acquisition=settings.acquisition,
    )
    return queue


def _score_labels(table, probs, class_names, settings, scores, strengths) -> float | None:
    """Fill the label-quality columns of labelled rows; return the estimated noise rate."""
    label_index = {name: index for index, name in enumerate(class_names)}
    label_ids = table[data_module.LABEL_COLUMN].map(label_index)
    known = label_ids.notna().to_numpy()
    unknown = table[data_module.LABEL_COLUMN].notna().to_numpy() & ~known
    if unknown.any():
        logger.warning("%d rows have labels that are not classes of the model; they get no label-quality score",
                       int(unknown.sum()))
    if not known.any():
        return None
    quality = label_quality(label_ids[known].to_numpy(np.int64), probs[known], method=settings.issue_method)
    index = table.index[known]
    scores.loc[index, "self_confidence"] = quality.self_confidence
    scores.loc[index, "normalised_margin"] = quality.normalised_margin
    flagged = index[quality.issues]
    suggested = np.asarray(class_names, dtype=object)[quality.suggested[quality.issues]]
    scores.loc[flagged, "suggested_label"] = suggested
    scores.loc[flagged, "suggested_probability"] = probs[np.flatnonzero(known)[quality.issues],
                                                         quality.suggested[quality.issues]]
    strengths["likely_mislabelled"].loc[flagged] = 1.0 - quality.normalised_margin[quality.issues]
    return quality.estimated_noise_rate


def _score_acquisition(source, probs, settings, scores, strengths, embed) -> None:
    """Score the candidate rows and mark the diverse top ones ``uncertain``."""
    if settings.uncertain_count == 0:
        return
    candidates = acquisition_candidates(source, settings)
    if len(candidates) == 0:
        return

    num_classes = probs.shape[1]
    if settings.acquisition == "bald":
        sampled = source.sampled_probs
        if sampled is None or np.isnan(sampled[:, candidates, :]).any():
            raise ValueError(
                "BALD needs sampled probabilities for every candidate row, and cross-validation stores them for "
                "unlabelled rows only. Use the unlabelled pool or entropy or margin, or add MC dropout samples of "
                "a run (with_mc_dropout)."
            )
        values = acquisition_scores("bald", mc_probs=sampled[:, candidates, :])
        maximum = math.log(num_classes)
    else:
        values = acquisition_scores(settings.acquisition, probs=probs[candidates])
        maximum = math.log(num_classes) if settings.acquisition == "entropy" else 1.0
    scores.loc[source.table.index[candidates], "acquisition_score"] = values

    count = min(settings.uncertain_count, len(candidates))
    embeddings = None
    if settings.diversity and count > 1:
        pool = np.argsort(-values, kind="stable")[: settings.pool_factor * count]
        texts = source.table[data_module.TEXT_COLUMN].iloc[candidates[pool]].astype(str).tolist()
        pool_embeddings = np.asarray((embed or _default_embed)(texts), dtype=np.float64)  # (pool, D)
        if pool_embeddings.shape[0] != len(pool):
            raise ValueError(f"embed returned {pool_embeddings.shape[0]} embeddings for {len(pool)} texts.")
        picked = pool[select_diverse(values[pool], count, embeddings=pool_embeddings, pool_size=len(pool))]
    else:
        picked = select_diverse(values, count, embeddings=embeddings)

    chosen = source.table.index[candidates[picked]]
    strengths["uncertain"].loc[chosen] = np.clip(values[picked] / maximum, 0.0, 1.0)


def _default_embed(texts: list[str]) -> np.ndarray:
    from core.acquisition import sentence_embeddings

    return sentence_embeddings(texts)


def _merge_dataset_checks(dataset, scored, strengths, class_names, settings) -> pd.DataFrame:
    """Join model-based reasons with the annotator and duplicate checks over every dataset row, then rank."""
    base = dataset.reset_index(drop=True)
    row_key = data_module.ROW_COLUMN
    if data_module.CONFIDENCE_COLUMN not in base:
        base[data_module.CONFIDENCE_COLUMN] = np.nan
    per_row = base[[row_key, data_module.ID_COLUMN, data_module.TEXT_COLUMN, data_module.LABEL_COLUMN,
                    data_module.CONFIDENCE_COLUMN]].copy()
    per_row[data_module.LABEL_COLUMN] = per_row[data_module.LABEL_COLUMN].astype(object).where(
        per_row[data_module.LABEL_COLUMN].notna(), None
    )
    reason_strength = pd.DataFrame(np.nan, index=per_row.index, columns=list(REASONS))
    if settings.confidence_threshold is not None:
        disagreed = annotator_disagreements(base, threshold=settings.confidence_threshold).to_numpy()
        reason_strength.loc[disagreed, "annotators_disagreed"] = (
            1.0 - per_row.loc[disagreed, data_module.CONFIDENCE_COLUMN].astype(float)
        )
    duplicates = conflicting_duplicates(base)
    per_row["duplicate_group"] = pd.array([pd.NA] * len(per_row), dtype="Int64")
    per_row["duplicate_labels"] = None
    majority = pd.Series(None, index=per_row.index, dtype=object)
    if not duplicates.empty:
        per_row.loc[duplicates.index, "duplicate_group"] = duplicates["duplicate_group"].to_numpy()
        per_row.loc[duplicates.index, "duplicate_labels"] = duplicates["duplicate_labels"].to_numpy()
        majority.loc[duplicates.index] = duplicates["majority_label"].to_numpy()
        reason_strength.loc[duplicates.index, "conflicting_duplicate"] = 1.0 - duplicates["majority_share"].to_numpy()

    # Model-based columns come from the source table, matched on the dataset's row number.
    model_columns = ["suggested_label", "suggested_probability", "self_confidence", "normalised_margin",
                     "acquisition_score", "predicted", HELD_OUT_COLUMN, FOLD_COLUMN,
                     *[f"{PROB_PREFIX}{name}" for name in class_names]]
    model_part = scored[[row_key, *model_columns]].copy()
    for reason, values in strengths.items():
        model_part[f"strength:{reason}"] = values.to_numpy()
    merged = per_row.merge(model_part, on=row_key, how="left", validate="one_to_one")
    for reason in strengths:
        reason_strength[reason] = merged[f"strength:{reason}"].to_numpy()

    no_probabilities = merged["predicted"].isna().to_numpy()
    merged.loc[no_probabilities, "suggested_label"] = majority[no_probabilities]
    present = reason_strength[list(REASONS)].notna().to_numpy()  # (rows, reasons)
    has_reason = present.any(axis=1)
    merged["reasons"] = [[REASONS[j] for j in np.flatnonzero(flags)] for flags in present]
    merged["priority"] = reason_strength.fillna(0.0).sum(axis=1).to_numpy()
    queue = merged[has_reason].sort_values(["priority", row_key], ascending=[False, True], kind="stable")
    queue = queue.reset_index(drop=True)
    queue.insert(0, "rank", np.arange(1, len(queue) + 1, dtype=np.int64))
    for column in ("suggested_label", "predicted", "duplicate_labels"):
        # Rows without probabilities come out of the merge with NaN; text columns use None.
        queue[column] = queue[column].astype(object).where(queue[column].notna(), None)
    queue[HELD_OUT_COLUMN] = queue[HELD_OUT_COLUMN].astype("boolean")
    queue[FOLD_COLUMN] = queue[FOLD_COLUMN].astype("Int64")
    prob_columns = [f"{PROB_PREFIX}{name}" for name in class_names]
    return queue[[*QUEUE_COLUMNS, *prob_columns]]


def filter_queue(
    queue: pd.DataFrame, *, classes: Sequence[str] | None = None, reasons: Sequence[str] | None = None
) -> pd.DataFrame:
    """Return the queue rows that match every given filter, in queue order.

    Args:
        classes: keep rows whose given label is one of these; rows without a label are
            matched on their suggested label.
        reasons: keep rows with at least one of these reasons (:data:`REASONS`).
    """
    keep = pd.Series(True, index=queue.index)
    if classes is not None:
        selected_classes = set(classes)
        shown_label = queue[data_module.LABEL_COLUMN].where(queue[data_module.LABEL_COLUMN].notna(), queue["suggested_label"])
        keep &= shown_label.isin(selected_classes)
    if reasons is not None:
        unknown = sorted(set(reasons) - set(REASONS))
        if unknown:
            raise ValueError(f"reasons must be among {', '.join(REASONS)}; got {', '.join(map(repr, unknown))}.")
        selected_reasons = set(reasons)
        keep &= queue["reasons"].map(lambda row_reasons: bool(selected_reasons.intersection(row_reasons)))
    return queue[keep]


def reason_counts(queue: pd.DataFrame) -> dict[str, int]:
    """Return how many queued rows have each reason, for every entry of :data:`REASONS`."""
    counts = dict.fromkeys(REASONS, 0)
    for row_reasons in queue["reasons"]:
        for reason in row_reasons:
            counts[reason] += 1
    return counts

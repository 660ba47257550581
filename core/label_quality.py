"""Label-quality scores and confident learning over out-of-sample class probabilities.

Symbols: N samples, K classes.

Every function takes ``label_ids``, an int array of shape (N,) with the given (possibly
wrong) class index of each row, and ``pred_probs``, a float array of shape (N, K) with
the model's class probabilities for the same rows. The probabilities should be out of
sample (from K-fold cross-validation, :mod:`core.crossval`): a model that trained on a
row has usually memorised its label, wrong or not, so in-sample probabilities find
fewer errors.

Confident learning follows Northcutt, Jiang and Chuang 2021, "Confident Learning:
Estimating Uncertainty in Dataset Labels", Journal of Artificial Intelligence Research
70, 1373-1411. This module implements its per-class thresholds, the confident joint and
its calibration to the label counts (their equations 1 and 2). It also implements
pruning by class, by noise rate or by the off-diagonal of the confident joint (their
section 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.metrics import check_label_probs

ISSUE_METHODS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_joint")
DEFAULT_ISSUE_METHOD = "prune_by_noise_rate"
# Rows of pred_probs may be float32 probabilities read back from Parquet.
_ROW_SUM_TOLERANCE = 1e-3


def check_inputs(label_ids: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(label_ids, pred_probs)`` as int64 (N,) and float64 (N, K), or raise ``ValueError``.

    Raises:
        ValueError: no rows, fewer than 2 classes, shapes that do not match, a label
            outside [0, K - 1], or a probability row outside [0, 1] or not summing to 1.
    """
    label_ids, pred_probs = check_label_probs(label_ids, pred_probs)
    if pred_probs.shape[0] == 0:
        raise ValueError("pred_probs has no rows; label quality needs at least one labelled row.")
    if pred_probs.shape[1] < 2:
        raise ValueError(f"pred_probs must have at least 2 classes; got shape {pred_probs.shape}.")
    if not np.isfinite(pred_probs).all() or pred_probs.min() < 0 or pred_probs.max() > 1:
        raise ValueError("pred_probs must contain finite probabilities in [0, 1].")
    row_sums = pred_probs.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > _ROW_SUM_TOLERANCE:
        raise ValueError(
            f"Each row of pred_probs must sum to 1; row {worst} sums to {row_sums[worst]:.6f}. Pass softmax "
            "probabilities, not logits."
        )
    return label_ids, pred_probs


def check_issue_method(method: str) -> str:
    """Return ``method`` when it is one of :data:`ISSUE_METHODS`, else raise ``ValueError``."""
    if method not in ISSUE_METHODS:
        raise ValueError(f"method must be one of {', '.join(ISSUE_METHODS)}; got {method!r}.")
    return method


def self_confidence(label_ids: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Return the probability of each row's given label, shape (N,). A low value means likely mislabelled."""
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    return pred_probs[np.arange(len(label_ids)), label_ids]


def normalised_margin(label_ids: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Return (p[given] - max of p[other classes] + 1) / 2 per row, shape (N,), in [0, 1].

    Below 0.5 the model prefers another class to the given label, and a low value means
    likely mislabelled. Unlike self-confidence, it also drops when a second class is
    nearly as probable as the given one.
    """
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    rows = np.arange(len(label_ids))
    given = pred_probs[rows, label_ids]
    others = pred_probs.copy()
    others[rows, label_ids] = -np.inf
    return (given - others.max(axis=1) + 1.0) / 2.0


def per_class_thresholds(label_ids: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Return t_j, the mean probability of class j over the rows labelled j, shape (K,).

    A class that no row is labelled with gets an infinite threshold, so no row is ever
    counted as truly belonging to it.
    """
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    num_classes = pred_probs.shape[1]
    thresholds = np.full(num_classes, np.inf)
    for k in range(num_classes):
        members = label_ids == k
        if members.any():
            thresholds[k] = pred_probs[members, k].mean()
    return thresholds


def confident_classes(
    label_ids: np.ndarray, pred_probs: np.ndarray, *, thresholds: np.ndarray | None = None
) -> np.ndarray:
    """Return the class each row is confidently counted as, shape (N,), or -1 for none.

    A row counts as class j when p[j] >= t_j. When several classes pass their
    thresholds the most probable of them is taken, and a row that passes none is not
    counted (equation 1 of Northcutt, Jiang and Chuang 2021).
    """
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    if thresholds is None:
        thresholds = per_class_thresholds(label_ids, pred_probs)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.shape != (pred_probs.shape[1],):
        raise ValueError(f"thresholds must have shape ({pred_probs.shape[1]},); got {thresholds.shape}.")
    above = pred_probs >= thresholds[np.newaxis, :]  # (N, K)
    candidates = np.where(above, pred_probs, -np.inf)  # (N, K)
    assigned = candidates.argmax(axis=1)
    return np.where(above.any(axis=1), assigned, -1)


def confident_joint(
    label_ids: np.ndarray, pred_probs: np.ndarray, *, thresholds: np.ndarray | None = None
) -> np.ndarray:
    """Return the confident joint C, an int64 array of shape (K, K).

    C[i, j] counts the rows labelled i that :func:`confident_classes` counts as class
    j. The off-diagonal entries are the rows whose label is likely wrong.
    """
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    num_classes = pred_probs.shape[1]
    assigned = confident_classes(label_ids, pred_probs, thresholds=thresholds)
    counted = assigned >= 0
    joint = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(joint, (label_ids[counted], assigned[counted]), 1)
    return joint


def calibrated_joint(joint: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """Return the estimated joint distribution Q of (given label, true label), shape (K, K), summing to 1.

    Each row of the confident joint is rescaled to sum to the number of rows with that
    given label, then the whole matrix is divided by the total (equation 2 of Northcutt,
    Jiang and Chuang 2021). A class without counted rows keeps a row of zeros.

    Args:
        joint: the confident joint, int array of shape (K, K).
        class_counts: int array of shape (K,), rows per given label.
    """
    joint = np.asarray(joint, dtype=np.float64)
    class_counts = np.asarray(class_counts, dtype=np.float64)
    if joint.ndim != 2 or joint.shape[0] != joint.shape[1]:
        raise ValueError(f"joint must be a square (K, K) matrix; got shape {joint.shape}.")
    if class_counts.shape != (joint.shape[0],):
        raise ValueError(f"class_counts must have shape ({joint.shape[0]},); got {class_counts.shape}.")
    row_sums = joint.sum(axis=1, keepdims=True)  # (K, 1)
    shares = np.divide(joint, row_sums, out=np.zeros_like(joint), where=row_sums > 0)
    calibrated = shares * class_counts[:, np.newaxis]
    total = calibrated.sum()
    if total <= 0:
        raise ValueError("The confident joint counted no rows; there is nothing to calibrate.")
    return calibrated / total


def find_label_issues(
    label_ids: np.ndarray, pred_probs: np.ndarray, *, method: str = DEFAULT_ISSUE_METHOD
) -> np.ndarray:
    """Return a boolean mask of shape (N,) that marks the rows whose given label is likely wrong.

    Methods (section 3.2 of Northcutt, Jiang and Chuang 2021), with Q the calibrated
    joint and n the number of rows:

    - ``prune_by_noise_rate``: for each pair of classes i != j, mark the round(n * Q[i, j])
      rows labelled i with the largest p[j] - p[i].
    - ``prune_by_class``: for each class i, mark the round(n * sum over j != i of Q[i, j])
      rows labelled i with the lowest p[i].
    - ``both``: rows that both of the above mark.
    - ``confident_joint``: rows in the off-diagonal of the confident joint.

    With every method, a row whose most probable class is its given label is never
    marked. The counts n * Q[i, j] reach down the ranking regardless of the model's
    prediction, and would otherwise mark rows the model agrees with.
    """
    check_issue_method(method)
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    return _find_label_issues(label_ids, pred_probs, method)


def _find_label_issues(label_ids: np.ndarray, pred_probs: np.ndarray, method: str) -> np.ndarray:
    num_rows, num_classes = pred_probs.shape
    thresholds = per_class_thresholds(label_ids, pred_probs)
    assigned = confident_classes(label_ids, pred_probs, thresholds=thresholds)
    agrees = pred_probs.argmax(axis=1) == label_ids
    if method == "confident_joint":
        return (assigned >= 0) & (assigned != label_ids) & ~agrees

    joint = np.zeros((num_classes, num_classes), dtype=np.int64)
    counted = assigned >= 0
    np.add.at(joint, (label_ids[counted], assigned[counted]), 1)
    class_counts = np.bincount(label_ids, minlength=num_classes)
    noise_counts = np.rint(calibrated_joint(joint, class_counts) * num_rows).astype(np.int64)  # (K, K)

    by_noise_rate = np.zeros(num_rows, dtype=bool)
    by_class = np.zeros(num_rows, dtype=bool)
    for given in range(num_classes):
        members = np.flatnonzero(label_ids == given)
        if len(members) == 0:
            continue
        for true in range(num_classes):
            count = noise_counts[given, true]
            if true == given or count == 0:
                continue
            gap = pred_probs[members, true] - pred_probs[members, given]
            # A stable sort keeps the earlier row first among equal gaps, so results are reproducible.
            by_noise_rate[members[np.argsort(-gap, kind="stable")[:count]]] = True
        off_diagonal = int(noise_counts[given].sum() - noise_counts[given, given])
        if off_diagonal > 0:
            order = np.argsort(pred_probs[members, given], kind="stable")
            by_class[members[order[:off_diagonal]]] = True
    if method == "prune_by_noise_rate":
        return by_noise_rate & ~agrees
    if method == "prune_by_class":
        return by_class & ~agrees
    return by_noise_rate & by_class & ~agrees


def suggested_classes(label_ids: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """Return the most probable class other than the given label, shape (N,).

    This is the correction to propose for a row found to be mislabelled.
    """
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    others = pred_probs.copy()
    others[np.arange(len(label_ids)), label_ids] = -np.inf
    return others.argmax(axis=1)


@dataclass
class LabelQuality:
    """Label-quality scores of N rows with K classes.

    Attributes:
        self_confidence: float array (N,), probability of the given label.
        normalised_margin: float array (N,), see :func:`normalised_margin`.
        issues: bool array (N,), rows that ``method`` marks as likely mislabelled.
        suggested: int array (N,), most probable class other than the given label.
        thresholds: float array (K,), per-class thresholds t_j.
        confident_joint: int array (K, K), rows by (given label, confidently counted class).
        joint: float array (K, K), calibrated joint distribution Q, summing to 1.
        method: the pruning method of ``issues``, one of :data:`ISSUE_METHODS`.
    """

    self_confidence: np.ndarray
    normalised_margin: np.ndarray
    issues: np.ndarray
    suggested: np.ndarray
    thresholds: np.ndarray
    confident_joint: np.ndarray
    joint: np.ndarray
    method: str

    @property
    def estimated_noise_rate(self) -> float:
        """Estimated share of rows whose given label is wrong: 1 - trace(Q)."""
        return float(1.0 - np.trace(self.joint))


def label_quality(
    label_ids: np.ndarray, pred_probs: np.ndarray, *, method: str = DEFAULT_ISSUE_METHOD
) -> LabelQuality:
    """Compute every label-quality score of :class:`LabelQuality` in one pass over the inputs."""
    check_issue_method(method)
    label_ids, pred_probs = check_inputs(label_ids, pred_probs)
    thresholds = per_class_thresholds(label_ids, pred_probs)
    joint_counts = confident_joint(label_ids, pred_probs, thresholds=thresholds)
    class_counts = np.bincount(label_ids, minlength=pred_probs.shape[1])
    return LabelQuality(
        self_confidence=self_confidence(label_ids, pred_probs),
        normalised_margin=normalised_margin(label_ids, pred_probs),
        issues=_find_label_issues(label_ids, pred_probs, method),
        suggested=suggested_classes(label_ids, pred_probs),
        thresholds=thresholds,
        confident_joint=joint_counts,
        joint=calibrated_joint(joint_counts, class_counts),
        method=method,
    )

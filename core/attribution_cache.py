"""Attributions of a run's texts, cached in the run folder per text, method and settings.

A result is stored as one JSON file::

    attributions/<method>-<target>-<hash>.json

where ``<hash>`` is the first 16 hex digits of the SHA-256 of the run id and creation
time, the text, the label (for the ``label`` target only), the maximum length and the
settings as canonical JSON. Files are written under a temporary name and renamed
(:func:`core.runs.write_json_atomic`), so a listed result is always complete.
Randomisation checks are stored beside them as ``randomisation-<method>-<hash>.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from core import data as data_module
from core import runs
from core.attribution import AttributionSpec, TextAttribution, attribute_texts
from core.methods import RunModel
from core.models import resolve_device
from core.passes import ProgressCallback, StopCallback

logger = logging.getLogger(__name__)

CACHE_DIR = "attributions"
# Rows attributed per call while a run's rows are computed, so finished rows are stored
# (and survive a cancelled job) as the computation goes.
ROWS_PER_CHUNK = 32


def _digest(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _run_identity(run_dir: Path) -> dict:
    summary = runs.read_summary(run_dir)
    return {"run": summary.id, "created": summary.created}


def cache_path(run_dir: str | Path, text: str, spec: AttributionSpec, *, max_length: int, label: str | None = None) -> Path:
    """Return the JSON path of one text's result (it may not exist yet)."""
    spec = spec.normalised()
    run_dir = Path(run_dir)
    digest = _digest({
        **_run_identity(run_dir),
        "text": str(text),
        "label": label if spec.target == "label" else None,
        "max_length": int(max_length),
        "settings": spec.settings(),
    })
    return run_dir / CACHE_DIR / f"{spec.method}-{spec.target}-{digest}.json"


def find_attribution(run_dir: str | Path, text: str, spec: AttributionSpec, *, max_length: int,
                     label: str | None = None) -> TextAttribution | None:
    """Return the stored result for ``text``, or ``None`` when there is none (or it cannot be read)."""
    path = cache_path(run_dir, text, spec, max_length=max_length, label=label)
    if not path.is_file():
        return None
    try:
        return TextAttribution.from_dict(json.loads(path.read_text(encoding="utf-8"))["result"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("Ignoring unreadable cached attribution %s: %s", path, exc)
        return None


def attribute_run_texts(
    run_dir: str | Path,
    texts: Sequence[str],
    spec: AttributionSpec,
    *,
    labels: Sequence[str | None] | None = None,
    run_model: RunModel | None = None,
    device: torch.device | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    overwrite: bool = False,
) -> list[TextAttribution]:
    """Return the attribution of each text with a run's model, computing and storing the missing ones.

    Raises:
        ValueError: invalid settings or labels (see :func:`core.attribution.attribute_texts`).
        RunNotFoundError: ``run_dir`` is not a finished run.
        ComputationCancelled: ``should_stop`` returned true; rows finished so far stay stored.
    """
    spec = spec.normalised()
    run_dir = Path(run_dir)
    runs.read_summary(run_dir)
    run_model = run_model or RunModel(run_dir, device or resolve_device("auto"))
    model, tokenizer, max_length = run_model.get()
    labels = list(labels) if labels is not None else [None] * len(texts)
    results: list[TextAttribution | None] = [None] * len(texts)
    missing = []
    for index, (text, label) in enumerate(zip(texts, labels)):
        found = None if overwrite else find_attribution(run_dir, text, spec, max_length=max_length, label=label)
        if found is None:
            missing.append(index)
        results[index] = found
    if missing:
        logger.info("Computing %d of %d attributions (%s, target %s) for run %s",
                    len(missing), len(texts), spec.method, spec.target, run_dir.name)
    for start in range(0, len(missing), ROWS_PER_CHUNK):
        chunk = missing[start : start + ROWS_PER_CHUNK]
        computed = attribute_texts(
            model, tokenizer, [texts[index] for index in chunk], spec=spec, max_length=max_length,
            labels=[labels[index] for index in chunk] if spec.target == "label" else None,
            progress=progress, should_stop=should_stop,
        )
        for index, result in zip(chunk, computed):
            path = cache_path(run_dir, texts[index], spec, max_length=max_length, label=labels[index])
            path.parent.mkdir(exist_ok=True)
            runs.write_json_atomic(path, {
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "result": result.to_dict(),
            })
            results[index] = result
    return results


def row_texts(run_dir: str | Path, positions: Sequence[int]) -> tuple[list[str], list[str | None]]:
    """Return the texts and labels of rows ``positions`` of a run's predictions table.

    Raises:
        ValueError: a position outside the table.
    """
    table = runs.load_predictions(Path(run_dir))
    positions = np.asarray(positions, dtype=np.int64)
    outside = positions[(positions < 0) | (positions >= len(table))]
    if len(outside):
        raise ValueError(f"row positions must be from 0 to {len(table) - 1}; got {outside[:5].tolist()}.")
    texts = table[data_module.TEXT_COLUMN].iloc[positions].astype(str).tolist()
    labels = [None if label is None or (isinstance(label, float) and np.isnan(label)) else str(label)
              for label in table[data_module.LABEL_COLUMN].iloc[positions].tolist()]
    return texts, labels


def attribute_run_rows(run_dir: str | Path, positions: Sequence[int], spec: AttributionSpec, **options) -> list[TextAttribution]:
    """Attribute rows ``positions`` of a run's predictions table; see :func:`attribute_run_texts`."""
    texts, labels = row_texts(run_dir, positions)
    return attribute_run_texts(run_dir, texts, spec, labels=labels, **options)


def randomisation_path(run_dir: str | Path, spec: AttributionSpec, positions: Sequence[int], seed: int) -> Path:
    """Return the JSON path of a randomisation check on rows ``positions``."""
    spec = spec.normalised()
    run_dir = Path(run_dir)
    digest = _digest({**_run_identity(run_dir), "positions": [int(p) for p in positions], "seed": int(seed),
                      "settings": spec.settings()})
    return run_dir / CACHE_DIR / f"randomisation-{spec.method}-{digest}.json"


def compute_randomisation(
    run_dir: str | Path, positions: Sequence[int], spec: AttributionSpec, *, seed: int = 0,
    run_model: RunModel | None = None, device: torch.device | None = None,
) -> dict:
    """Run (or read back) the randomised-weights check of ``spec`` on rows ``positions`` of a run."""
    from core.attribution_sanity import randomisation_check

    path = randomisation_path(run_dir, spec, positions, seed)
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    run_model = run_model or RunModel(run_dir, device or resolve_device("auto"))
    model, tokenizer, max_length = run_model.get()
    texts, labels = row_texts(run_dir, positions)
    report = randomisation_check(model, tokenizer, texts, spec=spec, max_length=max_length,
                                 labels=labels if spec.normalised().target == "label" else None, seed=seed)
    report["positions"] = [int(p) for p in positions]
    path.parent.mkdir(exist_ok=True)
    runs.write_json_atomic(path, report)
    return report


def list_randomisation_checks(run_dir: str | Path) -> list[dict]:
    """Return the stored randomisation checks of a run, unreadable files skipped and logged."""
    folder = Path(run_dir) / CACHE_DIR
    reports = []
    for path in sorted(folder.glob("randomisation-*.json")) if folder.is_dir() else []:
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            logger.warning("Skipping randomisation check %s: %s", path, exc)
    return reports

"""Cache of uncertainty results per run, split, method and settings.

A result is stored in the run folder as::

    uncertainty/<method>-<split>-<hash>.parquet   one row per sample of the split
    uncertainty/<method>-<split>-<hash>.json      method, split, settings, timing

where ``<hash>`` is the first 12 hex digits of the SHA-256 of the method, split and
settings as canonical JSON. Both files are written under a temporary name and
renamed, the Parquet file first, so a listed result is always complete.

The table has a ``position`` column (the row's position in the run's predictions
table) and the columns of :func:`core.uncertainty.sampled_uncertainty_frame`.
The ``softmax`` baseline is never cached: it is read from the run's predictions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from core import runs
from core.methods import MethodSpec, RunModel, sampled_probs, split_positions
from core.passes import ProgressCallback, StopCallback
from core.uncertainty import sampled_uncertainty_frame

logger = logging.getLogger(__name__)

CACHE_DIR = "uncertainty"
POSITION_COLUMN = "position"


@dataclass
class CachedResult:
    """One stored result: where it is and what produced it."""

    path: Path
    method: str
    split: str
    spec: MethodSpec
    rows: int
    seconds: float
    created: str
    details: dict

    @property
    def key(self) -> str:
        return self.path.stem


def cache_key(spec: MethodSpec, split: str) -> str:
    """Return the file stem ``<method>-<split>-<hash>`` of a result."""
    spec = spec.normalised()
    canonical = json.dumps({"method": spec.method, "split": split, "settings": spec.settings()}, sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
    return f"{spec.method}-{split}-{digest}"


def cache_path(run_dir: str | Path, spec: MethodSpec, split: str) -> Path:
    """Return the Parquet path of a result (it may not exist yet)."""
    return Path(run_dir) / CACHE_DIR / f"{cache_key(spec, split)}.parquet"


def _read_sidecar(parquet: Path) -> CachedResult | None:
    sidecar = parquet.with_suffix(".json")
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
        spec = MethodSpec.from_settings(info["settings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("Skipping cached result %s: %s", parquet, exc)
        return None
    return CachedResult(
        path=parquet,
        method=info["method"],
        split=info["split"],
        spec=spec,
        rows=int(info.get("rows", 0)),
        seconds=float(info.get("seconds", 0.0)),
        created=info.get("created", ""),
        details=info.get("details", {}),
    )


def find_result(run_dir: str | Path, spec: MethodSpec, split: str) -> CachedResult | None:
    """Return the stored result of ``spec`` on ``split``, or ``None`` when there is none."""
    parquet = cache_path(run_dir, spec, split)
    if not (parquet.is_file() and parquet.with_suffix(".json").is_file()):
        return None
    return _read_sidecar(parquet)


def list_results(run_dir: str | Path, *, split: str | None = None) -> list[CachedResult]:
    """Return the stored results of a run (of one split when given), oldest first."""
    folder = Path(run_dir) / CACHE_DIR
    if not folder.is_dir():
        return []
    results = []
    for parquet in sorted(folder.glob("*.parquet")):
        if parquet.name.startswith(".") or not parquet.with_suffix(".json").is_file():
            continue
        result = _read_sidecar(parquet)
        if result is not None and (split is None or result.split == split):
            results.append(result)
    return sorted(results, key=lambda result: (result.created, result.key))


def load_result(result: CachedResult) -> pd.DataFrame:
    """Read the per-sample table of a stored result."""
    return pd.read_parquet(result.path)


def compute_result(
    run_dir: str | Path,
    spec: MethodSpec,
    split: str,
    *,
    device: torch.device | None = None,
    run_model: RunModel | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    overwrite: bool = False,
) -> CachedResult:
    """Compute ``spec`` on every row of ``split`` and store it, unless it is stored already.

    Raises:
        ValueError: invalid settings, an unknown or empty split, or ``softmax`` (which
            is read from the run and never cached).
        ComputationCancelled: ``should_stop`` returned true.
    """
    spec = spec.normalised()
    if spec.method == "softmax":
        raise ValueError("The softmax baseline is read from the run's predictions and is not computed or cached.")
    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    existing = find_result(run_dir, spec, split)
    if existing is not None and not overwrite:
        logger.info("Using the stored %s result for the %s split of run %s", spec.method, split, summary.id)
        return existing
    positions = split_positions(run_dir, split)
    logger.info(
        "Computing %s (T=%d) on %d rows of the %s split of run %s, batch size %d",
        spec.method, spec.passes, len(positions), split, summary.id, spec.batch_size,
    )
    started = time.perf_counter()
    mc_probs, details = sampled_probs(
        run_dir, positions, spec, device=device, run_model=run_model, progress=progress, should_stop=should_stop
    )
    seconds = time.perf_counter() - started
    frame = sampled_uncertainty_frame(mc_probs, summary.labels)
    frame.insert(0, POSITION_COLUMN, positions)
    parquet = cache_path(run_dir, spec, split)
    parquet.parent.mkdir(exist_ok=True)
    runs.write_parquet_atomic(frame, parquet)
    runs.write_json_atomic(
        parquet.with_suffix(".json"),
        {
            "method": spec.method,
            "split": split,
            "settings": spec.settings(),
            "rows": int(len(positions)),
            "seconds": seconds,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "details": details,
        },
    )
    logger.info("Stored %s for the %s split in %.1f s: %s", spec.method, split, seconds, parquet.name)
    return _read_sidecar(parquet)

"""Run folders: write them atomically, list them and load them back.

A run folder contains::

    model/               weights (safetensors), config with the label map, tokenizer
    labels.json          class names in output order
    config.json          training settings and where the data came from
    metrics.json         per-epoch history, best epoch, per-split metrics and reports
    versions.json        library versions and the device
    predictions.parquet  one row per sample: text, label, split, probabilities, uncertainty
    run.json             written last: id, creation time, model, summary

Everything is written into a hidden temporary sibling folder first and renamed into
place in one step, so a reader never sees a half-written run.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

logger = logging.getLogger(__name__)

RUN_MARKER = "run.json"
MODEL_SUBDIR = "model"
PREDICTIONS_FILE = "predictions.parquet"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class RunNotFoundError(FileNotFoundError):
    """A path is not a finished run folder."""


def new_run_id(model_name: str) -> str:
    """Return a sortable, unique run id such as ``20261204-203012-minilm-3fa1``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    short = _UNSAFE.sub("-", Path(str(model_name)).name.lower()).strip("-")[:24] or "model"
    return f"{stamp}-{short}-{secrets.token_hex(2)}"


def check_new_run_dir(path: Path) -> None:
    """Raise ``FileExistsError`` when ``path`` already holds anything, so no run is overwritten."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"Output folder {path} already exists and is not empty. Choose a new folder.")
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)


def library_versions(device: torch.device | None = None) -> dict:
    import numpy
    import sklearn
    import transformers

    versions = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device is not None:
        versions["device"] = str(device)
        if device.type == "cuda":
            versions["gpu"] = torch.cuda.get_device_name(device)
            versions["cuda"] = torch.version.cuda
    return versions


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, default=_json_default), encoding="utf-8")
    os.replace(temporary, path)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a Parquet file to a temporary name and rename it over ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, path)


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot store {type(value).__name__} in JSON")


def write_run(
    output_dir: Path,
    *,
    model,
    tokenizer,
    class_names: list[str],
    config: dict,
    data_info: dict,
    metrics: dict,
    predictions: pd.DataFrame,
    device: torch.device | None = None,
) -> Path:
    """Write every file of a run into a temporary folder, then rename it to ``output_dir``."""
    check_new_run_dir(output_dir)
    staging = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}-{secrets.token_hex(2)}"
    staging.mkdir(parents=True)
    try:
        model.save_pretrained(staging / MODEL_SUBDIR, safe_serialization=True)
        tokenizer.save_pretrained(staging / MODEL_SUBDIR)
        write_json_atomic(staging / "labels.json", {"labels": list(class_names)})
        write_json_atomic(staging / "config.json", {"train": config, "data": data_info})
        write_json_atomic(staging / "metrics.json", metrics)
        write_json_atomic(staging / "versions.json", library_versions(device))
        write_parquet_atomic(predictions, staging / PREDICTIONS_FILE)
        test = metrics.get("splits", {}).get("test", {})
        validation = metrics.get("splits", {}).get("validation", {})
        write_json_atomic(
            staging / RUN_MARKER,
            {
                "id": output_dir.name,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "model": config.get("model"),
                "data": data_info.get("name"),
                "labels": list(class_names),
                "rows": metrics.get("rows", {}),
                "test_accuracy": test.get("accuracy"),
                "validation_accuracy": validation.get("accuracy"),
                "epochs": config.get("epochs"),
            },
        )
        if output_dir.exists():
            output_dir.rmdir()  # empty, as check_new_run_dir ensured
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Run written to %s", output_dir)
    return output_dir


@dataclass
class RunSummary:
    """What a run listing shows without loading the model."""

    path: Path
    id: str
    created: str
    model: str | None
    data: str | None
    labels: list[str]
    test_accuracy: float | None
    validation_accuracy: float | None
    rows: dict


def read_summary(run_dir: Path) -> RunSummary:
    """Read ``run.json`` of a finished run.

    Raises:
        RunNotFoundError: ``run_dir`` has no ``run.json`` (not a run, or not finished).
    """
    marker = Path(run_dir) / RUN_MARKER
    if not marker.is_file():
        raise RunNotFoundError(
            f"{run_dir} is not a finished run folder (no {RUN_MARKER}). Pass a folder written by "
            "`python -m core train`."
        )
    info = json.loads(marker.read_text(encoding="utf-8"))
    return RunSummary(
        path=Path(run_dir),
        id=info.get("id", Path(run_dir).name),
        created=info.get("created", ""),
        model=info.get("model"),
        data=info.get("data"),
        labels=list(info.get("labels", [])),
        test_accuracy=info.get("test_accuracy"),
        validation_accuracy=info.get("validation_accuracy"),
        rows=info.get("rows", {}),
    )


def list_runs(runs_root: Path) -> list[RunSummary]:
    """Return finished runs under ``runs_root``, newest first; unreadable folders are skipped and logged."""
    if not runs_root.is_dir():
        return []
    summaries = []
    for child in runs_root.iterdir():
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            summaries.append(read_summary(child))
        except RunNotFoundError:
            continue
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("Skipping run folder %s: %s", child, exc)
    return sorted(summaries, key=lambda summary: (summary.created, summary.id), reverse=True)


def read_json(run_dir: Path, name: str) -> dict:
    read_summary(run_dir)
    return json.loads((Path(run_dir) / name).read_text(encoding="utf-8"))


def load_predictions(run_dir: Path) -> pd.DataFrame:
    """Read the per-sample predictions table of a finished run."""
    read_summary(run_dir)
    return pd.read_parquet(Path(run_dir) / PREDICTIONS_FILE)


def model_dir(run_dir: Path) -> Path:
    read_summary(run_dir)
    return Path(run_dir) / MODEL_SUBDIR


def remove_stale_staging(runs_root: Path, *, older_than_seconds: float = 24 * 3600) -> int:
    """Delete temporary run folders left by crashed writers; return how many were removed."""
    removed = 0
    if not runs_root.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    for child in runs_root.glob(".*.tmp-*"):
        if child.is_dir() and child.stat().st_mtime < cutoff:
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed


def runs_root(workspace: Path) -> Path:
    """Return the folder under ``workspace`` that holds run folders, creating it if needed."""
    root = Path(workspace) / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root

"""Attacks on a run's rows: background jobs, stored results and adversarial training rows.

An attack's results are stored in the run folder::

    attacks/<attack-id>.parquet   one row per attacked row (core.attack_results.results_table)
    attacks/<attack-id>.json      id, run, recipe settings, split, positions, summary, time

Both files are written under a temporary name and renamed, the Parquet file first, so
a listed attack (a readable JSON file) always has its table. While a job runs, the rows
finished so far are kept in the job folder, so a cancelled or interrupted job that is
resumed continues after the last finished chunk of rows.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from core import jobs, runs
from core.attack import Attacker
from core.attack_recipe import DEFAULT_RECIPE, AttackRecipe, check_mlm_folder, recipe_preset
from core.attack_results import adversarial_training_rows, attack_summary, results_table
from core.attribution_cache import row_texts
from core.methods import RunModel, split_positions
from core.models import DEVICE_CHOICES, model_label_names, resolve_device
from core.passes import ProgressCallback, StopCallback
from core.progress import Progress

__all__ = [
    "ATTACKS_DIR", "adversarial_training_rows", "list_attacks", "load_attack", "load_attack_metadata",
    "run_attack", "run_attack_job", "submit_attack",
]

logger = logging.getLogger(__name__)

ATTACKS_DIR = "attacks"
PARTIAL_FILE = "attack-partial.parquet"
# Rows attacked between two saves of the finished rows while a job runs.
ROWS_PER_CHUNK = 16
_ATTACK_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def new_attack_id(recipe_name: str) -> str:
    """Return a sortable, unique attack id such as ``20261204-203012-charbug-3fa1``."""
    short = re.sub(r"[^A-Za-z0-9-]+", "-", recipe_name.lower()).strip("-")[:24] or "attack"
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{short}-{secrets.token_hex(2)}"


def _as_recipe(recipe: AttackRecipe | str) -> AttackRecipe:
    if isinstance(recipe, str):
        return recipe_preset(recipe)
    if not isinstance(recipe, AttackRecipe):
        raise TypeError(f"recipe must be an AttackRecipe or a preset name; got {type(recipe).__name__}.")
    return recipe.validate()


def resolve_rows(
    run_dir: str | Path, positions_or_split: str | Sequence[int], *, limit: int | None = None
) -> tuple[list[int], str | None]:
    """Return the row positions to attack and the split name (``None`` for explicit rows).

    Args:
        positions_or_split: a split name (``test``, ``validation``, ...) or row positions
            in the run's predictions table.
        limit: keep only the first ``limit`` rows.

    Raises:
        ValueError: an unknown or empty split, no rows, a position outside the table, or
            a ``limit`` below 1.
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    runs.read_summary(Path(run_dir))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a whole number of at least 1; got {limit!r}.")
    if isinstance(positions_or_split, str):
        split = positions_or_split
        positions = split_positions(run_dir, split).tolist()
    else:
        split = None
        positions = [int(position) for position in positions_or_split]
        if not positions:
            raise ValueError("positions must name at least one row of the run; got none.")
        row_texts(run_dir, positions)  # raises for positions outside the table
    if limit is not None:
        positions = positions[:limit]
    return positions, split


def submit_attack(
    workspace: str | Path,
    run_dir: str | Path,
    positions_or_split: str | Sequence[int],
    recipe: AttackRecipe | str = DEFAULT_RECIPE,
    device: str = "auto",
    *,
    limit: int | None = None,
) -> jobs.Job:
    """Submit a background job that attacks rows of a run and stores the results in the run folder.

    Everything that can be checked without loading a model is checked here, so a bad
    request fails at once instead of in the worker.

    Args:
        positions_or_split: a split name or row positions of the run's predictions table.
        recipe: an :class:`AttackRecipe` or the name of a preset in :data:`core.attack_recipe.RECIPES`.
        device: one of :data:`core.models.DEVICE_CHOICES`.
        limit: attack only the first ``limit`` selected rows.

    Returns:
        The job. ``job.config["attack_id"]`` names the results it will write.

    Raises:
        ValueError: an invalid recipe, a missing masked language model folder, an
            unknown device, an unknown or empty split, no rows or a row outside the run.
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    if device not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {device!r}.")
    recipe = _as_recipe(recipe)
    check_mlm_folder(recipe)
    run_dir = Path(run_dir).resolve()
    positions, split = resolve_rows(run_dir, positions_or_split, limit=limit)
    payload = {
        "run_dir": str(run_dir),
        "positions": positions,
        "split": split,
        "recipe": recipe.settings(),
        "attack_id": new_attack_id(recipe.name),
    }
    return jobs.submit(workspace, "attack", payload, requested_device=device)


def run_attack(
    run_dir: str | Path,
    positions: Sequence[int],
    recipe: AttackRecipe,
    *,
    split: str | None = None,
    attack_id: str | None = None,
    device: torch.device | None = None,
    run_model: RunModel | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    partial_path: Path | None = None,
) -> dict:
    """Attack rows ``positions`` of a run, store the results under ``attacks/`` and return their metadata.

    Args:
        partial_path: a Parquet file that keeps the rows finished so far. When it exists,
            its rows are reused and the attack continues after them.

    Returns:
        The stored metadata: ``id``, ``run``, ``created``, ``recipe`` (name),
        ``settings``, ``split``, ``positions``, ``class_names``, ``summary``
        (:func:`core.attack_results.attack_summary`), ``seconds`` and ``device``.

    Raises:
        AttackCancelled: ``should_stop`` returned true. Finished rows stay in ``partial_path``.
    """
    recipe = recipe.validate()
    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    positions = [int(position) for position in positions]
    attack_id = attack_id or new_attack_id(recipe.name)
    if not _ATTACK_ID.match(attack_id):
        raise ValueError(f"attack_id may contain only letters, digits, '.', '_' and '-'; got {attack_id!r}.")
    device = device or resolve_device("auto")
    run_model = run_model or RunModel(run_dir, device)
    model, tokenizer, max_length = run_model.get()
    class_names = model_label_names(model)
    texts, labels = row_texts(run_dir, positions)
    attacker = Attacker(model, tokenizer, class_names, recipe=recipe, device=run_model.device, max_length=max_length)

    done = _read_partial(partial_path, positions)
    if len(done):
        logger.info("Resuming attack %s after %d of %d finished rows", attack_id, len(done), len(positions))
    logger.info(
        "Attack %s: recipe %s (%s, %s importance, %s search) on %d rows of run %s, device %s, batch size %d, at most "
        "%d queries per row", attack_id, recipe.name, recipe.transformation, recipe.importance, recipe.search,
        len(positions), summary.id, run_model.device, recipe.batch_size, recipe.max_queries,
    )
    started = time.monotonic()
    tables = [done] if len(done) else []
    for start in range(len(done), len(positions), ROWS_PER_CHUNK):
        stop = min(start + ROWS_PER_CHUNK, len(positions))
        results = attacker.attack_many(
            texts[start:stop], labels=labels[start:stop], sample_keys=positions[start:stop],
            progress=_offset_progress(progress, start, len(positions), started, len(done)),
            should_stop=should_stop,
        )
        tables.append(results_table(results, class_names, positions=positions[start:stop], recipe=recipe.name))
        if partial_path is not None:
            runs.write_parquet_atomic(pd.concat(tables, ignore_index=True), partial_path)
    table = pd.concat(tables, ignore_index=True) if tables else results_table([], class_names, recipe=recipe.name)
    metadata = {
        "id": attack_id,
        "run": summary.id,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": recipe.name,
        "settings": recipe.settings(),
        "split": split,
        "positions": positions,
        "class_names": class_names,
        "max_length": max_length,
        "summary": attack_summary(table),
        "seconds": time.monotonic() - started,
        "device": str(run_model.device),
    }
    folder = run_dir / ATTACKS_DIR
    folder.mkdir(exist_ok=True)
    runs.write_parquet_atomic(table, folder / f"{attack_id}.parquet")
    runs.write_json_atomic(folder / f"{attack_id}.json", metadata)
    if partial_path is not None:
        partial_path.unlink(missing_ok=True)
    logger.info("Attack %s stored: %s", attack_id, json.dumps(metadata["summary"]))
    return metadata


def _read_partial(partial_path: Path | None, positions: list[int]) -> pd.DataFrame:
    """Return the finished rows kept in ``partial_path`` when they are a prefix of ``positions``."""
    if partial_path is None or not partial_path.is_file():
        return pd.DataFrame()
    try:
        done = pd.read_parquet(partial_path)
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring unreadable partial attack results %s: %s", partial_path, exc)
        return pd.DataFrame()
    if done["position"].tolist() != positions[: len(done)]:
        logger.warning("Ignoring partial attack results %s: their rows differ from the requested rows", partial_path)
        return pd.DataFrame()
    return done


def _offset_progress(progress: ProgressCallback | None, offset: int, total: int, started: float, resumed: int):
    """Return a callback that reports a chunk's progress as progress over all ``total`` rows."""
    if progress is None:
        return None

    def report(event: Progress) -> None:
        finished = offset + event.step
        elapsed = time.monotonic() - started
        rate = elapsed / max(finished - resumed, 1)
        progress(replace(event, step=finished, total_steps=total, samples=finished, elapsed_seconds=elapsed,
                         eta_seconds=rate * (total - finished)))

    return report


def run_attack_job(context: jobs.JobContext) -> dict:
    """Worker body of an ``attack`` job: attack the rows in chunks, then store the results in the run folder."""
    payload = context.job.config
    run_dir = Path(payload["run_dir"])
    recipe = AttackRecipe.from_settings(payload["recipe"]).validate()
    device = resolve_device(context.job.requested_device)
    logger.info(
        "Worker %d running job %s: attack %s (recipe %s) on %d rows of run %s, device %s",
        os.getpid(), context.job.id, payload["attack_id"], recipe.name, len(payload["positions"]), run_dir.name,
        device,
    )
    context.job_dir.mkdir(parents=True, exist_ok=True)
    metadata = run_attack(
        run_dir, payload["positions"], recipe, split=payload.get("split"), attack_id=payload["attack_id"],
        device=device, progress=context.progress, should_stop=context.should_stop,
        partial_path=context.job_dir / PARTIAL_FILE,
    )
    return {"run_dir": str(run_dir), "attack_id": metadata["id"], "recipe": recipe.name, **metadata["summary"]}


def _attacks_folder(run_dir: str | Path) -> Path:
    runs.read_summary(Path(run_dir))
    return Path(run_dir) / ATTACKS_DIR


def list_attacks(run_dir: str | Path) -> list[dict]:
    """Return the metadata of every stored attack of a run, newest first. Unreadable files are skipped and logged."""
    folder = _attacks_folder(run_dir)
    found = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            logger.warning("Skipping attack metadata %s: %s", path, exc)
    return sorted(found, key=lambda item: (item.get("created", ""), item.get("id", "")), reverse=True)


def _attack_path(run_dir: str | Path, attack_id: str, suffix: str) -> Path:
    if not isinstance(attack_id, str) or not _ATTACK_ID.match(attack_id):
        raise ValueError(f"attack_id may contain only letters, digits, '.', '_' and '-'; got {attack_id!r}.")
    path = _attacks_folder(run_dir) / f"{attack_id}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(
            f"No attack {attack_id!r} in run {Path(run_dir).name}. list_attacks() returns the stored attacks."
        )
    return path


def load_attack(run_dir: str | Path, attack_id: str) -> pd.DataFrame:
    """Return the per-sample results table of a stored attack (see :func:`core.attack_results.results_table`).

    Raises:
        ValueError: an attack id with characters other than letters, digits, '.', '_' and '-'.
        FileNotFoundError: the run has no such attack.
        RunNotFoundError: ``run_dir`` is not a finished run.
    """
    return pd.read_parquet(_attack_path(run_dir, attack_id, ".parquet"))


def load_attack_metadata(run_dir: str | Path, attack_id: str) -> dict:
    """Return the stored metadata of one attack (the dict :func:`run_attack` returned)."""
    return json.loads(_attack_path(run_dir, attack_id, ".json").read_text(encoding="utf-8"))


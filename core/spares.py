"""Spare workers: processes that have imported the job code and wait for a job.

A new worker process spends about 4 s on a 2-core CPU before a job's first step:
starting Python and importing torch, transformers and scikit-learn
(``bench/bench_jobs.py`` measures it). A spare pays that cost before the job is
submitted. Pages with a job form call :func:`ensure_spare` when they open, so the
spare imports while the user fills in the form. The scheduler
(:meth:`core.jobs.JobRegistry.reconcile`) then hands the next job for the spare's
device to it instead of starting a new process. A spare that ran a job starts a
replacement when the job ends, and a spare unused for :func:`spare_idle_seconds`
exits.

Each spare has a row in the registry's ``spare_workers`` table. The row contains the
spare's pid and process start time (so a dead spare is never handed a job) and, once
handed one, the job id. A spare whose row disappears exits: :func:`retire_spares`
uses this.

An idle spare keeps the imported libraries in memory: about 0.5 GB, measured on a
2-core CPU with torch 2.13. Set ``$UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS`` to 0 to
start no spares, or run ``python -m core jobs spares --retire`` to stop the waiting ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
import sys
import time
from pathlib import Path

from core import jobs
from core.messages import Message
from core.sqlite_store import transaction

logger = logging.getLogger(__name__)

SPARE_IDLE_ENV = "UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 600.0
POLL_SECONDS = 0.2
SPARES_DIR = "spares"
# After a spare dies before it is ready (an import error, the memory limit), no new spare
# starts for this long, so a page that reruns on every click does not start one per click.
FAILED_SPARE_PAUSE_SECONDS = 300.0
# Environment variables that change how a job runs; a spare serves only submitters with the same values.
_ENVIRONMENT_PREFIXES = (
    "HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "CUDA_", "OMP_", "MKL_", "UNCERTAINTY_EXPLORER_", "PYTHON",
)


def _invalid_idle_seconds(value: str) -> Message:
    return Message(
        "spare_idle_invalid",
        "Invalid {variable} {value!r}: set it to a number of seconds, 0 or more (0 turns spares off).",
        variable=SPARE_IDLE_ENV,
        value=value,
    )


def spare_idle_seconds() -> float:
    """Return how many seconds an unused spare waits before it exits; 0 means no spares are started.

    Raises:
        ValueError: ``$UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS`` is not a number of at least 0.
    """
    value = os.environ.get(SPARE_IDLE_ENV, str(DEFAULT_IDLE_SECONDS))
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ValueError(_invalid_idle_seconds(value)) from exc
    if not seconds >= 0:
        raise ValueError(_invalid_idle_seconds(value))
    return seconds


def default_resource() -> str:
    """Return the slot a job with device ``auto`` takes on an idle machine: the first GPU, else the CPU."""
    return "cuda:0" if jobs.gpu_count() > 0 else "cpu"


def fingerprint() -> str:
    """Return a digest of what a worker started now would run with: interpreter, job code and environment.

    A spare keeps the code and environment of the moment it started. Comparing digests
    keeps a job submitted after an edit of ``core/``, or from a shell with other
    settings (``HF_HUB_OFFLINE``, thread counts), out of an older spare.
    """
    code_dir = Path(__file__).resolve().parent
    newest_code = max(path.stat().st_mtime_ns for path in code_dir.glob("*.py"))
    environment = {key: value for key, value in os.environ.items() if key.startswith(_ENVIRONMENT_PREFIXES)}
    environment.pop(SPARE_IDLE_ENV, None)
    text = json.dumps([sys.executable, newest_code, sorted(environment.items())])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _waiting_spares(connection: sqlite3.Connection, resource: str) -> list[sqlite3.Row]:
    """Return the live spares of ``resource`` without a job, oldest first, and clean up the rows of dead ones.

    A spare that died before it was ready keeps its row (with ``failed_at``) for
    :data:`FAILED_SPARE_PAUSE_SECONDS`, and its log, so the failure can be read.
    """
    waiting = []
    now = time.time()
    rows = connection.execute(
        "SELECT * FROM spare_workers WHERE resource = ? ORDER BY started_at", (resource,)
    ).fetchall()
    for row in rows:
        if row["failed_at"] is not None:
            if now - row["failed_at"] > FAILED_SPARE_PAUSE_SECONDS:
                connection.execute("DELETE FROM spare_workers WHERE pid = ?", (row["pid"],))
            continue
        if jobs.process_alive(row["pid"], row["pid_start"]) is not False:
            if row["job_id"] is None:
                waiting.append(row)
            continue
        if row["ready_at"] is None and row["job_id"] is None:
            connection.execute("UPDATE spare_workers SET failed_at = ? WHERE pid = ?", (now, row["pid"]))
            logger.warning("Spare worker %d died before it was ready. Its output is in %s", row["pid"], row["log_path"])
        else:
            connection.execute("DELETE FROM spare_workers WHERE pid = ?", (row["pid"],))
    return waiting


def _recent_failure(connection: sqlite3.Connection, resource: str) -> bool:
    row = connection.execute(
        "SELECT 1 FROM spare_workers WHERE resource = ? AND failed_at IS NOT NULL", (resource,)
    ).fetchone()
    return row is not None


def ensure_spare(workspace: str | Path, resource: str | None = None) -> int | None:
    """Start a spare worker for ``resource`` unless one is waiting or spares are off; return its pid.

    Nothing starts while a job is queued or running in the workspace, because a spare
    importing libraries beside a running job would slow that job down. A spare that ran
    a job starts a replacement when the job ends. Waiting spares started with other code
    or settings (:func:`fingerprint`) are retired. Nothing starts either for
    :data:`FAILED_SPARE_PAUSE_SECONDS` after a spare of ``resource`` died before it was ready.

    Args:
        resource: ``cpu`` or ``cuda:N``; by default :func:`default_resource`.

    Returns:
        The pid of the waiting or new spare, or ``None`` when none is started.

    Raises:
        ValueError: a bad ``$UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS`` or resource.
        OSError: the process could not be started.
    """
    if spare_idle_seconds() <= 0:
        return None
    resource = resource or default_resource()
    if resource != "cpu" and not resource.startswith("cuda:"):
        raise ValueError(f"Invalid resource {resource!r}: use 'cpu' or 'cuda:N', such as 'cuda:0'.")
    registry = jobs.JobRegistry(workspace)
    with transaction(registry.path, immediate=True) as connection:
        active = connection.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]
        if active:
            return None
        current = fingerprint()
        waiting = []
        for row in _waiting_spares(connection, resource):
            if row["fingerprint"] == current:
                waiting.append(row)
            else:  # started before an edit of the code or a change of settings: it exits
                connection.execute("DELETE FROM spare_workers WHERE pid = ?", (row["pid"],))
        if waiting:
            return int(waiting[0]["pid"])
        if _recent_failure(connection, resource):
            return None
        # The row is written while the write lock is held, so two pages opening at once start one spare.
        log_dir = registry.jobs_dir / SPARES_DIR
        log_dir.mkdir(exist_ok=True)
        log_path = log_dir / f"spare-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.log"
        child = jobs.start_process(registry.workspace, ["jobs", "spare", resource], resource, log_path)
        jobs.track_child(f"spare-{child.pid}", child)
        connection.execute(
            "INSERT OR REPLACE INTO spare_workers (pid, pid_start, resource, started_at, log_path, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (child.pid, jobs.process_start_time(child.pid), resource, time.time(), str(log_path), current),
        )
    logger.info("Started spare worker %d for %s", child.pid, resource)
    return child.pid


def hand_over(registry: jobs.JobRegistry, job_id: str, resource: str) -> int | None:
    """Give the running, not yet started job ``job_id`` to a waiting spare of ``resource``.

    Returns:
        The spare's pid, now the job's worker pid, or ``None`` when no spare waits.
    """
    current = fingerprint()
    with transaction(registry.path, immediate=True) as connection:
        for row in _waiting_spares(connection, resource):
            if row["fingerprint"] != current:
                continue
            connection.execute("UPDATE spare_workers SET job_id = ? WHERE pid = ?", (job_id, row["pid"]))
            connection.execute(
                "UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ? AND state = 'running' AND pid IS NULL",
                (row["pid"], row["pid_start"], job_id),
            )
            return int(row["pid"])
    return None


def retire_spares(workspace: str | Path) -> int:
    """Make every waiting spare of the workspace exit (within :data:`POLL_SECONDS`); return how many."""
    registry = jobs.JobRegistry(workspace)
    with transaction(registry.path, immediate=True) as connection:
        return connection.execute("DELETE FROM spare_workers WHERE job_id IS NULL").rowcount


def waiting_spares(workspace: str | Path, resource: str | None = None) -> list[dict]:
    """Return the live spares without a job, of ``resource`` or of every resource.

    Each is a dictionary with pid, resource, started_at and ready_at (``None`` while
    the spare is still importing).
    """
    registry = jobs.JobRegistry(workspace)
    with transaction(registry.path, immediate=True) as connection:
        if resource is None:
            resources = [row[0] for row in connection.execute("SELECT DISTINCT resource FROM spare_workers")]
        else:
            resources = [resource]
        rows = [row for name in resources for row in _waiting_spares(connection, name)]
    return [{key: row[key] for key in ("pid", "resource", "started_at", "ready_at")} for row in rows]


def _assignment(registry: jobs.JobRegistry, pid: int) -> tuple[bool, str | None]:
    """Return (row still there, job id handed to this spare or ``None``)."""
    with transaction(registry.path) as connection:
        row = connection.execute("SELECT job_id FROM spare_workers WHERE pid = ?", (pid,)).fetchone()
    return (row is not None, row["job_id"] if row is not None else None)


def _redirect_output(log_path: Path) -> None:
    """Send this process's stdout and stderr to ``log_path`` (appending), as a new worker's would go."""
    sys.stdout.flush()
    sys.stderr.flush()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
    finally:
        os.close(descriptor)


def run_spare(workspace: str | Path, resource: str) -> int:
    """Body of a spare process: import the job code, wait for a job, run it or exit when idle."""
    registry = jobs.JobRegistry(workspace)
    pid = os.getpid()
    # ensure_spare writes this row before it releases the write lock, and taking the lock here
    # waits for that, so a missing row means the spare was retired already.
    with transaction(registry.path, immediate=True) as connection:
        row = connection.execute("SELECT log_path FROM spare_workers WHERE pid = ?", (pid,)).fetchone()
    if row is None:
        return 0
    own_log = Path(row["log_path"]) if row["log_path"] else None

    for kind in jobs.KINDS:
        jobs.job_handler(kind)  # the imports a worker would otherwise pay after the job starts
    with transaction(registry.path) as connection:
        connection.execute("UPDATE spare_workers SET ready_at = ? WHERE pid = ?", (time.time(), pid))

    deadline = time.monotonic() + spare_idle_seconds()
    while True:
        try:
            present, job_id = _assignment(registry, pid)
        except sqlite3.Error as exc:  # the workspace was removed or is unreadable: nothing to wait for
            logger.warning("Spare worker %d exits: registry read failed: %s", pid, exc)
            return _exit_idle(own_log)
        if job_id is not None:
            break
        if not present:
            return _exit_idle(own_log)
        if time.monotonic() > deadline:
            with transaction(registry.path, immediate=True) as connection:
                left = connection.execute(
                    "DELETE FROM spare_workers WHERE pid = ? AND job_id IS NULL", (pid,)
                ).rowcount
            if left:
                return _exit_idle(own_log)
            continue  # a job was handed over just before the deadline
        time.sleep(POLL_SECONDS)

    with transaction(registry.path) as connection:
        connection.execute("DELETE FROM spare_workers WHERE pid = ?", (pid,))
    _redirect_output(registry.job_dir(job_id) / "worker.log")
    if own_log is not None:
        own_log.unlink(missing_ok=True)
    exit_code = jobs.run_worker(workspace, job_id)
    try:
        ensure_spare(workspace, resource)  # starts nothing when run_worker started a queued job
    except (OSError, ValueError, sqlite3.Error) as exc:
        logger.warning("Could not start a replacement spare worker: %s", exc)
    return exit_code


def _exit_idle(own_log: Path | None) -> int:
    if own_log is not None:
        own_log.unlink(missing_ok=True)
    return 0

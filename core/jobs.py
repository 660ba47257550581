"""Background jobs: one operating-system process per job, tracked in a SQLite registry.

Long work must outlive a Streamlit rerun, a closed tab and a restarted server, so it
never runs inside the server. The job kinds are fine-tuning (``train``), scoring a
split with an uncertainty method (``uncertainty``) and word attributions of selected
rows (``attribution``); attacks and cross-validation can use the same mechanism.
:func:`submit` records a job and starts a detached worker process
(``python -m core jobs work ID``) when a slot is free; a worker that ends starts the
next queued job, and every read of the registry
(:meth:`JobRegistry.reconcile`) both marks jobs whose worker died as
``interrupted`` and fills free slots, so no scheduler daemon is needed.

States: ``queued`` → ``running`` → ``succeeded`` | ``failed`` | ``cancelled`` |
``interrupted``; ``interrupted`` and ``cancelled`` jobs can be resumed from their
last checkpoint, which puts them back to ``queued``.

Death detection: a running job records its worker's pid and the process start time
(from ``/proc`` where available, so a reused pid is not mistaken for the worker)
and refreshes a heartbeat every :data:`HEARTBEAT_SECONDS`. A job is interrupted when
its process is gone or a zombie, or when its heartbeat is older than
:data:`STALE_AFTER_SECONDS` (the fallback where ``/proc`` does not exist).

Start-up: a job goes to a waiting spare worker of its device when there is one
(:mod:`core.spares`), which saves the seconds a new process spends importing torch
and transformers.

Scheduling: one job at a time per GPU; CPU jobs up to ``max_cpu_jobs`` (default 1,
or ``$UNCERTAINTY_EXPLORER_MAX_CPU_JOBS``). A job whose device is ``auto`` runs on
a GPU when the machine has one.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from core.sqlite_store import add_missing_columns, create_database, transaction

logger = logging.getLogger(__name__)

STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINAL_STATES = ("succeeded", "failed", "cancelled", "interrupted")
RESUMABLE_STATES = ("cancelled", "interrupted", "failed")
KINDS = ("train", "uncertainty", "attribution", "attack", "crossval")
REGISTRY_FILE = "jobs.sqlite3"
JOBS_DIR = "jobs"
MAX_CPU_JOBS_ENV = "UNCERTAINTY_EXPLORER_MAX_CPU_JOBS"
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 30.0
LOG_TAIL_LINES = 200
PROGRESS_WRITE_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    config TEXT NOT NULL,
    requested_device TEXT NOT NULL,
    resource TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    heartbeat_at REAL,
    pid INTEGER,
    pid_start TEXT,
    progress TEXT,
    result TEXT,
    error TEXT,
    traceback TEXT,
    versions TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    state_reason TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS job_points (
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    validation TEXT,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (job_id, step, epoch)
);
CREATE TABLE IF NOT EXISTS job_logs (
    job_id TEXT NOT NULL,
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    logged_at REAL NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_logs_job ON job_logs(job_id, seq);
CREATE TABLE IF NOT EXISTS spare_workers (
    pid INTEGER PRIMARY KEY,
    pid_start TEXT,
    resource TEXT NOT NULL,
    started_at REAL NOT NULL,
    ready_at REAL,
    job_id TEXT,
    log_path TEXT,
    fingerprint TEXT,
    failed_at REAL
);
"""

# Columns added to spare_workers after its first version, for registries created before them.
_SPARE_COLUMNS_ADDED = {"fingerprint": "TEXT", "failed_at": "REAL"}

# Popen handles of workers and spares started by this process, polled so that dead ones are reaped.
_CHILDREN: dict[str, subprocess.Popen] = {}


def track_child(key: str, child: subprocess.Popen) -> None:
    """Keep ``child`` so that :meth:`JobRegistry.reconcile` reaps it once it exits."""
    _CHILDREN[key] = child


def start_process(workspace: Path, arguments: list[str], resource: str, log_path: Path) -> subprocess.Popen:
    """Start ``python -m core --workspace WORKSPACE ARGUMENTS`` detached, its output appended to ``log_path``.

    The process gets its own session, so it outlives the dashboard or CLI that
    started it. When ``resource`` is ``cuda:N``, ``CUDA_VISIBLE_DEVICES`` limits it to that GPU.
    """
    environment = dict(os.environ)
    if resource.startswith("cuda:"):
        environment["CUDA_VISIBLE_DEVICES"] = resource.split(":", 1)[1]
    project_root = str(Path(__file__).resolve().parents[1])
    environment["PYTHONPATH"] = project_root + os.pathsep + environment.get("PYTHONPATH", "")
    with open(log_path, "ab") as output:
        return subprocess.Popen(
            # Resolved here because the process starts in the project folder, not in this one's.
            [sys.executable, "-m", "core", "--workspace", str(Path(workspace).resolve()), *arguments],
            cwd=project_root,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )


class JobError(RuntimeError):
    """A job operation failed because the id is unknown or the job is in the wrong state."""


@dataclass
class Job:
    """One row of the registry, decoded."""

    id: str
    kind: str
    state: str
    config: dict
    requested_device: str
    resource: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    pid: int | None
    progress: dict
    result: dict
    error: str | None
    traceback: str | None
    versions: dict
    cancel_requested: bool
    attempts: int
    state_reason: str | None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def can_resume(self) -> bool:
        return self.state in RESUMABLE_STATES

    @property
    def run_dir(self) -> str | None:
        return self.result.get("run_dir") or self.config.get("output_dir")


def _now() -> float:
    return time.time()


def format_time(timestamp: float | None) -> str:
    """Return a UTC ISO timestamp for display, or an empty string."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def process_start_time(pid: int) -> str | None:
    """Return the kernel's start time of process ``pid`` (Linux ``/proc``), or ``None`` if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) comes after the parenthesised command name, which may contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int | None, start_time: str | None) -> bool | None:
    """Return whether ``pid`` is the same live, non-zombie process, or ``None`` where ``/proc`` is missing."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}/stat")
    if not proc.parent.parent.joinpath("self").exists():
        return None
    try:
        stat = proc.read_text()
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2 :].split()[0]
    if state in ("Z", "X"):
        return False
    if start_time is not None and process_start_time(pid) != start_time:
        return False
    return True


def max_cpu_jobs() -> int:
    value = os.environ.get(MAX_CPU_JOBS_ENV, "1")
    try:
        limit = int(value)
    except ValueError as exc:
        raise ValueError(f"{MAX_CPU_JOBS_ENV} must be a whole number of at least 1; got {value!r}.") from exc
    if limit < 1:
        raise ValueError(f"{MAX_CPU_JOBS_ENV} must be at least 1; got {limit}.")
    return limit


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class JobRegistry:
    """The SQLite job registry of one workspace (``<workspace>/jobs.sqlite3``, WAL mode)."""

    def __init__(self, workspace: str | Path) -> None:
        self.workspace = Path(workspace)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.path = self.workspace / REGISTRY_FILE
        self.jobs_dir = self.workspace / JOBS_DIR
        self.jobs_dir.mkdir(exist_ok=True)
        create_database(self.path, _SCHEMA)
        add_missing_columns(self.path, "spare_workers", _SPARE_COLUMNS_ADDED)

    # ------------------------------------------------------------------ connection

    def _connect(self, *, immediate: bool = False):
        return transaction(self.path, immediate=immediate)

    @staticmethod
    def _decode(row: sqlite3.Row) -> Job:
        return Job(
            id=row["id"],
            kind=row["kind"],
            state=row["state"],
            config=json.loads(row["config"]),
            requested_device=row["requested_device"],
            resource=row["resource"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            heartbeat_at=row["heartbeat_at"],
            pid=row["pid"],
            progress=json.loads(row["progress"] or "{}"),
            result=json.loads(row["result"] or "{}"),
            error=row["error"],
            traceback=row["traceback"],
            versions=json.loads(row["versions"] or "{}"),
            cancel_requested=bool(row["cancel_requested"]),
            attempts=row["attempts"],
            state_reason=row["state_reason"],
        )

    # ------------------------------------------------------------------ reading

    def get(self, job_id: str, *, reconcile: bool = True) -> Job:
        """Return one job; raises :class:`JobError` for an unknown id."""
        if reconcile:
            self.reconcile()
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError(f"No job {job_id!r} in {self.path}. List jobs with `python -m core jobs list`.")
        return self._decode(row)

    def list(self, *, states: tuple[str, ...] | None = None, limit: int = 200, reconcile: bool = True) -> list[Job]:
        """Return jobs, newest first."""
        if reconcile:
            self.reconcile()
        query = "SELECT * FROM jobs"
        parameters: list = []
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            parameters.extend(states)
        query += " ORDER BY created_at DESC LIMIT ?"
        parameters.append(limit)
        with self._connect() as connection:
            rows = connection.execute(query, parameters).fetchall()
        return [self._decode(row) for row in rows]

    def points(self, job_id: str) -> list[dict]:
        """Return the recorded loss and validation points of a job, oldest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT step, epoch, loss, validation FROM job_points WHERE job_id = ? ORDER BY step, epoch",
                (job_id,),
            ).fetchall()
        return [
            {"step": row["step"], "epoch": row["epoch"], "loss": row["loss"], "validation": json.loads(row["validation"] or "null")}
            for row in rows
        ]

    def log_entries(self, job_id: str, lines: int = 50) -> list[tuple[float, str, str]]:
        """Return the last ``lines`` log entries of a job as (Unix time, level, message), oldest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT logged_at, level, message FROM job_logs WHERE job_id = ? ORDER BY seq DESC LIMIT ?",
                (job_id, lines),
            ).fetchall()
        return [(row["logged_at"], row["level"], row["message"]) for row in reversed(rows)]

    def log_tail(self, job_id: str, lines: int = 50) -> list[str]:
        """Return the last ``lines`` log lines of a job, oldest first."""
        return [f"{format_time(at)} {level} {message}" for at, level, message in self.log_entries(job_id, lines)]

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    # ------------------------------------------------------------------ writing

    def create(self, kind: str, config: dict, *, requested_device: str = "auto", job_id: str | None = None) -> Job:
        """Insert a queued job. Use :func:`submit` to also start it."""
        if kind not in KINDS:
            raise JobError(f"Unknown job kind {kind!r}; known kinds: {', '.join(KINDS)}.")
        job_id = job_id or f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"
        with self._connect(immediate=True) as connection:
            connection.execute(
                "INSERT INTO jobs (id, kind, state, config, requested_device, created_at) VALUES (?, ?, 'queued', ?, ?, ?)",
                (job_id, kind, json.dumps(config), requested_device, _now()),
            )
        self.append_log(job_id, "INFO", f"Job {job_id} queued ({kind}, device {requested_device})")
        return self.get(job_id, reconcile=False)

    def append_log(self, job_id: str, level: str, message: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO job_logs (job_id, logged_at, level, message) VALUES (?, ?, ?, ?)",
                (job_id, _now(), level, message[:4000]),
            )
            connection.execute(
                "DELETE FROM job_logs WHERE job_id = ? AND seq NOT IN "
                "(SELECT seq FROM job_logs WHERE job_id = ? ORDER BY seq DESC LIMIT ?)",
                (job_id, job_id, LOG_TAIL_LINES),
            )

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask a running worker to stop at its next step."""
        job = self.get(job_id)
        if job.state == "queued":
            with self._connect(immediate=True) as connection:
                connection.execute(
                    "UPDATE jobs SET state = 'cancelled', ended_at = ?, state_reason = 'cancelled before it started' "
                    "WHERE id = ? AND state = 'queued'",
                    (_now(), job_id),
                )
            self.append_log(job_id, "INFO", "Cancelled while queued")
        elif job.state == "running":
            with self._connect(immediate=True) as connection:
                connection.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            self.append_log(job_id, "INFO", "Cancel requested; the worker stops at the next step")
        else:
            raise JobError(f"Job {job_id} has state {job.state}; only queued or running jobs can be cancelled.")
        return self.get(job_id, reconcile=False)

    def cancel_requested(self, job_id: str) -> bool:
        with self._connect() as connection:
            row = connection.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def requeue_for_resume(self, job_id: str) -> Job:
        """Put a cancelled, interrupted or failed job back in the queue to resume from its checkpoint."""
        job = self.get(job_id)
        if not job.can_resume:
            raise JobError(
                f"Job {job_id} has state {job.state}; only {', '.join(RESUMABLE_STATES[:-1])} or "
                f"{RESUMABLE_STATES[-1]} jobs can be resumed."
            )
        with self._connect(immediate=True) as connection:
            connection.execute(
                "UPDATE jobs SET state = 'queued', cancel_requested = 0, pid = NULL, pid_start = NULL, "
                "resource = NULL, ended_at = NULL, error = NULL, traceback = NULL, state_reason = 'resume requested' "
                "WHERE id = ?",
                (job_id,),
            )
        self.append_log(job_id, "INFO", "Resume requested; queued again")
        return self.get(job_id, reconcile=False)

    def heartbeat(self, job_id: str, *, progress: dict | None = None) -> None:
        with self._connect() as connection:
            if progress is None:
                connection.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (_now(), job_id))
            else:
                connection.execute(
                    "UPDATE jobs SET heartbeat_at = ?, progress = ? WHERE id = ?",
                    (_now(), json.dumps(progress), job_id),
                )

    def record_point(self, job_id: str, *, step: int, epoch: int, loss: float | None, validation: dict | None) -> None:
        with self._connect() as connection:
            # The last step gets both a loss and validation scores: each write keeps the other's value.
            connection.execute(
                "INSERT INTO job_points (job_id, step, epoch, loss, validation, recorded_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (job_id, step, epoch) DO UPDATE SET loss = COALESCE(excluded.loss, loss), "
                "validation = COALESCE(excluded.validation, validation), recorded_at = excluded.recorded_at",
                (job_id, step, epoch, loss, json.dumps(validation) if validation else None, _now()),
            )

    def finish(self, job_id: str, state: str, *, result: dict | None = None, error: str | None = None,
               trace: str | None = None, reason: str | None = None) -> None:
        if state not in FINAL_STATES:
            raise ValueError(f"state must be one of {', '.join(FINAL_STATES)}; got {state!r}.")
        with self._connect(immediate=True) as connection:
            connection.execute(
                "UPDATE jobs SET state = ?, ended_at = ?, result = ?, error = ?, traceback = ?, state_reason = ? "
                "WHERE id = ? AND state = 'running'",
                (state, _now(), json.dumps(result or {}), error, trace, reason, job_id),
            )

    # ------------------------------------------------------------------ scheduling

    def _resource_for(self, job_row: sqlite3.Row, busy: dict[str, int], gpus: int, cpu_limit: int) -> str | None:
        device = job_row["requested_device"]
        if device in ("auto", "cuda") and gpus > 0:
            for index in range(gpus):
                if busy.get(f"cuda:{index}", 0) == 0:
                    return f"cuda:{index}"
            return None
        if device == "cuda":
            return "unavailable"
        if busy.get("cpu", 0) < cpu_limit:
            return "cpu"
        return None

    def reconcile(self, *, start_workers: bool = True) -> list[str]:
        """Mark dead workers' jobs interrupted, then start queued jobs in free slots.

        Returns:
            Ids of the jobs started by this call.
        """
        for job_id, child in list(_CHILDREN.items()):
            if child.poll() is not None:
                del _CHILDREN[job_id]
        now = _now()
        with self._connect(immediate=True) as connection:
            running = connection.execute("SELECT * FROM jobs WHERE state = 'running'").fetchall()
            for row in running:
                heartbeat = row["heartbeat_at"] or row["started_at"] or now
                stale = now - heartbeat > STALE_AFTER_SECONDS
                if row["pid"] is None:
                    # Claimed but the worker's pid is not recorded yet: only a stale heartbeat counts.
                    alive = None
                else:
                    alive = process_alive(row["pid"], row["pid_start"])
                if alive is False or (alive is None and stale):
                    reason = (
                        f"worker process {row['pid']} is gone" if alive is False
                        else f"no heartbeat for {now - heartbeat:.0f} s"
                    )
                    connection.execute(
                        "UPDATE jobs SET state = 'interrupted', ended_at = ?, state_reason = ? WHERE id = ?",
                        (now, reason, row["id"]),
                    )
                    connection.execute(
                        "INSERT INTO job_logs (job_id, logged_at, level, message) VALUES (?, ?, 'WARNING', ?)",
                        (row["id"], now, f"Marked interrupted: {reason}. Resume continues from the last checkpoint."),
                    )
        if not start_workers:
            return []
        return self._start_queued()

    def _start_queued(self) -> list[str]:
        started: list[str] = []
        gpus = gpu_count()
        cpu_limit = max_cpu_jobs()
        claims: list[tuple[str, str]] = []
        with self._connect(immediate=True) as connection:
            busy: dict[str, int] = {}
            for row in connection.execute("SELECT resource FROM jobs WHERE state = 'running'"):
                busy[row["resource"]] = busy.get(row["resource"], 0) + 1
            for row in connection.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY created_at").fetchall():
                resource = self._resource_for(row, busy, gpus, cpu_limit)
                if resource is None:
                    continue
                if resource == "unavailable":
                    connection.execute(
                        "UPDATE jobs SET state = 'failed', ended_at = ?, error = ? WHERE id = ?",
                        (_now(), "device 'cuda' was requested but this machine has no CUDA GPU. "
                         "Resubmit with device 'auto' or 'cpu'.", row["id"]),
                    )
                    continue
                busy[resource] = busy.get(resource, 0) + 1
                connection.execute(
                    "UPDATE jobs SET state = 'running', resource = ?, started_at = COALESCE(started_at, ?), "
                    "heartbeat_at = ?, attempts = attempts + 1, pid = NULL, pid_start = NULL WHERE id = ?",
                    (resource, _now(), _now(), row["id"]),
                )
                claims.append((row["id"], resource))
        for job_id, resource in claims:
            try:
                self._spawn(job_id, resource)
            except (OSError, sqlite3.Error) as exc:
                logger.error("Could not start the worker of job %s: %s", job_id, exc)
                self.finish(job_id, "failed", error=f"Could not start the worker process: {exc}")
                continue
            started.append(job_id)
        return started

    def _spawn(self, job_id: str, resource: str) -> None:
        from core import spares

        job_dir = self.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        spare = spares.hand_over(self, job_id, resource)
        if spare is not None:
            logger.info("Handed job %s to spare worker %d on %s", job_id, spare, resource)
            return
        child = start_process(self.workspace, ["jobs", "work", job_id], resource, job_dir / "worker.log")
        track_child(job_id, child)
        with self._connect() as connection:
            connection.execute(
                "UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ? AND state = 'running' AND pid IS NULL",
                (child.pid, process_start_time(child.pid), job_id),
            )
        logger.info("Started worker %d for job %s on %s", child.pid, job_id, resource)

    def claim_worker(self, job_id: str) -> Job:
        """Called by the worker process: record its own pid, start time and library versions."""
        from core.runs import library_versions

        pid = os.getpid()
        with self._connect(immediate=True) as connection:
            row = connection.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobError(f"No job {job_id!r} in {self.path}.")
            if row["state"] != "running":
                raise JobError(f"Job {job_id} is {row['state']}, not running; this worker exits.")
            connection.execute(
                "UPDATE jobs SET pid = ?, pid_start = ?, heartbeat_at = ?, versions = ? WHERE id = ?",
                (pid, process_start_time(pid), _now(), json.dumps(library_versions()), job_id),
            )
        return self.get(job_id, reconcile=False)


# ---------------------------------------------------------------------- public API


def submit(workspace: str | Path, kind: str, config: dict, *, requested_device: str = "auto") -> Job:
    """Record a job and start its worker if a slot is free; returns the job (queued or running)."""
    registry = JobRegistry(workspace)
    job = registry.create(kind, config, requested_device=requested_device)
    registry.reconcile()
    return registry.get(job.id, reconcile=False)


def resume(workspace: str | Path, job_id: str) -> Job:
    registry = JobRegistry(workspace)
    registry.requeue_for_resume(job_id)
    registry.reconcile()
    return registry.get(job_id, reconcile=False)


def cancel(workspace: str | Path, job_id: str) -> Job:
    return JobRegistry(workspace).request_cancel(job_id)


def wait(workspace: str | Path, job_id: str, *, timeout: float = 3600.0, poll_seconds: float = 0.5) -> Job:
    """Block until the job reaches a final state or ``timeout`` seconds pass (then raise ``TimeoutError``)."""
    registry = JobRegistry(workspace)
    deadline = time.monotonic() + timeout
    while True:
        job = registry.get(job_id)
        if job.is_final:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"Job {job_id} still {job.state} after {timeout:.0f} s.")
        time.sleep(poll_seconds)


class _RegistryLogHandler(logging.Handler):
    def __init__(self, registry: JobRegistry, job_id: str) -> None:
        super().__init__(level=logging.INFO)
        self.registry = registry
        self.job_id = job_id

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.registry.append_log(self.job_id, record.levelname, record.getMessage())
        except sqlite3.Error:
            self.handleError(record)


class JobContext:
    """Job config, folders and progress and cancel hooks passed to a job handler."""

    def __init__(self, registry: JobRegistry, job: Job) -> None:
        self.registry = registry
        self.job = job
        self.job_dir = registry.job_dir(job.id)
        self.checkpoint_dir = self.job_dir / "checkpoint"
        self.resume = job.attempts > 1
        self._last_write = 0.0
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.registry.heartbeat(self.job.id)
            except sqlite3.Error as exc:
                logger.warning("Heartbeat for job %s failed: %s", self.job.id, exc)

    def close(self) -> None:
        self._stop.set()
        self._heartbeat.join(timeout=HEARTBEAT_SECONDS * 2)

    def progress(self, event) -> None:
        """Store a :class:`core.progress.Progress` (throttled) plus loss and validation points."""
        payload = event.to_dict()
        # Every fifth step, plus the first and the last, so the loss curve starts and ends with training.
        sampled_step = event.step % 5 == 0 or event.step == 1 or event.step == event.total_steps
        if event.phase == "train" and event.loss is not None and sampled_step:
            self.registry.record_point(self.job.id, step=event.step, epoch=event.epoch, loss=event.loss, validation=None)
        if event.phase == "evaluate" and event.metrics:
            self.registry.record_point(
                self.job.id, step=event.step, epoch=event.epoch, loss=None, validation=event.metrics
            )
        if event.message:
            self.registry.append_log(self.job.id, "INFO", event.message)
        now = time.monotonic()
        final_step = event.total_steps and event.step == event.total_steps
        if now - self._last_write >= PROGRESS_WRITE_SECONDS or event.phase != "train" or final_step:
            self._last_write = now
            self.registry.heartbeat(self.job.id, progress=payload)

    def should_stop(self) -> bool:
        return self.registry.cancel_requested(self.job.id)


def job_handler(kind: str) -> Callable[[JobContext], dict]:
    """Import and return the worker body of job kind ``kind``."""
    if kind == "train":
        from core.job_handlers import run_train_job

        return run_train_job
    if kind == "uncertainty":
        from core.job_handlers import run_uncertainty_job

        return run_uncertainty_job
    if kind == "attribution":
        from core.job_handlers import run_attribution_job

        return run_attribution_job
    if kind == "attack":
        from core.attack_jobs import run_attack_job

        return run_attack_job
    if kind == "crossval":
        from core.triage_jobs import run_crossval_job

        return run_crossval_job
    raise JobError(f"Unknown job kind {kind!r}.")


def run_worker(workspace: str | Path, job_id: str) -> int:
    """Body of the worker process: run one job to a final state, then start queued ones."""
    from core.progress import ComputationCancelled

    registry = JobRegistry(workspace)
    try:
        job = registry.claim_worker(job_id)
    except JobError as exc:
        logger.error("%s", exc)
        return 2
    handler_log = _RegistryLogHandler(registry, job_id)
    root = logging.getLogger("core")
    root.addHandler(handler_log)
    root.setLevel(logging.INFO)
    context = JobContext(registry, job)
    exit_code = 0
    try:
        result = job_handler(job.kind)(context)
    except ComputationCancelled as exc:
        registry.finish(job_id, "cancelled", reason=str(exc))
        registry.append_log(job_id, "INFO", f"Cancelled: {exc}")
    except Exception as exc:  # every failure is stored with its traceback, then the worker exits non-zero
        registry.finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
        registry.append_log(job_id, "ERROR", f"Failed: {type(exc).__name__}: {exc}")
        exit_code = 1
    else:
        registry.finish(job_id, "succeeded", result=result)
        registry.append_log(job_id, "INFO", "Succeeded")
    finally:
        context.close()
        root.removeHandler(handler_log)
    try:
        registry.reconcile()
    except sqlite3.Error as exc:
        logger.warning("Could not start queued jobs after %s: %s", job_id, exc)
    return exit_code

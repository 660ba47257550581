"""The SQLite setup shared by the job registry and the review store.

Both are files in the workspace that several processes (the dashboard, workers, the
CLI) open at once, so both use WAL mode, a 30 s busy timeout and one short transaction
per operation.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

BUSY_TIMEOUT_SECONDS = 30.0
SYNCHRONOUS_MODES = ("NORMAL", "FULL")


def create_database(path: Path, schema: str) -> None:
    """Create the tables of ``schema`` in the database at ``path`` (if missing) and switch it to WAL mode."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(schema)
    finally:
        connection.close()


def add_missing_columns(path: Path, table: str, columns: dict[str, str]) -> None:
    """Add each of ``columns`` (name to SQL type) that ``table`` lacks, for databases made by an older version."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for name, sql_type in columns.items():
            if name not in present:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
        connection.commit()
    except sqlite3.OperationalError as exc:
        # Two processes may add the same column at once, so the second one finds it already there.
        if "duplicate column" not in str(exc):
            raise
    finally:
        connection.close()


@contextmanager
def transaction(path: Path, *, immediate: bool = False, synchronous: str = "NORMAL") -> Iterator[sqlite3.Connection]:
    """Yield a connection inside one transaction: committed when the block ends, rolled back on an exception.

    Args:
        immediate: take the write lock at the start (``BEGIN IMMEDIATE``), for
            read-then-write blocks that must not interleave with another writer.
        synchronous: ``NORMAL`` may lose the last commits on a power cut (never on a
            process crash); ``FULL`` syncs the WAL on every commit.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}; got {synchronous!r}.")
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            connection.execute("COMMIT")
    finally:
        connection.close()

"""The workspace folder that holds runs, caches and (later) the job registry."""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_ENV = "UNCERTAINTY_EXPLORER_WORKSPACE"
DEFAULT_WORKSPACE = "workspace"
RUNS_DIR = "runs"
CACHE_DIR = "cache"


def resolve_workspace(explicit: str | os.PathLike | None = None, *, create: bool = True) -> Path:
    """Return the workspace folder: ``explicit``, else ``$UNCERTAINTY_EXPLORER_WORKSPACE``, else ``./workspace``.

    Raises:
        ValueError: the chosen path exists and is not a folder, or cannot be created.
    """
    chosen = explicit or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
    path = Path(chosen).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"Workspace {path} exists and is not a folder. Pass another path with --workspace.")
    if create:
        try:
            (path / RUNS_DIR).mkdir(parents=True, exist_ok=True)
            (path / CACHE_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"Cannot create workspace {path}: {exc.strerror}. Pass a writable folder with --workspace.") from exc
    return path


def runs_dir(workspace: Path) -> Path:
    return workspace / RUNS_DIR


def cache_dir(workspace: Path) -> Path:
    return workspace / CACHE_DIR

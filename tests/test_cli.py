"""Tests for ``python -m core``, run as a real subprocess from the repository root."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core import runs
from core.workspace import WORKSPACE_ENV, resolve_workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
# Arguments that make the tiny BERT train in seconds on CPU.
TINY_TRAIN_ARGS = ["--epochs", "1", "--batch-size", "16", "--learning-rate", "5e-3", "--max-length", "32", "--device", "cpu"]


def run_cli(*args, workspace_env=None):
    """Run ``python -m core ARGS`` and return the completed process.

    ``workspace_env`` sets the workspace variable. Without it the variable is removed, and
    each such call passes ``--workspace`` or needs no workspace, so no test writes to the
    repository's own ``./workspace``.
    """
    env = dict(os.environ)
    env.pop(WORKSPACE_ENV, None)
    if workspace_env is not None:
        env[WORKSPACE_ENV] = str(workspace_env)
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def last_json_line(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained(tiny_model_dir, keyword_csv, tmp_path_factory):
    """Train the tiny BERT through the CLI once and return (process, workspace, env workspace).

    The workspace variable points at the env workspace, which ``--workspace`` overrides.
    """
    workspace = tmp_path_factory.mktemp("cli-workspace")
    env_workspace = tmp_path_factory.mktemp("cli-env-workspace")
    process = run_cli(
        "--workspace", workspace, "train", "--data", keyword_csv, "--model", tiny_model_dir, *TINY_TRAIN_ARGS,
        workspace_env=env_workspace,
    )
    return process, workspace, env_workspace


def test_help_exits_zero():
    process = run_cli("--help")

    assert process.returncode == 0
    assert "train" in process.stdout
    assert "score" in process.stdout


def test_train_prints_summary(trained):
    process, workspace, _ = trained

    assert process.returncode == 0, process.stderr
    summary = last_json_line(process.stdout)
    assert set(summary) >= {"run", "best_epoch", "validation_accuracy", "test_accuracy"}
    assert Path(summary["run"]).parent == workspace / "runs"


def test_train_writes_run(trained):
    process, workspace, _ = trained
    run_dir = Path(last_json_line(process.stdout)["run"])

    assert (run_dir / "run.json").is_file()
    assert [summary.path for summary in runs.list_runs(workspace / "runs")] == [run_dir]
    assert len(runs.load_predictions(run_dir)) == 300


def test_train_flag_beats_env_workspace(trained):
    _, _, env_workspace = trained

    assert list(env_workspace.iterdir()) == []


def test_train_env_workspace(tiny_model_dir, keyword_csv, tmp_path):
    process = run_cli(
        "train", "--data", keyword_csv, "--model", tiny_model_dir, *TINY_TRAIN_ARGS, workspace_env=tmp_path
    )

    assert process.returncode == 0, process.stderr
    run_dir = Path(last_json_line(process.stdout)["run"])
    assert run_dir.parent == tmp_path / "runs"
    assert (run_dir / "run.json").is_file()


def test_score_writes_parquet(trained, keyword_csv, tmp_path):
    process, workspace, _ = trained
    run_dir = last_json_line(process.stdout)["run"]
    output = tmp_path / "scores.parquet"

    scored = run_cli("--workspace", workspace, "score", "--run", run_dir, "--data", keyword_csv, "--output", output)

    assert scored.returncode == 0, scored.stderr
    assert last_json_line(scored.stdout)["rows"] == 300
    table = pd.read_parquet(output)
    assert len(table) == 300
    assert {"prob:neg", "prob:pos", "predicted", "entropy", "correct"} <= set(table.columns)


def test_train_missing_data(tmp_path):
    missing = tmp_path / "absent.csv"
    process = run_cli("--workspace", tmp_path / "workspace", "train", "--data", missing)

    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert str(missing) in lines[0]


def test_score_rejects_csv_output(trained, keyword_csv, tmp_path):
    process, workspace, _ = trained
    run_dir = last_json_line(process.stdout)["run"]
    output = tmp_path / "scores.csv"

    scored = run_cli("--workspace", workspace, "score", "--run", run_dir, "--data", keyword_csv, "--output", output)

    assert scored.returncode == 2
    assert scored.stderr.strip() == f"error: --output must end in .parquet; got {output}."
    assert not output.exists()


def test_score_existing_output(trained, keyword_csv, tmp_path):
    process, workspace, _ = trained
    run_dir = last_json_line(process.stdout)["run"]
    output = tmp_path / "scores.parquet"
    output.write_bytes(b"earlier results")

    scored = run_cli("--workspace", workspace, "score", "--run", run_dir, "--data", keyword_csv, "--output", output)

    assert scored.returncode == 2
    assert scored.stderr.strip() == f"error: {output} already exists. Choose a new file name."
    assert output.read_bytes() == b"earlier results"


# --------------------------------------------------------------------------- workspace resolution


def test_workspace_explicit_beats_env(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKSPACE_ENV, str(tmp_path / "from-env"))

    assert resolve_workspace(tmp_path / "explicit") == (tmp_path / "explicit").resolve()
    assert (tmp_path / "explicit" / "runs").is_dir()
    assert not (tmp_path / "from-env").exists()


def test_workspace_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKSPACE_ENV, str(tmp_path / "from-env"))

    assert resolve_workspace() == (tmp_path / "from-env").resolve()


def test_workspace_default_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)

    assert resolve_workspace() == (tmp_path / "workspace").resolve()
    assert (tmp_path / "workspace" / "cache").is_dir()


def test_workspace_is_a_file(tmp_path):
    path = tmp_path / "workspace"
    path.write_text("", encoding="utf-8")

    with pytest.raises(ValueError, match="exists and is not a folder"):
        resolve_workspace(path)

"""Background jobs: real worker processes, a real SQLite registry, cancel, kill and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import jobs, runs, spares
from core.checkpoint import latest_checkpoint
from core.job_handlers import submit_training
from core.training import TrainConfig, fine_tune

REPO = Path(__file__).resolve().parents[1]
JOB_TIMEOUT = 300.0


def tiny_config(model_dir: Path, **overrides) -> TrainConfig:
    values = dict(
        model=str(model_dir), epochs=3, batch_size=16, learning_rate=5e-3, max_length=32, seed=0, device="cpu"
    )
    values.update(overrides)
    return TrainConfig(**values)


def wait_until(predicate, *, timeout: float = JOB_TIMEOUT, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError("condition not met in time")


def test_job_runs_to_success(tmp_path, tiny_model_dir, keyword_dataset):
    job = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir), data_info={"name": "keywords"})
    finished = jobs.wait(tmp_path, job.id, timeout=JOB_TIMEOUT)
    registry = jobs.JobRegistry(tmp_path)
    points = registry.points(job.id)

    assert finished.state == "succeeded", finished.error
    assert finished.progress["phase"] == "done"
    loss_steps = [point["step"] for point in points if point["loss"] is not None]
    assert loss_steps[0] == 1
    assert loss_steps[-1] == max(point["step"] for point in points)
    assert [point["epoch"] for point in points if point["validation"]] == [1, 2, 3]
    assert runs.read_summary(Path(finished.result["run_dir"])).id == Path(finished.result["run_dir"]).name
    assert finished.result["test_accuracy"] > 0.8
    assert finished.versions["torch"]
    assert not (registry.job_dir(job.id) / "checkpoint").exists()
    assert any("Succeeded" in line for line in registry.log_tail(job.id))


def test_cancel_running_job(tmp_path, tiny_model_dir, keyword_dataset):
    job = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, epochs=400))
    registry = jobs.JobRegistry(tmp_path)
    wait_until(lambda: registry.get(job.id).progress.get("step", 0) > 3)
    jobs.cancel(tmp_path, job.id)
    finished = jobs.wait(tmp_path, job.id, timeout=JOB_TIMEOUT)

    assert finished.state == "cancelled"
    assert latest_checkpoint(registry.job_dir(job.id) / "checkpoint") is not None
    assert not Path(finished.config["output_dir"]).exists()


def test_cancel_queued_job(tmp_path, tiny_model_dir, keyword_dataset, monkeypatch):
    monkeypatch.setenv(jobs.MAX_CPU_JOBS_ENV, "1")
    first = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, epochs=400))
    second = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir))

    assert jobs.JobRegistry(tmp_path).get(second.id).state == "queued"
    assert jobs.cancel(tmp_path, second.id).state == "cancelled"
    jobs.cancel(tmp_path, first.id)
    assert jobs.wait(tmp_path, first.id).state == "cancelled"


def test_kill_then_resume_matches_uninterrupted(tmp_path, tiny_model_dir, keyword_dataset):
    config = tiny_config(tiny_model_dir, epochs=20)
    reference = fine_tune(keyword_dataset, config, output_dir=tmp_path / "reference")
    reference_predictions = runs.load_predictions(reference.run_dir)

    workspace = tmp_path / "workspace"
    job = submit_training(workspace, keyword_dataset, config, checkpoint_every_seconds=0.5)
    registry = jobs.JobRegistry(workspace)
    checkpoint_dir = registry.job_dir(job.id) / "checkpoint"
    total_steps = 20 * 15  # ceil(240 train rows / 16) steps per epoch
    wait_until(lambda: latest_checkpoint(checkpoint_dir) is not None and registry.get(job.id).progress.get("step", 0) > 40)
    running = registry.get(job.id)
    assert running.progress["step"] < total_steps

    os.kill(running.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    interrupted = wait_until(lambda: (j := registry.get(job.id)).state == "interrupted" and j, timeout=60)
    detection_seconds = time.monotonic() - killed_at

    assert interrupted.state_reason.startswith("worker process")
    assert detection_seconds < jobs.STALE_AFTER_SECONDS
    resumed = jobs.resume(workspace, job.id)
    assert resumed.state in ("queued", "running")
    finished = jobs.wait(workspace, job.id, timeout=JOB_TIMEOUT)
    assert finished.state == "succeeded", finished.error
    assert finished.attempts == 2

    resumed_predictions = runs.load_predictions(Path(finished.result["run_dir"]))
    probability_columns = [c for c in reference_predictions.columns if c.startswith("prob:")]
    np.testing.assert_allclose(
        resumed_predictions[probability_columns].to_numpy(),
        reference_predictions[probability_columns].to_numpy(),
        atol=1e-6,
    )
    reference_metrics = reference.metrics["splits"]["test"]
    resumed_metrics = runs.read_json(Path(finished.result["run_dir"]), "metrics.json")["splits"]["test"]
    assert resumed_metrics["accuracy"] == reference_metrics["accuracy"]
    assert resumed_metrics["nll"] == pytest.approx(reference_metrics["nll"], abs=1e-6)


def test_one_cpu_slot_runs_jobs_in_turn(tmp_path, tiny_model_dir, keyword_dataset, monkeypatch):
    monkeypatch.setenv(jobs.MAX_CPU_JOBS_ENV, "1")
    first = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, epochs=2))
    second = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, epochs=2, seed=1))
    assert jobs.JobRegistry(tmp_path).get(second.id).state == "queued"

    done_first = jobs.wait(tmp_path, first.id)
    done_second = jobs.wait(tmp_path, second.id)

    assert done_first.state == "succeeded"
    assert done_second.state == "succeeded"
    assert done_second.started_at >= done_first.ended_at


def test_registry_seen_by_new_process(tmp_path, tiny_model_dir, keyword_dataset, monkeypatch):
    monkeypatch.setenv(jobs.MAX_CPU_JOBS_ENV, "1")
    ids = [
        submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, epochs=400)).id,
        submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir)).id,
    ]
    listing = subprocess.run(
        [sys.executable, "-m", "core", "--workspace", str(tmp_path), "jobs", "list"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    for job_id in ids:
        jobs.cancel(tmp_path, job_id)
    jobs.wait(tmp_path, ids[0])

    assert listing.returncode == 0, listing.stderr
    for job_id in ids:
        assert job_id in listing.stdout


def test_cli_background_train_and_show(tmp_path, tiny_model_dir, keyword_csv):
    submitted = subprocess.run(
        [
            sys.executable, "-m", "core", "--workspace", str(tmp_path), "train", "--data", str(keyword_csv),
            "--model", str(tiny_model_dir), "--epochs", "2", "--max-length", "32", "--learning-rate", "5e-3",
            "--device", "cpu", "--background",
        ],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["job"]
    shown = subprocess.run(
        [sys.executable, "-m", "core", "--workspace", str(tmp_path), "jobs", "show", job_id, "--follow"],
        cwd=REPO, capture_output=True, text=True, timeout=JOB_TIMEOUT,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "state     succeeded" in shown.stdout


@pytest.mark.parametrize("command", [["cancel", "no-such-job"], ["resume", "no-such-job"], ["show", "no-such-job"]])
def test_cli_unknown_job(tmp_path, command):
    result = subprocess.run(
        [sys.executable, "-m", "core", "--workspace", str(tmp_path), "jobs", *command],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: No job 'no-such-job'")


def test_resume_succeeded_job_rejected(tmp_path, tiny_model_dir, keyword_dataset):
    job = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, epochs=1))
    jobs.wait(tmp_path, job.id)
    expected = "has state succeeded; only cancelled, interrupted or failed jobs can be resumed"
    with pytest.raises(jobs.JobError, match=expected):
        jobs.resume(tmp_path, job.id)


def test_bad_cpu_job_limit(monkeypatch):
    monkeypatch.setenv(jobs.MAX_CPU_JOBS_ENV, "zero")
    with pytest.raises(ValueError, match="UNCERTAINTY_EXPLORER_MAX_CPU_JOBS must be a whole number"):
        jobs.max_cpu_jobs()


def test_cuda_job_fails_without_gpu(tmp_path, tiny_model_dir, keyword_dataset):
    if jobs.gpu_count() > 0:
        pytest.skip("this machine has a GPU")
    job = submit_training(tmp_path, keyword_dataset, tiny_config(tiny_model_dir, device="cuda"))
    failed = jobs.JobRegistry(tmp_path).get(job.id)
    assert failed.state == "failed"
    assert "no CUDA GPU" in failed.error


@pytest.mark.parametrize(
    ("device", "busy", "gpus", "cpu_limit", "expected"),
    [
        ("auto", {}, 1, 1, "cuda:0"),
        ("auto", {"cuda:0": 1}, 2, 1, "cuda:1"),
        ("auto", {"cuda:0": 1}, 1, 1, None),
        ("cuda", {"cuda:0": 1, "cuda:1": 1}, 2, 1, None),
        ("cuda", {}, 0, 1, "unavailable"),
        ("auto", {}, 0, 1, "cpu"),
        ("auto", {"cpu": 1}, 0, 1, None),
        ("cpu", {"cpu": 1}, 0, 2, "cpu"),
        ("cpu", {}, 1, 1, "cpu"),
    ],
)
def test_scheduler_slot_choice(tmp_path, device, busy, gpus, cpu_limit, expected):
    # The device logic runs here without a GPU: the GPU count is passed in.
    registry = jobs.JobRegistry(tmp_path)
    row = {"requested_device": device}

    assert registry._resource_for(row, dict(busy), gpus, cpu_limit) == expected


# ---------------------------------------------------------------------- spare workers


@pytest.fixture
def spares_on(tmp_path, monkeypatch):
    """Turn spare workers on for one test; every spare of the test's workspace exits at the end."""
    monkeypatch.setenv(spares.SPARE_IDLE_ENV, "120")
    yield tmp_path
    spares.retire_spares(tmp_path)
    jobs.JobRegistry(tmp_path).reconcile(start_workers=False)  # reaps spares this process started


def ready_spare(workspace: Path) -> int:
    pid = spares.ensure_spare(workspace, "cpu")
    wait_until(lambda: any(s["pid"] == pid and s["ready_at"] for s in spares.waiting_spares(workspace, "cpu")))
    return pid


def spare_log(workspace: Path, pid: int) -> Path:
    registry = jobs.JobRegistry(workspace)
    with sqlite3.connect(registry.path) as connection:
        (log_path,) = connection.execute("SELECT log_path FROM spare_workers WHERE pid = ?", (pid,)).fetchone()
    return Path(log_path)


def test_job_runs_in_waiting_spare(spares_on, tiny_model_dir, keyword_dataset):
    workspace = spares_on
    spare_pid = ready_spare(workspace)
    log_path = spare_log(workspace, spare_pid)
    assert spares.ensure_spare(workspace, "cpu") == spare_pid  # a second page opening starts no second spare

    job = submit_training(workspace, keyword_dataset, tiny_config(tiny_model_dir, epochs=1))
    finished = jobs.wait(workspace, job.id, timeout=JOB_TIMEOUT)
    registry = jobs.JobRegistry(workspace)

    assert finished.state == "succeeded", finished.error
    assert finished.pid == spare_pid
    assert any("Succeeded" in line for line in registry.log_tail(job.id))
    # The spare that ran the job leaves a new spare behind for the next one.
    replacement = wait_until(lambda: spares.waiting_spares(workspace, "cpu"))
    assert replacement[0]["pid"] != spare_pid
    assert not log_path.exists()


def test_dead_spare_is_passed_over(spares_on, tiny_model_dir, keyword_dataset):
    workspace = spares_on
    spare_pid = spares.ensure_spare(workspace, "cpu")
    os.kill(spare_pid, signal.SIGKILL)
    wait_until(lambda: jobs.process_alive(spare_pid, None) is False)  # a zombie counts as dead

    job = submit_training(workspace, keyword_dataset, tiny_config(tiny_model_dir, epochs=1))
    finished = jobs.wait(workspace, job.id, timeout=JOB_TIMEOUT)

    assert finished.state == "succeeded", finished.error
    assert finished.pid != spare_pid
    assert all(spare["pid"] != spare_pid for spare in spares.waiting_spares(workspace, "cpu"))


def test_spare_killed_mid_job_interrupts(spares_on, tiny_model_dir, keyword_dataset):
    workspace = spares_on
    spare_pid = ready_spare(workspace)
    job = submit_training(workspace, keyword_dataset, tiny_config(tiny_model_dir, epochs=400))
    registry = jobs.JobRegistry(workspace)
    running = wait_until(lambda: (current := registry.get(job.id)).progress.get("step", 0) > 5 and current)
    assert running.pid == spare_pid

    os.kill(spare_pid, signal.SIGKILL)
    interrupted = wait_until(lambda: (current := registry.get(job.id)).state == "interrupted" and current)

    assert interrupted.pid == spare_pid
    assert spares.waiting_spares(workspace) == []
    with sqlite3.connect(registry.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM spare_workers").fetchone() == (0,)


def test_spare_kept_from_other_environment(spares_on, tiny_model_dir, keyword_dataset, monkeypatch):
    workspace = spares_on
    spare_pid = ready_spare(workspace)
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_TEST_SETTING", "changed after the spare started")

    job = submit_training(workspace, keyword_dataset, tiny_config(tiny_model_dir, epochs=1))
    finished = jobs.wait(workspace, job.id, timeout=JOB_TIMEOUT)

    assert finished.state == "succeeded", finished.error
    assert finished.pid != spare_pid
    assert [spare["pid"] for spare in spares.waiting_spares(workspace)] == [spare_pid]

    # A page opening in the changed environment retires the old spare and starts a new one.
    new_pid = spares.ensure_spare(workspace, "cpu")
    assert new_pid != spare_pid
    assert [spare["pid"] for spare in spares.waiting_spares(workspace)] == [new_pid]


def test_retire_stops_waiting_spare(spares_on):
    workspace = spares_on
    spare_pid = ready_spare(workspace)

    assert spares.retire_spares(workspace) == 1
    wait_until(lambda: jobs.process_alive(spare_pid, None) is False)
    assert spares.waiting_spares(workspace) == []


def test_spare_dead_before_ready_pauses_spares(spares_on):
    workspace = spares_on
    spare_pid = spares.ensure_spare(workspace, "cpu")
    log_path = spare_log(workspace, spare_pid)
    os.kill(spare_pid, signal.SIGKILL)
    wait_until(lambda: jobs.process_alive(spare_pid, None) is False)

    assert spares.ensure_spare(workspace, "cpu") is None
    assert log_path.exists()
    with sqlite3.connect(jobs.JobRegistry(workspace).path) as connection:
        (failed_at,) = connection.execute("SELECT failed_at FROM spare_workers WHERE pid = ?", (spare_pid,)).fetchone()
    assert failed_at is not None


def test_cli_lists_and_retires_spares(spares_on):
    workspace = spares_on
    spare_pid = ready_spare(workspace)
    command = [sys.executable, "-m", "core", "--workspace", str(workspace), "jobs", "spares"]

    listed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    retired = subprocess.run([*command, "--retire"], cwd=REPO, capture_output=True, text=True, timeout=120)

    assert listed.returncode == 0, listed.stderr
    assert f"pid {spare_pid}  cpu  ready" in listed.stdout
    assert retired.returncode == 0, retired.stderr
    assert "Retired 1 waiting spare worker(s)." in retired.stdout


def test_idle_spare_exits(tmp_path, monkeypatch):
    monkeypatch.setenv(spares.SPARE_IDLE_ENV, "0.5")
    pid = spares.ensure_spare(tmp_path, "cpu")
    registry = jobs.JobRegistry(tmp_path)

    def gone() -> bool:
        registry.reconcile(start_workers=False)  # reaps the exited child
        return jobs.process_alive(pid, None) is False

    wait_until(gone, timeout=120)
    assert spares.waiting_spares(tmp_path, "cpu") == []
    assert list((registry.jobs_dir / spares.SPARES_DIR).iterdir()) == []


def test_no_spare_starts_beside_a_job(spares_on, tiny_model_dir, keyword_dataset):
    workspace = spares_on
    job = submit_training(workspace, keyword_dataset, tiny_config(tiny_model_dir, epochs=400))
    try:
        assert spares.ensure_spare(workspace, "cpu") is None
    finally:
        jobs.cancel(workspace, job.id)
        jobs.wait(workspace, job.id, timeout=JOB_TIMEOUT)
    assert spares.waiting_spares(workspace, "cpu") == []


def test_spares_off_by_zero_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv(spares.SPARE_IDLE_ENV, "0")
    assert spares.ensure_spare(tmp_path, "cpu") is None


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_bad_spare_idle_seconds(tmp_path, monkeypatch, value):
    monkeypatch.setenv(spares.SPARE_IDLE_ENV, value)
    from ui.i18n import t_message

    with pytest.raises(ValueError, match=spares.SPARE_IDLE_ENV) as raised:
        spares.ensure_spare(tmp_path, "cpu")
    chinese = t_message(raised.value.args[0], "zh")

    assert repr(value) in str(raised.value)
    assert f"{spares.SPARE_IDLE_ENV} 的值 {value!r} 无效" in chinese


def test_cli_spares_rejects_bad_setting(tmp_path):
    command = [sys.executable, "-m", "core", "--workspace", str(tmp_path), "jobs", "spares"]
    environment = {**os.environ, spares.SPARE_IDLE_ENV: "abc"}

    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, env=environment)

    assert finished.returncode == 2
    assert f"Invalid {spares.SPARE_IDLE_ENV} 'abc'" in finished.stderr


def test_bad_spare_resource(tmp_path, monkeypatch):
    monkeypatch.setenv(spares.SPARE_IDLE_ENV, "60")
    with pytest.raises(ValueError, match="Invalid resource 'gpu'"):
        spares.ensure_spare(tmp_path, "gpu")

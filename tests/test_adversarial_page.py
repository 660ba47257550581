"""The Adversarial page in AppTest: a real run, a real stored attack, a real job submission."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import jobs
from core.attack_jobs import list_attacks, run_attack
from core.attack_recipe import recipe_preset
from core.runs import load_predictions
from core.training import TrainConfig, fine_tune
from ui.i18n import t

REPO = Path(__file__).resolve().parents[1]
APP_TIMEOUT = 120


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_WORKSPACE", str(tmp_path))
    return tmp_path


@pytest.fixture
def attacked_run(workspace, tiny_model_dir, make_keyword_dataset):
    """A keyword run with one stored character attack over its test rows."""
    config = TrainConfig(model=str(tiny_model_dir), epochs=3, batch_size=16, learning_rate=5e-3, max_length=32,
                         device="cpu")
    run_dir = fine_tune(make_keyword_dataset(300, seed=4), config, output_dir=workspace / "runs" / "kw-run",
                        data_info={"name": "kw"}).run_dir
    predictions = load_predictions(run_dir)
    positions = [int(p) for p in predictions.index[predictions["split"] == "test"]]
    metadata = run_attack(run_dir, positions, recipe_preset("charbug", max_words_changed=1.0))
    return run_dir, metadata


def open_adversarial(query: dict | None = None) -> AppTest:
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    for name, value in (query or {}).items():
        app.query_params[name] = value
    app.run()
    app.switch_page("pages/adversarial.py").run()
    return app


def test_adversarial_page_shows_stored_attack(attacked_run):
    run_dir, metadata = attacked_run

    app = open_adversarial()

    assert not app.exception
    assert app.selectbox(key="adversarial.attack_choice").value == metadata["id"]
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics[t("adversarial.success_rate")] == f"{metadata['summary']['success_rate']:.1%}"
    assert metrics[t("adversarial.skipped")] == str(metadata["summary"]["skipped"])


def test_adversarial_page_rejects_bad_positions(attacked_run):
    app = open_adversarial({"rows": "3, x"})

    assert app.radio(key="adversarial.selection").value == "rows"
    app.button(key="adversarial.submit").click().run()

    errors = [error.value for error in app.error]
    assert errors == [t("adversarial.submit_failed", error=t("adversarial.bad_position", value="x",
                                                                 last=len(load_predictions(attacked_run[0])) - 1))]


def test_adversarial_page_submits_attack_job(workspace, attacked_run):
    run_dir, _ = attacked_run
    app = open_adversarial({"rows": "0, 1"})

    app.button(key="adversarial.submit").click().run()

    job_id = app.session_state["adversarial.job"]
    job = jobs.wait(workspace, job_id, timeout=300)
    assert job.state == "succeeded", job.error
    assert job.config["positions"] == [0, 1]
    assert len(list_attacks(run_dir)) == 2
    app.run()
    successes = [success.value for success in app.success]
    assert any(value.startswith(t("adversarial.job_succeeded", flipped=0, attacked=0, skipped=0, seconds=0)[:15])
               for value in successes), successes

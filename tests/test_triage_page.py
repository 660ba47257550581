"""The Triage page end to end in AppTest: a real run, real SQLite review store, real clicks."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.review import ReviewStore, dataset_key
from core.crossval import in_sample_source
from core.training import TrainConfig, fine_tune
from ui.i18n import t

REPO = Path(__file__).resolve().parents[1]
APP_TIMEOUT = 120
FLIPPED_ROWS = 12


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_WORKSPACE", str(tmp_path))
    return tmp_path


@pytest.fixture
def noisy_run(workspace, tiny_model_dir, make_keyword_dataset):
    """A keyword run trained on data where some labels contradict the keyword, so triage has work."""
    dataset = make_keyword_dataset(300, seed=3)
    flipped = dataset.index[:FLIPPED_ROWS]
    dataset.loc[flipped, "label"] = dataset.loc[flipped, "label"].map({"pos": "neg", "neg": "pos"})
    config = TrainConfig(model=str(tiny_model_dir), epochs=3, batch_size=16, learning_rate=5e-3, max_length=32,
                         device="cpu")
    return fine_tune(dataset, config, output_dir=workspace / "runs" / "noisy-run", data_info={"name": "kw"}).run_dir


def open_triage(reviewer: str | None) -> AppTest:
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.run()
    if reviewer is not None:
        app.text_input(key="shared.reviewer").input(reviewer).run()
    app.switch_page("pages/triage.py").run()
    return app


def card_id(app: AppTest) -> str:
    """Return the id of the row the review card shows (from its title)."""
    titles = [markdown.value for markdown in app.markdown if markdown.value.startswith("**") and "(rank" in markdown.value]
    assert len(titles) == 1, titles
    return titles[0].split()[1]


def test_triage_needs_reviewer(workspace, noisy_run):
    app = open_triage(None)

    assert not app.exception
    assert t("triage.need_reviewer") in [warning.value for warning in app.warning]
    assert app.button(key="triage.accept").disabled


def test_triage_decisions_stored_and_undone(workspace, noisy_run):
    app = open_triage("Ana")
    assert not app.exception
    first = card_id(app)

    app.button(key="triage.accept").click().run()
    second = card_id(app)
    app.button(key="triage.relabel.0").click().run()

    store = ReviewStore(workspace)
    key = dataset_key(in_sample_source(noisy_run).dataset)
    decisions = store.decisions(key)
    assert decisions.loc[first, "action"] == "accept"
    assert decisions.loc[second, "action"] == "relabel"
    assert decisions.loc[second, "new_label"] == "neg"
    assert set(decisions["reviewer"]) == {"Ana"}
    assert card_id(app) not in (first, second)

    app.button(key="triage.undo").click().run()
    assert second not in ReviewStore(workspace).decisions(key).index
    assert card_id(app) == second


def test_triage_decisions_survive_new_session(workspace, noisy_run):
    app = open_triage("Ana")
    first = card_id(app)
    app.button(key="triage.flag").click().run()

    reopened = open_triage("Bo")

    assert not reopened.exception
    assert card_id(reopened) != first
    # The flagged row counts as reviewed in the new session too.
    texts = [element.proto.text for element in reopened.get("progress")]
    assert len(texts) == 1
    assert texts[0].startswith("1 of ")

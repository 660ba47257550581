"""AppTest checks of every page, and of the translation table the pages read."""

import ast
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import data as data_module
from core import jobs
from core.job_handlers import submit_training
from core.training import TrainConfig, fine_tune
from ui.i18n import LANGUAGES, STRINGS, t

REPO = Path(__file__).resolve().parents[1]
UI_FILES = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").glob("*.py"))]
APP_TIMEOUT = 120


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_WORKSPACE", str(tmp_path))
    return tmp_path


@pytest.fixture
def finished_run(workspace, tiny_model_dir, keyword_dataset):
    config = TrainConfig(model=str(tiny_model_dir), epochs=2, learning_rate=5e-3, max_length=32, device="cpu")
    return fine_tune(keyword_dataset, config, output_dir=workspace / "runs" / "keyword-run", data_info={"name": "kw"})


def open_page(page: str) -> AppTest:
    from ui import state

    state.workspace_path.clear()  # the workspace comes from the environment each test sets
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.run()
    if page != "pages/data.py":
        app.switch_page(page)
        app.run()
    return app


def test_data_page_demo_report(workspace):
    app = open_page("pages/data.py")
    metrics = {metric.label: metric.value for metric in app.metric}

    assert not app.exception
    assert metrics[t("report.rows_read")] == "38,158"
    assert int(metrics[t("report.exact_duplicates")].replace(",", "")) > 0
    assert int(metrics[t("report.conflicting")].replace(",", "")) > 0
    assert app.session_state["data.chosen"].is_demo


def test_data_page_upload_prompt(workspace):
    app = open_page("pages/data.py")
    app.radio(key="data.source").set_value("upload").run()

    assert not app.exception
    assert [info.value for info in app.info] == [t("data.upload_prompt")]


def test_data_page_remap_to_missing_label(workspace):
    app = open_page("pages/data.py")
    label_box = next(box for box in app.selectbox if box.label == t("data.label_column"))
    label_box.set_value("—").run()

    assert not app.exception
    assert t("report.no_label") in [warning.value for warning in app.warning]


def test_train_page_without_runs(workspace):
    app = open_page("pages/train.py")

    assert not app.exception
    assert t("train.no_runs") in [info.value for info in app.info]


def test_train_page_bad_spare_setting_warns(workspace, monkeypatch):
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS", "soon")
    app = open_page("pages/train.py")
    warnings = [warning.value for warning in app.warning]

    assert not app.exception
    assert len(warnings) == 1
    assert "UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS 'soon'" in warnings[0]
    assert warnings[0].startswith(t("jobs.spare_failed", error="")[:40])


def test_train_page_prepares_spare(workspace, monkeypatch):
    from core import spares

    monkeypatch.setenv("UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS", "60")
    app = open_page("pages/train.py")
    try:
        waiting = spares.waiting_spares(workspace)
        assert not app.exception
        assert [spare["resource"] for spare in waiting] == ["cpu"]
    finally:
        spares.retire_spares(workspace)
        registry = jobs.JobRegistry(workspace)
        deadline = time.monotonic() + 120
        # The retired spare exits once its imports are done; wait, so it takes no CPU from later tests.
        while any(jobs.process_alive(spare["pid"], None) for spare in waiting) and time.monotonic() < deadline:
            registry.reconcile(start_workers=False)  # reaps it
            time.sleep(0.2)


def test_train_page_submits_job(workspace, tiny_model_dir):
    app = open_page("pages/train.py")
    app.text_input(key="shared.model").set_value(str(tiny_model_dir))
    app.number_input(key="train.epochs").set_value(1)
    app.number_input(key="train.max_rows").set_value(200)
    app.button[0].click().run()  # the form's submit button

    job_id = app.query_params.get("job")
    assert not app.exception
    assert job_id
    job = jobs.wait(workspace, job_id[0] if isinstance(job_id, list) else job_id, timeout=300)
    assert job.state == "succeeded", job.error


def test_explore_page_without_runs(workspace):
    app = open_page("pages/explore.py")

    assert not app.exception
    assert t("runs.none") in [info.value for info in app.info]


def test_explore_page_filters(workspace, finished_run):
    app = open_page("pages/explore.py")
    metrics = {metric.label: metric.value for metric in app.metric}
    assert not app.exception
    assert float(metrics[t("explore.test_accuracy")]) == pytest.approx(
        finished_run.metrics["splits"]["test"]["accuracy"], abs=5e-4
    )

    app.selectbox(key="explore.correctness").set_value("incorrect").run()
    assert not app.exception
    app.text_input(key="explore.search").set_value("no such words anywhere").run()
    assert not app.exception
    assert t("explore.no_match") in [info.value for info in app.info]


def test_explore_page_unknown_run_in_url(workspace, finished_run):
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.query_params["run"] = "deleted-run"
    app.run()
    app.switch_page("pages/explore.py").run()

    assert not app.exception
    assert t("runs.missing", run="deleted-run") in [warning.value for warning in app.warning]


def test_jobs_page_lists_job(workspace, tiny_model_dir, keyword_dataset):
    config = TrainConfig(model=str(tiny_model_dir), epochs=1, learning_rate=5e-3, max_length=32, device="cpu")
    job = submit_training(workspace, keyword_dataset, config)
    jobs.wait(workspace, job.id, timeout=300)
    app = open_page("pages/jobs.py")

    assert not app.exception
    assert app.selectbox(key="jobs.select").value == job.id
    assert any(t("jobs.succeeded", accuracy=0, seconds=0)[:10] in success.value for success in app.success)


def test_jobs_page_empty(workspace):
    app = open_page("pages/jobs.py")

    assert not app.exception
    assert t("jobs.none") in [info.value for info in app.info]


# ---------------------------------------------------------------- translation table

def _literal_keys() -> set[str]:
    keys = set()
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "t" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    keys.add(first.value)
    return keys


def test_every_used_key_exists():
    missing = sorted(_literal_keys() - set(STRINGS))
    assert missing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_filled(language):
    index = LANGUAGES.index(language)
    empty = sorted(key for key, entry in STRINGS.items() if not entry[index].strip())
    assert empty == []


def test_placeholders_match_across_languages():
    field = re.compile(r"{(\w+)")
    mismatched = [key for key, (english, chinese) in STRINGS.items() if set(field.findall(english)) != set(field.findall(chinese))]
    assert mismatched == []


@pytest.mark.parametrize("value", [*data_module.SPLIT_NAMES, data_module.UNLABELLED_SPLIT])
def test_split_keys_exist(value):
    assert f"split.{value}" in STRINGS


def test_missing_key_raises():
    with pytest.raises(KeyError):
        t("no.such.key")


DISPLAY_CALLS = {
    "header", "subheader", "title", "caption", "markdown", "write", "info", "warning", "error", "success",
    "button", "selectbox", "multiselect", "radio", "checkbox", "text_input", "number_input", "slider",
    "file_uploader", "expander", "form_submit_button", "metric", "page_link", "toast", "progress",
}


def test_pages_hold_no_literal_text():
    offenders = []
    for path in UI_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in DISPLAY_CALLS or not node.args:
                continue
            first = node.args[0]
            is_text = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if is_text and re.search(r"[A-Za-z]{2}", first.value) and not first.value.endswith(".py"):
                offenders.append(f"{path.name}:{node.lineno} {first.value[:40]!r}")
    assert offenders == []


@pytest.mark.parametrize(
    "page",
    [
        "pages/data.py", "pages/train.py", "pages/explore.py", "pages/jobs.py", "pages/attributions.py",
        "pages/adversarial.py", "pages/triage.py",
    ],
)
def test_page_in_chinese(workspace, finished_run, page):
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.query_params["lang"] = "zh"
    app.run()
    if page != "pages/data.py":
        app.switch_page(page).run()

    assert not app.exception
    assert app.session_state["shared.language"] == "zh"
    assert app.sidebar.title[0].value == t("app.title", language="zh")


def test_language_switch(workspace):
    app = open_page("pages/data.py")
    app.sidebar.segmented_control[0].set_value("zh").run()

    assert not app.exception
    assert app.header[0].value == t("data.title", language="zh")
    assert app.query_params["lang"] in ("zh", ["zh"])


# ---------------------------------------------------------------- uncertainty methods on Explore


def _comparison_table(app):
    method = t("metric.method")
    tables = [frame.value for frame in app.dataframe if method in frame.value.columns and t("metric.nll") in frame.value.columns]
    assert len(tables) == 1
    return tables[0]


def test_explore_method_controls(workspace, finished_run):
    app = open_page("pages/explore.py")

    assert not app.exception
    assert app.selectbox(key="explore.method").value == "mc_dropout"
    assert app.number_input(key="explore.passes").value == 10
    assert app.slider(key="explore.coverage").value == pytest.approx(0.9)
    assert app.number_input(key="explore.bins").value == 15
    assert _comparison_table(app)[t("metric.method")].tolist() == [
        f"{t('method.softmax')} (T=1)"
    ]


def test_explore_computes_method_in_job(workspace, finished_run):
    app = open_page("pages/explore.py")
    app.selectbox(key="explore.method").set_value("mc_dropout_head").run()
    app.number_input(key="explore.passes").set_value(3).run()
    app.button(key="explore.compute").click().run()

    job_id = app.query_params.get("uncertainty_job")
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    assert not app.exception
    assert job_id
    job = jobs.wait(workspace, job_id, timeout=300)
    assert job.state == "succeeded", job.error

    app.run()
    table = _comparison_table(app)
    assert not app.exception
    assert len(table) == 2
    assert table[t("metric.method")].iloc[1].startswith(t("method.mc_dropout_head"))
    assert table[t("metric.temperature")].notna().all()

    app.selectbox(key="explore.score_source").set_value(app.selectbox(key="explore.score_source").options[2]).run()
    assert not app.exception
    assert app.selectbox(key="explore.sort").options[-1] == t("column.set_size")


def test_explore_fits_temperature(workspace, finished_run):
    app = open_page("pages/explore.py")
    app.button(key="explore.fit_temperature").click().run()

    assert not app.exception
    assert (finished_run.run_dir / "calibration.json").is_file()
    app.toggle(key="explore.apply_temperature").set_value(True).run()
    assert not app.exception


def test_explore_rejects_ensemble_without_members(workspace, finished_run):
    app = open_page("pages/explore.py")
    app.selectbox(key="explore.method").set_value("ensemble").run()

    assert not app.exception
    assert t("uncertainty.no_members") in [info.value for info in app.info]


def test_dynamic_uncertainty_keys_exist():
    from core.calibration import CONFORMAL_SCORES
    from core.comparison import SCORE_DIRECTIONS
    from core.methods import DEFAULT_SCALES, METHODS
    from ui.uncertainty_view import EXTRA_SCORE_COLUMNS, SUMMARY_COLUMNS

    keys = [f"method.{name}" for name in METHODS]
    keys += [f"score.{name}" for name in SCORE_DIRECTIONS]
    keys += [f"metric.{name}" for name in SUMMARY_COLUMNS]
    keys += [f"uncertainty.scale_{name}" for name in DEFAULT_SCALES]
    keys += [f"uncertainty.scale_{name}_help" for name in DEFAULT_SCALES]
    keys += [f"uncertainty.conformal_{name}" for name in CONFORMAL_SCORES]
    keys += [f"column.{name}" for name in EXTRA_SCORE_COLUMNS]
    keys += [f"jobs.{state}_restart" for state in ("cancelled", "interrupted")]
    assert sorted(key for key in keys if key not in STRINGS) == []


def _render_sample_spread(run_path, identity, position, text, class_names):
    from ui.uncertainty_view import sample_spread

    sample_spread(run_path, identity, position, text, class_names)


def test_sample_spread_renders(workspace, finished_run):
    from core import runs
    from core.comparison import spec_identity
    from core.methods import MethodSpec
    from core.uncertainty_cache import compute_result, load_result

    spec = MethodSpec("tta_word", passes=3, scale=0.3)
    result = compute_result(finished_run.run_dir, spec, "test")
    position = int(load_result(result)["position"].iloc[0])
    text = runs.load_predictions(finished_run.run_dir)["text"].iloc[position]
    app = AppTest.from_function(
        _render_sample_spread,
        args=(finished_run.run_dir, spec_identity(spec), position, text, ["neg", "pos"]),
        default_timeout=APP_TIMEOUT,
    )
    app.run()

    assert not app.exception
    assert len(app.get("plotly_chart")) == 2
    assert [expander.label for expander in app.expander] == [t("uncertainty.variants")]


# ---------------------------------------------------------------- attributions page


def test_attributions_page_without_runs(workspace):
    app = open_page("pages/attributions.py")

    assert not app.exception
    assert t("runs.none") in [info.value for info in app.info]


def test_attributions_page_renders_both_views(workspace, finished_run):
    app = open_page("pages/attributions.py")
    metric_labels = [metric.label for metric in app.metric]

    assert not app.exception
    assert metric_labels.count(t("attributions.delta")) == 2
    assert metric_labels.count(t("attributions.comprehensiveness")) == 2
    assert len(app.get("html")) == 2
    assert (finished_run.run_dir / "attributions").is_dir()

    app.selectbox(key="attributions.method").set_value("occlusion").run()
    app.selectbox(key="attributions.uncertainty_target").set_value("mutual_information").run()
    assert not app.exception
    assert t("attributions.delta") not in [metric.label for metric in app.metric]


def test_attributions_page_opens_row_from_address(workspace, finished_run):
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.query_params["row"] = "5"
    app.run()
    app.switch_page("pages/attributions.py").run()

    assert not app.exception
    assert app.selectbox(key="attributions.sample").value == 5


def test_attributions_page_submits_job(workspace, finished_run):
    app = open_page("pages/attributions.py")
    app.number_input(key="attributions.job_rows").set_value(3)
    app.button(key="attributions.job_submit").click().run()

    job_id = app.query_params.get("attribution_job")
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    assert not app.exception
    assert job_id
    job = jobs.wait(workspace, job_id, timeout=300)
    assert job.state == "succeeded", job.error
    assert job.result["rows"] == 3


def test_dynamic_attribution_keys_exist():
    from core.attribution import BASELINES, METHODS
    from core.attribution_faithfulness import SANITY_FLAGS
    from core.attribution_targets import TARGETS
    from core.attribution_text import AGGREGATIONS

    keys = [f"attributions.method_{name}" for name in METHODS]
    keys += [f"attributions.target_{name}" for name in TARGETS]
    keys += [f"attributions.baseline_{name}" for name in BASELINES]
    keys += [f"attributions.aggregation_{name}" for name in AGGREGATIONS]
    keys += [f"attributions.flag_{name}" for name in SANITY_FLAGS]
    assert sorted(key for key in keys if key not in STRINGS) == []

"""The stakeholder HTML report: self-contained, escaped, in both interface languages."""

import html
import json
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from core import calibration, report
from core.training import TrainConfig, fine_tune
from ui.i18n import LANGUAGES, STRINGS, t

REPO = Path(__file__).resolve().parents[1]
APP_TIMEOUT = 120
SCRIPT_TEXT = "<script>alert('text')</script> good film"
IMAGE_LABEL = '<img src=x onerror="alert(1)">'
LINK_ID = '<a href="https://example.invalid/">id</a>'


class _TagCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags_of(document: str) -> list[tuple[str, dict]]:
    collector = _TagCollector()
    collector.feed(document)
    return collector.tags


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, tiny_model_dir, make_keyword_dataset):
    """A finished run whose texts, a label and an id contain HTML, and whose data name does too."""
    dataset = make_keyword_dataset(120, seed=5)
    dataset.loc[0, "text"] = SCRIPT_TEXT
    dataset.loc[dataset["label"] == "neg", "label"] = IMAGE_LABEL
    dataset.loc[1, "id"] = LINK_ID
    config = TrainConfig(model=str(tiny_model_dir), epochs=2, learning_rate=5e-3, max_length=32, device="cpu")
    output = tmp_path_factory.mktemp("report-run") / "hostile-run"
    return fine_tune(dataset, config, output_dir=output, data_info={"name": "<b>data</b>.csv"}).run_dir


def render(run_dir, language="en", **options) -> str:
    # Every held-out row is listed, so the rows with HTML in them are always in the table.
    options.setdefault("top_samples", 1000)
    return report.build_report(run_dir, translate=partial(t, language=language), language=language, **options)


def test_report_keys_translated():
    missing = [key for key in report.REPORT_KEYS if key not in STRINGS]

    assert missing == []


def test_report_needs_no_network(hostile_run):
    document = render(hostile_run)
    tags = tags_of(document)

    assert [attributes for tag, attributes in tags if tag == "script" and "src" in attributes] == []
    assert [attributes for tag, attributes in tags if tag == "link"] == []
    assert [tag for tag, attributes in tags if tag in ("img", "iframe", "object", "embed")] == []
    assert "@import" not in document
    assert "Plotly.newPlot" in document
    # plotly.js itself is inlined: its version banner appears once, in the head.
    assert document.count("plotly.js v") == 1
    assert document.index("plotly.js v") < document.index("</head>")


def test_report_escapes_data_text(hostile_run):
    document = render(hostile_run)

    assert "<script>alert" not in document
    assert "&lt;script&gt;alert(&#x27;text&#x27;)&lt;/script&gt; good film" in document
    assert "<img" not in document
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in document
    assert '<a href="https://example.invalid/">' not in document
    assert "&lt;b&gt;data&lt;/b&gt;.csv" in document


def test_report_one_script_per_figure(hostile_run):
    tags = tags_of(render(hostile_run))
    scripts = [tag for tag, _ in tags if tag == "script"]
    figures = [attributes for tag, attributes in tags if tag == "div" and "plotly-graph-div" in attributes.get("class", "")]

    # One script inlines plotly.js; each of the two figures (history, reliability) draws itself.
    assert len(figures) == 2
    assert len(scripts) == 1 + len(figures)


@pytest.mark.parametrize("language", LANGUAGES)
def test_report_in_language(hostile_run, language):
    document = render(hostile_run, language)

    assert f'<html lang="{report.HTML_LANGUAGES[language]}">' in document
    for key in ("export.data_summary", "export.training", "export.calibration", "export.uncertain_samples"):
        assert f"<h2>{t(key, language=language)}</h2>" in document
    # Plot titles sit in the figure JSON, where plotly writes non-ASCII characters as \\uXXXX escapes.
    assert json.dumps(t("export.history_plot_loss", language=language))[1:-1] in document


def test_report_chinese_has_no_english_headings(hostile_run):
    document = render(hostile_run, "zh")

    for key in ("export.data_summary", "export.training", "export.uncertain_samples", "export.flips"):
        assert f"<h2>{t(key, language='en')}</h2>" not in document


def test_report_pending_sections(hostile_run):
    document = render(hostile_run)

    for slot, key in ((report.FLIPS_SECTION, "export.flips_pending"), (report.ATTRIBUTIONS_SECTION, "export.attributions_pending")):
        assert f'<section id="{slot}" class="pending">' in document
        assert html.escape(t(key, language="en")) in document


def test_report_fills_section_slot(hostile_run):
    section = report.ReportSection(
        title="Flips <found>",
        paragraphs=["edit & flip"],
        table=pd.DataFrame({"text": ["<i>x</i>"]}),
        figure=go.Figure(go.Bar(x=["a"], y=[1])),
    )

    document = render(hostile_run, sections={report.FLIPS_SECTION: section})

    assert '<section id="flips"><h2>Flips &lt;found&gt;</h2>' in document
    assert "<p>edit &amp; flip</p>" in document
    assert "&lt;i&gt;x&lt;/i&gt;" in document
    assert '<section id="attributions" class="pending">' in document


def test_report_rejects_unknown_slot(hostile_run):
    with pytest.raises(ValueError, match="sections has unknown slot"):
        render(hostile_run, sections={"summary": report.ReportSection(title="x")})


def test_report_rejects_zero_samples(hostile_run):
    with pytest.raises(ValueError, match="top_samples must be at least 1; got 0"):
        render(hostile_run, top_samples=0)


def test_report_lists_most_uncertain_first(hostile_run):
    from core import runs

    predictions = runs.load_predictions(hostile_run)
    held_out = predictions[predictions["split"] != "train"]
    most_uncertain = held_out.sort_values("entropy", ascending=False).iloc[0]
    document = render(hostile_run, top_samples=1)
    section = document[document.index('<section id="uncertain">') :]
    section = section[: section.index("</section>")]

    assert section.count("<tr>") == 2  # header and one sample
    assert f"{most_uncertain['entropy']:.3f}" in section


def test_report_fits_temperature_in_memory(hostile_run):
    assert not (hostile_run / calibration.CALIBRATION_FILE).exists()

    document = render(hostile_run)

    assert not (hostile_run / calibration.CALIBRATION_FILE).exists()
    assert "fitted for this report" in document


def test_report_uses_stored_temperature(tmp_path, hostile_run):
    import shutil

    run_copy = Path(shutil.copytree(hostile_run, tmp_path / "run-copy"))
    record = calibration.fit_run_temperature(run_copy)

    document = render(run_copy)

    assert t("export.temperature_stored", language="en", temperature=record["temperature"], rows=record["rows"]) in document


def test_write_report_file(hostile_run, tmp_path):
    path = report.write_report(hostile_run, tmp_path / "report.html", translate=partial(t, language="zh"), language="zh")

    assert path == tmp_path / "report.html"
    assert [child.name for child in tmp_path.iterdir()] == ["report.html"]
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# --------------------------------------------------------------------------- Explore page


@pytest.fixture
def workspace_with_run(tmp_path, monkeypatch, tiny_model_dir, keyword_dataset):
    monkeypatch.setenv("UNCERTAINTY_EXPLORER_WORKSPACE", str(tmp_path))
    config = TrainConfig(model=str(tiny_model_dir), epochs=1, learning_rate=5e-3, max_length=32, device="cpu")
    fine_tune(keyword_dataset, config, output_dir=tmp_path / "runs" / "keyword-run", data_info={"name": "kw"})
    return tmp_path


@pytest.mark.parametrize("language", LANGUAGES)
def test_explore_page_export_button(workspace_with_run, language):
    from ui import state

    state.workspace_path.clear()
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=APP_TIMEOUT)
    app.query_params["lang"] = language
    app.run()
    app.switch_page("pages/explore.py").run()
    buttons = app.get("download_button")

    assert not app.exception
    assert [button.proto.label for button in buttons] == [t("explore.export_report", language=language)]
    assert buttons[0].proto.help == t("explore.export_report_help", language=language)


@pytest.fixture(scope="module")
def attacked_run(tiny_model_dir, make_keyword_dataset, tmp_path_factory):
    """A keyword run with HTML in a text, a real character attack and one flip's attributions stored."""
    from core.attack_jobs import load_attack, run_attack
    from core.attack_recipe import recipe_preset
    from core.attribution import AttributionSpec
    from core.attribution_cache import attribute_run_texts
    from core.runs import load_predictions

    dataset = make_keyword_dataset(300, seed=5)
    dataset.loc[0, "text"] = SCRIPT_TEXT
    config = TrainConfig(model=str(tiny_model_dir), epochs=3, batch_size=16, learning_rate=5e-3, max_length=32,
                         device="cpu")
    output = tmp_path_factory.mktemp("attacked") / "attacked-run"
    run_dir = fine_tune(dataset, config, output_dir=output, data_info={"name": "kw"}).run_dir
    predictions = load_predictions(run_dir)
    # The row with HTML in its text is attacked too, wherever the split put it.
    positions = sorted({0, *(int(p) for p in predictions.index[predictions["split"] != "train"])})
    metadata = run_attack(run_dir, positions, recipe_preset("charbug", max_words_changed=1.0, seed=1))
    flipped = load_attack(run_dir, metadata["id"])
    flipped = flipped[flipped["status"] == "flipped"]
    assert len(flipped), "the character attack should flip the keyword model at least once"
    first = flipped.iloc[0]
    spec = AttributionSpec(target="class", target_class=str(first["original_predicted"]))
    label = first["label"] if isinstance(first["label"], str) else None
    attribute_run_texts(run_dir, [first["original_text"], first["adversarial_text"]], spec, labels=[label, label])
    return run_dir, flipped


@pytest.mark.parametrize("language", LANGUAGES)
def test_report_lists_flips_and_their_attributions(attacked_run, language):
    run_dir, flipped = attacked_run

    document = render(run_dir, language)

    assert '<section id="flips">' in document
    assert '<section id="attributions">' in document
    assert t("export.flips", language=language) in document
    assert "<del>" in document
    assert "<ins>" in document
    assert document.count('<section id="attributions">') == 1
    # The attributions section contains the two heatmaps of the flip attributed above.
    section = document[document.index('<section id="attributions">'):]
    assert section.count(t("attributions.original_text", language=language)) == 1
    assert section.count(t("attributions.adversarial_text", language=language)) == 1
    # Texts from the data stay escaped inside the diff markup too.
    assert "<script>alert" not in document
    assert "<img" not in document

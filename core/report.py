"""A self-contained HTML report of a finished run, for people who do not open the dashboard.

Symbols: N samples, K classes, M bins.

The report contains the data summary, the training history, calibration before and
after temperature scaling, and the most uncertain held-out samples. Its plots are
interactive plotly figures, and plotly.js is inlined once, so the file opens without
network access. Every piece of text from the data (texts, labels, ids, file names) is
HTML-escaped.

The module contains no user-facing wording. Callers pass ``translate(key, **values)``
that returns the text of a key from :data:`REPORT_KEYS` in the interface language, so
the dashboard passes its translation table and the report follows its language.

Flips found by adversarial attacks stored with the run (``attacks/``, see
:mod:`core.attack_jobs`) fill the flips section: each recipe's newest attack with its
summary and the first flips, changed characters marked. The attributions section
shows, for those flips, the Integrated Gradients heatmaps of the original and the
adversarial text that the Attributions page already computed and cached. A caller may
replace either section (:data:`PENDING_SECTIONS`) by passing a :class:`ReportSection`;
a section with nothing stored states that.
"""

from __future__ import annotations

import html
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from core import calibration, runs
from core import data as data_module
from core import uncertainty
from core.metrics import brier_score, expected_calibration_error, negative_log_likelihood, reliability_bins

logger = logging.getLogger(__name__)

Translate = Callable[..., str]

DEFAULT_TOP_SAMPLES = 20
FLIPS_PER_RECIPE = 10
ATTRIBUTED_FLIPS = 3
RELIABILITY_BINS = 10
ECE_BINS = 15
FLIPS_SECTION = "flips"
ATTRIBUTIONS_SECTION = "attributions"
PENDING_SECTIONS = (FLIPS_SECTION, ATTRIBUTIONS_SECTION)
# Value of the ``lang`` attribute of <html> per interface language code.
HTML_LANGUAGES = {"en": "en", "zh": "zh-CN"}
# Set on every figure, because importing streamlit replaces plotly's default template with one
# that only the dashboard's front end styles.
_TEMPLATE = "plotly_white"
_BEFORE_COLOR = "#1f77b4"
_AFTER_COLOR = "#ff7f0e"

# Every key the report passes to ``translate``. A test checks that the dashboard's table contains them.
REPORT_KEYS = (
    "export.title",
    "export.generated",
    "export.overview",
    "export.field",
    "export.value",
    "export.run_id",
    "export.created",
    "export.model",
    "export.data_name",
    "export.data_format",
    "export.data_encoding",
    "export.classes",
    "export.epochs",
    "export.max_length",
    "export.device",
    "export.data_summary",
    "export.rows_per_split",
    "export.truncated_rows",
    "export.split",
    "export.rows",
    "export.total",
    "export.training",
    "export.history_epoch",
    "export.history_train_loss",
    "export.history_validation_accuracy",
    "export.history_validation_macro_f1",
    "export.history_validation_nll",
    "export.history_best",
    "export.best_marker",
    "export.history_plot_loss",
    "export.history_plot_accuracy",
    "export.no_history",
    "export.split_metrics",
    "export.accuracy",
    "export.macro_f1",
    "export.nll",
    "export.ece",
    "export.brier",
    "export.calibration",
    "export.temperature_stored",
    "export.temperature_fitted_here",
    "export.no_temperature",
    "export.calibration_on",
    "export.before",
    "export.after",
    "export.metric",
    "export.reliability_title",
    "export.reliability_before",
    "export.reliability_after",
    "export.perfect_calibration",
    "export.mean_confidence",
    "export.bin_accuracy",
    "export.reliability_hover",
    "export.uncertain_samples",
    "export.uncertain_intro",
    "export.no_samples",
    "export.column_id",
    "export.column_text",
    "export.column_label",
    "export.column_predicted",
    "export.column_confidence",
    "export.column_entropy",
    "export.column_correct",
    "export.column_split",
    "export.correct_yes",
    "export.correct_no",
    "export.no_label",
    "export.flips",
    "export.flips_pending",
    "export.flips_summary",
    "export.flips_recipe",
    "export.column_original",
    "export.column_adversarial",
    "export.column_change",
    "export.attributions",
    "export.attributions_pending",
    "export.attributions_intro",
    "export.attribution_pair",
    "attributions.class_view",
    "attributions.legend",
    "attributions.against_class",
    "attributions.for_class",
    "attributions.cut",
    "attributions.original_text",
    "attributions.adversarial_text",
    "export.versions",
    "split.train",
    "split.validation",
    "split.test",
    "split.unlabelled",
    "common.class",
)


@dataclass
class ReportSection:
    """Content a later feature puts into one of the :data:`PENDING_SECTIONS` slots.

    Attributes:
        title: the section heading, already translated.
        paragraphs: plain text paragraphs; they are escaped.
        table: a table whose headers and cells are escaped, or ``None``.
        figure: a plotly figure, or ``None``. Text from the data in it must already be
            HTML-escaped, because plotly renders a few tags (``<b>``, ``<a>``) in labels.
    """

    title: str
    paragraphs: Sequence[str] = ()
    table: pd.DataFrame | None = None
    figure: go.Figure | None = None


def build_report(
    run_dir: str | Path,
    *,
    translate: Translate,
    language: str = "en",
    top_samples: int = DEFAULT_TOP_SAMPLES,
    sections: Mapping[str, ReportSection] | None = None,
) -> str:
    """Build the HTML report of a finished run and return it as one string.

    Args:
        run_dir: a finished run folder (see :mod:`core.runs`).
        translate: ``translate(key, **values)`` returns the text of a key in
            :data:`REPORT_KEYS` with ``values`` filled in.
        language: interface language code; sets the ``lang`` attribute of the page.
        top_samples: how many of the most uncertain held-out samples to list.
        sections: content for the slots in :data:`PENDING_SECTIONS`, by slot name.

    Raises:
        RunNotFoundError: ``run_dir`` is not a finished run.
        ValueError: ``top_samples`` is below 1, or ``sections`` names an unknown slot.
    """
    if top_samples < 1:
        raise ValueError(f"top_samples must be at least 1; got {top_samples}.")
    sections = dict(sections or {})
    unknown = sorted(set(sections) - set(PENDING_SECTIONS))
    if unknown:
        raise ValueError(f"sections has unknown slot(s) {', '.join(unknown)}; allowed: {', '.join(PENDING_SECTIONS)}.")
    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    return _build(run_dir, summary, translate, language, top_samples, sections)


def write_report(run_dir: str | Path, output_path: str | Path, **options) -> Path:
    """Build the report (see :func:`build_report` for ``options``) and write it to ``output_path``.

    The file is written under a temporary name and renamed, so a reader never sees half a report.
    """
    document = build_report(run_dir, **options)
    output_path = Path(output_path)
    temporary = output_path.with_name(f".{output_path.name}.{os.getpid()}.tmp")
    temporary.write_text(document, encoding="utf-8")
    os.replace(temporary, output_path)
    return output_path


# --------------------------------------------------------------------------- assembly


@dataclass
class _Run:
    summary: runs.RunSummary
    config: dict
    metrics: dict
    versions: dict
    predictions: pd.DataFrame
    prob_columns: list[str]


def _read_optional_json(run_dir: Path, name: str) -> dict:
    return runs.read_json(run_dir, name) if (run_dir / name).is_file() else {}


def _build(
    run_dir: Path,
    summary: runs.RunSummary,
    translate: Translate,
    language: str,
    top_samples: int,
    sections: dict[str, ReportSection],
) -> str:
    run = _Run(
        summary=summary,
        config=_read_optional_json(run_dir, "config.json"),
        metrics=_read_optional_json(run_dir, "metrics.json"),
        versions=_read_optional_json(run_dir, "versions.json"),
        predictions=runs.load_predictions(run_dir),
        prob_columns=[f"{uncertainty.PROB_PREFIX}{name}" for name in summary.labels],
    )
    body = [
        f"<h1>{_escape(translate('export.title', run=summary.id))}</h1>",
        f"<p class=\"meta\">{_escape(translate('export.generated', created=_now()))}</p>",
        _overview_section(run, translate),
        _data_section(run, translate),
        _training_section(run, translate),
        _calibration_section(run_dir, run, translate),
        _uncertain_section(run, translate, top_samples),
    ]
    pending_text = {FLIPS_SECTION: "export.flips_pending", ATTRIBUTIONS_SECTION: "export.attributions_pending"}
    pending_title = {FLIPS_SECTION: "export.flips", ATTRIBUTIONS_SECTION: "export.attributions"}
    flips = _stored_flips(run_dir)
    built = {
        FLIPS_SECTION: _flips_section(flips, run, translate) if flips else None,
        ATTRIBUTIONS_SECTION: _flip_attributions_section(run_dir, flips, run, translate) if flips else None,
    }
    for slot in PENDING_SECTIONS:
        if slot in sections:
            body.append(_custom_section(slot, sections[slot]))
        elif built[slot]:
            body.append(built[slot])
        else:
            body.append(
                f'<section id="{slot}" class="pending"><h2>{_escape(translate(pending_title[slot]))}</h2>'
                f"<p>{_escape(translate(pending_text[slot]))}</p></section>"
            )
    body.append(_versions_section(run, translate))
    return _page(translate("export.title", run=summary.id), HTML_LANGUAGES.get(language, language), "\n".join(body))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")


def _escape(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "PingFang SC",
       "Microsoft YaHei", sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1f2328; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin-top: 1.2rem; }
del { background: #ffd7d5; text-decoration: line-through; }
ins { background: #ccffd8; text-decoration: none; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #59636e; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.text { max-width: 36rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.pending { color: #59636e; border-left: 4px solid #d0d7de; padding-left: 0.8rem; }
.pending h2 { border-bottom: none; }
.figure { margin: 0.6rem 0; }
"""


def _page(title: str, html_language: str, body: str) -> str:
    # plotly.js goes in once, and each figure below contains only its data and layout.
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{_escape(html_language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_escape(title)}</title>\n<style>{_STYLE}</style>\n"
        f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _figure_html(figure: go.Figure) -> str:
    # plotly's to_html writes the figure JSON with "<" as \u003c, so data text cannot end the script tag.
    markup = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True},
        default_width="100%",
    )
    return f'<div class="figure">{markup}</div>'


def _table_html(frame: pd.DataFrame, *, number_columns: Sequence[str] = (), text_columns: Sequence[str] = ()) -> str:
    header = "".join(f"<th>{_escape(column)}</th>" for column in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, values):
            attribute = ""
            if column in number_columns:
                attribute = ' class="number"'
            elif column in text_columns:
                attribute = ' class="text"'
            cells.append(f"<td{attribute}>{_escape(value)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _key_value_table(pairs: Sequence[tuple[str, object]], translate: Translate) -> str:
    frame = pd.DataFrame(
        {translate("export.field"): [key for key, _ in pairs], translate("export.value"): [value for _, value in pairs]}
    )
    return _table_html(frame)


def _format_number(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


# --------------------------------------------------------------------------- sections


def _overview_section(run: _Run, translate: Translate) -> str:
    train = run.config.get("train", {})
    data_info = run.config.get("data", {})
    pairs = [
        (translate("export.run_id"), run.summary.id),
        (translate("export.created"), run.summary.created),
        (translate("export.model"), run.summary.model or train.get("model") or "—"),
        (translate("export.data_name"), run.summary.data or data_info.get("name") or "—"),
        (translate("export.classes"), ", ".join(run.summary.labels)),
        (translate("export.epochs"), train.get("epochs", "—")),
        (translate("export.max_length"), run.metrics.get("max_length", train.get("max_length", "—"))),
        (translate("export.device"), run.versions.get("device", "—")),
    ]
    if data_info.get("format"):
        pairs.append((translate("export.data_format"), data_info["format"]))
    if data_info.get("encoding"):
        pairs.append((translate("export.data_encoding"), data_info["encoding"]))
    return f'<section id="overview"><h2>{_escape(translate("export.overview"))}</h2>{_key_value_table(pairs, translate)}</section>'


def _split_names(predictions: pd.DataFrame) -> list[str]:
    present = set(predictions[data_module.SPLIT_COLUMN])
    return [name for name in (*data_module.SPLIT_NAMES, data_module.UNLABELLED_SPLIT) if name in present]


def _data_section(run: _Run, translate: Translate) -> str:
    predictions = run.predictions
    splits = _split_names(predictions)
    labels = predictions[data_module.LABEL_COLUMN].fillna(translate("export.no_label"))
    counts = pd.crosstab(labels, predictions[data_module.SPLIT_COLUMN]).reindex(columns=splits, fill_value=0)
    table = pd.DataFrame({translate("common.class"): counts.index.astype(str)})
    for split in splits:
        table[translate(f"split.{split}")] = [f"{int(value):,}" for value in counts[split]]
    table[translate("export.total")] = [f"{int(value):,}" for value in counts.sum(axis=1)]
    totals = {translate("common.class"): translate("export.total")}
    for split in splits:
        totals[translate(f"split.{split}")] = f"{int(counts[split].sum()):,}"
    totals[translate("export.total")] = f"{len(predictions):,}"
    table = pd.concat([table, pd.DataFrame([totals])], ignore_index=True)
    number_columns = [column for column in table.columns if column != translate("common.class")]
    parts = [
        f'<section id="data"><h2>{_escape(translate("export.data_summary"))}</h2>',
        f"<p>{_escape(translate('export.rows_per_split'))}</p>",
        _table_html(table, number_columns=number_columns),
    ]
    truncated = run.metrics.get("truncated_rows")
    if truncated is not None:
        max_length = run.metrics.get("max_length", "—")
        parts.append(f"<p>{_escape(translate('export.truncated_rows', rows=int(truncated), max_length=max_length))}</p>")
    parts.append("</section>")
    return "".join(parts)


def _training_section(run: _Run, translate: Translate) -> str:
    parts = [f'<section id="training"><h2>{_escape(translate("export.training"))}</h2>']
    history = run.metrics.get("history", [])
    if history:
        parts.append(_history_table(history, translate))
        parts.append(_figure_html(_history_figure(history, translate)))
    else:
        parts.append(f"<p>{_escape(translate('export.no_history'))}</p>")
    split_metrics = run.metrics.get("splits", {})
    rows = []
    for split in data_module.SPLIT_NAMES:
        values = split_metrics.get(split)
        if not values or not values.get("n"):
            continue
        rows.append(
            {
                translate("export.split"): translate(f"split.{split}"),
                translate("export.rows"): f"{int(values['n']):,}",
                translate("export.accuracy"): _format_number(values.get("accuracy")),
                translate("export.macro_f1"): _format_number(values.get("macro_f1")),
                translate("export.nll"): _format_number(values.get("nll")),
                translate("export.ece", bins=ECE_BINS): _format_number(values.get("ece")),
            }
        )
    if rows:
        frame = pd.DataFrame(rows)
        parts.append(f"<h3>{_escape(translate('export.split_metrics'))}</h3>")
        parts.append(_table_html(frame, number_columns=list(frame.columns[1:])))
    parts.append("</section>")
    return "".join(parts)


def _history_table(history: list[dict], translate: Translate) -> str:
    rows = []
    for record in history:
        validation = record.get("validation", {})
        rows.append(
            {
                translate("export.history_epoch"): record.get("epoch"),
                translate("export.history_train_loss"): _format_number(record.get("train_loss")),
                translate("export.history_validation_accuracy"): _format_number(validation.get("accuracy")),
                translate("export.history_validation_macro_f1"): _format_number(validation.get("macro_f1")),
                translate("export.history_validation_nll"): _format_number(validation.get("nll")),
                translate("export.history_best"): translate("export.best_marker") if record.get("best") else "",
            }
        )
    frame = pd.DataFrame(rows)
    return _table_html(frame, number_columns=list(frame.columns[:5]))


def _history_figure(history: list[dict], translate: Translate) -> go.Figure:
    epochs = [record.get("epoch") for record in history]
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(translate("export.history_plot_loss"), translate("export.history_plot_accuracy")),
    )
    figure.add_trace(
        go.Scatter(x=epochs, y=[record.get("train_loss") for record in history], mode="lines+markers",
                   name=translate("export.history_train_loss"), line=dict(color=_BEFORE_COLOR)),
        row=1, col=1,
    )
    figure.add_trace(
        go.Scatter(x=epochs, y=[record.get("validation", {}).get("accuracy") for record in history],
                   mode="lines+markers", name=translate("export.history_validation_accuracy"),
                   line=dict(color=_AFTER_COLOR)),
        row=1, col=2,
    )
    figure.update_xaxes(title_text=translate("export.history_epoch"), dtick=1)
    figure.update_layout(
        template=_TEMPLATE, height=360, margin=dict(t=70, b=40, l=50, r=20), legend=dict(orientation="h", y=-0.25)
    )
    return figure


def _evaluation_split(predictions: pd.DataFrame, class_names: Sequence[str]) -> str | None:
    labelled = predictions[data_module.LABEL_COLUMN].isin(class_names)
    for split in ("test", "validation"):
        if (labelled & (predictions[data_module.SPLIT_COLUMN] == split)).any():
            return split
    return None


def _labelled_rows(run: _Run, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (probs (n, K) float64, label_ids (n,) int64) of the labelled rows of ``split``."""
    predictions = run.predictions
    label_index = {name: index for index, name in enumerate(run.summary.labels)}
    rows = predictions[
        (predictions[data_module.SPLIT_COLUMN] == split) & predictions[data_module.LABEL_COLUMN].isin(label_index)
    ]
    probs = rows[run.prob_columns].to_numpy(dtype=np.float64)
    return probs, rows[data_module.LABEL_COLUMN].map(label_index).to_numpy(dtype=np.int64)


def _temperature(run_dir: Path, run: _Run, translate: Translate) -> tuple[float | None, str]:
    """Return the temperature to apply and the sentence that names where it came from."""
    stored = calibration.read_run_temperature(run_dir)
    if stored is not None:
        return float(stored["temperature"]), translate(
            "export.temperature_stored", temperature=float(stored["temperature"]), rows=int(stored["rows"])
        )
    probs, label_ids = _labelled_rows(run, "validation")
    if len(label_ids) == 0:
        return None, translate("export.no_temperature")
    # Fitted in memory only: exporting a report must not change the run folder.
    fit = calibration.fit_temperature(calibration.log_probs_as_logits(probs), label_ids)
    return fit.temperature, translate("export.temperature_fitted_here", temperature=fit.temperature, rows=fit.rows)


def _calibration_section(run_dir: Path, run: _Run, translate: Translate) -> str:
    parts = [f'<section id="calibration"><h2>{_escape(translate("export.calibration"))}</h2>']
    temperature, origin = _temperature(run_dir, run, translate)
    parts.append(f"<p>{_escape(origin)}</p>")
    split = _evaluation_split(run.predictions, run.summary.labels)
    if split is None:
        parts.append("</section>")
        return "".join(parts)

    probs, label_ids = _labelled_rows(run, split)
    scaled = None
    if temperature is not None:
        scaled = calibration.apply_temperature(calibration.log_probs_as_logits(probs), temperature)

    parts.append(
        f"<p>{_escape(translate('export.calibration_on', split=translate(f'split.{split}'), rows=len(label_ids)))}</p>"
    )
    metric_rows = [
        (translate("export.nll"), negative_log_likelihood, 4),
        (translate("export.brier"), brier_score, 4),
        (translate("export.ece", bins=ECE_BINS), lambda ids, p: expected_calibration_error(ids, p, bins=ECE_BINS), 4),
    ]
    rows = []
    for name, function, digits in metric_rows:
        rows.append(
            {
                translate("export.metric"): name,
                translate("export.before"): _format_number(function(label_ids, probs), digits),
                translate("export.after"): "—" if scaled is None else _format_number(function(label_ids, scaled), digits),
            }
        )
    frame = pd.DataFrame(rows)
    parts.append(_table_html(frame, number_columns=list(frame.columns[1:])))

    before = reliability_bins(label_ids, probs, bins=RELIABILITY_BINS)
    after = None if scaled is None else reliability_bins(label_ids, scaled, bins=RELIABILITY_BINS)
    parts.append(_figure_html(_reliability_figure(before, after, translate)))
    parts.append("</section>")
    return "".join(parts)


def _reliability_figure(before, after, translate: Translate) -> go.Figure:
    figure = go.Figure()
    for bins, key, color in ((before, "export.reliability_before", _BEFORE_COLOR), (after, "export.reliability_after", _AFTER_COLOR)):
        if bins is None:
            continue
        filled = bins.counts > 0  # (M,)
        figure.add_trace(
            go.Scatter(
                x=bins.confidence[filled], y=bins.accuracy[filled], mode="lines+markers", name=translate(key),
                customdata=bins.counts[filled], hovertemplate=translate("export.reliability_hover"),
                line=dict(color=color),
            )
        )
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#888"),
                   name=translate("export.perfect_calibration"))
    )
    figure.update_layout(
        template=_TEMPLATE,
        title=translate("export.reliability_title", bins=RELIABILITY_BINS),
        xaxis_title=translate("export.mean_confidence"), yaxis_title=translate("export.bin_accuracy"),
        # The ranges reach a little past 1, so markers of bins at confidence or accuracy 1 stay visible.
        xaxis_range=[0, 1.02], yaxis_range=[0, 1.04], height=420, margin=dict(t=50, b=40, l=50, r=20),
        legend=dict(orientation="h", y=-0.2),
    )
    return figure


def _uncertain_section(run: _Run, translate: Translate, top_samples: int) -> str:
    predictions = run.predictions
    held_out = predictions[predictions[data_module.SPLIT_COLUMN] != "train"]
    top = held_out.sort_values(uncertainty.ENTROPY_COLUMN, ascending=False, kind="stable").head(top_samples)
    parts = [
        f'<section id="uncertain"><h2>{_escape(translate("export.uncertain_samples"))}</h2>',
        f"<p>{_escape(translate('export.uncertain_intro', count=len(top)))}</p>",
    ]
    if top.empty:
        parts.append(f"<p>{_escape(translate('export.no_samples'))}</p></section>")
        return "".join(parts)
    correct_text = {True: translate("export.correct_yes"), False: translate("export.correct_no")}
    frame = pd.DataFrame(
        {
            translate("export.column_id"): top[data_module.ID_COLUMN].astype(str).to_numpy(),
            translate("export.column_text"): top[data_module.TEXT_COLUMN].to_numpy(),
            translate("export.column_label"): [
                translate("export.no_label") if label is None or pd.isna(label) else label
                for label in top[data_module.LABEL_COLUMN]
            ],
            translate("export.column_predicted"): top[uncertainty.PREDICTED_COLUMN].to_numpy(),
            translate("export.column_confidence"): [f"{value:.3f}" for value in top[uncertainty.CONFIDENCE_COLUMN]],
            translate("export.column_entropy"): [f"{value:.3f}" for value in top[uncertainty.ENTROPY_COLUMN]],
            translate("export.column_correct"): [
                "—" if pd.isna(value) else correct_text[bool(value)] for value in top[uncertainty.CORRECT_COLUMN]
            ],
            translate("export.column_split"): [translate(f"split.{name}") for name in top[data_module.SPLIT_COLUMN]],
        }
    )
    parts.append(
        _table_html(
            frame,
            number_columns=[translate("export.column_confidence"), translate("export.column_entropy")],
            text_columns=[translate("export.column_text")],
        )
    )
    parts.append("</section>")
    return "".join(parts)


def _stored_flips(run_dir: Path) -> list[tuple[dict, pd.DataFrame]]:
    """Return (metadata, flipped rows) of each recipe's newest stored attack, newest first."""
    from core.attack_jobs import list_attacks, load_attack

    found = []
    seen: set[str] = set()
    for metadata in list_attacks(run_dir):  # newest first
        recipe = str(metadata.get("recipe"))
        if recipe in seen:
            continue
        seen.add(recipe)
        try:
            table = load_attack(run_dir, str(metadata.get("id")))
        except (OSError, ValueError) as exc:
            logger.warning("Leaving attack %s out of the report: %s", metadata.get("id"), exc)
            continue
        found.append((metadata, table[table["status"] == "flipped"].head(FLIPS_PER_RECIPE)))
    return found


def short_time(created: str) -> str:
    """Return a stored ISO time such as ``2026-12-05T01:39:31+00:00`` as ``2026-12-05 01:39 UTC``."""
    return f"{created[:10]} {created[11:16]} UTC" if len(created) >= 16 else created


def _recipe_name(recipe: str, translate: Translate) -> str:
    from core.attack_recipe import RECIPES

    return translate(f"adversarial.recipe_{recipe}") if recipe in RECIPES else recipe


def _diff_markup(original: str, changed: str, keep: str) -> str:
    """Escaped HTML of one side of a character diff: ``keep`` is ``delete`` (original side) or ``insert``."""
    from core.text_diff import character_diff

    parts = []
    for piece in character_diff(original, changed):
        if piece.operation == "equal":
            parts.append(_escape(piece.text))
        elif piece.operation == keep:
            tag = "del" if keep == "delete" else "ins"
            parts.append(f"<{tag}>{_escape(piece.text)}</{tag}>")
    return "".join(parts)


def _flips_section(flips: list[tuple[dict, pd.DataFrame]], run: _Run, translate: Translate) -> str:
    parts = [f'<section id="{FLIPS_SECTION}"><h2>{_escape(translate("export.flips"))}</h2>']
    for metadata, flipped in flips:
        values = metadata.get("summary", {})
        recipe = _recipe_name(str(metadata.get("recipe")), translate)
        created = short_time(metadata.get("created", ""))
        parts.append(f"<h3>{_escape(translate('export.flips_recipe', recipe=recipe, created=created))}</h3>")

        def share(key: str) -> str:
            return "—" if values.get(key) is None else f"{values[key]:.1%}"

        summary_text = translate(
            "export.flips_summary", rows=values.get("rows", 0), attacked=values.get("attacked", 0),
            flipped=values.get("flipped", 0), success=share("success_rate"), clean=share("clean_accuracy"),
            attacked_accuracy=share("accuracy_under_attack"), queries=_format_number(values.get("mean_queries"), 1),
        )
        parts.append(f"<p>{_escape(summary_text)}</p>")
        if flipped.empty:
            continue
        header = "".join(
            f"<th>{_escape(translate(key))}</th>"
            for key in ("export.column_id", "export.column_original", "export.column_adversarial",
                        "export.column_label", "export.column_change")
        )
        rows = []
        for _, row in flipped.iterrows():
            original, adversarial = str(row["original_text"]), str(row["adversarial_text"])
            position = int(row["position"])
            in_table = position < len(run.predictions)
            row_id = run.predictions[data_module.ID_COLUMN].iloc[position] if in_table else position
            label = row["label"] if isinstance(row["label"], str) else translate("export.no_label")
            rows.append(
                f"<tr><td>{_escape(row_id)}</td>"
                f'<td class="text">{_diff_markup(original, adversarial, "delete")}</td>'
                f'<td class="text">{_diff_markup(original, adversarial, "insert")}</td>'
                f"<td>{_escape(label)}</td>"
                f"<td>{_escape(row['original_predicted'])} → {_escape(row['adversarial_predicted'])}</td></tr>"
            )
        parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    parts.append("</section>")
    return "".join(parts)


def _flip_attributions_section(run_dir: Path, flips: list[tuple[dict, pd.DataFrame]], run: _Run,
                               translate: Translate) -> str | None:
    """Heatmaps of flips whose original and adversarial attributions are both cached, or ``None``."""
    from core.attribution import AttributionSpec
    from core.attribution_cache import find_attribution
    from core.attribution_render import HeatmapLabels, heatmap_html

    max_length = int(run.metrics.get("max_length") or run.config.get("max_length") or 128)
    pairs = []
    for _, flipped in flips:
        for _, row in flipped.iterrows():
            spec = AttributionSpec(target="class", target_class=str(row["original_predicted"])).normalised()
            label = row["label"] if isinstance(row["label"], str) else None
            found = [find_attribution(run_dir, str(row[column]), spec, max_length=max_length, label=label)
                     for column in ("original_text", "adversarial_text")]
            if all(found):
                pairs.append((int(row["position"]), found))
            if len(pairs) == ATTRIBUTED_FLIPS:
                break
        if len(pairs) == ATTRIBUTED_FLIPS:
            break
    if not pairs:
        return None
    parts = [f'<section id="{ATTRIBUTIONS_SECTION}"><h2>{_escape(translate("export.attributions"))}</h2>',
             f"<p>{_escape(translate('export.attributions_intro'))}</p>"]
    for position, results in pairs:
        row_id = run.predictions[data_module.ID_COLUMN].iloc[position]
        parts.append(f"<h3>{_escape(translate('export.attribution_pair', row=row_id))}</h3>")
        for side, result in zip(("attributions.original_text", "attributions.adversarial_text"), results):
            labels = HeatmapLabels(
                title=f"{translate(side)} · {translate('attributions.class_view', name=result.target_class)}",
                legend=translate("attributions.legend"), negative=translate("attributions.against_class"),
                positive=translate("attributions.for_class"), cut=translate("attributions.cut"),
            )
            parts.append(f'<div class="figure">{heatmap_html(result, labels)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _custom_section(slot: str, section: ReportSection) -> str:
    parts = [f'<section id="{slot}"><h2>{_escape(section.title)}</h2>']
    parts.extend(f"<p>{_escape(paragraph)}</p>" for paragraph in section.paragraphs)
    if section.table is not None:
        parts.append(_table_html(section.table))
    if section.figure is not None:
        parts.append(_figure_html(section.figure))
    parts.append("</section>")
    return "".join(parts)


def _versions_section(run: _Run, translate: Translate) -> str:
    names = ("python", "torch", "transformers", "numpy", "pandas", "scikit-learn", "platform")
    pairs = [(name, run.versions[name]) for name in names if name in run.versions]
    if not pairs:
        return ""
    return f'<section id="versions"><h2>{_escape(translate("export.versions"))}</h2>{_key_value_table(pairs, translate)}</section>'

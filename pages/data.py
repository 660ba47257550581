"""Data page: pick the demo corpus or upload files, map columns, read the validation report."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from core import data as data_module
from core.models import ModelLoadError
from ui import state
from ui.i18n import t, t_message
from ui.shell import ensure_shell

ensure_shell()

UPLOAD_TYPES = ["csv", "tsv", "tab", "txt", "jsonl", "ndjson", "parquet", "pq", "pos", "neg", "train", "dev", "test"]
SOURCE_DEMO = "demo"
SOURCE_UPLOAD = "upload"
NONE_OPTION = "—"

st.header(t("data.title"))
st.caption(t("data.intro"))

source = st.radio(
    t("data.source"),
    [SOURCE_DEMO, SOURCE_UPLOAD],
    format_func=lambda value: t(f"data.source_{value}"),
    horizontal=True,
    key="data.source",
)

# ---------------------------------------------------------------- read
table: data_module.RawTable | None = None
default_mapping: data_module.ColumnMapping | None = None
if source == SOURCE_DEMO:
    table, default_mapping = state.read_demo_corpus()
else:
    uploads = st.file_uploader(
        t("data.upload"), type=UPLOAD_TYPES, accept_multiple_files=True, help=t("data.upload_help"), key="data.uploads"
    )
    with st.expander(t("data.read_options")):
        columns = st.columns(4)
        file_format = columns[0].selectbox(
            t("data.format"), data_module.FORMATS, format_func=lambda value: t(f"data.format_{value}"), key="data.format"
        )
        encoding = columns[1].text_input(t("data.encoding"), value="auto", key="data.encoding", help=t("data.encoding_help"))
        delimiter_choice = columns[2].selectbox(
            t("data.delimiter"),
            ["auto", ",", "\t", ";", "|"],
            format_func=lambda value: t("data.delimiter_tab") if value == "\t" else value,
            key="data.delimiter",
        )
        header_choice = columns[3].selectbox(
            t("data.header"), ["auto", True, False], format_func=lambda value: t(f"data.header_{value}"), key="data.header"
        )
        quoting = st.selectbox(
            t("data.quoting"),
            data_module.QUOTING_MODES,
            format_func=lambda value: t(f"data.quoting_{value}"),
            key="data.quoting",
        )
    if not uploads:
        st.info(t("data.upload_prompt"))
        st.stop()
    files = tuple((upload.name, upload.getvalue()) for upload in uploads)
    options = (
        ("format", file_format),
        ("encoding", encoding.strip() or "auto"),
        ("delimiter", delimiter_choice),
        ("header", header_choice),
        ("quoting", quoting),
    )
    if len(files) > 1 or file_format == "lines":
        options = (("format", "lines"), ("encoding", encoding.strip() or "auto"))
    try:
        table = state.read_uploaded(files, options)
    except data_module.DataLoadError as exc:
        st.error(t("data.read_failed", error=str(exc)))
        st.stop()
    default_mapping = data_module.guess_mapping(table)

for warning in table.warnings:
    st.warning(t_message(warning))

st.caption(
    t(
        "data.read_summary",
        name=table.name,
        rows=len(table.frame),
        format=table.format,
        encoding=table.encoding or "—",
        columns=len(table.frame.columns),
    )
)

# ---------------------------------------------------------------- map columns
st.subheader(t("data.mapping"))
column_names = [str(column) for column in table.frame.columns]
optional = [NONE_OPTION] + column_names


def _index(options: list[str], value: str | None) -> int:
    return options.index(value) if value in options else 0


mapping_key = f"{table.name}:{len(table.frame)}"
cols = st.columns(4)
text_column = cols[0].selectbox(
    t("data.text_column"), column_names, index=_index(column_names, default_mapping.text), key=f"data.map.text.{mapping_key}"
)
label_column = cols[1].selectbox(
    t("data.label_column"), optional, index=_index(optional, default_mapping.label), key=f"data.map.label.{mapping_key}"
)
id_column = cols[2].selectbox(
    t("data.id_column"), optional, index=_index(optional, default_mapping.id), key=f"data.map.id.{mapping_key}"
)
confidence_column = cols[3].selectbox(
    t("data.confidence_column"),
    optional,
    index=_index(optional, default_mapping.confidence),
    key=f"data.map.confidence.{mapping_key}",
)
mapping = data_module.ColumnMapping(
    text=text_column,
    label=None if label_column == NONE_OPTION else label_column,
    id=None if id_column == NONE_OPTION else id_column,
    confidence=None if confidence_column == NONE_OPTION else confidence_column,
)
try:
    dataset = data_module.apply_mapping(table, mapping)
except data_module.DataLoadError as exc:
    st.error(t("data.mapping_failed", error=str(exc)))
    st.stop()

chosen = state.ChosenData(
    name=table.name if source == SOURCE_UPLOAD else state.resources.DEMO_CORPUS_NAME,
    dataset=dataset,
    mapping=mapping,
    format=table.format,
    encoding=table.encoding,
    warnings=list(table.warnings),
    is_demo=source == SOURCE_DEMO,
)
st.session_state["data.chosen"] = chosen

# ---------------------------------------------------------------- validation report
st.subheader(t("data.report"))
data_key = (
    "demo" if source == SOURCE_DEMO else state.content_key(files) + repr(options)
) + repr(mapping.as_dict())
try:
    with st.spinner(t("data.validating")):
        report = state.validation_report(
            data_key, dataset, table.name, table.encoding, state.model_source(), state.max_length()
        )
except ModelLoadError as exc:
    st.warning(t("data.tokenizer_failed", error=str(exc)))
    report = data_module.validate_dataset(dataset, source=table.name, encoding=table.encoding)

cells = st.columns(6)
cells[0].metric(t("report.rows_read"), f"{report.rows_read:,}")
cells[1].metric(t("report.empty_texts"), f"{report.empty_texts:,}")
cells[2].metric(t("report.missing_labels"), f"{report.missing_labels:,}")
cells[3].metric(t("report.exact_duplicates"), f"{report.exact_duplicates:,}")
cells[4].metric(
    t("report.conflicting"), f"{report.conflicting_texts:,}", help=t("report.conflicting_help", rows=report.conflicting_rows)
)
cells[5].metric(
    t("report.truncated", max_length=state.max_length()),
    "—" if report.truncated_texts is None else f"{report.truncated_texts:,}",
    help=t("report.truncated_help"),
)
if report.token_length_p50 is not None:
    st.caption(t("report.token_lengths", p50=report.token_length_p50, p95=report.token_length_p95))
coverage = report.vocabulary
if coverage is not None and coverage.texts:
    coverage_values = dict(
        model=state.model_source(), unknown=coverage.unknown_share, texts=coverage.texts, token=coverage.unknown_token
    )
    if coverage.is_low:
        st.warning(t("data.low_vocabulary", mostly=coverage.mostly_unknown_share, **coverage_values))
    else:
        st.caption(t("data.vocabulary_coverage", **coverage_values))
if mapping.confidence:
    st.caption(t("report.confidence_present", present=report.confidence_present, rows=report.rows_read))

for problem in report.blocking:
    st.error(t_message(problem))
if mapping.label is None:
    st.warning(t("report.no_label"))

if report.class_counts:
    balance = (
        dataset.dropna(subset=[data_module.LABEL_COLUMN])[data_module.LABEL_COLUMN]
        .value_counts()
        .rename_axis("class")
        .reset_index(name="rows")
    )
    figure = px.bar(
        balance,
        x="class",
        y="rows",
        title=t("report.class_balance"),
        labels={"class": t("common.class"), "rows": t("common.rows")},
    )
    figure.update_layout(height=280, margin=dict(t=40, b=10, l=10, r=10))
    st.plotly_chart(figure, width="stretch")

# ---------------------------------------------------------------- preview
st.subheader(t("data.preview"))
preview_labels = {
    data_module.ROW_COLUMN: t("column.row"),
    data_module.ID_COLUMN: t("column.id"),
    data_module.TEXT_COLUMN: t("column.text"),
    data_module.LABEL_COLUMN: t("column.label"),
    data_module.CONFIDENCE_COLUMN: t("column.annotator_confidence"),
}
st.dataframe(
    dataset.head(500),
    hide_index=True,
    height=300,
    column_config={column: label for column, label in preview_labels.items() if column in dataset.columns},
)
if not report.blocking and mapping.label is not None:
    st.page_link("pages/train.py", label=t("data.go_train"), icon=":material/arrow_forward:")

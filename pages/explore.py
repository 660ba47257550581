"""Explore page: the per-sample uncertainty table, entropy histogram and reliability diagram of a run.

The uncertainty methods beyond softmax entropy (temperature scaling, MC dropout, noise,
augmentation, ensembles, conformal sets) are rendered by :mod:`ui.uncertainty_view`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from core import data as data_module
from core import report as report_module
from core import uncertainty
from core.metrics import reliability_bins
from ui import state
from ui import uncertainty_view as views
from ui.i18n import current_language, t
from ui.run_picker import pick_run
from ui.shell import ensure_shell

ensure_shell()

ALL = "__all__"
CORRECTNESS = ("all", "correct", "incorrect", "unlabelled")
SORT_COLUMNS = (
    uncertainty.ENTROPY_COLUMN,
    uncertainty.CONFIDENCE_COLUMN,
    uncertainty.MARGIN_COLUMN,
    data_module.CONFIDENCE_COLUMN,
)
# The same bin count as the ECE shown above the tabs, so the diagram and the number agree.
RELIABILITY_BINS = 15


def _report_html(run_path: str, language: str) -> bytes:
    # Called by the download button when it is clicked, outside the script run, so it reads
    # no session state: the language is bound when the button is drawn.
    translate = partial(t, language=language)
    return report_module.build_report(Path(run_path), translate=translate, language=language).encode("utf-8")


st.header(t("explore.title"))
summaries = state.runs.list_runs(state.runs_root())
summary = pick_run("explore")
run_id = summary.id
modified = state.run_modified(summary.path)
predictions = state.load_predictions(str(summary.path), modified)
metrics = state.load_run_json(str(summary.path), "metrics.json", modified)
class_names = summary.labels
prob_columns = [f"{uncertainty.PROB_PREFIX}{name}" for name in class_names]

# ---------------------------------------------------------------- run metrics
split_metrics = metrics.get("splits", {})
headline = split_metrics.get("test") or split_metrics.get("validation") or {}
cells = st.columns(5)
cells[0].metric(t("explore.test_accuracy"), f"{headline.get('accuracy', float('nan')):.3f}")
cells[1].metric(t("explore.macro_f1"), f"{headline.get('macro_f1', float('nan')):.3f}")
cells[2].metric(t("explore.nll"), f"{headline.get('nll', float('nan')):.3f}")
cells[3].metric(t("explore.ece"), f"{headline.get('ece', float('nan')):.3f}")
cells[4].metric(t("explore.best_epoch"), str(metrics.get("best_epoch", "—")))
with st.expander(t("explore.per_class")):
    per_split = st.radio(
        t("explore.split"), [name for name in data_module.SPLIT_NAMES if name in split_metrics], horizontal=True,
        format_func=lambda name: t(f"split.{name}"), key="explore.report_split",
    )
    report = split_metrics.get(per_split, {}).get("per_class", {})
    rows = [
        {
            t("common.class"): name,
            t("explore.precision"): values["precision"],
            t("explore.recall"): values["recall"],
            t("explore.f1"): values["f1-score"],
            t("explore.support"): int(values["support"]),
        }
        for name, values in report.items()
        if isinstance(values, dict)
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
language = current_language()
st.download_button(
    t("explore.export_report"),
    data=partial(_report_html, str(summary.path), language),
    file_name=f"{run_id}-report-{language}.html",
    mime="text/html",
    help=t("explore.export_report_help"),
    icon=":material/download:",
    on_click="ignore",
    key="explore.export_report",
)

# ---------------------------------------------------------------- temperature scaling and other methods
raw_predictions = predictions
predictions, temperature = views.temperature_section(summary.path, predictions)
has_confidence = predictions[data_module.CONFIDENCE_COLUMN].notna().any()
method_splits = [name for name in views.METHOD_SPLITS if name in set(predictions["split"])]
samples_tab, methods_tab = st.tabs([t("explore.tab_samples"), t("explore.tab_methods")])
# The methods tab is rendered first because the samples tab may stop the script early.
with methods_tab:
    views.methods_section(summary, summaries, method_splits)
    evaluation_settings = views.evaluation_settings(has_confidence)
    views.comparison_section(
        summary.path, st.session_state.get("explore.method_split") or method_splits[0], evaluation_settings,
        has_confidence,
    )
with samples_tab:
    score_identity, extra_scores = views.score_source(summary.path, evaluation_settings)
    if extra_scores is not None:
        predictions = predictions.copy()
        for column in views.EXTRA_SCORE_COLUMNS:
            if column in extra_scores:
                predictions[column] = extra_scores[column].reindex(predictions.index).to_numpy()
    extra_columns = [column for column in views.EXTRA_SCORE_COLUMNS if column in predictions]

    # ---------------------------------------------------------------- filters
    filters = st.columns([3, 2, 2, 2, 3])
    splits_present = [name for name in (*data_module.SPLIT_NAMES, data_module.UNLABELLED_SPLIT) if name in set(predictions["split"])]
    default_splits = [name for name in splits_present if name != "train"] or splits_present
    chosen_splits = filters[0].multiselect(
        t("explore.split"), splits_present, default=default_splits, format_func=lambda name: t(f"split.{name}"),
        key="explore.splits",
    )
    chosen_labels = filters[1].multiselect(
        t("explore.label"), class_names, key="explore.labels", placeholder=t("common.choose")
    )
    chosen_predicted = filters[2].multiselect(
        t("explore.predicted"), class_names, key="explore.predicted", placeholder=t("common.choose")
    )
    correctness = filters[3].selectbox(
        t("explore.correctness"), CORRECTNESS, format_func=lambda value: t(f"explore.correct_{value}"), key="explore.correctness"
    )
    search = filters[4].text_input(t("explore.search"), key="explore.search", help=t("explore.search_help"))

    ranges = st.columns(3)
    entropy_range = ranges[0].slider(
        t("explore.entropy_range"), 0.0, 1.0, (0.0, 1.0), step=0.01, key="explore.entropy", help=t("explore.entropy_help")
    )
    confidence_range = None
    if has_confidence:
        confidence_range = ranges[1].slider(
            t("explore.annotator_range"), 0.0, 1.0, (0.0, 1.0), step=0.01, key="explore.annotator",
            help=t("explore.annotator_help"),
        )
    sort_options = [column for column in SORT_COLUMNS if column != data_module.CONFIDENCE_COLUMN or has_confidence]
    sort_options += extra_columns
    sort_by = ranges[2].selectbox(
        t("explore.sort_by"), sort_options, format_func=lambda column: t(f"column.{column}"), key="explore.sort"
    )

    mask = predictions["split"].isin(chosen_splits)
    if chosen_labels:
        mask &= predictions[data_module.LABEL_COLUMN].isin(chosen_labels)
    if chosen_predicted:
        mask &= predictions[uncertainty.PREDICTED_COLUMN].isin(chosen_predicted)
    correct = predictions[uncertainty.CORRECT_COLUMN]
    if correctness == "correct":
        mask &= correct.fillna(False).astype(bool)
    elif correctness == "incorrect":
        mask &= (~correct.fillna(True)).astype(bool)
    elif correctness == "unlabelled":
        mask &= correct.isna()
    normalised = predictions[uncertainty.NORMALISED_ENTROPY_COLUMN]
    mask &= normalised.between(entropy_range[0] - 1e-9, entropy_range[1] + 1e-9)
    if confidence_range is not None and confidence_range != (0.0, 1.0):
        mask &= predictions[data_module.CONFIDENCE_COLUMN].between(*confidence_range)
    if search.strip():
        mask &= predictions[data_module.TEXT_COLUMN].str.contains(search.strip(), case=False, regex=False)

    # Most uncertain first: high entropy (and the other method scores), low confidence, low margin,
    # low annotator confidence.
    ascending = sort_by not in (uncertainty.ENTROPY_COLUMN, *extra_columns)
    view = predictions[mask].sort_values(sort_by, ascending=ascending, na_position="last")
    st.caption(t("explore.showing", shown=len(view), total=len(predictions)))
    if view.empty:
        st.info(t("explore.no_match"))
        st.stop()

    display_columns = [
        data_module.ID_COLUMN,
        data_module.TEXT_COLUMN,
        data_module.LABEL_COLUMN,
        uncertainty.PREDICTED_COLUMN,
        uncertainty.ENTROPY_COLUMN,
        uncertainty.NORMALISED_ENTROPY_COLUMN,
        uncertainty.CONFIDENCE_COLUMN,
        uncertainty.MARGIN_COLUMN,
        uncertainty.CORRECT_COLUMN,
        "split",
    ]
    if has_confidence:
        display_columns.insert(4, data_module.CONFIDENCE_COLUMN)
    correct_at = display_columns.index(uncertainty.CORRECT_COLUMN)
    display_columns[correct_at:correct_at] = extra_columns
    column_config = {column: st.column_config.Column(t(f"column.{column}")) for column in display_columns}
    column_config[data_module.TEXT_COLUMN] = st.column_config.TextColumn(t("column.text"), width="large")
    column_config[uncertainty.NORMALISED_ENTROPY_COLUMN] = st.column_config.ProgressColumn(
        t("column.entropy_normalized"), min_value=0.0, max_value=1.0, format="%.2f"
    )
    for column in (uncertainty.ENTROPY_COLUMN, uncertainty.CONFIDENCE_COLUMN, uncertainty.MARGIN_COLUMN):
        column_config[column] = st.column_config.NumberColumn(t(f"column.{column}"), format="%.3f")
    for column in extra_columns:
        column_config[column] = st.column_config.NumberColumn(t(f"column.{column}"), format="%.3f")
    if has_confidence:
        column_config[data_module.CONFIDENCE_COLUMN] = st.column_config.NumberColumn(
            t("column.annotator_confidence"), format="%.2f"
        )
    selection = st.dataframe(
        view[display_columns],
        hide_index=True,
        height=420,
        column_config=column_config,
        on_select="rerun",
        selection_mode="single-row",
        key="explore.table",
    )

    # ---------------------------------------------------------------- selected sample
    selected_rows = selection.selection.rows if selection is not None else []
    if selected_rows:
        sample = view.iloc[selected_rows[0]]
        st.subheader(t("explore.sample"))
        left, right = st.columns([3, 2])
        with left:
            st.markdown(f"**{t('column.text')}**")
            st.text(sample[data_module.TEXT_COLUMN])
            details = {
                t("column.id"): sample[data_module.ID_COLUMN],
                t("column.label"): sample[data_module.LABEL_COLUMN] or "—",
                t("column.predicted"): sample[uncertainty.PREDICTED_COLUMN],
                t("column.entropy"): f"{sample[uncertainty.ENTROPY_COLUMN]:.4f}",
                t("column.margin"): f"{sample[uncertainty.MARGIN_COLUMN]:.4f}",
                t("column.split"): t(f"split.{sample['split']}"),
            }
            if has_confidence and not pd.isna(sample[data_module.CONFIDENCE_COLUMN]):
                details[t("column.annotator_confidence")] = f"{sample[data_module.CONFIDENCE_COLUMN]:.2f}"
            if bool(sample.get("truncated", False)):
                details[t("explore.truncated")] = t("explore.truncated_yes", tokens=int(sample["token_count"]))
            st.table(pd.DataFrame({t("explore.field"): list(details), t("explore.value"): [str(v) for v in details.values()]}))
            st.page_link(
                "pages/attributions.py",
                label=t("explore.open_attributions"),
                icon=":material/format_color_text:",
                query_params={"run": run_id, "row": str(int(sample.name))},
            )
            st.page_link(
                "pages/adversarial.py",
                label=t("explore.open_adversarial"),
                icon=":material/swap_horiz:",
                query_params={"run": run_id, "rows": str(int(sample.name))},
            )
        with right:
            probabilities = pd.DataFrame({"class": class_names, "probability": [float(sample[c]) for c in prob_columns]})
            figure = px.bar(
                probabilities,
                x="probability",
                y="class",
                orientation="h",
                range_x=[0, 1],
                title=t("explore.probabilities"),
                labels={"probability": t("common.probability"), "class": t("common.class")},
            )
            figure.update_layout(height=60 + 40 * len(class_names), margin=dict(t=40, b=10, l=10, r=10))
            st.plotly_chart(figure, width="stretch")
        views.sample_spread(summary.path, score_identity, int(sample.name), sample[data_module.TEXT_COLUMN], class_names)
    else:
        st.caption(t("explore.select_hint"))

    # ---------------------------------------------------------------- plots
    st.subheader(t("explore.plots"))
    plot_left, plot_right = st.columns(2)
    labelled = view[view[uncertainty.CORRECT_COLUMN].notna()]
    with plot_left:
        st.markdown(f"**{t('explore.histogram')}**")
        histogram_data = pd.DataFrame(
            {
                "entropy": view[uncertainty.ENTROPY_COLUMN],
                "outcome": [
                    t("explore.outcome_unlabelled") if pd.isna(value)
                    else t("explore.outcome_correct") if value else t("explore.outcome_incorrect")
                    for value in view[uncertainty.CORRECT_COLUMN]
                ],
            }
        )
        figure = px.histogram(
            histogram_data,
            x="entropy",
            color="outcome",
            nbins=40,
            barmode="overlay",
            opacity=0.7,
            # Overlaid traces are drawn in this order, so the fewer incorrect rows stay on top.
            category_orders={"outcome": [t("explore.outcome_correct"), t("explore.outcome_unlabelled"),
                                         t("explore.outcome_incorrect")]},
            color_discrete_map={
                t("explore.outcome_correct"): "#2e7d32",
                t("explore.outcome_incorrect"): "#c62828",
                t("explore.outcome_unlabelled"): "#9e9e9e",
            },
            labels={"entropy": t("column.entropy"), "outcome": t("explore.outcome")},
        )
        figure.update_layout(
            height=340,
            margin=dict(t=10, b=10, l=10, r=10),
            yaxis_title=t("common.rows"),
            legend=dict(orientation="h", yanchor="top", y=-0.25),
        )
        st.plotly_chart(figure, width="stretch")
    with plot_right:
        st.markdown(f"**{t('explore.reliability', bins=RELIABILITY_BINS)}**")
        if labelled.empty:
            st.info(t("explore.no_labels_for_reliability"))
        else:
            label_index = {name: index for index, name in enumerate(class_names)}
            label_ids = labelled[data_module.LABEL_COLUMN].map(label_index).to_numpy()
            before_probs = raw_predictions.loc[labelled.index, prob_columns].to_numpy(dtype=np.float64)
            before = reliability_bins(label_ids, before_probs, bins=RELIABILITY_BINS)
            after = None
            if temperature is not None:
                after = reliability_bins(label_ids, labelled[prob_columns].to_numpy(dtype=np.float64), bins=RELIABILITY_BINS)
            st.plotly_chart(views.reliability_figure(before, after, height=340), width="stretch")

"""Explore-page sections for uncertainty beyond softmax entropy.

Temperature scaling of the shown probabilities, the method picker that submits
background jobs, the comparison of every computed method, and the per-sample view
of the T sampled probabilities. Every computation happens in ``core``; this module
reads widgets, calls cached ``core`` functions and renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import calibration, comparison, methods, runs, uncertainty_cache
from core.augment import augmented_variants
from core.job_handlers import submit_uncertainty
from core.metrics import SELECTIVE_COVERAGES, ReliabilityBins
from core.uncertainty import (
    ENTROPY_COLUMN,
    EXPECTED_ENTROPY_COLUMN,
    MUTUAL_INFORMATION_COLUMN,
    SAMPLES_PREFIX,
    VARIATION_RATIO_COLUMN,
)
from ui import state
from ui.i18n import t
from ui.jobs_view import current_job, job_panel

JOB_QUERY_KEY = "uncertainty_job"
COMPUTE_METHODS = tuple(method for method in methods.METHODS if method != "softmax")
METHOD_SPLITS = ("test", "validation", "train")
# Entropy of a method's mean probabilities, shown beside the softmax entropy of the table.
METHOD_ENTROPY_COLUMN = "method_entropy"
EXTRA_SCORE_COLUMNS = (
    METHOD_ENTROPY_COLUMN,
    EXPECTED_ENTROPY_COLUMN,
    MUTUAL_INFORMATION_COLUMN,
    VARIATION_RATIO_COLUMN,
    calibration.SET_SIZE_COLUMN,
)
SCALE_LIMITS = {"embedding_noise": 10.0, "weight_noise": 1.0, "tta_character": 1.0, "tta_word": 1.0}
SUMMARY_COLUMNS = (
    "rows", "accuracy", "nll", "brier", "ece", "ece_equal_mass", "mce", "temperature", "nll_scaled", "ece_scaled",
    "ece_scaled_floor", "coverage", "mean_set_size",
)
PLOT_MARGIN = dict(t=30, b=10, l=10, r=10)


# ---------------------------------------------------------------- cached core calls


def cache_stamp(run_path: Path) -> tuple[float, float, float]:
    """Return modification times that change whenever the run, its cache or its calibration changes."""
    cache_dir = run_path / uncertainty_cache.CACHE_DIR
    calibration_file = run_path / calibration.CALIBRATION_FILE
    return (
        state.run_modified(run_path),
        cache_dir.stat().st_mtime if cache_dir.is_dir() else 0.0,
        calibration_file.stat().st_mtime if calibration_file.is_file() else 0.0,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _temperature(run_path: str, stamp: tuple) -> dict | None:
    del stamp  # part of the cache key only
    return calibration.read_run_temperature(Path(run_path))


@st.cache_data(show_spinner=False, max_entries=8)
def _scaled_predictions(run_path: str, temperature: float, stamp: tuple) -> pd.DataFrame:
    del stamp
    predictions = runs.load_predictions(Path(run_path))
    return calibration.temperature_scaled_table(predictions, runs.read_summary(Path(run_path)).labels, temperature)


@st.cache_data(show_spinner=False, max_entries=16)
def _variants(run_path: str, stamp: tuple) -> list[str]:
    del stamp
    return [comparison.spec_identity(spec) for spec in comparison.method_variants(Path(run_path))]


def _spec(identity: str) -> methods.MethodSpec:
    return methods.MethodSpec.from_settings(json.loads(identity))


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluations(run_path: str, split: str, settings: tuple, stamp: tuple) -> list[tuple[str, comparison.MethodEvaluation]]:
    del stamp
    run_dir = Path(run_path)
    evaluation_settings = comparison.EvaluationSettings(*settings)
    predictions = runs.load_predictions(run_dir)
    class_names = runs.read_summary(run_dir).labels
    evaluations = []
    for identity in _variants(run_path, cache_stamp(run_dir)):
        spec = _spec(identity)
        table = comparison.method_table(run_dir, predictions, spec, split)
        if table is None:
            continue
        validation = comparison.method_table(run_dir, predictions, spec, "validation")
        evaluation = comparison.evaluate_method(table, validation, class_names, evaluation_settings, passes=spec.passes)
        evaluations.append((identity, evaluation))
    return evaluations


@st.cache_data(show_spinner=False, max_entries=8)
def _per_sample_scores(run_path: str, identity: str, settings: tuple, stamp: tuple) -> pd.DataFrame:
    del stamp
    run_dir = Path(run_path)
    scores = comparison.per_sample_scores(
        run_dir, runs.load_predictions(run_dir), _spec(identity), runs.read_summary(run_dir).labels,
        comparison.EvaluationSettings(*settings),
    )
    return scores.rename(columns={ENTROPY_COLUMN: METHOD_ENTROPY_COLUMN})


@st.cache_data(show_spinner=False, max_entries=8)
def _sampled_rows(run_path: str, identity: str, stamp: tuple) -> pd.DataFrame:
    """Return the sampled-probability and decomposition columns of a method, indexed by position."""
    del stamp
    run_dir = Path(run_path)
    spec = _spec(identity)
    frames = []
    for split in METHOD_SPLITS:
        result = uncertainty_cache.find_result(run_dir, spec, split)
        if result is not None:
            frames.append(uncertainty_cache.load_result(result))
    if not frames:
        return pd.DataFrame()
    combined = pd.concat(frames, ignore_index=True)
    return combined.set_index(uncertainty_cache.POSITION_COLUMN)


def method_label(identity: str) -> str:
    spec = _spec(identity)
    return f"{t(f'method.{spec.method}')} ({methods.passes_label(spec)})"


# ---------------------------------------------------------------- temperature scaling


def temperature_section(run_path: Path, predictions: pd.DataFrame) -> tuple[pd.DataFrame, float | None]:
    """Render the temperature-scaling controls; return the predictions to show and the temperature in use."""
    stamp = cache_stamp(run_path)
    record = _temperature(str(run_path), stamp)
    left, right = st.columns([3, 2])
    with right:
        label = t("calibration.refit") if record else t("calibration.fit")
        if st.button(label, key="explore.fit_temperature"):
            try:
                calibration.fit_run_temperature(run_path)
            except ValueError as exc:
                st.error(t("calibration.failed", error=str(exc)))
            else:
                st.rerun()
    with left:
        if record is None:
            st.caption(t("calibration.not_fitted"))
            return predictions, None
        st.caption(
            t(
                "calibration.fitted",
                temperature=record["temperature"],
                rows=record["rows"],
                before=record["nll_before"],
                after=record["nll_after"],
            )
        )
        apply = st.toggle(t("calibration.apply"), key="explore.apply_temperature", help=t("calibration.apply_help"))
    if not apply:
        return predictions, None
    return _scaled_predictions(str(run_path), float(record["temperature"]), stamp), float(record["temperature"])


# ---------------------------------------------------------------- method picker and job


def _member_options(summary: runs.RunSummary, summaries: list[runs.RunSummary]) -> list[str]:
    return [other.id for other in summaries if other.id != summary.id and set(other.labels) == set(summary.labels)]


def _method_form(summary: runs.RunSummary, summaries: list[runs.RunSummary], splits: list[str]) -> None:
    columns = st.columns([3, 2, 2, 2, 2])
    method = columns[0].selectbox(
        t("uncertainty.method"), COMPUTE_METHODS, format_func=lambda name: t(f"method.{name}"),
        key="explore.method", help=t("uncertainty.method_help"),
    )
    split = columns[1].selectbox(
        t("uncertainty.split"), splits, format_func=lambda name: t(f"split.{name}"), key="explore.method_split"
    )

    values: dict = {"method": method}
    if method in methods.SAMPLING_METHODS:
        values["passes"] = int(columns[2].number_input(
            t("uncertainty.passes"), min_value=1, max_value=methods.MAX_PASSES, value=methods.DEFAULT_PASSES,
            step=1, key="explore.passes", help=t("uncertainty.passes_help"),
        ))
        # The seed takes the scale's column when the method has no scale.
        seed_column = columns[4] if method in methods.DEFAULT_SCALES else columns[3]
        values["seed"] = int(seed_column.number_input(t("uncertainty.seed"), min_value=0, value=0, step=1,
                                                      key="explore.method_seed"))
    if method in methods.DEFAULT_SCALES:
        values["scale"] = float(columns[3].number_input(
            t(f"uncertainty.scale_{method}"), min_value=0.0, max_value=SCALE_LIMITS[method],
            value=methods.DEFAULT_SCALES[method], step=0.01, format="%.3f", key=f"explore.scale_{method}",
            help=t(f"uncertainty.scale_{method}_help"),
        ))

    if method == "ensemble":
        options = _member_options(summary, summaries)
        if not options:
            st.info(t("uncertainty.no_members"))
            return
        values["members"] = tuple(st.multiselect(
            t("uncertainty.members"), options, key="explore.members", help=t("uncertainty.members_help")
        ))
        values["allow_train_overlap"] = st.checkbox(
            t("uncertainty.allow_overlap"), key="explore.allow_overlap", help=t("uncertainty.allow_overlap_help")
        )

    spec = methods.MethodSpec(**values)
    split_name = t(f"split.{split}")
    try:
        stored = uncertainty_cache.find_result(summary.path, spec, split) is not None
    except ValueError:
        stored = False
    if stored:
        st.caption(t("uncertainty.cached", split=split_name))

    if st.button(t("uncertainty.compute", split=split_name), key="explore.compute", type="primary"):
        try:
            job = submit_uncertainty(state.workspace_path(), summary.path, spec, split=split)
        except ValueError as exc:
            st.error(t("uncertainty.submit_failed", error=str(exc)))
        else:
            st.query_params[JOB_QUERY_KEY] = job.id
            st.session_state["explore.uncertainty_job"] = job.id


def methods_section(summary: runs.RunSummary, summaries: list[runs.RunSummary], splits: list[str]) -> None:
    """Render the method picker, the compute button and the live view of the latest computation."""
    st.subheader(t("uncertainty.title"))
    st.caption(t("uncertainty.intro"))
    _method_form(summary, summaries, splits)
    job_id = current_job("explore.uncertainty_job", ("uncertainty",), run_id=summary.id)
    if job_id is not None:
        with st.expander(t("uncertainty.job"), expanded=True):
            job_panel(job_id)


# ---------------------------------------------------------------- comparison


def evaluation_settings(has_confidence: bool) -> comparison.EvaluationSettings:
    """Render the comparison settings and return them."""
    st.markdown(f"**{t('uncertainty.evaluation')}**")
    columns = st.columns(4)
    bins = int(columns[0].number_input(
        t("uncertainty.bins"), min_value=1, max_value=100, value=15, step=1, key="explore.bins",
        help=t("uncertainty.bins_help"),
    ))
    coverage = float(columns[1].slider(
        t("uncertainty.coverage"), min_value=0.5, max_value=0.99, value=0.9, step=0.01, key="explore.coverage",
        help=t("uncertainty.coverage_help"),
    ))
    score = columns[2].radio(
        t("uncertainty.conformal_score"), calibration.CONFORMAL_SCORES, horizontal=True,
        format_func=lambda name: t(f"uncertainty.conformal_{name}"), key="explore.conformal_score",
        help=t("uncertainty.conformal_score_help"),
    )
    threshold = comparison.EvaluationSettings.disagreement_threshold
    if has_confidence:
        threshold = float(columns[3].slider(
            t("uncertainty.disagreement"), min_value=0.0, max_value=1.0, value=threshold, step=0.01,
            key="explore.disagreement", help=t("uncertainty.disagreement_help"),
        ))
    return comparison.EvaluationSettings(bins, coverage, score, threshold).validate()


def _summary_frame(evaluations, settings: comparison.EvaluationSettings) -> pd.DataFrame:
    rows = []
    for identity, evaluation in evaluations:
        row = {t("metric.method"): method_label(identity)}
        for key in SUMMARY_COLUMNS:
            row[_summary_label(key, settings)] = evaluation.summary[key]
        rows.append(row)
    return pd.DataFrame(rows)


def _summary_label(key: str, settings: comparison.EvaluationSettings) -> str:
    if key in ("ece", "ece_equal_mass", "mce", "ece_scaled", "ece_scaled_floor"):
        return t(f"metric.{key}", bins=settings.bins)
    if key == "coverage":
        return t("metric.coverage", target=settings.coverage)
    return t(f"metric.{key}")


def _scores_frame(evaluations, settings: comparison.EvaluationSettings, has_confidence: bool) -> pd.DataFrame:
    frames = []
    for identity, evaluation in evaluations:
        if evaluation.scores.empty:
            continue
        frame = evaluation.scores.copy()
        frame.insert(0, "method", method_label(identity))
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    scores = pd.concat(frames, ignore_index=True)
    scores["score"] = [t(f"score.{name}") for name in scores["score"]]
    if not has_confidence:
        scores = scores.drop(columns=["disagreement_auroc"])
    labels = {
        "method": t("metric.method"),
        "score": t("metric.score"),
        "auroc": t("metric.auroc"),
        "auprc": t("metric.auprc"),
        "aurc": t("metric.aurc"),
        "disagreement_auroc": t("metric.disagreement_auroc", threshold=settings.disagreement_threshold),
    }
    for coverage in SELECTIVE_COVERAGES:
        labels[f"selective_accuracy_{coverage:g}"] = t("metric.selective_accuracy", coverage=coverage)
    return scores.rename(columns=labels)


def reliability_figure(before: ReliabilityBins, after: ReliabilityBins | None = None, *, height: int = 320) -> go.Figure:
    """Return a reliability diagram: accuracy per confidence bin, before and optionally after scaling."""
    figure = go.Figure()
    for bins, name, color in ((before, t("explore.reliability_before"), "#1f77b4"),
                              (after, t("explore.reliability_after"), "#ff7f0e")):
        if bins is None:
            continue
        filled = bins.counts > 0
        figure.add_trace(
            go.Scatter(
                x=bins.confidence[filled], y=bins.accuracy[filled], mode="lines+markers", name=name,
                customdata=bins.counts[filled], hovertemplate=t("explore.reliability_hover"),
                line=dict(color=color),
            )
        )
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#888"),
                   name=t("explore.perfect_calibration"))
    )
    figure.update_layout(
        xaxis_title=t("explore.mean_confidence"), yaxis_title=t("explore.accuracy"), xaxis_range=[0, 1],
        yaxis_range=[0, 1], height=height, margin=PLOT_MARGIN, legend=dict(orientation="h", yanchor="top", y=-0.25),
    )
    return figure


def _risk_coverage_figure(evaluations, score: str) -> go.Figure:
    figure = go.Figure()
    for identity, evaluation in evaluations:
        curve = evaluation.risk_coverage.get(score)
        if curve is None:
            continue
        figure.add_trace(go.Scatter(x=curve.coverage, y=curve.risk, mode="lines",
                                    name=f"{method_label(identity)} · AURC {curve.aurc:.3f}"))
    figure.update_layout(
        xaxis_title=t("uncertainty.coverage_axis"), yaxis_title=t("uncertainty.risk_axis"), xaxis_range=[0, 1],
        height=440, margin=PLOT_MARGIN, legend=dict(orientation="h", yanchor="top", y=-0.3),
    )
    return figure


def comparison_section(run_path: Path, split: str, settings: comparison.EvaluationSettings, has_confidence: bool) -> None:
    """Render the comparison tables, risk–coverage curves and reliability diagrams of every computed method."""
    split_name = t(f"split.{split}")
    st.markdown(f"**{t('uncertainty.comparison', split=split_name)}**")
    settings_key = (settings.bins, settings.coverage, settings.conformal_score, settings.disagreement_threshold)
    evaluations = _evaluations(str(run_path), split, settings_key, cache_stamp(run_path))
    if not evaluations or evaluations[0][1].summary["labelled_rows"] == 0:
        st.info(t("uncertainty.no_labels", split=split_name))
        return
    caption = t("uncertainty.calibrated_on")
    if split == "validation":
        caption += " " + t("uncertainty.in_sample")
    st.caption(caption)
    number = st.column_config.NumberColumn(format="%.4f")
    summary = _summary_frame(evaluations, settings)
    st.dataframe(summary, hide_index=True, key="explore.comparison",
                 column_config={column: number for column in summary.columns[2:]})

    st.markdown(f"**{t('uncertainty.scores')}**")
    scores = _scores_frame(evaluations, settings, has_confidence)
    st.dataframe(scores, hide_index=True, key="explore.score_table",
                 column_config={column: number for column in scores.columns[2:]})

    left, right = st.columns(2)
    with left:
        available = [name for name in comparison.SCORE_DIRECTIONS
                     if any(name in evaluation.risk_coverage for _, evaluation in evaluations)]
        score = st.selectbox(t("uncertainty.risk_coverage"), available, format_func=lambda name: t(f"score.{name}"),
                             key="explore.risk_score")
        st.plotly_chart(_risk_coverage_figure(evaluations, score), width="stretch")
    with right:
        identities = [identity for identity, _ in evaluations]
        chosen = st.selectbox(t("uncertainty.detail_method"), identities, format_func=method_label,
                              key="explore.detail_method")
        evaluation = dict(evaluations)[chosen]
        before, after = evaluation.reliability["before"], evaluation.reliability.get("after")
        st.caption(t("uncertainty.reliability_before", ece=evaluation.summary["ece"], bins=settings.bins))
        if after is None:
            st.caption(t("uncertainty.no_after"))
        else:
            st.caption(t("uncertainty.reliability_after", temperature=evaluation.summary["temperature"],
                         ece=evaluation.summary["ece_scaled"]))
        st.plotly_chart(reliability_figure(before, after), width="stretch")


# ---------------------------------------------------------------- per-sample scores


def score_source(run_path: Path, settings: comparison.EvaluationSettings) -> tuple[str | None, pd.DataFrame | None]:
    """Render the choice of method for extra per-sample columns; return its identity and scores by position."""
    identities = _variants(str(run_path), cache_stamp(run_path))
    options = [None, *identities]
    chosen = st.selectbox(
        t("uncertainty.sample_source"), options,
        format_func=lambda identity: t("uncertainty.source_none") if identity is None else method_label(identity),
        key="explore.score_source", help=t("uncertainty.sample_source_help"),
    )
    if chosen is None:
        return None, None
    settings_key = (settings.bins, settings.coverage, settings.conformal_score, settings.disagreement_threshold)
    return chosen, _per_sample_scores(str(run_path), chosen, settings_key, cache_stamp(run_path))


def sample_spread(run_path: Path, identity: str | None, position: int, text: str, class_names: list[str]) -> None:
    """Render the T sampled probabilities per class and the entropy decomposition of one sample."""
    if identity is None or _spec(identity).method == "softmax":
        return
    spec = _spec(identity)
    rows = _sampled_rows(str(run_path), identity, cache_stamp(run_path))
    if rows.empty or position not in rows.index:
        st.caption(t("uncertainty.not_computed"))
        return
    row = rows.loc[position]
    left, right = st.columns([3, 2])
    with left:
        figure = go.Figure()
        for name in class_names:
            samples = np.asarray(row[f"{SAMPLES_PREFIX}{name}"], dtype=np.float64)
            figure.add_trace(go.Box(x=samples, name=name, boxpoints="all", jitter=0.4, pointpos=0,
                                    orientation="h", showlegend=False))
        figure.update_layout(title=t("uncertainty.spread", passes=spec.passes), xaxis_range=[0, 1],
                             xaxis_title=t("common.probability"), height=80 + 60 * len(class_names),
                             margin=dict(t=40, b=10, l=10, r=10))
        st.plotly_chart(figure, width="stretch")
    with right:
        aleatoric = float(row[EXPECTED_ENTROPY_COLUMN])
        epistemic = float(row[MUTUAL_INFORMATION_COLUMN])
        figure = go.Figure()
        figure.add_trace(go.Bar(x=[aleatoric], y=[""], orientation="h", name=t("uncertainty.aleatoric")))
        figure.add_trace(go.Bar(x=[epistemic], y=[""], orientation="h", name=t("uncertainty.epistemic")))
        figure.update_layout(barmode="stack", title=t("uncertainty.decomposition", total=aleatoric + epistemic),
                             xaxis_title=t("uncertainty.nats"), xaxis_range=[0, float(np.log(len(class_names)))],
                             height=200, margin=dict(t=40, b=10, l=10, r=10),
                             legend=dict(orientation="h", yanchor="top", y=-0.4))
        st.plotly_chart(figure, width="stretch")
    if spec.method.startswith("tta_"):
        with st.expander(t("uncertainty.variants")):
            variants = augmented_variants(text, position, passes=spec.passes, kind=spec.method.removeprefix("tta_"),
                                          rate=spec.scale, seed=spec.seed)
            st.dataframe(pd.DataFrame({t("column.text"): variants}), hide_index=True)

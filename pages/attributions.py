"""Attributions page: which words push a run's prediction, and which words make it unsure.

One sample of a run is explained twice, side by side: a class logit (predicted,
labelled or chosen class) and an uncertainty (entropy, or MC dropout entropy or
mutual information). Results come from :mod:`core.attribution_cache`, so each text,
method and setting is computed once per run. Many rows are attributed by a
background job. ``?run=RUN&row=POSITION`` opens a given row of a run.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import data as data_module
from core import uncertainty
from core.attribution import BASELINE_METHODS, BASELINES, METHODS, SAMPLING_METHODS, AttributionSpec, TextAttribution
from core.attribution_cache import attribute_run_texts, list_randomisation_checks
from core.attribution_captum import GRADIENT_METHODS
from core.attribution_render import HeatmapLabels, export_html, export_png, heatmap_html
from core.attribution_targets import CLASS_TARGETS, MC_TARGETS, UNCERTAINTY_TARGETS
from core.attribution_text import AGGREGATIONS
from core.job_handlers import submit_attributions
from core.methods import RunModel
from core.models import resolve_device
from ui import state
from ui.i18n import t
from ui.jobs_view import current_job, job_panel
from ui.run_picker import pick_run
from ui.shell import ensure_shell

ensure_shell()

ROW_QUERY_KEY = "row"
ATTACK_QUERY_KEY = "attack"
JOB_QUERY_KEY = "attribution_job"
SPLIT_ORDER = (*data_module.SPLIT_NAMES, data_module.UNLABELLED_SPLIT)
DEFAULT_JOB_ROWS = 50


@st.cache_resource(show_spinner=False, max_entries=2)
def _run_model(run_path: str, modified: float) -> RunModel:
    del modified  # part of the cache key only
    return RunModel(Path(run_path), resolve_device("auto"))


@st.cache_resource(show_spinner=False)
def _model_lock() -> threading.Lock:
    # MC dropout targets put hooks on the shared model while they run, so one session computes at a time.
    return threading.Lock()


@st.cache_data(show_spinner=False, max_entries=64)
def _attribution(run_path: str, modified: float, text: str, label: str | None, settings: str) -> dict:
    spec = AttributionSpec.from_settings(json.loads(settings))
    with _model_lock():
        result = attribute_run_texts(Path(run_path), [text], spec, labels=[label],
                                     run_model=_run_model(run_path, modified))[0]
    return result.to_dict()


@st.cache_data(show_spinner=False, max_entries=16)
def _png(payload: str) -> bytes:
    views = [(TextAttribution.from_dict(view["result"]), HeatmapLabels(**view["labels"])) for view in json.loads(payload)]
    return export_png(views)


def _compute(summary, modified: float, text: str, label: str | None, spec: AttributionSpec) -> TextAttribution | None:
    settings = json.dumps(spec.settings(), sort_keys=True)
    try:
        return TextAttribution.from_dict(_attribution(str(summary.path), modified, text, label, settings))
    except ValueError as exc:
        st.error(t("attributions.failed", error=str(exc)))
        return None


def _labels(result: TextAttribution) -> HeatmapLabels:
    if result.target in UNCERTAINTY_TARGETS:
        return HeatmapLabels(
            title=t("attributions.uncertainty_view", target=t(f"attributions.target_{result.target}")),
            legend=t("attributions.legend"), negative=t("attributions.lowers_uncertainty"),
            positive=t("attributions.raises_uncertainty"), cut=t("attributions.cut"),
        )
    return HeatmapLabels(
        title=t("attributions.class_view", name=result.target_class),
        legend=t("attributions.legend"), negative=t("attributions.against_class"),
        positive=t("attributions.for_class"), cut=t("attributions.cut"),
    )


def _adversarial_comparison(summary, modified: float, attack_id: str, position: int, text: str, label: str | None,
                            common: dict) -> None:
    """Show the original and the adversarial text of a stored attack side by side, for one target class."""
    from core.attack_jobs import load_attack

    try:
        table = load_attack(summary.path, attack_id)
    except (FileNotFoundError, ValueError) as exc:
        st.warning(t("attributions.attack_missing", attack=attack_id, error=str(exc)))
        return
    matches = table[table["position"] == position]
    if matches.empty or matches.iloc[0]["status"] != "flipped":
        st.info(t("attributions.attack_no_flip", attack=attack_id, row=position))
        return
    found = matches.iloc[0]
    st.subheader(t("attributions.adversarial_title"))
    st.caption(t("attributions.adversarial_intro", before=found["original_predicted"],
                 after=found["adversarial_predicted"]))
    spec = AttributionSpec(target="class", target_class=str(found["original_predicted"]), **common)
    pair = [(t("attributions.original_text"), text), (t("attributions.adversarial_text"), str(found["adversarial_text"]))]
    for column, (heading, shown_text) in zip(st.columns(2), pair):
        with column:
            st.markdown(f"**{heading}**")
            result = _compute(summary, modified, shown_text, label, spec)
            if result is not None:
                _render_view(result, f"adversarial.{heading}")


def _deletion_figure(result: TextAttribution) -> go.Figure:
    scores = result.faithfulness
    quantity = t("attributions.probability_of", name=result.target_class) if result.target in CLASS_TARGETS \
        else t(f"attributions.target_{result.target}")
    figure = go.Figure(go.Scatter(x=scores["deletion_fractions"], y=scores["deletion_curve"], mode="lines+markers"))
    figure.update_layout(height=220, margin=dict(t=10, b=10, l=10, r=10),
                         xaxis_title=t("attributions.deletion_x"), yaxis_title=quantity)
    return figure


def _render_view(result: TextAttribution, key: str) -> None:
    st.html(heatmap_html(result, _labels(result)))
    cells = st.columns(3)
    cells[0].metric(t("attributions.output"), f"{result.output:.4f}")
    if result.convergence_delta is not None:
        cells[1].metric(t("attributions.baseline_output"), f"{result.baseline_output:.4f}")
        cells[2].metric(t("attributions.delta"), f"{result.convergence_delta:+.2e}", help=t("attributions.delta_help"))
        if result.delta_warning:
            st.warning(t("attributions.delta_warning", delta=result.convergence_delta, ratio=result.relative_delta,
                         steps=result.settings.get("n_steps", 50)))
    for flag in result.flags:
        if flag != "large_delta":
            st.warning(t(f"attributions.flag_{flag}"))
    if result.faithfulness is None:
        st.info(t("attributions.no_words"))
        return
    cells = st.columns(2)
    cells[0].metric(t("attributions.comprehensiveness"), f"{result.faithfulness['comprehensiveness']:+.3f}",
                    help=t("attributions.comprehensiveness_help"))
    cells[1].metric(t("attributions.sufficiency"), f"{result.faithfulness['sufficiency']:+.3f}",
                    help=t("attributions.sufficiency_help"))
    st.markdown(f"**{t('attributions.deletion_curve')}**")
    st.plotly_chart(_deletion_figure(result), width="stretch", key=f"attributions.deletion.{key}")


st.header(t("attributions.title"))
st.caption(t("attributions.intro"))
# ---------------------------------------------------------------- run and sample
summary = pick_run("attributions")
run_id = summary.id
modified = state.run_modified(summary.path)
predictions = state.load_predictions(str(summary.path), modified)
class_names = summary.labels

requested_row = st.query_params.get(ROW_QUERY_KEY) or st.session_state.get("attributions.row")
requested_row = int(requested_row) if str(requested_row or "").isdigit() else None
splits = [name for name in SPLIT_ORDER if name in set(predictions[data_module.SPLIT_COLUMN])]
if requested_row is not None and requested_row < len(predictions):
    default_split = predictions[data_module.SPLIT_COLUMN].iloc[requested_row]
else:
    default_split = "test" if "test" in splits else splits[0]
left, right = st.columns([1, 3])
split = left.selectbox(t("attributions.split"), splits, index=splits.index(default_split),
                       format_func=lambda name: t(f"split.{name}"), key="attributions.split")
rows = predictions[predictions[data_module.SPLIT_COLUMN] == split].sort_values(uncertainty.ENTROPY_COLUMN, ascending=False)
positions = [int(position) for position in rows.index]
row_index = positions.index(requested_row) if requested_row in positions else 0
position = right.selectbox(
    t("attributions.sample"), positions, index=row_index, key="attributions.sample",
    # The Id column is what Explore shows, so a row opened from there is recognisable here.
    format_func=lambda p: t("attributions.sample_option", id=predictions.at[p, data_module.ID_COLUMN],
                            entropy=predictions.at[p, uncertainty.ENTROPY_COLUMN],
                            text=str(predictions.at[p, data_module.TEXT_COLUMN])[:80]),
)
st.query_params[ROW_QUERY_KEY] = str(position)
st.session_state["attributions.row"] = position
sample = predictions.loc[position]
text = str(sample[data_module.TEXT_COLUMN])
label = sample[data_module.LABEL_COLUMN] if isinstance(sample[data_module.LABEL_COLUMN], str) else None

# ---------------------------------------------------------------- method and targets
cells = st.columns(4)
method = cells[0].selectbox(t("attributions.method"), METHODS, format_func=lambda m: t(f"attributions.method_{m}"),
                            key="attributions.method")
class_targets = [target for target in CLASS_TARGETS if target != "label" or label is not None]
class_target = cells[1].selectbox(t("attributions.class_target"), class_targets,
                                  format_func=lambda x: t(f"attributions.target_{x}"), key="attributions.class_target")
target_class = None
if class_target == "class":
    target_class = cells[2].selectbox(t("attributions.target_class"), class_names, key="attributions.target_class")
uncertainty_target = cells[3].selectbox(
    t("attributions.uncertainty_target"), UNCERTAINTY_TARGETS, format_func=lambda x: t(f"attributions.target_{x}"),
    key="attributions.uncertainty_target",
)
with st.expander(t("attributions.settings")):
    cells = st.columns(4)
    baseline = "pad"
    if method in BASELINE_METHODS:
        baseline = cells[0].selectbox(t("attributions.baseline"), BASELINES,
                                      format_func=lambda b: t(f"attributions.baseline_{b}"), key="attributions.baseline")
    n_steps, internal_batch_size = 50, None
    if method == "integrated_gradients":
        n_steps = int(cells[1].number_input(t("attributions.n_steps"), 1, 1000, 50, key="attributions.n_steps",
                                            help=t("attributions.n_steps_help")))
        internal = int(cells[2].number_input(t("attributions.internal_batch_size"), 0, 100_000, 0,
                                             key="attributions.internal_batch_size",
                                             help=t("attributions.internal_batch_size_help")))
        internal_batch_size = internal or None
    aggregation = "sum"
    if method in GRADIENT_METHODS:
        aggregation = cells[3].selectbox(t("attributions.aggregation"), AGGREGATIONS,
                                         format_func=lambda a: t(f"attributions.aggregation_{a}"),
                                         key="attributions.aggregation", help=t("attributions.aggregation_help"))
    cells = st.columns(4)
    samples = 200
    if method in SAMPLING_METHODS:
        samples = int(cells[0].number_input(t("attributions.samples"), 2, 5000, 200, key="attributions.samples",
                                            help=t("attributions.samples_help")))
    passes = 10
    if uncertainty_target in MC_TARGETS:
        passes = int(cells[1].number_input(t("attributions.passes"), 2, 100, 10, key="attributions.passes",
                                           help=t("attributions.passes_help")))
    seed = int(cells[2].number_input(t("attributions.seed"), 0, 2**31 - 1, 0, key="attributions.seed"))

common = dict(method=method, baseline=baseline, n_steps=n_steps, internal_batch_size=internal_batch_size,
              aggregation=aggregation, samples=samples, seed=seed)
class_spec = AttributionSpec(target=class_target, target_class=target_class, **common)
uncertainty_spec = AttributionSpec(target=uncertainty_target, passes=passes, **common)

# ---------------------------------------------------------------- sample and results
st.markdown(f"**{t('attributions.text')}**")
st.text(text)
cells = st.columns(4)
cells[0].metric(t("attributions.label"), label or "—")
cells[1].metric(t("attributions.predicted"), str(sample[uncertainty.PREDICTED_COLUMN]))
cells[2].metric(t("attributions.confidence"), f"{sample[uncertainty.CONFIDENCE_COLUMN]:.3f}")
cells[3].metric(t("attributions.entropy"), f"{sample[uncertainty.ENTROPY_COLUMN]:.3f}")

with st.spinner(t("attributions.computing")):
    class_result = _compute(summary, modified, text, label, class_spec)
    uncertainty_result = _compute(summary, modified, text, label, uncertainty_spec)
results = [result for result in (class_result, uncertainty_result) if result is not None]
if not results:
    st.stop()
if results[0].truncated:
    st.warning(t("attributions.truncated", kept=results[0].kept_tokens, total=results[0].total_tokens,
                 words=results[0].words_cut))

left, right = st.columns(2)
for column, result, view_key in zip((left, right), (class_result, uncertainty_result), ("class", "uncertainty")):
    with column:
        if result is not None:
            _render_view(result, view_key)

attack_id = st.query_params.get(ATTACK_QUERY_KEY)
if attack_id:
    _adversarial_comparison(summary, modified, attack_id, position, text, label, common)

views = [(result, _labels(result)) for result in results]
details = [
    (t("runs.label"), run_id),
    (t("attributions.row"), str(position)),
    (t("attributions.method"), t(f"attributions.method_{method}")),
    (t("attributions.label"), label or "—"),
    (t("attributions.predicted"), str(sample[uncertainty.PREDICTED_COLUMN])),
]
cells = st.columns(2)
cells[0].download_button(
    t("attributions.export_html"), export_html(t("attributions.export_title", run=run_id, row=position), views, details),
    file_name=f"attributions-{run_id}-{position}.html", mime="text/html", key="attributions.download_html",
)
cells[1].download_button(
    t("attributions.export_png"),
    _png(json.dumps([{"result": result.to_dict(), "labels": asdict(labels)} for result, labels in views])),
    file_name=f"attributions-{run_id}-{position}.png",
    mime="image/png", key="attributions.download_png",
)
with st.expander(t("attributions.tokens")):
    token_table = {t("attributions.token"): results[0].tokens}
    for result in results:
        token_table[_labels(result).title] = result.token_scores
    st.dataframe(pd.DataFrame(token_table), hide_index=True)

# ---------------------------------------------------------------- many rows as a background job
st.subheader(t("attributions.job_title"))
st.caption(t("attributions.job_intro"))
cells = st.columns([2, 2, 2, 1])
job_split = cells[0].selectbox(t("attributions.split"), splits, index=splits.index(split),
                               format_func=lambda name: t(f"split.{name}"), key="attributions.job_split")
split_rows = predictions[predictions[data_module.SPLIT_COLUMN] == job_split]
job_rows = int(cells[1].number_input(t("attributions.job_rows"), 1, max(1, len(split_rows)),
                                     min(DEFAULT_JOB_ROWS, max(1, len(split_rows))), key="attributions.job_rows"))
job_target = cells[2].selectbox(t("attributions.job_target"), [class_target, uncertainty_target],
                                format_func=lambda x: t(f"attributions.target_{x}"), key="attributions.job_target")
randomise = cells[3].checkbox(t("attributions.job_randomisation"), key="attributions.job_randomisation",
                              help=t("attributions.job_randomisation_help"))
if st.button(t("attributions.job_submit"), key="attributions.job_submit"):
    chosen = split_rows.sort_values(uncertainty.ENTROPY_COLUMN, ascending=False).index[:job_rows]
    job_spec = class_spec if job_target == class_target else uncertainty_spec
    try:
        job = submit_attributions(state.workspace_path(), summary.path, [int(p) for p in chosen], job_spec,
                                  randomisation_check=randomise)
    except ValueError as exc:
        st.error(t("attributions.failed", error=str(exc)))
    else:
        st.query_params[JOB_QUERY_KEY] = job.id
        st.session_state["attributions.job"] = job.id
job_id = current_job("attributions.job", ("attribution",), run_id=run_id, query_key=JOB_QUERY_KEY)
if job_id is not None:
    job_panel(job_id)

checks = list_randomisation_checks(summary.path)
if checks:
    st.markdown(f"**{t('attributions.randomisation_title')}**")
    st.caption(t("attributions.randomisation_intro"))
    st.dataframe(pd.DataFrame({
        t("attributions.method"): [t(f"attributions.method_{check['method']}") for check in checks],
        t("attributions.job_target"): [t(f"attributions.target_{check['target']}") for check in checks],
        t("attributions.rows"): [check["texts"] for check in checks],
        t("attributions.rank_correlation"): [check["mean_rank_correlation"] for check in checks],
        t("attributions.randomisation_fails"): [t("attributions.yes") if check["fails"] else t("attributions.no")
                                                for check in checks],
    }), hide_index=True)

"""Triage page: the rows most likely mislabelled or most worth labelling, reviewed one by one.

The queue comes from out-of-sample probabilities (a cross-validation job) or, as a
quicker and weaker look, from a run's own predictions. Every decision is written to
SQLite the moment it is made (``core.review``), so a closed tab or a restarted server
loses nothing. Keyboard: A accept, S skip, F flag, U undo, 1-9 relabel to a class.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import data as data_module
from core import runs
from core.crossval import DEFAULT_FOLDS, CrossvalNotFoundError, list_crossvals, load_source
from core.review import ReviewStore, corrected_dataset, corrections_bytes, dataset_key
from core.retrain import compare_runs, retrain_with_corrections
from core.triage import REASONS, QueueSettings, build_queue, filter_queue, reason_counts
from core.triage_jobs import submit_crossval
from ui import state
from ui.i18n import t
from ui.jobs_view import JOB_QUERY_KEY, current_job, job_panel, prepare_worker, registry
from ui.shell import ensure_shell

ensure_shell()

REVIEWER_KEY = "shared.reviewer"
SOURCE_QUERY_KEY = "source"
ISSUE_METHODS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_joint")
ACQUISITIONS = ("entropy", "margin", "bald")
MAX_SHORTCUT_CLASSES = 9


@st.cache_data(show_spinner=False, max_entries=4)
def _queue(source_path: str, stamp: float, settings: tuple) -> pd.DataFrame:
    del stamp  # part of the cache key only
    source = load_source(Path(source_path))
    return build_queue(source, QueueSettings(**dict(settings)))


@st.cache_data(show_spinner=False, max_entries=4)
def _source_dataset(source_path: str, stamp: float) -> pd.DataFrame:
    del stamp
    return load_source(Path(source_path)).dataset


def _stamp(path: Path) -> float:
    marker = path / "crossval.json" if (path / "crossval.json").is_file() else path / runs.RUN_MARKER
    return marker.stat().st_mtime if marker.is_file() else 0.0


def _source_choices() -> dict[str, tuple[str, str]]:
    """Return {path: (kind, display name)} of every cross-validation and run of the workspace."""
    choices: dict[str, tuple[str, str]] = {}
    for info in list_crossvals(state.workspace_path()):
        choices[info["path"]] = ("out_of_sample", t("triage.source_crossval", id=info["id"], rows=info.get("rows", 0),
                                                    folds=info.get("folds", 0), accuracy=info.get("accuracy") or 0.0))
    for summary in state.runs.list_runs(state.runs_root()):
        choices[str(summary.path)] = ("in_sample", t("triage.source_run", id=summary.id))
    return choices


def _crossval_form() -> None:
    chosen = state.chosen_data()
    with st.expander(t("triage.crossval_title"), expanded=not list_crossvals(state.workspace_path())):
        st.caption(t("triage.crossval_intro", name=chosen.display_name()))
        cells = st.columns(4)
        folds = int(cells[0].number_input(t("triage.folds"), 2, 20, DEFAULT_FOLDS, key="triage.folds",
                                          help=t("triage.folds_help")))
        epochs = int(cells[1].number_input(t("triage.epochs"), 1, 20, 2, key="triage.epochs"))
        max_rows = int(cells[2].number_input(t("triage.max_rows"), 0, 10_000_000, 0, key="triage.max_rows",
                                             help=t("triage.max_rows_help")))
        prepare_worker()
        if not st.button(t("triage.crossval_submit"), key="triage.crossval_submit"):
            return
        from core.training import TrainConfig

        try:
            # Each fold keeps its epoch with the best validation NLL: the best-accuracy epoch can still give
            # probabilities near 1/K, and then confident learning marks few rows.
            config = TrainConfig(model=state.model_source(), max_length=state.max_length(), epochs=epochs,
                                 max_rows=max_rows or None, selection_metric="nll")
            job = submit_crossval(state.workspace_path(), chosen.dataset, config, folds, data_info=chosen.info())
        except ValueError as exc:
            st.error(t("triage.submit_failed", error=str(exc)))
            return
        st.query_params[JOB_QUERY_KEY] = job.id
        st.session_state["triage.job"] = job.id


def _settings_form(has_samples: bool, has_confidence: bool) -> QueueSettings:
    with st.expander(t("triage.settings")):
        cells = st.columns(4)
        issue_method = cells[0].selectbox(t("triage.issue_method"), ISSUE_METHODS,
                                          format_func=lambda x: t(f"triage.issue_{x}"), key="triage.issue_method",
                                          help=t("triage.issue_method_help"))
        acquisitions = [name for name in ACQUISITIONS if name != "bald" or has_samples]
        acquisition = cells[1].selectbox(t("triage.acquisition"), acquisitions,
                                         format_func=lambda x: t(f"triage.acquisition_{x}"), key="triage.acquisition",
                                         help=t("triage.acquisition_help"))
        uncertain_count = int(cells[2].number_input(t("triage.uncertain_count"), 0, 10_000, 50,
                                                    key="triage.uncertain_count"))
        threshold = None
        if has_confidence:
            threshold = float(cells[3].slider(t("triage.confidence_threshold"), 0.05, 1.0, 0.7, 0.05,
                                              key="triage.confidence_threshold",
                                              help=t("triage.confidence_threshold_help")))
        cells = st.columns(4)
        pool = cells[0].selectbox(t("triage.pool"), ("unlabelled", "all"), format_func=lambda x: t(f"triage.pool_{x}"),
                                  key="triage.pool", help=t("triage.pool_help"))
        diversity = cells[1].checkbox(t("triage.diversity"), value=True, key="triage.diversity",
                                      help=t("triage.diversity_help"))
    return QueueSettings(issue_method=issue_method, acquisition=acquisition, uncertain_count=uncertain_count,
                         acquisition_pool=pool, diversity=diversity, confidence_threshold=threshold)


def _reason_text(reasons) -> str:
    return ", ".join(t(f"triage.reason_{reason}") for reason in reasons)


def _record(store: ReviewStore, key: str, row: pd.Series, action: str, reviewer: str, class_names: list[str],
            new_label: str | None = None) -> None:
    label = row[data_module.LABEL_COLUMN]
    old_label = label if isinstance(label, str) else None
    try:
        store.record(key, str(row[data_module.ID_COLUMN]), action, reviewer=reviewer, old_label=old_label,
                     new_label=new_label, labels=class_names)
    except ValueError as exc:
        st.session_state["triage.error"] = str(exc)


def _undo(store: ReviewStore, key: str, reviewer: str) -> None:
    if store.undo(key, reviewer=reviewer) is None:
        st.session_state["triage.error"] = t("triage.nothing_to_undo", reviewer=reviewer)


def _review_card(store: ReviewStore, key: str, row: pd.Series, class_names: list[str], reviewer: str) -> None:
    label = row[data_module.LABEL_COLUMN]
    st.markdown(f"**{t('triage.card_title', id=row[data_module.ID_COLUMN], rank=int(row['rank']))}**")
    st.text(str(row[data_module.TEXT_COLUMN]))
    cells = st.columns(4)
    cells[0].metric(t("triage.given_label"), label if isinstance(label, str) else t("triage.no_label"))
    cells[1].metric(t("triage.suggested_label"), str(row["suggested_label"]),
                    delta=t("triage.probability", value=row["suggested_probability"]), delta_color="off")
    self_confidence = row["self_confidence"]
    cells[2].metric(t("triage.self_confidence"), "—" if pd.isna(self_confidence) else f"{self_confidence:.3f}",
                    help=t("triage.self_confidence_help"))
    confidence = row[data_module.CONFIDENCE_COLUMN]
    cells[3].metric(t("triage.annotator_confidence"), "—" if pd.isna(confidence) else f"{confidence:.2f}")
    st.caption(t("triage.reasons_line", reasons=_reason_text(row["reasons"])))
    if isinstance(row.get("duplicate_labels"), str) and row["duplicate_labels"]:
        st.caption(t("triage.duplicate_line", labels=row["duplicate_labels"]))

    disabled = not reviewer
    cells = st.columns(4)
    common = dict(args=(store, key, row), disabled=disabled)
    cells[0].button(t("triage.accept"), on_click=lambda *a: _record(*a, "accept", reviewer, class_names), **common,
                    key="triage.accept", shortcut="A", type="primary", help=t("triage.accept_help"))
    cells[1].button(t("triage.skip"), on_click=lambda *a: _record(*a, "skip", reviewer, class_names), **common,
                    key="triage.skip", shortcut="S")
    cells[2].button(t("triage.flag"), on_click=lambda *a: _record(*a, "flag", reviewer, class_names), **common,
                    key="triage.flag", shortcut="F", help=t("triage.flag_help"))
    cells[3].button(t("triage.undo"), on_click=_undo, args=(store, key, reviewer), disabled=disabled,
                    key="triage.undo", shortcut="U")
    st.caption(t("triage.relabel_to"))
    cells = st.columns(min(len(class_names), 6))
    for index, name in enumerate(class_names):
        shortcut = str(index + 1) if index < MAX_SHORTCUT_CLASSES else None
        cells[index % len(cells)].button(
            name,
            on_click=lambda *a, new=name: _record(*a, "relabel", reviewer, class_names, new_label=new),
            args=(store, key, row), key=f"triage.relabel.{index}", shortcut=shortcut,
            disabled=disabled or name == label,
        )


def _export(store: ReviewStore, key: str, dataset: pd.DataFrame) -> None:
    st.subheader(t("triage.export_title"))
    drop_flagged = st.checkbox(t("triage.drop_flagged"), key="triage.drop_flagged")
    try:
        corrected = corrected_dataset(dataset, store, key=key, drop_flagged=drop_flagged)
    except ValueError as exc:
        st.error(t("triage.export_failed", error=str(exc)))
        return
    cells = st.columns(2)
    for cell, file_format, mime in ((cells[0], "csv", "text/csv"), (cells[1], "parquet", "application/octet-stream")):
        payload = corrections_bytes(corrected, file_format)
        cell.download_button(t(f"triage.download_{file_format}"), payload, file_name=f"corrected.{file_format}",
                             mime=mime, key=f"triage.download.{file_format}")
    st.caption(t("triage.export_caption"))


def _retrain(store: ReviewStore, key: str, dataset: pd.DataFrame, default_run: str | None) -> None:
    st.subheader(t("triage.retrain_title"))
    summaries = state.runs.list_runs(state.runs_root())
    if not summaries:
        st.info(t("runs.none"))
        return
    ids = [summary.id for summary in summaries]
    base_id = st.selectbox(t("triage.retrain_base"), ids, index=ids.index(default_run) if default_run in ids else 0,
                           key="triage.retrain_base", help=t("triage.retrain_base_help"))
    base = next(summary for summary in summaries if summary.id == base_id)

    if st.button(t("triage.retrain_submit"), key="triage.retrain_submit"):
        try:
            job = retrain_with_corrections(state.workspace_path(), base.path, dataset, store, key=key)
        except ValueError as exc:
            st.error(t("triage.submit_failed", error=str(exc)))
        else:
            st.query_params[JOB_QUERY_KEY] = job.id
            st.session_state["triage.job"] = job.id
            st.session_state["triage.retrain_before"] = str(base.path)

    job_id = current_job("triage.job", ("train",))
    if job_id is None:
        return
    job_panel(job_id)
    job = registry().get(job_id)
    before = st.session_state.get("triage.retrain_before") or str(base.path)
    if job.state == "succeeded" and job.result.get("run_dir"):
        st.markdown(f"**{t('triage.compare_title')}**")
        try:
            table = compare_runs(before, job.result["run_dir"])
        except (ValueError, runs.RunNotFoundError) as exc:
            st.error(t("triage.compare_failed", error=str(exc)))
            return
        st.dataframe(pd.DataFrame({
            t("triage.compare_metric"): [t(f"triage.metric_{name}") for name in table.index],
            t("triage.compare_before", run=table.attrs["before_id"]): table["before"].to_numpy(),
            t("triage.compare_after", run=table.attrs["after_id"]): table["after"].to_numpy(),
            t("triage.compare_change"): table["change"].to_numpy(),
        }), hide_index=True)
        st.caption(t("triage.compare_caption", changed=table.attrs.get("changed_labels", 0),
                     rows=table.attrs.get("rows_after", 0)))


st.header(t("triage.title"))
st.caption(t("triage.intro"))
reviewer = st.session_state.get(REVIEWER_KEY, "").strip()
_crossval_form()
crossval_job = current_job("triage.job", ("crossval",))
if crossval_job is not None:
    job_panel(crossval_job)

choices = _source_choices()
if not choices:
    st.info(t("triage.no_source"))
    st.stop()
paths = list(choices)
requested = st.query_params.get(SOURCE_QUERY_KEY)
source_path = st.selectbox(t("triage.source"), paths, index=paths.index(requested) if requested in choices else 0,
                           format_func=lambda path: choices[path][1], key="triage.source")
st.query_params[SOURCE_QUERY_KEY] = source_path
kind = choices[source_path][0]
if kind == "in_sample":
    st.warning(t("triage.in_sample_warning"))
stamp = _stamp(Path(source_path))
try:
    dataset = _source_dataset(source_path, stamp)
except (CrossvalNotFoundError, runs.RunNotFoundError) as exc:
    st.error(t("triage.source_failed", error=str(exc)))
    st.stop()
has_confidence = dataset[data_module.CONFIDENCE_COLUMN].notna().any()
settings = _settings_form(has_samples=kind == "out_of_sample", has_confidence=bool(has_confidence))
try:
    with st.spinner(t("triage.building")):
        queue = _queue(source_path, stamp, tuple(sorted(vars(settings).items())))
except ValueError as exc:
    st.error(t("triage.queue_failed", error=str(exc)))
    st.stop()
class_names = list(queue.attrs.get("class_names", []))
noise_rate = queue.attrs.get("estimated_noise_rate")
counts = reason_counts(queue)
st.caption(t("triage.queue_summary", rows=len(queue), noise="—" if noise_rate is None else f"{noise_rate:.1%}",
             **{reason: counts[reason] for reason in REASONS}))

store = ReviewStore(state.workspace_path())
key = dataset_key(dataset)
progress = store.progress(key, queue[data_module.ID_COLUMN].astype(str))
st.progress(progress.fraction, text=t("triage.progress", reviewed=progress.reviewed, queued=progress.queued,
                                      skipped=progress.skipped))
if not reviewer:
    st.warning(t("triage.need_reviewer"))
error = st.session_state.pop("triage.error", None)
if error:
    st.error(t("triage.record_failed", error=error))

cells = st.columns(2)
chosen_classes = cells[0].multiselect(t("triage.filter_class"), class_names, key="triage.filter_class",
                                      placeholder=t("common.choose"))
chosen_reasons = cells[1].multiselect(t("triage.filter_reason"), REASONS, format_func=lambda x: t(f"triage.reason_{x}"),
                                      key="triage.filter_reason", placeholder=t("common.choose"))
filtered = filter_queue(queue, classes=chosen_classes or None, reasons=chosen_reasons or None)
decisions = store.decisions(key)
latest = {str(row_id): action for row_id, action in decisions["action"].items()}
shown_ids = filtered[data_module.ID_COLUMN].astype(str)
pending = filtered[[latest.get(row_id) in (None, "skip") for row_id in shown_ids]]
if pending.empty:
    st.success(t("triage.all_reviewed"))
else:
    # Rows never decided come before skipped ones, each in queue order.
    order = sorted(range(len(pending)), key=lambda i: latest.get(str(pending.iloc[i][data_module.ID_COLUMN])) == "skip")
    _review_card(store, key, pending.iloc[order[0]], class_names, reviewer)

with st.expander(t("triage.queue_table", rows=len(filtered))):
    st.dataframe(pd.DataFrame({
        t("triage.column_rank"): filtered["rank"],
        t("triage.column_id"): filtered[data_module.ID_COLUMN].astype(str),
        t("triage.column_text"): filtered[data_module.TEXT_COLUMN],
        t("triage.column_label"): filtered[data_module.LABEL_COLUMN],
        t("triage.column_suggested"): filtered["suggested_label"],
        t("triage.column_reasons"): [_reason_text(reasons) for reasons in filtered["reasons"]],
        t("triage.column_self_confidence"): filtered["self_confidence"],
        t("triage.column_decision"): [t(f"triage.action_{latest[i]}") if i in latest else "" for i in shown_ids],
    }), hide_index=True, column_config={
        t("triage.column_self_confidence"): st.column_config.NumberColumn(format="%.3f"),
    })

_export(store, key, dataset)
_retrain(store, key, dataset, Path(source_path).name if kind == "in_sample" else None)

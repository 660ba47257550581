"""The live view of one background job, shared by the Train and Jobs pages.

The view polls the registry with ``st.fragment(run_every=...)`` while the job is
active, so only this part of the page reruns; it never calls Streamlit from another
thread. The job id lives in ``st.query_params["job"]`` so a refreshed or reopened
page reattaches to the same job.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import jobs, spares
from ui import state
from ui.i18n import t, t_message

POLL_SECONDS = 2.0
JOB_QUERY_KEY = "job"


def registry() -> jobs.JobRegistry:
    return jobs.JobRegistry(state.workspace_path())


def prepare_worker() -> None:
    """Have a spare worker import the job code while the user fills in a job form.

    The job then starts without the few seconds a new process spends on imports
    (:mod:`core.spares`). Without a spare the job still runs, in a new process, so a
    failure here is a warning only.
    """
    try:
        spares.ensure_spare(state.workspace_path())
    except (OSError, ValueError, sqlite3.Error) as exc:
        # str(exc) would drop the Message's translation key, so the argument itself is passed on.
        st.warning(t("jobs.spare_failed", error=t_message(exc.args[0] if exc.args else str(exc))))


def current_job(session_key: str, kinds: tuple[str, ...], *, run_id: str | None = None,
                query_key: str = JOB_QUERY_KEY) -> str | None:
    """Return the id of the job a page follows, or ``None``.

    The id comes from the address (``query_key``), else from the session
    (``session_key``). The job counts only when its kind is in ``kinds`` and, with
    ``run_id``, when it works on that run, so a link to another page's job shows nothing.
    """
    job_id = st.query_params.get(query_key) or st.session_state.get(session_key)
    if not job_id:
        return None
    try:
        job = registry().get(job_id)
    except jobs.JobError:
        return None
    if job.kind not in kinds:
        return None
    if run_id is not None and Path(job.config.get("run_dir", "")).name != run_id:
        return None
    return job_id


def _curves(points: list[dict]) -> tuple[go.Figure | None, go.Figure | None]:
    losses = [p for p in points if p["loss"] is not None]
    validation = [p for p in points if p["validation"]]
    loss_figure = None
    if losses:
        # Markers too, so the first point shows before there is a line to draw.
        loss_figure = go.Figure(go.Scatter(x=[p["step"] for p in losses], y=[p["loss"] for p in losses],
                                           mode="lines+markers", marker=dict(size=4), name=t("train.loss")))
        loss_figure.update_layout(xaxis_title=t("train.step"), yaxis_title=t("train.loss"), height=260,
                                  margin=dict(t=10, b=10, l=10, r=10))
    validation_figure = None
    if validation:
        validation_figure = go.Figure()
        for metric in ("accuracy", "macro_f1"):
            validation_figure.add_trace(
                go.Scatter(
                    x=[p["epoch"] for p in validation],
                    y=[p["validation"].get(metric) for p in validation],
                    mode="lines+markers",
                    name=t(f"jobs.metric_{metric}"),
                )
            )
        last_epoch = max(p["epoch"] for p in validation)
        # Whole epochs only, with room on both sides so a single epoch's points are not at the edge.
        validation_figure.update_layout(xaxis_title=t("jobs.epoch"), yaxis_title=t("jobs.validation_score"),
                                        height=260, margin=dict(t=30, b=10, l=10, r=10),
                                        xaxis=dict(dtick=1, range=[0.5, last_epoch + 0.5]),
                                        legend=dict(orientation="h", yanchor="top", y=-0.3))
    return loss_figure, validation_figure


def _render_curves(job_id: str) -> None:
    loss_figure, validation_figure = _curves(registry().points(job_id))
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{t('jobs.loss_curve')}**")
        if loss_figure is not None:
            st.plotly_chart(loss_figure, width="stretch")
        else:
            st.caption(t("jobs.no_points"))
    with right:
        st.markdown(f"**{t('jobs.validation_curve')}**")
        if validation_figure is not None:
            st.plotly_chart(validation_figure, width="stretch")
        else:
            st.caption(t("jobs.no_validation"))


def _render(job_id: str) -> None:
    try:
        job = registry().get(job_id)
    except jobs.JobError:
        st.warning(t("jobs.not_found", job=job_id))
        return
    polling_flag = f"jobs.polling.{job_id}"
    if job.is_final and st.session_state.get(polling_flag):
        # The job ended while this fragment was polling: rerun the page once so polling stops.
        st.session_state[polling_flag] = False
        st.rerun()
    progress = job.progress or {}
    header = st.columns([3, 1, 1])
    header[0].markdown(t("jobs.heading", job=job.id, state=t(f"jobs.state_{job.state}")))
    if job.state in ("queued", "running") and not job.cancel_requested:
        if header[1].button(t("jobs.cancel"), key=f"jobs.cancel.{job.id}"):
            registry().request_cancel(job.id)
            st.rerun(scope="fragment")
    if job.can_resume:
        if header[1].button(t("jobs.resume"), key=f"jobs.resume.{job.id}", type="primary"):
            jobs.resume(state.workspace_path(), job.id)
            st.rerun()
    if job.state == "succeeded" and job.run_dir:
        if header[2].button(t("jobs.open_explore"), key=f"jobs.explore.{job.id}"):
            st.session_state["explore.run"] = job.result.get("run_dir", job.run_dir).rstrip("/").split("/")[-1]
            st.switch_page("pages/explore.py")

    total = progress.get("total_steps") or 0
    step = progress.get("step") or 0
    if job.state == "queued":
        st.info(t("jobs.waiting"))
    elif job.state == "running":
        eta = progress.get("eta_seconds")
        text = t(
            "jobs.progress" if job.kind == "train" else "jobs.progress_steps",
            phase=t(f"jobs.phase_{progress.get('phase', 'prepare')}"),
            step=step,
            total=total,
            epoch=progress.get("epoch", 0),
            eta="—" if eta is None else f"{eta:.0f}",
        )
        st.progress(min(1.0, step / total) if total else 0.0, text=text)
        if job.cancel_requested:
            st.warning(t("jobs.cancelling"))
    elif job.state == "succeeded" and job.kind == "uncertainty":
        st.success(
            t(
                "jobs.uncertainty_succeeded",
                method=t(f"method.{job.result.get('method', 'softmax')}"),
                rows=sum(split.get("rows", 0) for split in job.result.get("splits", {}).values()),
                seconds=(job.ended_at or 0) - (job.started_at or 0),
            )
        )
    elif job.state == "succeeded" and job.kind == "attribution":
        st.success(
            t(
                "attributions.job_succeeded",
                method=t(f"attributions.method_{job.result.get('method', 'integrated_gradients')}"),
                rows=job.result.get("rows", 0),
                seconds=(job.ended_at or 0) - (job.started_at or 0),
            )
        )
    elif job.state == "succeeded" and job.kind == "attack":
        result = job.result
        st.success(t("adversarial.job_succeeded", flipped=result.get("flipped", 0), attacked=result.get("attacked", 0),
                     skipped=result.get("skipped", 0), seconds=(job.ended_at or 0) - (job.started_at or 0)))
    elif job.state == "succeeded" and job.kind == "crossval":
        st.success(t("triage.job_succeeded", folds=job.result.get("folds", 0), rows=job.result.get("rows", 0),
                     accuracy=job.result.get("accuracy") or 0.0, seconds=(job.ended_at or 0) - (job.started_at or 0)))
    elif job.state == "succeeded":
        result = job.result
        st.success(
            t(
                "jobs.succeeded",
                accuracy=result.get("test_accuracy") if result.get("test_accuracy") is not None else float("nan"),
                seconds=(job.ended_at or 0) - (job.started_at or 0),
            )
        )
    elif job.state == "failed":
        st.error(t("jobs.failed", error=job.error or ""))
        if job.traceback:
            with st.expander(t("jobs.traceback")):
                st.code(job.traceback, language="text")
    elif job.state in ("interrupted", "cancelled"):
        # A training job resumes from its checkpoint; other kinds start the unfinished part again.
        key = f"jobs.{job.state}_explained" if job.kind == "train" else f"jobs.{job.state}_restart"
        st.warning(t(key, reason=job.state_reason or "", step=step, total=total))

    if job.kind == "train":
        _render_curves(job.id)

    with st.expander(t("jobs.details")):
        details = {
            t("jobs.detail_device"): f"{job.requested_device} → {job.resource or '—'}",
            t("jobs.detail_created"): jobs.format_time(job.created_at),
            t("jobs.detail_started"): jobs.format_time(job.started_at),
            t("jobs.detail_ended"): jobs.format_time(job.ended_at),
            t("jobs.detail_attempts"): str(job.attempts),
            t("jobs.detail_pid"): str(job.pid or "—"),
            t("jobs.detail_run"): job.run_dir or "—",
        }
        for name, value in sorted(job.versions.items()):
            details[name] = str(value)
        st.table(pd.DataFrame({t("explore.field"): list(details), t("explore.value"): list(details.values())}))
        st.json(job.config.get("train", job.config), expanded=False)
    st.markdown(f"**{t('jobs.log')}**")
    st.code("\n".join(registry().log_tail(job.id, 15)) or t("jobs.no_log"), language="text")


def job_panel(job_id: str) -> None:
    """Render the live view of ``job_id``; it polls every few seconds while the job is active."""
    job = registry().get(job_id)
    run_every = None if job.is_final else POLL_SECONDS
    st.session_state[f"jobs.polling.{job_id}"] = not job.is_final
    st.fragment(run_every=run_every)(_render)(job_id)

"""Jobs page: every background job of the workspace, and the live view of one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import jobs
from ui.i18n import t
from ui.jobs_view import JOB_QUERY_KEY, job_panel, registry
from ui.shell import ensure_shell

ensure_shell()

st.header(t("jobs.title"))
listed = registry().list(limit=200)
if not listed:
    st.info(t("jobs.none"))
    st.page_link("pages/train.py", label=t("runs.go_train"), icon=":material/model_training:")
    st.stop()

table = pd.DataFrame(
    {
        t("jobs.column_id"): [job.id for job in listed],
        t("jobs.column_state"): [t(f"jobs.state_{job.state}") for job in listed],
        t("jobs.column_progress"): [
            (job.progress.get("step", 0) / job.progress["total_steps"]) if job.progress.get("total_steps") else 0.0
            for job in listed
        ],
        t("jobs.column_device"): [job.resource or job.requested_device for job in listed],
        t("jobs.column_created"): [jobs.format_time(job.created_at) for job in listed],
        t("jobs.column_test_accuracy"): [job.result.get("test_accuracy") for job in listed],
    }
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        t("jobs.column_progress"): st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
        t("jobs.column_test_accuracy"): st.column_config.NumberColumn(format="%.3f"),
    },
)
ids = [job.id for job in listed]
requested = st.query_params.get(JOB_QUERY_KEY)
selected = st.selectbox(t("jobs.select"), ids, index=ids.index(requested) if requested in ids else 0, key="jobs.select")
st.query_params[JOB_QUERY_KEY] = selected
job_panel(selected)

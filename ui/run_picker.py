"""The run picker every analysis page starts with.

The chosen run is kept in ``?run=`` so a shared or refreshed link opens the same run,
and in the session under ``{page}.run`` so moving between pages keeps it.
"""

from __future__ import annotations

import streamlit as st

from core import runs
from ui import state
from ui.i18n import t

RUN_QUERY_KEY = "run"


def pick_run(page: str) -> runs.RunSummary:
    """Show the run selectbox of ``page`` and return the chosen run; stop the page when there is none.

    A run named in the address that is not in the workspace gives a warning and the
    newest run instead.
    """
    summaries = state.runs.list_runs(state.runs_root())
    if not summaries:
        st.info(t("runs.none"))
        st.page_link("pages/train.py", label=t("runs.go_train"), icon=":material/model_training:")
        st.stop()
    by_id = {summary.id: summary for summary in summaries}
    requested = st.query_params.get(RUN_QUERY_KEY) or st.session_state.get(f"{page}.run")
    if requested not in by_id:
        if requested:
            st.warning(t("runs.missing", run=requested))
        requested = summaries[0].id
    run_ids = list(by_id)
    run_id = st.selectbox(
        t("runs.label"),
        run_ids,
        index=run_ids.index(requested),
        format_func=lambda rid: t("runs.option", run=rid, data=by_id[rid].data or "—"),
        key=f"{page}.run_choice",
    )
    st.query_params[RUN_QUERY_KEY] = run_id
    st.session_state[f"{page}.run"] = run_id
    return by_id[run_id]

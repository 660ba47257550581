"""Streamlit entry point: page config, navigation and the shared sidebar.

Start with ``streamlit run app.py`` (optionally ``-- --workspace DIR``).
"""

from __future__ import annotations

import streamlit as st

from core import resources
from ui import state
from ui.i18n import t
from ui.shell import shell_active

st.set_page_config(page_title=t("app.title"), page_icon=":material/query_stats:", layout="wide")

PAGES = [
    st.Page("pages/data.py", title=t("nav.data"), icon=":material/table_view:", url_path="data", default=True),
    st.Page("pages/train.py", title=t("nav.train"), icon=":material/model_training:", url_path="train"),
    st.Page("pages/explore.py", title=t("nav.explore"), icon=":material/query_stats:", url_path="explore"),
    st.Page("pages/jobs.py", title=t("nav.jobs"), icon=":material/work_history:", url_path="jobs"),
]
navigation = st.navigation(PAGES)

with st.sidebar:
    st.title(t("app.title"))
    st.caption(t("app.tagline"))
    st.text_input(
        t("sidebar.model"),
        value=resources.BUILTIN_MODEL_ALIAS,
        key="shared.model",
        help=t("sidebar.model_help"),
    )
    st.number_input(
        t("sidebar.max_length"),
        min_value=8,
        max_value=512,
        value=state.DEFAULT_MAX_LENGTH,
        step=8,
        key="shared.max_length",
        help=t("sidebar.max_length_help"),
    )
    chosen = st.session_state.get("data.chosen")
    st.caption(t("sidebar.dataset", name=chosen.name if chosen else resources.DEMO_CORPUS_NAME))
    st.caption(t("sidebar.workspace", path=str(state.workspace_path())))

with shell_active():
    navigation.run()

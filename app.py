"""Streamlit entry point: page config, navigation and the shared sidebar.

Start with ``streamlit run app.py`` (optionally ``-- --workspace DIR``).
"""

from __future__ import annotations

import streamlit as st

from core import resources
from ui import state
from ui.i18n import LANGUAGE_NAMES, LANGUAGE_QUERY_KEY, LANGUAGE_STATE_KEY, LANGUAGES, init_language, t
from ui.shell import shell_active

LANGUAGE_CHOICE_KEY = "shared.language_choice"


def _switch_language() -> None:
    choice = st.session_state[LANGUAGE_CHOICE_KEY]
    st.session_state[LANGUAGE_STATE_KEY] = choice
    st.query_params[LANGUAGE_QUERY_KEY] = choice


language = init_language()
# Emoji favicons render locally, while a ":material/...:" favicon is fetched from a font CDN.
st.set_page_config(page_title=t("app.title"), page_icon="📊", layout="wide")

PAGES = [
    st.Page("pages/data.py", title=t("nav.data"), icon=":material/table_view:", url_path="data", default=True),
    st.Page("pages/train.py", title=t("nav.train"), icon=":material/model_training:", url_path="train"),
    st.Page("pages/explore.py", title=t("nav.explore"), icon=":material/query_stats:", url_path="explore"),
    st.Page(
        "pages/attributions.py", title=t("nav.attributions"), icon=":material/format_color_text:", url_path="attributions"
    ),
    st.Page(
        "pages/adversarial.py", title=t("nav.adversarial"), icon=":material/swap_horiz:", url_path="adversarial"
    ),
    st.Page("pages/triage.py", title=t("nav.triage"), icon=":material/fact_check:", url_path="triage"),
    st.Page("pages/jobs.py", title=t("nav.jobs"), icon=":material/work_history:", url_path="jobs"),
]
navigation = st.navigation(PAGES)

with st.sidebar:
    st.title(t("app.title"))
    st.caption(t("app.tagline"))
    # Keep the switch in step with a language that arrived through ?lang= in the address.
    st.session_state[LANGUAGE_CHOICE_KEY] = language
    st.segmented_control(
        t("sidebar.language"),
        LANGUAGES,
        required=True,
        format_func=LANGUAGE_NAMES.get,
        key=LANGUAGE_CHOICE_KEY,
        on_change=_switch_language,
    )
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
    st.text_input(t("sidebar.reviewer"), key="shared.reviewer", help=t("sidebar.reviewer_help"),
                  placeholder=t("sidebar.reviewer_placeholder"))
    chosen = st.session_state.get("data.chosen")
    st.caption(t("sidebar.dataset", name=chosen.display_name() if chosen else t("data.demo_name")))
    st.caption(t("sidebar.workspace", path=str(state.workspace_path())))

with shell_active():
    navigation.run()

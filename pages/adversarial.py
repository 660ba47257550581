"""Adversarial page and robustness report."""

from __future__ import annotations

import streamlit as st

from ui.i18n import t
from ui.shell import ensure_shell

ensure_shell()

st.header(t("adversarial.title"))

"""Make every page run inside the app shell (page config, navigation, shared sidebar).

Streamlit 1.67 still runs a file under ``pages/`` on its own, in the older
multipage mode, when the first request after a server start opens that page's URL
directly and no session has called ``st.navigation`` yet. Each page therefore calls
:func:`ensure_shell` first: outside the shell it runs ``app.py``, which registers
the navigation and renders the requested page, and then stops the stray run.
"""

from __future__ import annotations

import runpy
import threading
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

APP_PATH = Path(__file__).resolve().parents[1] / "app.py"
_state = threading.local()


@contextmanager
def shell_active():
    """Mark the pages run inside this block (the current script thread) as shell-wrapped."""
    _state.active = True
    try:
        yield
    finally:
        _state.active = False


def ensure_shell() -> None:
    """Run ``app.py`` and stop, unless the current page already runs inside it."""
    if getattr(_state, "active", False):
        return
    runpy.run_path(str(APP_PATH), run_name="__main__")
    st.stop()

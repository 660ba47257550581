"""Uncertainty Explorer core: data loading, fine-tuning, scoring and uncertainty.

This package never imports streamlit, so it serves the dashboard, the command line
and Python callers alike.
"""

__version__ = "0.1.0"

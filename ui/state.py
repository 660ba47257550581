"""Dashboard state shared by pages: workspace, settings, the chosen dataset and cached loaders.

Session-state keys are prefixed by the page that owns them (``data.``, ``train.``,
``explore.``); shared settings use ``shared.``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import streamlit as st

from core import data as data_module
from core import resources, runs
from core.models import load_tokenizer
from core.workspace import resolve_workspace

DEFAULT_MAX_LENGTH = 128


@dataclass
class ChosenData:
    """The dataset the user picked on the Data page (or the demo corpus by default)."""

    name: str
    dataset: pd.DataFrame
    mapping: data_module.ColumnMapping
    format: str
    encoding: str | None
    warnings: list[str] = field(default_factory=list)
    is_demo: bool = False

    def display_name(self) -> str:
        """Return the dataset name in the interface language (the demo corpus is named by the table)."""
        from ui.i18n import t

        return t("data.demo_name") if self.is_demo else self.name

    def info(self) -> dict:
        return {"name": self.name, "format": self.format, "encoding": self.encoding, "mapping": self.mapping.as_dict()}


def _command_line_workspace() -> str | None:
    # `streamlit run app.py -- --workspace DIR` passes the arguments after `--` to the script.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--workspace")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.workspace


@st.cache_resource
def workspace_path() -> Path:
    return resolve_workspace(_command_line_workspace())


def runs_root() -> Path:
    return runs.runs_root(workspace_path())


def model_source() -> str:
    return st.session_state.get("shared.model", resources.BUILTIN_MODEL_ALIAS) or resources.BUILTIN_MODEL_ALIAS


def max_length() -> int:
    return int(st.session_state.get("shared.max_length", DEFAULT_MAX_LENGTH))


@st.cache_resource(show_spinner=False)
def cached_tokenizer(source: str):
    return load_tokenizer(source)


@st.cache_data(show_spinner=False)
def read_demo_corpus() -> tuple[data_module.RawTable, data_module.ColumnMapping]:
    return data_module.load_demo_corpus()


@st.cache_data(show_spinner=False, max_entries=8)
def read_uploaded(files: tuple[tuple[str, bytes], ...], options: tuple[tuple[str, object], ...]) -> data_module.RawTable:
    settings = dict(options)
    if len(files) > 1 or settings.get("format") == "lines":
        return data_module.read_line_files(list(files), encoding=settings.get("encoding", "auto"))
    name, raw = files[0]
    return data_module.read_table(raw, name=name, **settings)


def demo_data() -> ChosenData:
    table, mapping = read_demo_corpus()
    return ChosenData(
        name=resources.DEMO_CORPUS_NAME,
        dataset=data_module.apply_mapping(table, mapping),
        mapping=mapping,
        format=table.format,
        encoding=table.encoding,
        warnings=list(table.warnings),
        is_demo=True,
    )


def chosen_data() -> ChosenData:
    """Return the dataset chosen on the Data page, or the demo corpus when none was chosen."""
    chosen = st.session_state.get("data.chosen")
    if chosen is None:
        chosen = demo_data()
    return chosen


def content_key(files: tuple[tuple[str, bytes], ...]) -> str:
    digest = hashlib.sha256()
    for name, raw in files:
        digest.update(name.encode("utf-8"))
        digest.update(raw)
    return digest.hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=16)
def load_predictions(run_path: str, modified: float) -> pd.DataFrame:
    del modified  # part of the cache key only: a rewritten run gets a fresh entry
    return runs.load_predictions(Path(run_path))


@st.cache_data(show_spinner=False, max_entries=32)
def load_run_json(run_path: str, name: str, modified: float) -> dict:
    del modified
    return runs.read_json(Path(run_path), name)


@st.cache_data(show_spinner=False, max_entries=16)
def validation_report(
    data_key: str, _dataset: pd.DataFrame, source: str, encoding: str | None, model: str, max_length: int
) -> data_module.ValidationReport:
    """Validate a dataset once per (data, mapping, model, max_length); ``data_key`` identifies the data."""
    tokenizer = cached_tokenizer(model)
    return data_module.validate_dataset(
        _dataset, source=source, tokenizer=tokenizer, max_length=max_length, encoding=encoding
    )


def run_modified(run_path: Path) -> float:
    return (run_path / runs.RUN_MARKER).stat().st_mtime

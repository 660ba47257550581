"""Train page: fine-tuning settings, a progress bar with a live loss curve, and the runs on disk."""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import runs
from core.models import DEVICE_CHOICES, ModelLoadError
from core.progress import Progress
from core.training import TrainConfig, TrainingCancelled, fine_tune
from ui import state
from ui.i18n import t

DEFAULT_MAX_ROWS = 4000
DEFAULT_EPOCHS = 2
_REDRAW_SECONDS = 1.0

st.header(t("train.title"))
chosen = state.chosen_data()
st.caption(t("train.dataset", name=chosen.name, rows=len(chosen.dataset)))
if chosen.mapping.label is None:
    st.info(t("train.needs_label"))
    st.page_link("pages/data.py", label=t("train.go_data"), icon=":material/arrow_back:")
    st.stop()

# ---------------------------------------------------------------- settings
with st.form("train.settings"):
    st.caption(t("train.model_in_sidebar", model=state.model_source(), max_length=state.max_length()))
    row1 = st.columns(4)
    epochs = row1[0].number_input(t("train.epochs"), min_value=1, max_value=50, value=DEFAULT_EPOCHS, key="train.epochs")
    use_all = row1[1].checkbox(t("train.all_rows"), value=False, key="train.all_rows", help=t("train.all_rows_help"))
    max_rows = row1[2].number_input(
        t("train.max_rows"), min_value=10, value=min(DEFAULT_MAX_ROWS, max(10, len(chosen.dataset))), step=500,
        key="train.max_rows", help=t("train.max_rows_help"),
    )
    seed = row1[3].number_input(t("train.seed"), min_value=0, value=0, step=1, key="train.seed")
    with st.expander(t("train.advanced")):
        row2 = st.columns(4)
        learning_rate = row2[0].number_input(
            t("train.learning_rate"), min_value=1e-7, max_value=0.5, value=1e-4, format="%.1e", key="train.lr"
        )
        batch_size = row2[1].number_input(t("train.batch_size"), min_value=1, max_value=1024, value=32, key="train.batch")
        validation_fraction = row2[2].number_input(
            t("train.validation_fraction"), min_value=0.01, max_value=0.49, value=0.1, step=0.05, key="train.val_frac"
        )
        test_fraction = row2[3].number_input(
            t("train.test_fraction"), min_value=0.0, max_value=0.49, value=0.1, step=0.05, key="train.test_frac"
        )
        row3 = st.columns(4)
        device = row3[0].selectbox(t("train.device"), DEVICE_CHOICES, key="train.device", help=t("train.device_help"))
        warmup_ratio = row3[1].number_input(
            t("train.warmup_ratio"), min_value=0.0, max_value=0.9, value=0.1, step=0.05, key="train.warmup"
        )
        keep_duplicates = row3[2].checkbox(t("train.keep_duplicates"), value=False, key="train.keep_dups")
    submitted = st.form_submit_button(t("train.start"), type="primary")


def _loss_figure(steps: list[int], losses: list[float]) -> go.Figure:
    figure = go.Figure(go.Scatter(x=steps, y=losses, mode="lines", name=t("train.loss")))
    figure.update_layout(
        title=t("train.loss_curve"),
        xaxis_title=t("train.step"),
        yaxis_title=t("train.loss"),
        height=280,
        margin=dict(t=40, b=10, l=10, r=10),
    )
    return figure


if submitted:
    config = TrainConfig(
        model=state.model_source(),
        epochs=int(epochs),
        batch_size=int(batch_size),
        learning_rate=float(learning_rate),
        warmup_ratio=float(warmup_ratio),
        max_length=state.max_length(),
        seed=int(seed),
        max_rows=None if use_all else int(max_rows),
        validation_fraction=float(validation_fraction),
        test_fraction=float(test_fraction),
        device=device,
        drop_duplicates=not keep_duplicates,
    )
    output_dir = state.runs_root() / runs.new_run_id(config.model)
    bar = st.progress(0.0, text=t("train.preparing"))
    status = st.empty()
    chart = st.empty()
    steps: list[int] = []
    losses: list[float] = []
    last_draw = [0.0]

    def on_progress(event: Progress) -> None:
        if event.phase == "train" and event.loss is not None:
            steps.append(event.step)
            losses.append(event.loss)
        now = time.monotonic()
        if event.phase == "train" and now - last_draw[0] < _REDRAW_SECONDS and event.step != event.total_steps:
            return
        last_draw[0] = now
        if event.phase == "train":
            bar.progress(
                event.fraction,
                text=t(
                    "train.progress",
                    step=event.step,
                    total=event.total_steps,
                    epoch=event.epoch,
                    loss=event.loss or 0.0,
                    eta=int(event.eta_seconds or 0),
                ),
            )
            chart.plotly_chart(_loss_figure(steps, losses), width="stretch")
        elif event.phase == "evaluate" and event.metrics:
            status.info(t("train.epoch_done", epoch=event.epoch, accuracy=event.metrics.get("accuracy", 0.0)))
        elif event.phase == "score":
            bar.progress(event.fraction, text=t("train.scoring"))
        elif event.phase in ("prepare", "save"):
            bar.progress(1.0 if event.phase == "save" else 0.0, text=t(f"train.phase_{event.phase}"))

    try:
        result = fine_tune(
            chosen.dataset, config, output_dir=output_dir, data_info=chosen.info(), progress=on_progress
        )
    except (ValueError, ModelLoadError, FileExistsError) as exc:
        st.error(t("train.failed", error=str(exc)))
    except TrainingCancelled:
        st.warning(t("train.cancelled"))
    else:
        bar.progress(1.0, text=t("train.finished"))
        test = result.metrics["splits"].get("test", {})
        st.success(
            t(
                "train.result",
                run=result.run_dir.name,
                accuracy=test.get("accuracy", float("nan")),
                seconds=result.metrics["total_seconds"],
            )
        )
        st.session_state["explore.run"] = result.run_dir.name
        st.page_link("pages/explore.py", label=t("train.open_explore"), icon=":material/query_stats:")

# ---------------------------------------------------------------- runs on disk
st.subheader(t("train.runs"))
summaries = runs.list_runs(state.runs_root())
if not summaries:
    st.info(t("train.no_runs"))
else:
    table = pd.DataFrame(
        {
            t("runs.id"): [summary.id for summary in summaries],
            t("runs.created"): [summary.created for summary in summaries],
            t("runs.model"): [summary.model for summary in summaries],
            t("runs.data"): [summary.data for summary in summaries],
            t("runs.classes"): [len(summary.labels) for summary in summaries],
            t("runs.train_rows"): [summary.rows.get("train") for summary in summaries],
            t("runs.test_accuracy"): [summary.test_accuracy for summary in summaries],
        }
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={t("runs.test_accuracy"): st.column_config.NumberColumn(format="%.3f")},
    )
    picked = st.selectbox(t("train.open_run"), [summary.id for summary in summaries], key="train.open_run")
    if st.button(t("train.open_in_explore"), key="train.open_button"):
        st.session_state["explore.run"] = picked
        st.switch_page("pages/explore.py")

"""Train page: fine-tuning settings, the live view of the submitted job, and the runs on disk."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import runs
from core.adversarial_training import ADVERSARIAL_MODES
from core.job_handlers import submit_training
from core.jobs import JobError
from core.models import DEVICE_CHOICES
from core.training import ADVERSARIAL_STEPS_RANGE, AUGMENT_COPIES_RANGE, TrainConfig
from core.training_augment import AUGMENT_KINDS
from ui import state
from ui.i18n import t
from ui.jobs_view import JOB_QUERY_KEY, job_panel, prepare_worker
from ui.shell import ensure_shell

ensure_shell()

DEFAULT_MAX_ROWS = 4000
DEFAULT_EPOCHS = 2
CONFIG_DEFAULTS = TrainConfig()

st.header(t("train.title"))
chosen = state.chosen_data()
st.caption(t("train.dataset", name=chosen.display_name(), rows=len(chosen.dataset)))
if chosen.mapping.label is None:
    st.info(t("train.needs_label"))
    st.page_link("pages/data.py", label=t("train.go_data"), icon=":material/arrow_back:")
    st.stop()

# ---------------------------------------------------------------- settings
prepare_worker()
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
    with st.expander(t("train.robustness")):
        st.caption(t("train.robustness_help"))
        row4 = st.columns(4)
        adversarial = row4[0].selectbox(
            t("train.adversarial"), ADVERSARIAL_MODES, format_func=lambda mode: t(f"train.adversarial.{mode}"),
            key="train.adversarial", help=t("train.adversarial_help"),
        )
        # Epsilon and alpha have no upper bound. Their inputs accept 0 so that TrainConfig.validate rejects it with
        # the message shown for every other invalid setting.
        adversarial_epsilon = row4[1].number_input(
            t("train.adversarial_epsilon"), min_value=0.0, value=CONFIG_DEFAULTS.adversarial_epsilon, step=0.05,
            format="%.3f", key="train.adversarial_epsilon", help=t("train.adversarial_epsilon_help"),
        )
        adversarial_steps = row4[2].number_input(
            t("train.adversarial_steps"), min_value=ADVERSARIAL_STEPS_RANGE[0], max_value=ADVERSARIAL_STEPS_RANGE[1],
            value=CONFIG_DEFAULTS.adversarial_steps, key="train.adversarial_steps", help=t("train.adversarial_steps_help"),
        )
        adversarial_alpha = row4[3].number_input(
            t("train.adversarial_alpha"), min_value=0.0, value=CONFIG_DEFAULTS.adversarial_alpha, step=0.01,
            format="%.3f", key="train.adversarial_alpha", help=t("train.adversarial_alpha_help"),
        )
        row5 = st.columns(4)
        augment = row5[0].selectbox(
            t("train.augment"), AUGMENT_KINDS, format_func=lambda kind: t(f"train.augment.{kind}"),
            key="train.augment", help=t("train.augment_help"),
        )
        augment_rate = row5[1].number_input(
            t("train.augment_rate"), min_value=0.0, max_value=1.0, value=CONFIG_DEFAULTS.augment_rate, step=0.05,
            key="train.augment_rate", help=t("train.augment_rate_help"),
        )
        augment_copies = row5[2].number_input(
            t("train.augment_copies"), min_value=AUGMENT_COPIES_RANGE[0], max_value=AUGMENT_COPIES_RANGE[1],
            value=CONFIG_DEFAULTS.augment_copies, key="train.augment_copies", help=t("train.augment_copies_help"),
        )
    submitted = st.form_submit_button(t("train.start"), type="primary")


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
        adversarial=adversarial,
        adversarial_epsilon=float(adversarial_epsilon),
        adversarial_steps=int(adversarial_steps),
        adversarial_alpha=float(adversarial_alpha),
        augment=augment,
        augment_rate=float(augment_rate),
        augment_copies=int(augment_copies),
    )
    try:
        job = submit_training(state.workspace_path(), chosen.dataset, config, data_info=chosen.info())
    except (ValueError, FileExistsError, OSError) as exc:
        st.error(t("train.failed", error=str(exc)))
    else:
        st.query_params[JOB_QUERY_KEY] = job.id

job_id = st.query_params.get(JOB_QUERY_KEY)
if job_id:
    st.subheader(t("train.current_job"))
    try:
        job_panel(job_id)
    except JobError:
        st.warning(t("jobs.not_found", job=job_id))
        del st.query_params[JOB_QUERY_KEY]
    st.caption(t("train.job_hint"))

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

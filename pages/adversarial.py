"""Adversarial page: which small edits flip a run's predictions, and how robust runs are.

Attacks run as background jobs and store their results in the run folder, so this page
only submits, watches and reads them. ``?run=RUN&attack=ID`` opens a stored attack.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import data as data_module
from core import uncertainty
from core.attack_jobs import list_attacks, load_attack, submit_attack
from core.attack_recipe import CHARACTER_EDITS, RECIPES, SEARCH_METHODS, recipe_preset
from core.attack_results import AFTER_PREFIX, BEFORE_PREFIX, adversarial_training_rows
from core.report import short_time
from core.robustness import ATTACK_COLUMNS, robustness_report
from core.text_diff import character_diff
from ui import state
from ui.i18n import t
from ui.jobs_view import JOB_QUERY_KEY, current_job, job_panel, prepare_worker
from ui.run_picker import pick_run
from ui.shell import ensure_shell

ensure_shell()

ATTACK_QUERY_KEY = "attack"
SELECTIONS = ("uncertain", "split", "rows")
DEFAULT_ROWS = 50
SPLIT_ORDER = ("test", "validation", "train", "unlabelled")


def _parse_positions(text: str, row_count: int) -> list[int]:
    """Return the row positions in a comma-separated list; raise ``ValueError`` naming a bad entry."""
    positions = []
    for piece in text.replace(";", ",").split(","):
        piece = piece.strip()
        if not piece:
            continue
        if not piece.isdigit() or int(piece) >= row_count:
            raise ValueError(t("adversarial.bad_position", value=piece, last=row_count - 1))
        positions.append(int(piece))
    if not positions:
        raise ValueError(t("adversarial.no_positions"))
    return positions


def _attack_form(summary, predictions: pd.DataFrame) -> None:
    splits = [name for name in SPLIT_ORDER if name in set(predictions[data_module.SPLIT_COLUMN])]
    cells = st.columns(3)
    # A row sent from Explore (?rows=) preselects attacking given rows.
    selection = cells[0].radio(
        t("adversarial.selection"), SELECTIONS, format_func=lambda x: t(f"adversarial.selection_{x}"),
        key="adversarial.selection", index=SELECTIONS.index("rows") if st.query_params.get("rows") else 0,
    )
    split = cells[1].selectbox(t("adversarial.split"), splits, format_func=lambda x: t(f"split.{x}"),
                               key="adversarial.split", disabled=selection == "rows")
    split_rows = predictions[predictions[data_module.SPLIT_COLUMN] == split]
    count = int(cells[2].number_input(
        t("adversarial.row_count"), 1, max(1, len(split_rows)), min(DEFAULT_ROWS, max(1, len(split_rows))),
        key="adversarial.row_count", disabled=selection == "rows", help=t("adversarial.row_count_help"),
    ))
    rows_text = ""
    if selection == "rows":
        rows_text = st.text_input(t("adversarial.positions"), value=st.query_params.get("rows", ""),
                                  key="adversarial.positions", help=t("adversarial.positions_help"))

    cells = st.columns(3)
    recipe_name = cells[0].selectbox(t("adversarial.recipe"), list(RECIPES),
                                     format_func=lambda x: t(f"adversarial.recipe_{x}"), key="adversarial.recipe")
    preset = RECIPES[recipe_name]
    cells[1].caption(t(f"adversarial.recipe_{recipe_name}_help"))
    with st.expander(t("adversarial.constraints")):
        cells = st.columns(3)
        max_words = cells[0].slider(t("adversarial.max_words_changed"), 0.05, 1.0, float(preset.max_words_changed),
                                    0.05, key=f"adversarial.max_words.{recipe_name}",
                                    help=t("adversarial.max_words_changed_help"))
        min_similarity = cells[1].slider(t("adversarial.min_similarity"), 0.0, 1.0, float(preset.min_similarity), 0.05,
                                         key=f"adversarial.min_similarity.{recipe_name}",
                                         help=t("adversarial.min_similarity_help"))
        max_queries = int(cells[2].number_input(t("adversarial.max_queries"), 1, 100_000, int(preset.max_queries),
                                                key=f"adversarial.max_queries.{recipe_name}",
                                                help=t("adversarial.max_queries_help")))
        cells = st.columns(3)
        time_limit = float(cells[0].number_input(t("adversarial.time_limit"), 0.5, 3600.0,
                                                 float(preset.time_limit_seconds),
                                                 key=f"adversarial.time.{recipe_name}"))
        search = cells[1].selectbox(t("adversarial.search"), SEARCH_METHODS, index=SEARCH_METHODS.index(preset.search),
                                    format_func=lambda x: t(f"adversarial.search_{x}"),
                                    key=f"adversarial.search.{recipe_name}")
        beam_width = int(cells[2].number_input(t("adversarial.beam_width"), 1, 32, int(preset.beam_width),
                                               key=f"adversarial.beam.{recipe_name}", disabled=search != "beam"))
        cells = st.columns(3)
        protect_stop = cells[0].checkbox(t("adversarial.protect_stop_words"), value=preset.protect_stop_words,
                                         key=f"adversarial.stop.{recipe_name}")
        protect_entities = cells[1].checkbox(t("adversarial.protect_entities"), value=preset.protect_entities,
                                             key=f"adversarial.entities.{recipe_name}",
                                             help=t("adversarial.protect_entities_help"))
        edits = preset.character_edits
        if preset.transformation == "character":
            edits = tuple(cells[2].multiselect(t("adversarial.character_edits"), CHARACTER_EDITS,
                                               default=list(preset.character_edits),
                                               format_func=lambda x: t(f"adversarial.edit_{x}"),
                                               key="adversarial.edits", placeholder=t("common.choose")))
        mlm_model = None
        if preset.transformation == "mlm":
            mlm_model = st.text_input(t("adversarial.mlm_model"), key="adversarial.mlm_model",
                                      help=t("adversarial.mlm_model_help")).strip() or None

    prepare_worker()
    if not st.button(t("adversarial.submit"), type="primary", key="adversarial.submit"):
        return
    try:
        recipe = recipe_preset(
            recipe_name, max_words_changed=max_words, min_similarity=min_similarity, max_queries=max_queries,
            time_limit_seconds=time_limit, search=search, beam_width=beam_width, protect_stop_words=protect_stop,
            protect_entities=protect_entities, character_edits=edits, mlm_model=mlm_model,
        )
        if selection == "rows":
            chosen: str | list[int] = _parse_positions(rows_text, len(predictions))
        elif selection == "uncertain":
            ranked = split_rows.sort_values(uncertainty.ENTROPY_COLUMN, ascending=False)
            chosen = [int(position) for position in ranked.index[:count]]
        else:
            chosen = split
        job = submit_attack(state.workspace_path(), summary.path, chosen, recipe,
                            limit=count if selection == "split" else None)
    except (ValueError, FileNotFoundError) as exc:
        st.error(t("adversarial.submit_failed", error=str(exc)))
        return
    st.query_params[JOB_QUERY_KEY] = job.id
    st.session_state["adversarial.job"] = job.id


def _summary_metrics(stored: dict) -> None:
    values = stored.get("summary", {})

    def share(key: str) -> str:
        return "—" if values.get(key) is None else f"{values[key]:.1%}"

    def number(key: str, pattern: str = "{:.1f}") -> str:
        return "—" if values.get(key) is None else pattern.format(values[key])

    cells = st.columns(6)
    cells[0].metric(t("adversarial.success_rate"), share("success_rate"), help=t("adversarial.success_rate_help"))
    cells[1].metric(t("adversarial.clean_accuracy"), share("clean_accuracy"))
    cells[2].metric(t("adversarial.accuracy_under_attack"), share("accuracy_under_attack"),
                    help=t("adversarial.accuracy_under_attack_help"))
    cells[3].metric(t("adversarial.mean_queries"), number("mean_queries"))
    cells[4].metric(t("adversarial.mean_fraction_changed"), share("mean_fraction_changed"))
    cells[5].metric(t("adversarial.skipped"), number("skipped", "{:d}"))
    st.caption(t("adversarial.summary_caption", rows=values.get("rows", 0), attacked=values.get("attacked", 0),
                 flipped=values.get("flipped", 0), seconds=values.get("seconds_per_attacked") or 0.0))


def _diff_html(original: str, changed: str) -> str:
    parts = []
    for piece in character_diff(original, changed):
        text = html.escape(piece.text)
        if piece.operation == "delete":
            parts.append(f'<del style="background:#fdd;color:#900">{text}</del>')
        elif piece.operation == "insert":
            parts.append(f'<ins style="background:#dfd;color:#060;text-decoration:none">{text}</ins>')
        else:
            parts.append(text)
    return '<div style="line-height:1.8;white-space:pre-wrap">' + "".join(parts) + "</div>"


def _probability_figure(row: pd.Series, class_names: list[str]) -> go.Figure:
    figure = go.Figure()
    for prefix, key in ((BEFORE_PREFIX, "adversarial.before"), (AFTER_PREFIX, "adversarial.after")):
        figure.add_trace(go.Bar(x=class_names, y=[row[f"{prefix}{name}"] for name in class_names], name=t(key)))
    figure.update_layout(barmode="group", height=260, yaxis_title=t("common.probability"), yaxis_range=[0, 1],
                         xaxis_title=t("common.class"), margin=dict(t=10, b=10, l=10, r=10))
    return figure


def _sample_view(run_id: str, attack_id: str, row: pd.Series, class_names: list[str]) -> None:
    st.markdown(f"**{t('adversarial.sample_title', position=int(row['position']))}**")
    st.markdown(_diff_html(str(row["original_text"]), str(row["adversarial_text"])), unsafe_allow_html=True)
    cells = st.columns(4)
    cells[0].metric(t("adversarial.prediction"), str(row["adversarial_predicted"]),
                    delta=t("adversarial.was", label=row["original_predicted"]), delta_color="off")
    cells[1].metric(t("adversarial.entropy"), f"{row['adversarial_entropy']:.3f}",
                    delta=f"{row['adversarial_entropy'] - row['original_entropy']:+.3f}", delta_color="off")
    cells[2].metric(t("adversarial.queries"), int(row["queries"]))
    similarity = row["similarity"]
    cells[3].metric(t("adversarial.similarity"), "—" if pd.isna(similarity) else f"{similarity:.3f}")
    st.plotly_chart(_probability_figure(row, class_names), width="stretch")
    if row["status"] == "flipped":
        st.page_link("pages/attributions.py", label=t("adversarial.open_attributions"), icon=":material/compare:",
                     query_params={"run": run_id, "row": str(int(row["position"])), ATTACK_QUERY_KEY: attack_id})


def _results(summary, class_names: list[str]) -> None:
    stored = list_attacks(summary.path)
    if not stored:
        st.info(t("adversarial.no_attacks"))
        return
    by_id = {item["id"]: item for item in stored}
    requested = st.query_params.get(ATTACK_QUERY_KEY)
    ids = list(by_id)
    attack_id = st.selectbox(
        t("adversarial.attack"), ids, index=ids.index(requested) if requested in by_id else 0,
        format_func=lambda x: t("adversarial.attack_option", recipe=t(f"adversarial.recipe_{by_id[x]['recipe']}")
                                if by_id[x]["recipe"] in RECIPES else by_id[x]["recipe"],
                                created=short_time(by_id[x].get("created", "")),
                                rows=len(by_id[x].get("positions", []))),
        key="adversarial.attack_choice",
    )
    st.query_params[ATTACK_QUERY_KEY] = attack_id
    _summary_metrics(by_id[attack_id])

    try:
        table = load_attack(summary.path, attack_id)
    except (FileNotFoundError, ValueError) as exc:
        st.error(t("adversarial.load_failed", error=str(exc)))
        return

    statuses = st.multiselect(t("adversarial.status_filter"), ["flipped", "failed", "skipped"], default=["flipped"],
                              format_func=lambda x: t(f"adversarial.status_{x}"), key="adversarial.status_filter",
                              placeholder=t("common.choose"))
    matching = table[table["status"].isin(statuses)].reset_index(drop=True)
    view = pd.DataFrame({
        t("adversarial.column_position"): matching["position"],
        t("adversarial.column_status"): [t(f"adversarial.status_{s}") for s in matching["status"]],
        t("adversarial.column_reason"): [t(f"adversarial.reason_{r}") if isinstance(r, str) and r else ""
                                         for r in matching["reason"]],
        t("adversarial.column_original"): matching["original_text"],
        t("adversarial.column_adversarial"): matching["adversarial_text"],
        t("adversarial.column_label"): matching["label"],
        t("adversarial.column_before"): matching["original_predicted"],
        t("adversarial.column_after"): matching["adversarial_predicted"],
        t("adversarial.column_queries"): matching["queries"],
        t("adversarial.column_fraction"): matching["fraction_changed"],
        t("adversarial.column_similarity"): matching["similarity"],
    })
    event = st.dataframe(
        view, hide_index=True, on_select="rerun", selection_mode="single-row", key="adversarial.table",
        column_config={
            t("adversarial.column_fraction"): st.column_config.NumberColumn(format="percent"),
            t("adversarial.column_similarity"): st.column_config.NumberColumn(format="%.3f"),
        },
    )

    selected = event.selection.rows if event is not None else []
    if selected:
        _sample_view(summary.id, attack_id, matching.iloc[selected[0]], class_names)
    elif len(matching):
        st.caption(t("adversarial.pick_row"))

    extra = adversarial_training_rows(table)
    if len(extra):
        st.download_button(
            t("adversarial.download_training_rows", rows=len(extra)),
            extra.to_csv(index=False).encode("utf-8"), file_name=f"adversarial-{attack_id}.csv", mime="text/csv",
            key="adversarial.download", help=t("adversarial.download_training_rows_help"),
        )


def _robustness(summary) -> None:
    summaries = state.runs.list_runs(state.runs_root())
    ids = [item.id for item in summaries]
    chosen = st.multiselect(t("adversarial.compare_runs"), ids, default=[summary.id], key="adversarial.compare_runs",
                            placeholder=t("common.choose"),
                            help=t("adversarial.compare_runs_help"))
    if not chosen:
        return
    report = robustness_report([item.path for item in summaries if item.id in chosen])
    renamed = {"run": t("runs.label"), "test_rows": t("adversarial.test_rows"),
               "test_accuracy": t("adversarial.test_accuracy"), "test_ece": t("adversarial.test_ece"),
               "test_nll": t("adversarial.test_nll")}
    for column in report.columns:
        recipe, _, key = column.rpartition(":")
        if recipe and key in ATTACK_COLUMNS:
            name = t(f"adversarial.recipe_{recipe}") if recipe in RECIPES else recipe
            renamed[column] = t(f"adversarial.report_{key}", recipe=name)
    st.dataframe(report.rename(columns=renamed), hide_index=True)
    st.caption(t("adversarial.report_note"))


st.header(t("adversarial.title"))
st.caption(t("adversarial.intro"))
summary = pick_run("adversarial")
modified = state.run_modified(summary.path)
predictions = state.load_predictions(str(summary.path), modified)

st.subheader(t("adversarial.attack_title"))
_attack_form(summary, predictions)
job_id = current_job("adversarial.job", ("attack",), run_id=summary.id)
if job_id is not None:
    job_panel(job_id)

st.subheader(t("adversarial.results_title"))
_results(summary, summary.labels)

st.subheader(t("adversarial.robustness_title"))
_robustness(summary)

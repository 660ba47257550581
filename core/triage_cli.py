"""``python -m core triage``: cross-validate, print the review queue, export corrections.

:mod:`core.cli` adds these commands with :func:`add_triage_parser` and runs them with
:func:`run_triage`; errors end with exit status 2 as for every other command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import cli
from core import data as data_module
from core import resources
from core.acquisition import ACQUISITION_FUNCTIONS
from core.crossval import DEFAULT_FOLDS
from core.label_quality import DEFAULT_ISSUE_METHOD, ISSUE_METHODS
from core.models import DEVICE_CHOICES
from core.training import SELECTION_METRICS
from core.triage import ACQUISITION_POOLS, DEFAULT_CONFIDENCE_THRESHOLD
from core.workspace import resolve_workspace

_TEXT_WIDTH = 70


def add_triage_parser(commands) -> None:
    """Add the ``triage`` command and its ``crossval``, ``queue`` and ``export`` subcommands."""
    triage = commands.add_parser("triage", help="Find likely label errors and rows to label next; export corrections.")
    triage_commands = triage.add_subparsers(dest="triage_command", required=True)

    crossval = triage_commands.add_parser(
        "crossval", help="Out-of-sample probabilities of every labelled row by K-fold cross-validated fine-tuning."
    )
    cli._add_data_arguments(crossval, label_required=True)
    crossval.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                          help=f"Number of folds K, at least 2 (default: {DEFAULT_FOLDS}).")
    crossval.add_argument("--output", help="Cross-validation folder to create (default: a new folder under "
                          "<workspace>/triage). An unfinished one with the same settings is resumed.")
    crossval.add_argument("--model", default=resources.BUILTIN_MODEL_ALIAS,
                          help="Model folder or Hugging Face hub id (default: the built-in all-MiniLM-L6-v2).")
    crossval.add_argument("--epochs", type=int, default=3, help="Training epochs per fold (default: 3).")
    crossval.add_argument("--batch-size", type=int, default=32, help="Training batch size (default: 32).")
    crossval.add_argument("--learning-rate", type=float, default=1e-4, help="Peak AdamW learning rate (default: 1e-4).")
    crossval.add_argument("--max-length", type=int, default=128, help="Maximum tokens per text (default: 128).")
    crossval.add_argument("--max-rows", type=int, help="Cross-validate a stratified sample of at most this many labelled rows.")
    crossval.add_argument("--seed", type=int, default=0, help="Random seed for folds, sampling and training (default: 0).")
    crossval.add_argument("--validation-fraction", type=float, default=0.1,
                          help="Share of each fold's training rows kept for best-epoch selection (default: 0.1).")
    crossval.add_argument("--selection-metric", default="nll", choices=SELECTION_METRICS,
                          help="Validation metric that picks each fold's best epoch (default: nll, which keeps the "
                          "probabilities calibrated enough for confident learning).")
    crossval.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="Device (default: auto).")
    crossval.add_argument("--keep-duplicates", action="store_true", help="Keep repeated (text, label) rows.")
    crossval.add_argument("--skip-unlabelled", action="store_true",
                          help="Do not score the rows without labels with the fold models.")
    crossval.add_argument("--background", action="store_true",
                          help="Run as a background job and return at once; watch it with `jobs show ID`.")

    queue = triage_commands.add_parser("queue", help="Print the ranked review queue of a cross-validation or a run.")
    _add_source_argument(queue)
    queue.add_argument("--top", type=int, default=20, help="Rows to print (default: 20).")
    queue.add_argument("--method", default=DEFAULT_ISSUE_METHOD, choices=ISSUE_METHODS,
                       help=f"Confident-learning pruning method (default: {DEFAULT_ISSUE_METHOD}).")
    queue.add_argument("--acquisition", default="entropy", choices=ACQUISITION_FUNCTIONS,
                       help="Score for rows to label next (default: entropy).")
    queue.add_argument("--uncertain", type=int, default=50,
                       help="Most rows marked uncertain; 0 turns the check off (default: 50).")
    queue.add_argument("--pool", default="unlabelled", choices=ACQUISITION_POOLS,
                       help="Rows the uncertain check scores: those without labels, or a sample of all (default: unlabelled).")
    queue.add_argument("--passes", type=int, default=10,
                       help="MC dropout passes T for BALD on a run folder's rows (default: 10).")
    queue.add_argument("--no-diversity", action="store_true",
                       help="Take the top acquisition scores as they are, without the k-centre diversity step.")
    queue.add_argument("--confidence-threshold", type=float, default=DEFAULT_CONFIDENCE_THRESHOLD,
                       help=f"Annotator confidence below which rows are queued (default: {DEFAULT_CONFIDENCE_THRESHOLD}).")
    queue.add_argument("--output", help="Also write the whole queue to this .parquet or .csv file.")

    export = triage_commands.add_parser(
        "export", help="Write the dataset with the review decisions of this workspace applied, with audit columns."
    )
    _add_source_argument(export)
    export.add_argument("--output", required=True, help="File to write: .csv (for spreadsheets) or .parquet.")
    export.add_argument("--drop-flagged", action="store_true", help="Leave out rows whose latest decision is flag.")


def _add_source_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--oos", required=True, metavar="PATH",
        help="A cross-validation folder or its oos.parquet, or a run folder (in-sample probabilities, weaker).",
    )


def run_triage(args: argparse.Namespace) -> int:
    """Run one ``triage`` subcommand and return the exit status."""
    if args.triage_command == "crossval":
        return _crossval(args)
    if args.triage_command == "queue":
        return _queue(args)
    if args.triage_command == "export":
        return _export(args)
    raise ValueError(f"Unknown triage command {args.triage_command!r}.")


def _crossval(args: argparse.Namespace) -> int:
    from core.crossval import cross_validate, new_crossval_id, triage_root
    from core.training import TrainConfig
    from core.triage_jobs import submit_crossval

    config = TrainConfig(
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        max_rows=args.max_rows,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        selection_metric=args.selection_metric,
        device=args.device,
        drop_duplicates=not args.keep_duplicates,
    )
    config.validate()
    workspace = resolve_workspace(args.workspace)
    table, mapping = cli.load_data(args, require_label=True)
    for warning in table.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    dataset = data_module.apply_mapping(table, mapping)
    data_info = {"name": table.name, "paths": list(args.data), "format": table.format, "mapping": mapping.as_dict()}
    if args.background:
        job = submit_crossval(workspace, dataset, config, args.folds, data_info=data_info, output_dir=args.output,
                              score_unlabelled=not args.skip_unlabelled)
        print(json.dumps({"job": job.id, "state": job.state, "crossval": job.config["crossval_dir"]}))
        return 0
    output = Path(args.output) if args.output else triage_root(workspace) / new_crossval_id()
    bar = cli._TqdmProgress()
    try:
        source = cross_validate(dataset, config, output_dir=output, folds=args.folds, data_info=data_info,
                                score_unlabelled=not args.skip_unlabelled, progress=bar)
    finally:
        bar.close()
    info = source.info
    print(json.dumps({
        "crossval": str(source.path),
        "rows": info["rows"],
        "unlabelled_rows": info["unlabelled_rows"],
        "accuracy": round(info["accuracy"], 4),
        "fold_accuracy": [round(fold["accuracy"], 4) for fold in info["fold_metrics"]],
    }))
    return 0


def _queue(args: argparse.Namespace) -> int:
    from core.crossval import load_source
    from core.triage import QueueSettings, build_queue, with_mc_dropout

    if args.top < 1:
        raise ValueError(f"--top must be at least 1; got {args.top}.")
    output = Path(args.output) if args.output else None
    if output is not None and output.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--output must end in .parquet or .csv; got {output}.")
    source = load_source(args.oos)
    if source.in_sample:
        print("warning: these are a run's in-sample probabilities; the model fitted the training labels, wrong "
              "ones included, so fewer label errors are found than with `triage crossval`.", file=sys.stderr)
    settings = QueueSettings(
        issue_method=args.method,
        acquisition=args.acquisition,
        uncertain_count=args.uncertain,
        acquisition_pool=args.pool,
        diversity=not args.no_diversity,
        confidence_threshold=args.confidence_threshold,
    )
    if settings.acquisition == "bald" and source.in_sample:
        source = with_mc_dropout(source, settings, passes=args.passes)
    queue = build_queue(source, settings)
    if output is not None:
        _write_queue(queue, output)
    noise = queue.attrs.get("estimated_noise_rate")
    print(f"{len(queue)} rows queued from {source.path} ({source.kind.replace('_', '-')})"
          + (f"; estimated label noise {noise:.1%}" if noise is not None else ""))
    for record in queue.head(args.top).itertuples(index=False):
        text = " ".join(str(record.text).split())
        if len(text) > _TEXT_WIDTH:
            text = text[: _TEXT_WIDTH - 3] + "..."
        label = record.label if record.label is not None else "-"
        print(f"{record.rank:>5}  id {record.id:<10} {label} -> {record.suggested_label}  "
              f"priority {record.priority:.3f}  {','.join(record.reasons)}  {text}")
    return 0


def _write_queue(queue, output: Path) -> None:
    from core import runs
    from core.review import neutralise_formulas

    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        runs.write_parquet_atomic(queue, output)
        return
    flat = queue.copy()
    flat["reasons"] = flat["reasons"].map(",".join)
    temporary = output.with_name(f".{output.name}.tmp")
    neutralise_formulas(flat).to_csv(temporary, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    temporary.replace(output)


def _export(args: argparse.Namespace) -> int:
    from core.crossval import load_source
    from core.review import ReviewStore, corrected_dataset, dataset_key, export_corrections

    source = load_source(args.oos)
    store = ReviewStore(resolve_workspace(args.workspace))
    key = dataset_key(source.dataset)
    corrected = corrected_dataset(source.dataset, store, key=key, drop_flagged=args.drop_flagged)
    path = export_corrections(corrected, args.output)
    print(json.dumps({
        "output": str(path),
        "rows": int(len(corrected)),
        "dataset_key": key,
        "relabelled": int((corrected["review_action"] == "relabel").sum()),
        "reviewed": int(corrected["review_action"].notna().sum()),
    }))
    return 0

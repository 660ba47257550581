"""Command line: ``python -m core train`` and ``python -m core score``.

Errors in the input end the program with exit status 2 and one line on stderr;
``--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from core import data as data_module
from core import resources, runs
from core.jobs import JobError
from core.models import DEVICE_CHOICES, ModelLoadError
from core.progress import Progress
from core.workspace import resolve_workspace

logger = logging.getLogger("core")

EXIT_INPUT_ERROR = 2
EXIT_CANCELLED = 130


def _add_data_arguments(parser: argparse.ArgumentParser, *, label_required: bool) -> None:
    parser.add_argument(
        "--data",
        nargs="+",
        required=True,
        metavar="FILE",
        help="Data file (CSV, TSV, JSON Lines, Parquet, '<label> <text>' lines), 'demo' for the built-in "
        "corpus, or several one-text-per-line files whose names are the labels (rt-polarity.pos ...).",
    )
    parser.add_argument("--text-column", help="Column holding the text (default: guessed from the header).")
    parser.add_argument(
        "--label-column",
        help="Column holding the label (default: guessed)." + ("" if label_required else " Optional when scoring."),
    )
    parser.add_argument("--id-column", help="Optional column with a row id.")
    parser.add_argument("--confidence-column", help="Optional column with annotator confidence (0 to 1).")
    parser.add_argument("--format", default="auto", choices=data_module.FORMATS, help="File layout (default: auto).")
    parser.add_argument("--encoding", default="auto", help="Text encoding such as utf-8 or cp1252 (default: auto).")
    parser.add_argument("--delimiter", default="auto", help="Field delimiter for delimited text (default: sniffed).")
    parser.add_argument(
        "--quoting", default="auto", choices=data_module.QUOTING_MODES, help="Double-quote handling (default: auto)."
    )


def _add_robustness_arguments(train: argparse.ArgumentParser) -> None:
    """Add the adversarial training and augmentation options of ``train``, with TrainConfig's defaults."""
    from core.adversarial_training import ADVERSARIAL_MODES
    from core.training import TrainConfig
    from core.training_augment import AUGMENT_KINDS

    defaults = TrainConfig()
    group = train.add_argument_group("adversarial training and augmentation")
    group.add_argument(
        "--adversarial", default=defaults.adversarial, choices=ADVERSARIAL_MODES,
        help="Train also on perturbed word embeddings: fgm (one gradient step) or pgd (several projected steps) "
        f"(default: {defaults.adversarial}).",
    )
    group.add_argument(
        "--adversarial-epsilon", metavar="EPSILON", type=float, default=defaults.adversarial_epsilon,
        help="Maximum L2 norm of the perturbation of one text, in multiples of the mean token-embedding norm "
        f"of the model (default: {defaults.adversarial_epsilon}).",
    )
    group.add_argument(
        "--adversarial-steps", metavar="STEPS", type=int, default=defaults.adversarial_steps,
        help=f"PGD ascent steps per optimizer step (default: {defaults.adversarial_steps}).",
    )
    group.add_argument(
        "--adversarial-alpha", metavar="ALPHA", type=float, default=defaults.adversarial_alpha,
        help=f"L2 norm of one PGD step, in the unit of --adversarial-epsilon (default: {defaults.adversarial_alpha}).",
    )
    group.add_argument(
        "--augment", default=defaults.augment, choices=AUGMENT_KINDS,
        help="Add noisy copies of every training row, made anew each epoch. Validation and test rows are never "
        f"changed (default: {defaults.augment}).",
    )
    group.add_argument(
        "--augment-rate", metavar="RATE", type=float, default=defaults.augment_rate,
        help=f"Edit probability per character or word in a noisy copy (default: {defaults.augment_rate}).",
    )
    group.add_argument(
        "--augment-copies", metavar="COPIES", type=int, default=defaults.augment_copies,
        help=f"Noisy copies per training row and epoch (default: {defaults.augment_copies}).",
    )
    group.add_argument(
        "--extra-train-rows", metavar="FILE",
        help="Table (CSV, Parquet, ...) of extra labelled rows, such as adversarial examples, to add to the "
        "training split only. Its text and label columns are guessed from the header.",
    )


def _read_extra_train_rows(path: str):
    """Read ``--extra-train-rows`` into mapped-dataset columns, or raise ``DataLoadError``."""
    table = data_module.read_table(path)
    mapping = data_module.guess_mapping(table)
    if mapping.label is None:
        raise data_module.DataLoadError(
            f"{table.name}: no label column found among {', '.join(map(str, table.frame.columns))}. "
            "Name the column 'label'."
        )
    return data_module.apply_mapping(table, data_module.ColumnMapping(text=mapping.text, label=mapping.label))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Uncertainty Explorer: fine-tune text classifiers and score per-sample uncertainty.",
    )
    parser.add_argument("--workspace", help="Workspace folder (default: $UNCERTAINTY_EXPLORER_WORKSPACE or ./workspace).")
    parser.add_argument("--verbose", action="store_true", help="Log details and print tracebacks on errors.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="Fine-tune a model and write a run folder.")
    _add_data_arguments(train, label_required=True)
    train.add_argument(
        "--output",
        help="Run folder to create (must not exist). Default: a new folder under <workspace>/runs.",
    )
    train.add_argument(
        "--model",
        default=resources.BUILTIN_MODEL_ALIAS,
        help="Model folder or Hugging Face hub id (default: the built-in all-MiniLM-L6-v2).",
    )
    train.add_argument("--epochs", type=int, default=3, help="Training epochs (default: 3).")
    train.add_argument("--batch-size", type=int, default=32, help="Training batch size (default: 32).")
    train.add_argument("--learning-rate", type=float, default=1e-4, help="Peak AdamW learning rate (default: 1e-4).")
    train.add_argument("--max-length", type=int, default=128, help="Maximum tokens per text; longer texts are cut (default: 128).")
    train.add_argument("--max-rows", type=int, help="Train on a stratified sample of at most this many rows.")
    train.add_argument("--seed", type=int, default=0, help="Random seed for the split, sampling and training (default: 0).")
    train.add_argument("--validation-fraction", type=float, default=0.1, help="Share of rows for validation (default: 0.1).")
    train.add_argument("--test-fraction", type=float, default=0.1, help="Share of rows for test (default: 0.1).")
    train.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="Device (default: auto = cuda, mps, cpu).")
    train.add_argument("--keep-duplicates", action="store_true", help="Keep repeated (text, label) rows.")
    train.add_argument("--trust-remote-code", action="store_true", help="Allow model code from the checkpoint to run.")
    _add_robustness_arguments(train)
    train.add_argument(
        "--background",
        action="store_true",
        help="Run as a background job in its own process and return at once; watch it with `jobs show ID`.",
    )

    score = commands.add_parser("score", help="Score a data file with a finished run.")
    score.add_argument("--run", required=True, help="Run folder written by `train`.")
    _add_data_arguments(score, label_required=False)
    score.add_argument("--output", required=True, help="Parquet file to write (.parquet).")
    score.add_argument("--batch-size", type=int, default=128, help="Inference batch size (default: 128).")
    score.add_argument("--max-length", type=int, help="Maximum tokens per text (default: the run's setting).")
    score.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="Device (default: auto).")
    _add_attack_commands(commands)

    jobs_parser = commands.add_parser("jobs", help="List, show, cancel and resume background jobs.")
    job_commands = jobs_parser.add_subparsers(dest="jobs_command", required=True)
    listing = job_commands.add_parser("list", help="List jobs, newest first.")
    listing.add_argument("--limit", type=int, default=50, help="How many jobs to list (default: 50).")
    show = job_commands.add_parser("show", help="Show a job's state, progress, error and log tail.")
    show.add_argument("job_id")
    show.add_argument("--follow", action="store_true", help="Keep printing progress until the job ends.")
    show.add_argument("--log-lines", type=int, default=20, help="Log lines to print (default: 20).")
    cancel = job_commands.add_parser("cancel", help="Cancel a queued job, or stop a running one at its next step.")
    cancel.add_argument("job_id")
    resume = job_commands.add_parser("resume", help="Resume a cancelled, interrupted or failed job from its checkpoint.")
    resume.add_argument("job_id")
    work = job_commands.add_parser("work", help=argparse.SUPPRESS)
    work.add_argument("job_id")
    spare = job_commands.add_parser("spare", help=argparse.SUPPRESS)
    spare.add_argument("resource")
    spare_list = job_commands.add_parser(
        "spares", help="List the spare workers waiting for a job; --retire makes them exit."
    )
    spare_list.add_argument("--retire", action="store_true", help="Make every waiting spare worker exit.")

    report = commands.add_parser(
        "report", help="Write the self-contained HTML report of a run (opens without network access)."
    )
    report.add_argument("--run", required=True, help="Run folder written by `train`.")
    report.add_argument("--output", required=True, help="HTML file to write, such as report.html.")
    report.add_argument("--language", choices=("en", "zh"), default="en", help="Report language (default: en).")
    report.add_argument("--top-samples", type=int, default=20, help="Most uncertain held-out samples to list.")

    from core.triage_cli import add_triage_parser

    add_triage_parser(commands)
    return parser


def load_data(args: argparse.Namespace, *, require_label: bool) -> tuple[data_module.RawTable, data_module.ColumnMapping]:
    """Read ``--data`` and build the column mapping from the flags or the guess."""
    if args.data == ["demo"]:
        table, mapping = data_module.load_demo_corpus()
    else:
        if len(args.data) > 1 or args.format == "lines":
            table = data_module.read_line_files(args.data, encoding=args.encoding)
        else:
            table = data_module.read_table(
                args.data[0], format=args.format, encoding=args.encoding, delimiter=args.delimiter, quoting=args.quoting
            )
        mapping = data_module.guess_mapping(table)
    mapping = data_module.ColumnMapping(
        text=args.text_column or mapping.text,
        label=args.label_column or mapping.label,
        id=args.id_column or mapping.id,
        confidence=args.confidence_column or mapping.confidence,
    )
    if require_label and mapping.label is None:
        raise data_module.DataLoadError(
            f"{table.name}: no label column found among {', '.join(map(str, table.frame.columns))}. "
            "Pass --label-column."
        )
    return table, mapping


class _TqdmProgress:
    """Render :class:`Progress` events as tqdm bars on stderr, one bar per phase."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self._bar = None
        self._phase = None

    def __call__(self, event: Progress) -> None:
        if event.phase != self._phase or self._bar is None:
            self.close()
            if event.total_steps:
                self._bar = self._tqdm(total=event.total_steps, desc=event.phase, unit="step", file=sys.stderr)
                self._phase = event.phase
            elif event.message:
                print(event.message, file=sys.stderr)
        if self._bar is not None and event.phase == self._phase:
            self._bar.n = event.step
            postfix = {}
            if event.epoch:
                postfix["epoch"] = event.epoch
            if event.loss is not None:
                postfix["loss"] = f"{event.loss:.4f}"
            if "accuracy" in event.metrics:
                postfix["val_acc"] = f"{event.metrics['accuracy']:.4f}"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.refresh()
        if event.phase == "evaluate" and event.message:
            self.close()
            print(event.message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._phase = None


def _train(args: argparse.Namespace) -> int:
    from core.training import TrainConfig, fine_tune

    config = TrainConfig(
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        max_rows=args.max_rows,
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        device=args.device,
        drop_duplicates=not args.keep_duplicates,
        trust_remote_code=args.trust_remote_code,
        adversarial=args.adversarial,
        adversarial_epsilon=args.adversarial_epsilon,
        adversarial_steps=args.adversarial_steps,
        adversarial_alpha=args.adversarial_alpha,
        augment=args.augment,
        augment_rate=args.augment_rate,
        augment_copies=args.augment_copies,
    )
    config.validate()
    if args.output:
        output = Path(args.output)
    else:
        output = runs.runs_root(resolve_workspace(args.workspace)) / runs.new_run_id(args.model)
    runs.check_new_run_dir(output)
    table, mapping = load_data(args, require_label=True)
    for warning in table.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    dataset = data_module.apply_mapping(table, mapping)
    data_info = {"name": table.name, "paths": list(args.data), "format": table.format, "mapping": mapping.as_dict()}
    extra_train_rows = None
    if args.extra_train_rows:
        extra_train_rows = _read_extra_train_rows(args.extra_train_rows)
        data_info["extra_train_rows"] = args.extra_train_rows
    if args.background:
        from core.job_handlers import submit_training

        job = submit_training(
            resolve_workspace(args.workspace), dataset, config, data_info=data_info, output_dir=output,
            extra_train_rows=extra_train_rows,
        )
        print(json.dumps({"job": job.id, "state": job.state, "run": job.config["output_dir"]}))
        return 0
    bar = _TqdmProgress()
    try:
        result = fine_tune(
            dataset,
            config,
            output_dir=output,
            data_info=data_info,
            progress=bar,
            extra_train_rows=extra_train_rows,
        )
    finally:
        bar.close()
    test = result.metrics["splits"].get("test", {})
    summary = {
        "run": str(result.run_dir),
        "best_epoch": result.metrics["best_epoch"],
        "validation_accuracy": result.metrics["splits"]["validation"]["accuracy"],
        "test_accuracy": test.get("accuracy"),
        "train_samples_per_second": round(result.metrics["train_samples_per_second"] or 0, 1),
    }
    print(json.dumps(summary))
    return 0


def _score(args: argparse.Namespace) -> int:
    from core.models import load_classifier, model_label_names, resolve_device
    from core.scoring import score_dataset

    output = Path(args.output)
    if output.suffix.lower() != ".parquet":
        raise ValueError(f"--output must end in .parquet; got {output}.")
    if output.exists():
        raise FileExistsError(f"{output} already exists. Choose a new file name.")
    run_dir = Path(args.run)
    run_config = runs.read_json(run_dir, "config.json")
    table, mapping = load_data(args, require_label=False)
    for warning in table.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    dataset = data_module.apply_mapping(table, mapping)
    device = resolve_device(args.device)
    model, tokenizer = load_classifier(runs.model_dir(run_dir))
    model.to(device)
    max_length = args.max_length or run_config["train"].get("max_length", 128)
    from core.scoring import unknown_labels

    unknown = unknown_labels(dataset, model_label_names(model))
    if unknown:
        print(
            f"warning: labels {', '.join(map(repr, unknown[:5]))} are not classes of this run "
            f"({', '.join(map(repr, model_label_names(model)))}); correctness is left empty for those rows.",
            file=sys.stderr,
        )
    bar = _TqdmProgress()
    try:
        table_out = score_dataset(
            model, tokenizer, dataset, max_length=max_length, batch_size=args.batch_size, device=device, progress=bar
        )
    finally:
        bar.close()
    output.parent.mkdir(parents=True, exist_ok=True)
    runs.write_parquet_atomic(table_out, output)
    summary = {"output": str(output), "rows": len(table_out)}
    if "correct" in table_out and table_out["correct"].notna().any():
        summary["accuracy"] = round(float(table_out["correct"].dropna().astype(float).mean()), 4)
    print(json.dumps(summary))
    return 0


def _describe_job(job, registry, *, log_lines: int) -> str:
    from core.jobs import format_time

    lines = [
        f"job       {job.id} ({job.kind})",
        f"state     {job.state}" + (f" - {job.state_reason}" if job.state_reason else ""),
        f"device    requested {job.requested_device}, ran on {job.resource or '-'}",
        f"created   {format_time(job.created_at)}",
        f"started   {format_time(job.started_at)}",
        f"ended     {format_time(job.ended_at)}",
        f"attempts  {job.attempts}",
    ]
    progress = job.progress
    if progress:
        eta = progress.get("eta_seconds")
        lines.append(
            f"progress  {progress.get('phase')} step {progress.get('step')}/{progress.get('total_steps')}"
            f" epoch {progress.get('epoch')}"
            + (f" loss {progress['loss']:.4f}" if progress.get("loss") is not None else "")
            + (f" eta {eta:.0f} s" if eta is not None else "")
        )
    if job.result:
        lines.append(f"result    {json.dumps(job.result)}")
    if job.error:
        lines.append(f"error     {job.error}")
    if job.traceback:
        lines.append(job.traceback.rstrip())
    tail = registry.log_tail(job.id, log_lines)
    if tail:
        lines.append("log:")
        lines.extend(f"  {line}" for line in tail)
    return "\n".join(lines)


def _spares(workspace: Path, *, retire: bool) -> int:
    from core import spares

    spares.spare_idle_seconds()  # a bad setting is an error here too, before anything is listed
    if retire:
        print(f"Retired {spares.retire_spares(workspace)} waiting spare worker(s).")
        return 0
    from core.jobs import format_time

    waiting = spares.waiting_spares(workspace)
    if not waiting:
        print("No spare workers are waiting.")
    for spare in waiting:
        state = "ready" if spare["ready_at"] else "importing"
        print(f"pid {spare['pid']}  {spare['resource']}  {state}  since {format_time(spare['started_at'])}")
    return 0


def _jobs(args: argparse.Namespace) -> int:
    import time

    from core import jobs

    workspace = resolve_workspace(args.workspace)
    if args.jobs_command == "work":
        return jobs.run_worker(workspace, args.job_id)
    if args.jobs_command == "spare":
        from core.spares import run_spare

        return run_spare(workspace, args.resource)
    if args.jobs_command == "spares":
        return _spares(workspace, retire=args.retire)
    registry = jobs.JobRegistry(workspace)
    if args.jobs_command == "list":
        listed = registry.list(limit=args.limit)
        if not listed:
            print(f"No jobs in {registry.path}.")
        for job in listed:
            progress = job.progress
            where = f"{progress.get('step', 0)}/{progress.get('total_steps', 0)}" if progress else "-"
            print(f"{job.id}  {job.kind:<6} {job.state:<12} {where:>11}  {jobs.format_time(job.created_at)}")
        return 0
    if args.jobs_command == "show":
        job = registry.get(args.job_id)
        if not args.follow:
            print(_describe_job(job, registry, log_lines=args.log_lines))
            return 0
        while not job.is_final:
            progress = job.progress
            print(
                f"{job.state} {progress.get('phase', '')} step {progress.get('step', 0)}/{progress.get('total_steps', 0)}",
                file=sys.stderr,
            )
            time.sleep(2.0)
            job = registry.get(args.job_id)
        print(_describe_job(job, registry, log_lines=args.log_lines))
        return 0 if job.state == "succeeded" else 1
    if args.jobs_command == "cancel":
        job = registry.request_cancel(args.job_id)
        print(json.dumps({"job": job.id, "state": job.state, "cancel_requested": job.cancel_requested}))
        return 0
    if args.jobs_command == "resume":
        job = jobs.resume(workspace, args.job_id)
        print(json.dumps({"job": job.id, "state": job.state}))
        return 0
    raise ValueError(f"Unknown jobs command {args.jobs_command!r}.")


def _add_attack_commands(commands) -> None:
    """Add the ``attack`` and ``robustness`` commands."""
    from core.attack_recipe import DEFAULT_RECIPE, RECIPES

    attack = commands.add_parser("attack", help="Attack rows of a finished run and store the results in its folder.")
    attack.add_argument("--run", required=True, help="Run folder written by `train`.")
    selection = attack.add_mutually_exclusive_group()
    selection.add_argument("--split", default="test", help="Split whose rows to attack (default: test).")
    selection.add_argument("--rows", help="Comma-separated row positions of the run's predictions table, such as 1,2,3.")
    attack.add_argument(
        "--recipe", default=DEFAULT_RECIPE, choices=tuple(RECIPES), help=f"Attack preset (default: {DEFAULT_RECIPE})."
    )
    attack.add_argument("--limit", type=int, help="Attack only the first N selected rows.")
    attack.add_argument("--mlm-model", help="Masked language model folder, needed by the mlm recipe.")
    attack.add_argument("--max-queries", type=int, help="Model queries allowed per row (default: the recipe's).")
    attack.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="Device (default: auto).")
    attack.add_argument(
        "--background",
        action="store_true",
        help="Run as a background job in its own process and return at once; watch it with `jobs show ID`.",
    )

    robustness = commands.add_parser("robustness", help="Compare runs: clean test metrics and stored attack results.")
    robustness.add_argument("runs", nargs="+", metavar="RUN", help="Run folders written by `train`.")
    robustness.add_argument("--split", default="test", help="Split of the clean metrics (default: test).")


def _parse_rows(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"--rows must be comma-separated whole numbers such as 1,2,3; got {text!r}.") from exc


def _attack(args: argparse.Namespace) -> int:
    from core.attack_jobs import resolve_rows, run_attack, submit_attack
    from core.attack_recipe import check_mlm_folder, recipe_preset
    from core.models import resolve_device

    overrides = {}
    if args.mlm_model:
        overrides["mlm_model"] = args.mlm_model
    if args.max_queries is not None:
        overrides["max_queries"] = args.max_queries
    recipe = recipe_preset(args.recipe, **overrides)
    check_mlm_folder(recipe)
    selection = _parse_rows(args.rows) if args.rows is not None else args.split
    if args.background:
        job = submit_attack(
            resolve_workspace(args.workspace), args.run, selection, recipe, args.device, limit=args.limit
        )
        print(json.dumps({"job": job.id, "state": job.state, "attack": job.config["attack_id"]}))
        return 0
    positions, split = resolve_rows(args.run, selection, limit=args.limit)
    bar = _TqdmProgress()
    try:
        metadata = run_attack(
            Path(args.run), positions, recipe, split=split, device=resolve_device(args.device), progress=bar
        )
    finally:
        bar.close()
    print(json.dumps({"attack": metadata["id"], "recipe": recipe.name, **metadata["summary"]}))
    return 0


def _robustness(args: argparse.Namespace) -> int:
    from core.robustness import robustness_report

    table = robustness_report(args.runs, split=args.split)
    # One column per run and one line per metric, so many recipes stay readable.
    lines = table.set_index("run").T.astype(object)
    for metric in lines.index:
        digits = 4
        if metric.endswith("rows"):
            digits = 0
        elif metric.endswith("queries_to_flip"):
            digits = 1
        lines.loc[metric] = [_format_number(value, digits) for value in lines.loc[metric]]
    print(lines.to_string())
    return 0


def _report(args: argparse.Namespace) -> int:
    from functools import partial

    from core.report import write_report
    # The report's wording lives in the dashboard's translation table, which has no Streamlit dependency.
    from ui.i18n import t

    output = Path(args.output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--output must name an .html file; got {args.output!r}.")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"The folder of --output, {output.parent}, does not exist. Create it first.")
    path = write_report(args.run, output, translate=partial(t, language=args.language), language=args.language,
                        top_samples=args.top_samples)
    print(path)
    return 0


def _format_number(value, digits: int) -> str:
    if value is None or value != value:  # missing or NaN
        return "-"
    return f"{float(value):.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        import transformers

        transformers.logging.set_verbosity_error()
    from core.triage_cli import run_triage

    handlers = {
        "train": _train, "score": _score, "jobs": _jobs, "attack": _attack, "robustness": _robustness,
        "report": _report, "triage": run_triage,
    }
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted; no run was written.", file=sys.stderr)
        return EXIT_CANCELLED
    except (
        JobError,
        data_module.DataLoadError,
        ModelLoadError,
        resources.ResourceNotInstalledError,
        runs.RunNotFoundError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR

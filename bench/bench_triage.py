"""Benchmark label-error detection with cross-validated probabilities, and retraining after corrections.

MR (default): the MR sentence-polarity data is split as ``python -m core train --data
rt-polarity.pos rt-polarity.neg`` splits it. A seeded random share (``--noise``,
default 10%) of the train rows gets the other label. F-fold cross-validation
(:func:`core.crossval.cross_validate`) on the noisy train rows gives out-of-sample
probabilities, and each score ranks the rows: self-confidence (the baseline),
normalised margin, and confident learning (rows it marks first, each group ordered
by normalised margin). With k = the number of flipped rows, the table gives
precision and recall at k. Then two runs train on the train rows with the unchanged
validation and test splits: one on the noisy labels, one after the top k rows by
confident learning took their suggested label. Their test accuracy is compared.

Demo (``--data demo``): cross-validation on the demo tweet corpus, then the share of
the rows confident learning marks whose annotator confidence is below 0.7, against
that share over all cross-validated rows.

Usage::

    .venv/bin/python bench/bench_triage.py [--folds 5] [--epochs 2] [--max-rows N] [--output docs/benchmarks.md]
    .venv/bin/python bench/bench_triage.py --data demo [--max-rows 4000] [--output docs/benchmarks.md]

``--max-rows N`` keeps a stratified sample of N train rows (MR) or N rows (demo), and for
MR also caps validation and test at N // 4 rows each: ``--max-rows 400 --folds 2
--epochs 1`` checks the script in a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from bench.machine import machine_line  # noqa: E402
from bench.sections import write_part  # noqa: E402
from core import data as data_module  # noqa: E402
from core.crossval import cross_validate  # noqa: E402
from core.label_quality import ISSUE_METHODS, find_label_issues, label_quality  # noqa: E402
from core.training import TrainConfig, fine_tune, prepare_training_data  # noqa: E402

PART_NAMES = ("mr", "demo")
MR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "rt-polarity"
LOW_CONFIDENCE = 0.7
DEFAULT_DEMO_ROWS = 4000


def _print_progress(event) -> None:
    if event.phase in ("prepare", "evaluate") and event.message:
        print(f"  {event.message}", file=sys.stderr, flush=True)


def _config(args) -> TrainConfig:
    # NLL picks epochs whose probabilities are calibrated enough for confident learning.
    return TrainConfig(model=args.model, epochs=args.epochs, seed=args.seed, selection_metric="nll",
                       device=args.device)


def _mr_splits(args) -> pd.DataFrame:
    """Return the prepared MR rows with their train / validation / test split, subsampled when asked."""
    if not MR_DIR.is_dir():
        raise SystemExit(f"MR data folder {MR_DIR} not found; check out shared/ beside the repository.")
    table = data_module.read_line_files([MR_DIR / "rt-polarity.pos", MR_DIR / "rt-polarity.neg"])
    dataset = data_module.apply_mapping(table, data_module.ColumnMapping(text="text", label="label"))
    prepared = prepare_training_data(dataset, TrainConfig(seed=args.seed))
    if args.max_rows is None:
        return prepared
    parts = []
    for split, limit in (("train", args.max_rows), ("validation", args.max_rows // 4), ("test", args.max_rows // 4)):
        rows = prepared[prepared[data_module.SPLIT_COLUMN] == split]
        parts.append(data_module.stratified_subsample(rows, max(limit, 10), seed=args.seed))
    return pd.concat(parts, ignore_index=True)


def _inject_noise(train: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Give a seeded random ``share`` of the rows another label; return the rows and the flipped mask."""
    rng = np.random.default_rng(seed)
    classes = data_module.label_names(train[data_module.LABEL_COLUMN])
    flipped = np.zeros(len(train), dtype=bool)
    flipped[rng.choice(len(train), size=int(round(share * len(train))), replace=False)] = True
    noisy = train.copy()
    labels = noisy[data_module.LABEL_COLUMN].to_numpy(dtype=object).copy()
    for index in np.flatnonzero(flipped):
        others = [name for name in classes if name != labels[index]]
        labels[index] = others[int(rng.integers(len(others)))]
    noisy[data_module.LABEL_COLUMN] = labels
    return noisy, flipped


def _precision_recall_at(ranking: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float]:
    hits = int(truth[ranking[:k]].sum())
    return hits / k, hits / int(truth.sum())


def _test_accuracy(rows: pd.DataFrame, config: TrainConfig, folder: Path) -> float:
    result = fine_tune(rows, config, output_dir=folder, progress=_print_progress, preassigned_splits=True)
    return result.metrics["splits"]["test"]["accuracy"]


def run_mr(args) -> str:
    started = time.perf_counter()
    config = _config(args)
    prepared = _mr_splits(args)
    is_train = (prepared[data_module.SPLIT_COLUMN] == "train").to_numpy()
    noisy_train, flipped = _inject_noise(prepared[is_train].reset_index(drop=True), args.noise, args.seed)
    k = int(flipped.sum())
    print(f"MR: {len(noisy_train)} train rows, {k} labels flipped; {args.folds}-fold cross-validation",
          file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-triage-") as scratch:
        scratch = Path(scratch)
        crossval_rows = noisy_train.drop(columns=[data_module.SPLIT_COLUMN])
        crossval_started = time.perf_counter()
        source = cross_validate(crossval_rows, replace(config, drop_duplicates=False), output_dir=scratch / "cv",
                                folds=args.folds, score_unlabelled=False, progress=_print_progress)
        crossval_seconds = time.perf_counter() - crossval_started

        table = source.table.set_index(data_module.ROW_COLUMN).loc[noisy_train[data_module.ROW_COLUMN]]
        label_index = {name: index for index, name in enumerate(source.class_names)}
        label_ids = table[data_module.LABEL_COLUMN].map(label_index).to_numpy(np.int64)
        probs = table[[f"prob:{name}" for name in source.class_names]].to_numpy(np.float64, copy=True)
        probs /= probs.sum(axis=1, keepdims=True)
        quality = label_quality(label_ids, probs)
        by_margin = np.argsort(quality.normalised_margin, kind="stable")
        cl_ranking = np.concatenate([by_margin[quality.issues[by_margin]], by_margin[~quality.issues[by_margin]]])
        rankings = {
            "self-confidence (baseline)": np.argsort(quality.self_confidence, kind="stable"),
            "normalised margin": by_margin,
            f"confident learning ({quality.method})": cl_ranking,
        }
        score_rows = []
        for name, ranking in rankings.items():
            precision, recall = _precision_recall_at(ranking, flipped, k)
            score_rows.append((name, precision, recall))
        set_rows = []
        for method in ISSUE_METHODS:
            marked = find_label_issues(label_ids, probs, method=method)
            hits = int((marked & flipped).sum())
            set_rows.append((method, int(marked.sum()), hits / max(int(marked.sum()), 1), hits / k))

        corrected_train = noisy_train.copy()
        top = cl_ranking[:k]
        labels = corrected_train[data_module.LABEL_COLUMN].to_numpy(dtype=object).copy()
        labels[top] = np.asarray(source.class_names, dtype=object)[quality.suggested[top]]
        corrected_train[data_module.LABEL_COLUMN] = labels
        still_wrong = int((labels != prepared[is_train][data_module.LABEL_COLUMN].to_numpy()).sum())
        held = prepared[~is_train]
        print("Training on the noisy labels", file=sys.stderr, flush=True)
        noisy_accuracy = _test_accuracy(pd.concat([noisy_train, held], ignore_index=True), config, scratch / "noisy")
        print("Training after correcting the top k", file=sys.stderr, flush=True)
        corrected_accuracy = _test_accuracy(pd.concat([corrected_train, held], ignore_index=True), config,
                                            scratch / "corrected")

    counts = prepared[data_module.SPLIT_COLUMN].value_counts()
    lines = [
        "## Label-error detection on MR with injected noise",
        "",
        f"{len(noisy_train):,} MR train rows, {k} ({args.noise:.0%}) given the other label at random (seed {args.seed}); "
        f"{args.folds}-fold cross-validation of {config.model}, {config.epochs} epoch(s) per fold, best epoch by "
        f"validation NLL ({crossval_seconds / 60:.1f} min). Precision and recall at k = {k}, the number of "
        f"flipped rows. Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine_line()}, "
        f"{torch.get_num_threads()} torch threads.",
        "",
        "| score (lowest first) | precision at k | recall at k |",
        "|---|---|---|",
        *[f"| {name} | {precision:.3f} | {recall:.3f} |" for name, precision, recall in score_rows],
        "",
        f"Rows each confident-learning method marks, estimated noise rate {quality.estimated_noise_rate:.1%}:",
        "",
        "| method | rows marked | precision | recall |",
        "|---|---|---|---|",
        *[f"| {method} | {marked:,} | {precision:.3f} | {recall:.3f} |" for method, marked, precision, recall in set_rows],
        "",
        f"Retraining on the same train rows ({int(counts.get('validation', 0)):,} validation and "
        f"{int(counts.get('test', 0)):,} test rows, both without injected noise), after the top {k} rows by "
        f"confident learning took their suggested label ({still_wrong} train labels still differ from the original):",
        "",
        "| train labels | test accuracy |",
        "|---|---|",
        f"| with {args.noise:.0%} injected noise | {noisy_accuracy:.2%} |",
        f"| top {k} corrected | {corrected_accuracy:.2%} |",
        "",
        f"Total {(time.perf_counter() - started) / 60:.1f} min. Rerun: `.venv/bin/python bench/bench_triage.py "
        f"--folds {args.folds} --epochs {args.epochs}"
        + (f" --max-rows {args.max_rows}" if args.max_rows else "") + " --output docs/benchmarks.md`.",
    ]
    return "\n".join(lines)


def run_demo(args) -> str:
    started = time.perf_counter()
    max_rows = args.max_rows or DEFAULT_DEMO_ROWS
    config = replace(_config(args), max_rows=max_rows)
    table, mapping = data_module.load_demo_corpus()
    dataset = data_module.apply_mapping(table, mapping)
    print(f"Demo corpus: {args.folds}-fold cross-validation of {max_rows} rows", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as scratch:
        source = cross_validate(dataset, config, output_dir=Path(scratch) / "cv", folds=args.folds,
                                score_unlabelled=False, progress=_print_progress)

    labelled = source.table[source.table[data_module.LABEL_COLUMN].notna()]
    label_index = {name: index for index, name in enumerate(source.class_names)}
    label_ids = labelled[data_module.LABEL_COLUMN].map(label_index).to_numpy(np.int64)
    probs = labelled[[f"prob:{name}" for name in source.class_names]].to_numpy(np.float64, copy=True)
    probs /= probs.sum(axis=1, keepdims=True)
    quality = label_quality(label_ids, probs)

    confidence = labelled[data_module.CONFIDENCE_COLUMN].to_numpy(np.float64)
    known = ~np.isnan(confidence)
    low = confidence < LOW_CONFIDENCE
    base_rate = low[known].mean()
    lowest_margins = np.zeros(len(labelled), dtype=bool)
    lowest_margins[np.argsort(quality.normalised_margin, kind="stable")[: int(quality.issues.sum())]] = True
    rows = []
    for name, marked in (
        (f"confident learning ({quality.method})", quality.issues),
        ("same number of lowest normalised margins", lowest_margins),
    ):
        with_confidence = marked & known
        share = low[with_confidence].mean() if with_confidence.any() else float("nan")
        rows.append((name, int(marked.sum()), int(with_confidence.sum()), share))

    lines = [
        "## Flagged rows and annotator disagreement on the demo corpus",
        "",
        f"{len(labelled):,} rows of the demo tweet corpus (stratified sample, seed {args.seed}), {args.folds}-fold "
        f"cross-validation of {config.model}, {config.epochs} epoch(s) per fold, best epoch by validation NLL; "
        f"out-of-sample accuracy {source.info['accuracy']:.2%}. Share of rows whose annotator confidence is below "
        f"{LOW_CONFIDENCE}: {base_rate:.1%} of the {int(known.sum()):,} rows that have one (base rate). Measured "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine_line()}, {torch.get_num_threads()} torch threads.",
        "",
        f"| rows | marked | with annotator confidence | share below {LOW_CONFIDENCE} | ratio to base rate |",
        "|---|---|---|---|---|",
        *[f"| {name} | {marked:,} | {with_confidence:,} | {share:.1%} | {share / base_rate:.2f} |"
          for name, marked, with_confidence, share in rows],
        "",
        f"Total {(time.perf_counter() - started) / 60:.1f} min. Rerun: `.venv/bin/python bench/bench_triage.py "
        f"--data demo --max-rows {max_rows} --folds {args.folds} --epochs {args.epochs} --output docs/benchmarks.md`.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="mr", choices=("mr", "demo"), help="Benchmark to run (default: mr).")
    parser.add_argument("--folds", type=int, default=5, help="Cross-validation folds F (default: 5).")
    parser.add_argument("--epochs", type=int, default=2, help="Training epochs per fold and per run (default: 2).")
    parser.add_argument("--max-rows", type=int,
                        help=f"Rows to use: MR train rows (validation and test capped at a quarter each), or demo rows "
                        f"(default for demo: {DEFAULT_DEMO_ROWS}).")
    parser.add_argument("--noise", type=float, default=0.1, help="Share of MR train labels flipped (default: 0.1).")
    parser.add_argument("--seed", type=int, default=0, help="Seed for splits, noise, folds and training (default: 0).")
    parser.add_argument("--model", default="builtin", help="Model folder (default: the built-in all-MiniLM-L6-v2).")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu (default: auto).")
    parser.add_argument("--output", type=Path, help="Markdown page to update with the results, such as docs/benchmarks.md.")
    args = parser.parse_args()
    if args.folds < 2:
        parser.error(f"--folds must be at least 2; got {args.folds}.")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1; got {args.epochs}.")
    if args.max_rows is not None and args.max_rows < 40:
        parser.error(f"--max-rows must be at least 40; got {args.max_rows}.")
    if not 0 < args.noise < 0.5:
        parser.error(f"--noise must be in (0, 0.5); got {args.noise}.")
    text = run_demo(args) if args.data == "demo" else run_mr(args)
    print(text)
    if args.output:
        write_part(args.output, "bench_triage", PART_NAMES, args.data, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the batched stochastic passes, and (with --quality) compare the methods' quality.

Speed (default): on the MR test sentences, the wall time of one deterministic pass
(``core.scoring.predict_logits_encoded``) against T passes of full MC dropout, of
head-only MC dropout and of embedding noise, each batched as ``core`` does it. The
target for the full MC dropout is T passes in at most 1.1 x T x the single pass.
Texts are tokenized once, outside the timed region; every method gets one untimed
warm-up call on 32 texts first.

Quality (--quality, needs --run trained on MR): per method, test accuracy, NLL, ECE
before and after temperature scaling (fitted on the same method's validation
results) and the AUROC of predictive entropy for detecting misclassified sentences.

Usage::

    .venv/bin/python bench/bench_uncertainty.py [--run RUN] [--passes 10] [--output docs/benchmarks.md]
    .venv/bin/python bench/bench_uncertainty.py --run RUN --quality [--output docs/benchmarks.md]

``--limit N`` keeps the first N rows of each split, for a quick check of the script.
Without --run the built-in model gets a fresh, seeded 2-class head (speed only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.machine import machine_line  # noqa: E402
from bench.sections import write_part  # noqa: E402
from core import data as data_module  # noqa: E402
from core import runs  # noqa: E402
from core.batching import encode_texts  # noqa: E402
from core.comparison import ECE_FLOOR_DRAWS, EvaluationSettings, evaluate_method, result_table  # noqa: E402
from core.mc import mc_dropout_head_probs, mc_dropout_probs  # noqa: E402
from core.methods import METHODS, MethodSpec, RunModel, sampled_probs, split_positions  # noqa: E402
from core.models import load_classifier, model_max_length, resolve_device  # noqa: E402
from core.passes import DEFAULT_ROWS_PER_FORWARD  # noqa: E402
from core.perturbation import embedding_noise_probs  # noqa: E402
from core.scoring import predict_logits_encoded  # noqa: E402
from core.training import TrainConfig, prepare_training_data  # noqa: E402
from core.uncertainty import sampled_uncertainty_frame  # noqa: E402

# The speed and quality results are parts of one section; each run replaces only its own part.
PART_NAMES = ("speed", "quality", "disagreement")
MR_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "rt-polarity"
WARM_UP_TEXTS = 32
DEFAULT_ROUNDS = 3
QUALITY_METHODS = tuple(method for method in METHODS if method != "ensemble")


def _machine(device: torch.device) -> str:
    described = f"{machine_line()}, {torch.get_num_threads()} torch threads"
    if device.type == "cuda":
        described += f", GPU {torch.cuda.get_device_name(device)}"
    return f"{described}; torch {torch.__version__}"


def _mr_test_texts(limit: int | None) -> list[str]:
    if not MR_DIR.is_dir():
        raise SystemExit(f"MR data folder {MR_DIR} not found; check out shared/ beside the repository.")
    table = data_module.read_line_files([MR_DIR / "rt-polarity.pos", MR_DIR / "rt-polarity.neg"])
    dataset = data_module.apply_mapping(table, data_module.ColumnMapping(text="text", label="label"))
    prepared = prepare_training_data(dataset, TrainConfig())
    texts = prepared.loc[prepared[data_module.SPLIT_COLUMN] == "test", data_module.TEXT_COLUMN].tolist()
    return texts[:limit] if limit else texts


def _load_model(run: Path | None, device: torch.device):
    if run is None:
        torch.manual_seed(0)  # the fresh head's initial weights
        model, tokenizer = load_classifier(None, label_names=["neg", "pos"])
        max_length = min(128, model_max_length(tokenizer, model))
    else:
        model, tokenizer = load_classifier(runs.model_dir(run))
        max_length = int(runs.read_json(run, "metrics.json").get("max_length") or 128)
    return model.to(device), tokenizer, max_length


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def run_speed(args, device: torch.device) -> str:
    texts = _mr_test_texts(args.limit)
    model, tokenizer, max_length = _load_model(args.run, device)
    encoded = encode_texts(tokenizer, texts, max_length=max_length)
    warm_up = encode_texts(tokenizer, texts[:WARM_UP_TEXTS], max_length=max_length)
    passes, batch_size = args.passes, args.batch_size
    common = dict(passes=passes, batch_size=batch_size, device=device)
    methods = {
        "single deterministic pass": lambda data: predict_logits_encoded(model, data, batch_size=batch_size, device=device),
        f"MC dropout, full, T={passes}": lambda data: mc_dropout_probs(
            model, data, rows_per_forward=args.rows_per_forward, **common),
        f"MC dropout, head only, T={passes}": lambda data: mc_dropout_head_probs(model, data, **common),
        f"embedding noise, T={passes}": lambda data: embedding_noise_probs(
            model, data, rows_per_forward=args.rows_per_forward, **common),
    }
    for compute in methods.values():
        compute(warm_up)
    # Every computation runs once per round and keeps its fastest run, so a slow moment of the
    # shared machine inflates no ratio more than another.
    runs_seconds: dict[str, list[float]] = {name: [] for name in methods}
    for round_index in range(args.rounds):
        for name, compute in methods.items():
            runs_seconds[name].append(_timed(lambda: compute(encoded)))
            print(f"round {round_index + 1}, {name}: {runs_seconds[name][-1]:.2f} s", flush=True)
    seconds = {name: min(values) for name, values in runs_seconds.items()}

    single = seconds["single deterministic pass"]
    lines = [
        "## Stochastic passes against one deterministic pass",
        "",
        f"{len(texts):,} MR test sentences ({'first ' + str(args.limit) + ' only, ' if args.limit else ''}"
        f"split by `prepare_training_data(dataset, TrainConfig())`), "
        f"{'run ' + args.run.name if args.run else 'built-in model with a fresh 2-class head'}, "
        f"max_length {max_length}, batch size {batch_size}, {args.rows_per_forward} rows per forward call, "
        f"device {device}. Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {_machine(device)} "
        "(a shared machine: expect some noise).",
        "",
        "| computation | seconds | sentences/s | time / (T x single pass) |",
        "|---|---|---|---|",
    ]
    for name, value in seconds.items():
        if name.startswith("single"):
            ratio = "—"
        else:
            ratio = f"{value / (passes * single):.2f}"
        if name.startswith("MC dropout, full"):
            ratio += " (target <= 1.10)"
        lines.append(f"| {name} | {value:.2f} | {len(texts) / value:.1f} | {ratio} |")
    lines += [
        "",
        "Texts are tokenized once, outside the timed region. Each computation is the fastest of "
        f"{args.rounds} rounds, each round running every computation once. Full MC dropout and embedding noise stack "
        f"{args.rows_per_forward} // B passes of each length-grouped batch of B texts into one forward call; "
        "head-only MC dropout runs the encoder once per batch and samples only the classifier's dropout.",
        "",
        "NOTE: embedding noise stacks the passes in the same way but draws one noise tensor per forward call, "
        "where full MC dropout draws a mask at each of the model's dropout layers (13 for all-MiniLM-L6-v2). "
        "The gap between their ratios is the cost of those masks: on the CPU, torch 2.13 generates the random "
        "numbers on one thread (`torch.rand_like` took the same time with 1 and 2 torch threads in our check).",
        f"Rerun: `.venv/bin/python bench/bench_uncertainty.py{' --run ' + str(args.run) if args.run else ''} "
        "--output docs/benchmarks.md`.",
    ]
    return "\n".join(lines)


def run_quality(args, device: torch.device) -> str:
    if args.run is None:
        raise SystemExit("--quality needs --run: a run folder fine-tuned on MR.")
    summary = runs.read_summary(args.run)
    predictions = runs.load_predictions(args.run)
    run_model = RunModel(args.run, device)
    settings = EvaluationSettings(bins=15)
    rows = []
    for method in QUALITY_METHODS:
        spec = MethodSpec(method, passes=args.passes, batch_size=args.batch_size,
                          rows_per_forward=args.rows_per_forward).normalised()
        tables = {}
        seconds = 0.0
        for split in ("test", "validation"):
            positions = split_positions(args.run, split)[: args.limit] if args.limit else split_positions(args.run, split)
            started = time.perf_counter()
            mc_probs, _ = sampled_probs(args.run, positions, spec, device=device, run_model=run_model)
            seconds += time.perf_counter() - started
            frame = sampled_uncertainty_frame(mc_probs, summary.labels)
            frame.insert(0, "position", positions)
            tables[split] = result_table(predictions, frame)
        evaluation = evaluate_method(tables["test"], tables["validation"], summary.labels, settings,
                                     passes=spec.passes)
        scores = evaluation.scores.set_index("score")
        entropy_auroc = scores.loc["entropy", "auroc"]
        best_score = scores["auroc"].idxmax()
        disagreement = scores["disagreement_auroc"] if "disagreement_auroc" in scores else None
        extras = {
            "best_score": best_score,
            "best_auroc": scores.loc[best_score, "auroc"],
            "disagreement_entropy": None if disagreement is None else disagreement.get("entropy"),
            "disagreement_best": None if disagreement is None else disagreement.max(),
        }
        result = evaluation.summary
        rows.append((method, spec, result, entropy_auroc, seconds, extras))
        print(f"{method}: accuracy {result['accuracy']:.4f}, NLL {result['nll']:.4f}, ECE {result['ece']:.4f} -> "
              f"{result['ece_scaled']:.4f}, AUROC {entropy_auroc:.4f} (best {extras['best_auroc']:.4f} by "
              f"{best_score}), disagreement AUROC {extras['disagreement_entropy']}, {seconds:.1f} s", flush=True)
    has_disagreement = any(
        extras["disagreement_entropy"] is not None and extras["disagreement_entropy"] == extras["disagreement_entropy"]
        for *_, extras in rows
    )
    lines = [
        f"## Quality of the uncertainty methods on {summary.data or summary.id}",
        "",
        f"Run {summary.id}: test split ({rows[0][2]['rows']:,} rows{', first ' + str(args.limit) if args.limit else ''}); "
        "temperature fitted on the same method's validation results. ECE with 15 equal-width bins. "
        "'ECE of a calibrated model' is the mean ECE of the scaled probabilities against labels drawn from "
        f"those probabilities ({ECE_FLOOR_DRAWS} draws): what a perfectly calibrated model would measure "
        "on this many rows, so an ECE near it is within sampling noise. AUROC of "
        f"predictive entropy for detecting misclassified sentences. Device {device}, measured "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {_machine(device)}.",
        "",
        "| method | settings | test accuracy | NLL | ECE | ECE after temperature scaling | "
        "ECE of a calibrated model, same rows | temperature | "
        "AUROC (errors), entropy | best AUROC (errors), score | "
        + ("disagreement AUROC, entropy (confidence < 0.8) | " if has_disagreement else "")
        + "seconds (test + validation) |",
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if has_disagreement else "") + "---|",
    ]
    for method, spec, result, auroc, seconds, extras in rows:
        settings_text = f"T={spec.passes}" + (f", scale {spec.scale:g}" if spec.scale is not None else "")
        disagreement_cell = f"{extras['disagreement_entropy']:.4f} | " if has_disagreement else ""
        lines.append(
            f"| {method} | {settings_text} | {result['accuracy']:.2%} | {result['nll']:.4f} | {result['ece']:.4f} | "
            f"{result['ece_scaled']:.4f} | {result['ece_scaled_floor']:.4f} | {result['temperature']:.3f} | {auroc:.4f} | "
            f"{extras['best_auroc']:.4f} ({extras['best_score']}) | {disagreement_cell}{seconds:.1f} |"
        )
    lines += ["", f"Rerun: `.venv/bin/python bench/bench_uncertainty.py --run {args.run} --quality "
                  "--output docs/benchmarks.md`."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="Run folder to load the model from (default: built-in model, new head).")
    parser.add_argument("--passes", type=int, default=10, help="T, stochastic passes per method (default: 10).")
    parser.add_argument("--batch-size", type=int, default=64, help="Texts per batch (default: 64).")
    parser.add_argument("--rows-per-forward", type=int, default=DEFAULT_ROWS_PER_FORWARD,
                        help=f"Maximum rows (passes x texts) per stacked forward call (default: {DEFAULT_ROWS_PER_FORWARD}).")
    parser.add_argument("--limit", type=int, help="Keep only the first N rows of each split (a quick check).")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"Speed: rounds of every computation, the fastest run of each kept (default: {DEFAULT_ROUNDS}).")
    parser.add_argument("--quality", action="store_true", help="Compare the methods' quality instead of speed.")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu (default: auto).")
    parser.add_argument("--output", type=Path, help="Markdown page to update with the results, such as docs/benchmarks.md.")
    args = parser.parse_args()
    if args.passes < 1:
        parser.error(f"--passes must be at least 1; got {args.passes}.")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; got {args.rounds}.")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1; got {args.limit}.")
    if args.run is not None:
        runs.read_summary(args.run)
    device = resolve_device(args.device)
    part = "speed"
    if args.quality:
        has_confidence = runs.load_predictions(args.run)[data_module.CONFIDENCE_COLUMN].notna().any() if args.run else False
        part = "disagreement" if has_confidence else "quality"
    text = run_quality(args, device) if args.quality else run_speed(args, device)
    print(text)
    if args.output:
        write_part(args.output, "bench_uncertainty", PART_NAMES, part, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

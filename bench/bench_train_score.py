"""Benchmark fine-tuning and scoring of ``core`` against the transformers ``Trainer`` and ``pipeline``.

Sections, all on the built-in model (all-MiniLM-L6-v2), batch size 32, max_length 128, CPU:

- throughput (default): one epoch of ``core.training.fine_tune`` and one epoch of
  ``transformers.Trainer`` on the identical MR train split, back to back in one process,
  then test accuracy of each. Then scoring of the MR test split with
  ``core.scoring.predict_logits`` and with ``transformers.pipeline("text-classification")``
  on the model fine-tuned by ``core``, with the agreement of their predicted classes.
- ``--quality``: the default recipe (``TrainConfig()``: 3 epochs, lr 1e-4) on the full
  seeded 80/10/10 MR split, with validation accuracy per epoch and test accuracy.

Training throughput counts optimizer steps only: it excludes model loading, tokenization
and every evaluation, for both tools. Results are printed and written into sections of a
Markdown page (``--output``); rerunning one section replaces only that section.

On a shared machine, ``--repeats 2`` alternates the tools and keeps each one's fastest
run, and ``--wait-idle SECONDS`` waits for other processes to go quiet before each timed
run. Run from the repository root::

    .venv/bin/python bench/bench_train_score.py --repeats 2 --wait-idle 600 --output docs/benchmarks.md
    .venv/bin/python bench/bench_train_score.py --no-throughput --quality --output docs/benchmarks.md
"""

from __future__ import annotations

import os

# No network on benchmark machines: every model and tokenizer loads from a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import logging
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import transformers

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.cpu_contention import CpuSample, cpu_sample, other_cpu_share, wait_for_idle  # noqa: E402
from bench.machine import cpu_model  # noqa: E402

from core import data as data_module  # noqa: E402
from core import resources  # noqa: E402
from core.batching import encode_texts, length_grouped_batches, sorted_batches  # noqa: E402
from core.models import load_classifier  # noqa: E402
from core.progress import Progress  # noqa: E402
from core.scoring import predict_logits  # noqa: E402
from core.training import TrainConfig, fine_tune, prepare_training_data  # noqa: E402

logger = logging.getLogger("bench_train_score")

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "rt-polarity"
BATCH_SIZE = 32
MAX_LENGTH = 128
TRAINING_TARGET_RATIO = 1.5
SCORING_TARGET_RATIO = 3.0
QUALITY_TARGET_ACCURACY = 0.84
SECTION_NAMES = ("throughput", "quality")

PAGE_INTRO = """# Benchmarks

Measured with `bench/bench_train_score.py` on the MR sentence polarity data
(Pang and Lee 2005: 5,331 positive and 5,331 negative Rotten Tomatoes snippets, read from the
original Windows-1252 files with `core.data.read_line_files`). Rows are split 80/10/10 into
train, validation and test, stratified and seeded, by `core.training.prepare_training_data`,
so every tool sees the same rows. The model is the built-in all-MiniLM-L6-v2 checkpoint
with a new 2-class head; batch size 32 and max_length 128 everywhere.

- **Training throughput**: one epoch of `core.training.fine_tune` against one epoch of the
  transformers `Trainer` with a user's defaults (`DataCollatorWithPadding`, same learning
  rate, warm-up ratio, weight decay and seed, `report_to="none"`, `save_strategy="no"`,
  no evaluation during training). Samples/s counts the optimizer steps only: model loading,
  tokenization and evaluation are excluded for both tools.
- **Scoring throughput**: `core.scoring.predict_logits` (batch size 32) against
  `transformers.pipeline("text-classification", top_k=None)` called as
  `pipe(texts, truncation=True, max_length=128)` with its default batch size, on the test
  split, with the model fine-tuned by `core` above. Both timings include tokenization and the
  forward passes, and each tool gets one untimed warm-up call on 32 texts first.
- **Quality**: the default recipe (`TrainConfig()`: 3 epochs, learning rate 1e-4, the
  validation-best epoch kept) on the same split.

Timings come from a shared 2-core machine where other people's processes (test suites,
other benchmarks) run at the same time, so they vary between runs. The two tools of each
comparison run back to back in one process, alternating when `--repeats` is above 1, and
each tool's fastest run is kept. The "CPU used by other processes" column is the share of the
machine's CPU time, read from `/proc/stat`, that processes other than the benchmark used
during that measurement. Anything well above 0% means the measurement was slowed down,
and a ratio measured while only one of the two tools was slowed is not reliable.

Rerun from the repository root:

```
.venv/bin/python bench/bench_train_score.py --repeats 2 --wait-idle 600 --output docs/benchmarks.md
.venv/bin/python bench/bench_train_score.py --no-throughput --quality --output docs/benchmarks.md
```

`--rows N` keeps N MR rows (stratified, seeded) before the split, for a quicker run;
`--skip-trainer` leaves out the Trainer run. To see where the time goes,
`.venv/bin/python bench/profile_steps.py` times the forward pass, backward pass, gradient
clipping and optimizer step on each tool's batches, and scoring at batch size 32 and 1.
"""


# --------------------------------------------------------------------------- results


@dataclass
class ToolResult:
    """One measured row of a results table."""

    tool: str
    rows: int
    seconds: float
    accuracy: float | None = None
    other_cpu: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")

    @property
    def other_cpu_text(self) -> str:
        return "unknown" if self.other_cpu is None else f"{100 * self.other_cpu:.0f}%"


def fastest(results: list[ToolResult]) -> ToolResult:
    """Return the run with the shortest time, because other processes can only slow a run down."""
    best = min(results, key=lambda result: result.seconds)
    best.extra["all_runs"] = [(result.samples_per_second, result.other_cpu_text) for result in results]
    return best


@dataclass
class PaddingStats:
    """Padding of the batches one tool built: N texts in ``widths.size`` batches."""

    tool: str
    widths: np.ndarray
    real_tokens: int
    padded_tokens: int

    @property
    def pad_share(self) -> float:
        return 1.0 - self.real_tokens / self.padded_tokens if self.padded_tokens else 0.0


def padding_stats(tool: str, lengths: np.ndarray, batches: list[np.ndarray]) -> PaddingStats:
    """Return the padding of ``batches`` whose rows have token counts ``lengths`` (int array of shape (N,))."""
    widths = np.array([lengths[indices].max() for indices in batches], dtype=np.int64)
    sizes = np.array([len(indices) for indices in batches], dtype=np.int64)
    return PaddingStats(tool, widths, int(lengths.sum()), int((widths * sizes).sum()))


# --------------------------------------------------------------------------- data


def load_mr(data_dir: Path) -> pd.DataFrame:
    """Read the MR ``rt-polarity.pos`` / ``.neg`` files and map them to the standard columns."""
    table = data_module.read_line_files([data_dir / "rt-polarity.pos", data_dir / "rt-polarity.neg"])
    mapping = data_module.guess_mapping(table)
    dataset = data_module.apply_mapping(table, mapping)
    logger.info("Read %d rows from %s (encoding %s)", len(dataset), table.name, table.encoding)
    return dataset


def split_rows(prepared: pd.DataFrame, split: str) -> pd.DataFrame:
    return prepared[prepared[data_module.SPLIT_COLUMN] == split].reset_index(drop=True)


# --------------------------------------------------------------------------- training: core


def train_with_core(dataset: pd.DataFrame, config: TrainConfig, run_dir: Path, prepared: pd.DataFrame) -> ToolResult:
    """Fine-tune with ``core.training.fine_tune`` and time its optimizer steps.

    The step time is the ``elapsed_seconds`` of the last ``train`` progress event. It runs
    from the start of the first optimizer step to the end of the last one, so it excludes
    model loading, tokenization and the validation pass that ``fine_tune`` runs after each epoch.
    """
    train_events: list[Progress] = []
    samples: dict[str, CpuSample | None] = {}

    def record(event: Progress) -> None:
        if event.phase == "train":
            train_events.append(event)
        elif event.phase == "evaluate" and "end" not in samples:
            samples["end"] = cpu_sample()

    samples["start"] = cpu_sample()
    result = fine_tune(dataset, config, output_dir=run_dir, progress=record)
    metrics = result.metrics
    check_same_split(run_dir, prepared)
    train_rows = metrics["rows"]["train"]
    return ToolResult(
        tool="core fine_tune",
        rows=train_rows * config.epochs,
        seconds=train_events[-1].elapsed_seconds,
        accuracy=metrics["splits"]["test"]["accuracy"],
        # Covers model loading and tokenization too, a few seconds next to the training steps.
        other_cpu=other_cpu_share(samples["start"], samples.get("end")),
        extra={
            "validation_accuracy": metrics["splits"]["validation"]["accuracy"],
            "train_seconds_with_validation": metrics["train_seconds"],
        },
    )


def check_same_split(run_dir: Path, prepared: pd.DataFrame) -> None:
    """Raise ``RuntimeError`` when the run's split differs from the one the benchmark gives the Trainer."""
    predictions = pd.read_parquet(run_dir / "predictions.parquet", columns=["text", "split"])
    same = predictions["text"].tolist() == prepared[data_module.TEXT_COLUMN].tolist() and predictions[
        "split"
    ].tolist() == prepared[data_module.SPLIT_COLUMN].tolist()
    if not same:
        raise RuntimeError(
            f"The split stored in {run_dir} differs from prepare_training_data's split, so the tools would "
            "not see the same rows. Check that both use the same TrainConfig."
        )


def core_padding(prepared: pd.DataFrame, config: TrainConfig) -> PaddingStats:
    """Rebuild the batches ``fine_tune`` formed in epoch 1 and return their padding."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(resources.builtin_model_dir()))
    texts = split_rows(prepared, "train")[data_module.TEXT_COLUMN].tolist()
    lengths = encode_texts(tokenizer, texts, max_length=config.max_length).lengths
    # Same generator as fine_tune's epoch 1: default_rng([seed, epoch]).
    batches = length_grouped_batches(lengths, config.batch_size, rng=np.random.default_rng([config.seed, 1]))
    return padding_stats("core fine_tune", lengths, batches)


# --------------------------------------------------------------------------- training: Trainer


class RecordingCollator:
    """``DataCollatorWithPadding`` that also stores the padded width of each batch it builds."""

    def __init__(self, tokenizer):
        self.collator = transformers.DataCollatorWithPadding(tokenizer)
        self.widths: list[int] = []
        self.sizes: list[int] = []

    def __call__(self, features):
        batch = self.collator(features)
        self.sizes.append(int(batch["input_ids"].shape[0]))
        self.widths.append(int(batch["input_ids"].shape[1]))
        return batch


def tokenize_for_trainer(tokenizer, frame: pd.DataFrame, label_index: dict[str, int]) -> list[dict]:
    """Tokenize one split as a Trainer user would: truncation at max_length, padding left to the collator."""
    encoded = tokenizer(frame[data_module.TEXT_COLUMN].tolist(), truncation=True, max_length=MAX_LENGTH)
    labels = frame[data_module.LABEL_COLUMN].map(label_index).tolist()
    keys = list(encoded.keys())
    return [{**{key: encoded[key][row] for key in keys}, "labels": labels[row]} for row in range(len(frame))]


def accuracy_of(prediction: transformers.EvalPrediction) -> dict:
    predicted = np.asarray(prediction.predictions).argmax(axis=-1)
    return {"accuracy": float((predicted == np.asarray(prediction.label_ids)).mean())}


def train_with_trainer(prepared: pd.DataFrame, config: TrainConfig, output_dir: Path) -> tuple[ToolResult, PaddingStats]:
    """Fine-tune with ``transformers.Trainer`` on the same rows and time ``trainer.train()``."""
    class_names = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    label_index = {name: index for index, name in enumerate(class_names)}
    # Seed before loading, as fine_tune does, so the new classification head starts from the same weights.
    transformers.set_seed(config.seed)
    model, tokenizer = load_classifier(config.model, label_names=class_names)

    train_rows = tokenize_for_trainer(tokenizer, split_rows(prepared, "train"), label_index)
    validation_rows = tokenize_for_trainer(tokenizer, split_rows(prepared, "validation"), label_index)
    test_rows = tokenize_for_trainer(tokenizer, split_rows(prepared, "test"), label_index)

    arguments = transformers.TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
    )
    collator = RecordingCollator(tokenizer)
    trainer = transformers.Trainer(
        model=model,
        args=arguments,
        train_dataset=train_rows,
        eval_dataset=validation_rows,
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=accuracy_of,
    )
    logger.info("Trainer: optimizer %s, %d train rows", getattr(arguments.optim, "value", arguments.optim), len(train_rows))

    cpu_start = cpu_sample()
    started = time.perf_counter()
    train_output = trainer.train()
    seconds = time.perf_counter() - started
    cpu_end = cpu_sample()

    lengths = np.array([len(row["input_ids"]) for row in train_rows], dtype=np.int64)
    widths = np.array(collator.widths, dtype=np.int64)
    sizes = np.array(collator.sizes, dtype=np.int64)
    padding = PaddingStats("transformers Trainer", widths, int(lengths.sum()), int((widths * sizes).sum()))

    validation = trainer.evaluate()
    test = trainer.predict(test_rows)
    result = ToolResult(
        tool="transformers Trainer",
        rows=len(train_rows) * config.epochs,
        seconds=seconds,
        accuracy=test.metrics["test_accuracy"],
        other_cpu=other_cpu_share(cpu_start, cpu_end),
        extra={
            "validation_accuracy": validation["eval_accuracy"],
            "trainer_train_samples_per_second": train_output.metrics.get("train_samples_per_second"),
            "optimizer": getattr(arguments.optim, "value", str(arguments.optim)),
        },
    )
    return result, padding


# --------------------------------------------------------------------------- scoring


def timed(tool: str, rows: int, function, *args, **kwargs):
    """Call ``function`` and return its result with a :class:`ToolResult` of its wall time."""
    cpu_start = cpu_sample()
    started = time.perf_counter()
    output = function(*args, **kwargs)
    seconds = time.perf_counter() - started
    return output, ToolResult(tool, rows, seconds, other_cpu=other_cpu_share(cpu_start, cpu_sample()))


def pipeline_class_ids(outputs: list[list[dict]], model) -> np.ndarray:
    """Return the top class id of each pipeline output, an int64 array of shape (N,)."""
    label2id = {str(name): int(index) for name, index in model.config.label2id.items()}
    # With top_k=None each output lists every class, highest score first.
    return np.array([label2id[scores[0]["label"]] for scores in outputs], dtype=np.int64)


def run_scoring(
    run_dir: Path, prepared: pd.DataFrame, *, repeats: int, wait_seconds: float
) -> tuple[list[ToolResult], float, list[PaddingStats]]:
    """Score the test split with both tools on the model in ``run_dir/model``.

    Both tools get one untimed warm-up call on ``BATCH_SIZE`` texts, then run ``repeats``
    times in turn. The fastest run of each is kept.

    Returns:
        The core and pipeline results, the share of texts whose predicted classes agree,
        and the padding each tool's batches carried.
    """
    model, tokenizer = load_classifier(run_dir / "model")
    test = split_rows(prepared, "test")
    texts = test[data_module.TEXT_COLUMN].tolist()
    label_index = {name: index for index, name in enumerate(data_module.label_names(prepared[data_module.LABEL_COLUMN]))}
    label_ids = test[data_module.LABEL_COLUMN].map(label_index).to_numpy()
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None, device=-1)

    def score_core():
        return predict_logits(model, tokenizer, texts, max_length=MAX_LENGTH, batch_size=BATCH_SIZE)  # (N, K)

    def score_pipeline():
        return pipe(texts, truncation=True, max_length=MAX_LENGTH)

    predict_logits(model, tokenizer, texts[:BATCH_SIZE], max_length=MAX_LENGTH, batch_size=BATCH_SIZE)
    pipe(texts[:BATCH_SIZE], truncation=True, max_length=MAX_LENGTH)
    core_runs, pipeline_runs = [], []
    for _ in range(repeats):
        wait_for_idle(wait_seconds)
        logits, result = timed("core predict_logits", len(texts), score_core)
        core_runs.append(result)
        outputs, result = timed("transformers pipeline", len(texts), score_pipeline)
        pipeline_runs.append(result)
    core_result, pipeline_result = fastest(core_runs), fastest(pipeline_runs)

    core_predicted = logits.argmax(axis=1)
    pipeline_predicted = pipeline_class_ids(outputs, model)
    core_result.accuracy = float((core_predicted == label_ids).mean())
    pipeline_result.accuracy = float((pipeline_predicted == label_ids).mean())
    agreement = float((core_predicted == pipeline_predicted).mean())

    lengths = encode_texts(tokenizer, texts, max_length=MAX_LENGTH).lengths
    padding = [
        padding_stats("core predict_logits", lengths, sorted_batches(lengths, BATCH_SIZE)),
        # The pipeline's default batch size is 1, so each text is its own batch.
        padding_stats("transformers pipeline", lengths, [np.array([index]) for index in range(len(lengths))]),
    ]
    return [core_result, pipeline_result], agreement, padding


# --------------------------------------------------------------------------- quality


def run_quality(dataset: pd.DataFrame, run_dir: Path, seed: int) -> dict:
    """Train the default recipe on the full split and return its per-epoch and test metrics."""
    config = TrainConfig(seed=seed)
    cpu_start = cpu_sample()
    result = fine_tune(dataset, config, output_dir=run_dir)
    other_cpu = other_cpu_share(cpu_start, cpu_sample())
    metrics = result.metrics
    return {
        "other_cpu": other_cpu,
        "config": config,
        "rows": metrics["rows"],
        "history": [
            {
                "epoch": record["epoch"],
                "train_loss": record["train_loss"],
                "validation_accuracy": record["validation"]["accuracy"],
                "validation_macro_f1": record["validation"]["macro_f1"],
            }
            for record in metrics["history"]
        ],
        "best_epoch": metrics["best_epoch"],
        "test_accuracy": metrics["splits"]["test"]["accuracy"],
        "test_macro_f1": metrics["splits"]["test"]["macro_f1"],
        "validation_accuracy": metrics["splits"]["validation"]["accuracy"],
        "train_seconds": metrics["train_seconds"],
        "train_samples_per_second": metrics["train_samples_per_second"],
    }


# --------------------------------------------------------------------------- reporting


def machine_line() -> str:
    """Return the platform, CPU, thread count, library versions and the current date on one line."""
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{platform.platform()}; CPU: {cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads; "
        f"torch {torch.__version__}, transformers {transformers.__version__}; {date}"
    )


def format_accuracy(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def comparison_rows(ours: ToolResult, reference: ToolResult | None, target: float) -> list[list[str]]:
    rows = [result_row(ours, "")]
    if reference is not None:
        ratio = ours.samples_per_second / reference.samples_per_second
        rows[0][-2] = f"{ratio:.2f}x (target >= {target:g}x)"
        rows.append(result_row(reference, "1.00x"))
    return rows


def result_row(result: ToolResult, ratio: str) -> list[str]:
    return [
        result.tool,
        f"{result.rows:,}",
        f"{result.seconds:.1f}",
        f"{result.samples_per_second:.1f}",
        format_accuracy(result.accuracy),
        ratio,
        result.other_cpu_text,
    ]


def padding_rows(stats: list[PaddingStats]) -> list[list[str]]:
    return [
        [s.tool, f"{s.widths.size:,}", f"{s.widths.mean():.1f}", f"{s.padded_tokens:,}", f"{100 * s.pad_share:.1f}%"]
        for s in stats
    ]


PADDING_HEADER = ["tool", "batches", "mean padded length per batch (tokens)", "tokens incl. padding", "padding share"]
RESULT_HEADER = ["tool", "samples", "seconds", "samples/s", "test accuracy", "ours / reference", "CPU used by other processes"]


def runs_note(results: list[ToolResult]) -> str:
    """Describe the samples/s of every run behind each result, for results kept by :func:`fastest`."""
    runs = [result.extra.get("all_runs", [(result.samples_per_second, result.other_cpu_text)]) for result in results]
    if max(len(values) for values in runs) < 2:
        return "One run per tool."
    listed = "; ".join(
        f"{result.tool} {', '.join(f'{speed:.1f} ({other})' for speed, other in values)}"
        for result, values in zip(results, runs)
    )
    return (
        f"Fastest of {len(runs[0])} alternating runs per tool; samples/s of every run, with the CPU share "
        f"other processes used during it: {listed}."
    )


def throughput_section(
    training: list[ToolResult],
    scoring: list[ToolResult],
    agreement: float,
    padding: list[PaddingStats],
    rows_note: str,
    command: str,
) -> str:
    ours_training = training[0]
    trainer = training[1] if len(training) > 1 else None
    parts = [
        "## Throughput: core against transformers",
        "",
        f"Machine: {machine_line()}.",
        "",
        f"Command: `{command}`",
        "",
        f"### Training, one epoch ({rows_note})",
        "",
        markdown_table(RESULT_HEADER, comparison_rows(ours_training, trainer, TRAINING_TARGET_RATIO)),
        "",
        "Seconds cover the optimizer steps only (no model loading, tokenization or evaluation). "
        f"Validation accuracy after the epoch: core {format_accuracy(ours_training.extra['validation_accuracy'])}"
        + (f", Trainer {format_accuracy(trainer.extra['validation_accuracy'])}" if trainer else "")
        + ". `fine_tune`'s own `train_seconds`, which includes its validation pass, was "
        f"{ours_training.extra['train_seconds_with_validation']:.1f} s."
        + (f" The Trainer used the optimizer `{trainer.extra['optimizer']}` (its default here)." if trainer else "")
        + f" {runs_note(training)}",
        "",
        f"### Scoring the test split ({scoring[0].rows:,} sentences)",
        "",
        markdown_table(RESULT_HEADER, comparison_rows(scoring[0], scoring[1], SCORING_TARGET_RATIO)),
        "",
        f"Predicted classes of the two tools agree on {100 * agreement:.2f}% of the test sentences. "
        f"{runs_note(scoring)}",
        "",
        "### Padding of the batches each tool built",
        "",
        markdown_table(PADDING_HEADER, padding_rows(padding)),
    ]
    return "\n".join(parts)


def quality_section(quality: dict, command: str) -> str:
    config: TrainConfig = quality["config"]
    rows = quality["rows"]
    history_rows = [
        [str(record["epoch"]), f"{record['train_loss']:.4f}", format_accuracy(record["validation_accuracy"]), f"{record['validation_macro_f1']:.4f}"]
        for record in quality["history"]
    ]
    parts = [
        "## Quality: default recipe on MR",
        "",
        f"Machine: {machine_line()}.",
        "",
        f"Command: `{command}`",
        "",
        f"`TrainConfig()` defaults: {config.epochs} epochs, learning rate {config.learning_rate:g}, batch size "
        f"{config.batch_size}, max_length {config.max_length}, warm-up ratio {config.warmup_ratio:g}, weight decay "
        f"{config.weight_decay:g}, seed {config.seed}; {rows['train']:,} train / {rows['validation']:,} validation / "
        f"{rows['test']:,} test rows.",
        "",
        markdown_table(["epoch", "train loss", "validation accuracy", "validation macro F1"], history_rows),
        "",
        f"Best epoch by validation macro F1: {quality['best_epoch']}. Test accuracy of that epoch: "
        f"**{format_accuracy(quality['test_accuracy'])}** (macro F1 {quality['test_macro_f1']:.4f}; target >= "
        f"{format_accuracy(QUALITY_TARGET_ACCURACY)}). Training took {quality['train_seconds']:.0f} s including the "
        f"per-epoch validation passes ({quality['train_samples_per_second']:.1f} samples/s); other processes used "
        f"{'an unknown share' if quality['other_cpu'] is None else format(quality['other_cpu'], '.0%')} of the CPU "
        "meanwhile.",
    ]
    return "\n".join(parts)


def update_page(path: Path, name: str, body: str) -> None:
    """Write ``body`` between the page's markers for section ``name``, adding the section when absent."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else PAGE_INTRO
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        # Keep the sections in SECTION_NAMES order: insert before any later section already on the page.
        later = [f"<!-- bench:{other}:start -->" for other in SECTION_NAMES[SECTION_NAMES.index(name) + 1 :]]
        positions = [text.index(marker) for marker in later if marker in text]
        if positions:
            cut = min(positions)
            text = text[:cut] + block + "\n\n" + text[cut:]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    logger.info("Updated section %r of %s", name, path)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="Rows of MR kept before the 80/10/10 split, as TrainConfig.max_rows (stratified, seeded) "
        "for the throughput section; default: all 10,662 rows, which gives 8,530 train rows.",
    )

    parser.add_argument("--skip-trainer", action="store_true", help="Skip the transformers Trainer run.")
    parser.add_argument("--no-throughput", action="store_true", help="Skip the training and scoring throughput section.")
    parser.add_argument("--quality", action="store_true", help="Also run the 3-epoch default recipe on the full split.")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="Runs per tool in the throughput section, alternating between the tools; the fastest run is kept.",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="Before each timed run, wait up to this many seconds until other processes use under 10%% of the CPU.",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the split, the head initialisation and the batch order.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="Folder with rt-polarity.pos and rt-polarity.neg.")
    parser.add_argument("--output", type=Path, default=None, help="Markdown page to write the results into, e.g. docs/benchmarks.md.")
    args = parser.parse_args(argv)

    if args.rows is not None and args.rows < 10:
        parser.error(f"--rows must be at least 10; got {args.rows}.")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}.")
    if args.wait_idle < 0:
        parser.error(f"--wait-idle must be 0 or more seconds; got {args.wait_idle}.")
    if args.no_throughput and not args.quality:
        parser.error("--no-throughput without --quality leaves nothing to run.")
    return args


def command_line(argv: list[str] | None) -> str:
    arguments = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python bench/bench_train_score.py", *arguments])


def compare_training(
    dataset: pd.DataFrame, prepared: pd.DataFrame, config: TrainConfig, scratch_dir: Path, args: argparse.Namespace
) -> tuple[list[ToolResult], list[PaddingStats]]:
    """Train one epoch with each tool ``args.repeats`` times, alternating, and keep each tool's fastest run."""
    core_runs: list[ToolResult] = []
    trainer_runs: list[ToolResult] = []
    trainer_padding: PaddingStats | None = None
    for repeat in range(1, args.repeats + 1):
        wait_for_idle(args.wait_idle)
        core_runs.append(train_with_core(dataset, config, scratch_dir / f"core-1-epoch-{repeat}", prepared))
        if not args.skip_trainer:
            wait_for_idle(args.wait_idle)
            result, trainer_padding = train_with_trainer(prepared, config, scratch_dir / f"trainer-{repeat}")
            trainer_runs.append(result)
    training = [fastest(core_runs)]
    padding = [core_padding(prepared, config)]
    if trainer_runs:
        training.append(fastest(trainer_runs))
        padding.append(trainer_padding)
    return training, padding


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    print(markdown_table(header, rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    print(f"Machine: {machine_line()}")

    dataset = load_mr(args.data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-train-score-") as scratch:
        scratch_dir = Path(scratch)
        if not args.no_throughput:
            config = TrainConfig(epochs=1, batch_size=BATCH_SIZE, max_length=MAX_LENGTH, seed=args.seed, max_rows=args.rows)
            prepared = prepare_training_data(dataset, config)
            counts = prepared[data_module.SPLIT_COLUMN].value_counts()
            rows_note = (
                f"{counts['train']:,} train rows: the full train split of "
                f"{'all' if args.rows is None else f'a seeded subsample of {args.rows:,}'} MR rows"
            )
            logger.info("Split: %s", counts.to_dict())

            training, padding = compare_training(dataset, prepared, config, scratch_dir, args)
            run_dir = scratch_dir / "core-1-epoch-1"
            scoring, agreement, scoring_padding = run_scoring(
                run_dir, prepared, repeats=args.repeats, wait_seconds=args.wait_idle
            )
            padding.extend(scoring_padding)

            print_table(f"Training, one epoch ({rows_note})", RESULT_HEADER, comparison_rows(training[0], training[1] if len(training) > 1 else None, TRAINING_TARGET_RATIO))
            print_table("Scoring the test split", RESULT_HEADER, comparison_rows(scoring[0], scoring[1], SCORING_TARGET_RATIO))
            print(f"Predicted class agreement, core vs pipeline: {100 * agreement:.2f}%")
            print_table("Padding", PADDING_HEADER, padding_rows(padding))
            if args.output is not None:
                section = throughput_section(training, scoring, agreement, padding, rows_note, command_line(argv))
                update_page(args.output, "throughput", section)

        if args.quality:
            quality = run_quality(dataset, scratch_dir / "core-quality", args.seed)
            print_table(
                "Quality, default recipe",
                ["epoch", "train loss", "validation accuracy"],
                [[str(r["epoch"]), f"{r['train_loss']:.4f}", format_accuracy(r["validation_accuracy"])] for r in quality["history"]],
            )
            print(f"Best epoch {quality['best_epoch']}; test accuracy {format_accuracy(quality['test_accuracy'])}")
            if args.output is not None:
                update_page(args.output, "quality", quality_section(quality, command_line(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

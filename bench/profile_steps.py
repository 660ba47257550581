"""Time the parts of a training step and of scoring, to explain the throughput benchmark.

Companion to ``bench_train_score.py``, on the same model, data split, batch size 32 and
max_length 128. It prints, per phase, wall and process CPU milliseconds:

- training steps on the batches ``core.training.fine_tune`` forms (length-grouped) and on
  batches as the ``Trainer`` forms them (random order, padded to the longest row):
  collate, forward, backward, gradient clipping, optimizer step;
- scoring the test split: tokenization, then forward passes at batch size 32 in length
  order, and at batch size 1 as ``pipeline`` runs by default, and the pipeline itself.

Run from the repository root::

    .venv/bin/python bench/profile_steps.py --steps 20
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_train_score import BATCH_SIZE, DEFAULT_DATA_DIR, MAX_LENGTH, load_mr, split_rows  # noqa: E402
from bench.cpu_contention import cpu_sample, other_cpu_share  # noqa: E402
from core import data as data_module  # noqa: E402
from core.batching import collate, encode_texts, length_grouped_batches, sorted_batches  # noqa: E402
from core.models import load_classifier  # noqa: E402
from core.training import TrainConfig, _optimizer, prepare_training_data  # noqa: E402


class PhaseTimer:
    """Wall and process CPU seconds, summed per named phase."""

    def __init__(self):
        self.wall = defaultdict(float)
        self.cpu = defaultdict(float)
        self.count = defaultdict(int)

    def measure(self, name: str, function, *args, **kwargs):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        result = function(*args, **kwargs)
        self.wall[name] += time.perf_counter() - wall_start
        self.cpu[name] += time.process_time() - cpu_start
        self.count[name] += 1
        return result

    def report(self, title: str, samples: int) -> None:
        print(f"\n{title} ({samples} samples)")
        print("| phase | calls | wall ms per call | CPU ms per call | wall ms per sample |")
        print("|---|---|---|---|---|")
        for name in self.wall:
            calls = self.count[name]
            print(
                f"| {name} | {calls} | {1000 * self.wall[name] / calls:.1f} | {1000 * self.cpu[name] / calls:.1f} "
                f"| {1000 * self.wall[name] / samples:.2f} |"
            )
        total = sum(self.wall.values())
        print(f"| total | | | | {1000 * total / samples:.2f} ({samples / total:.1f} samples/s) |")


def train_step(model, optimizer, encoded, labels: torch.Tensor, indices: np.ndarray, config: TrainConfig, timer: PhaseTimer) -> None:
    """Run ``fine_tune``'s step body on one batch, timing each part separately."""
    inputs = timer.measure("collate", collate, encoded, indices, torch.device("cpu"))
    logits = timer.measure("forward", lambda: model(**inputs).logits)  # (B, K)
    loss = timer.measure("loss", torch.nn.functional.cross_entropy, logits.float(), labels[indices])
    timer.measure("backward", loss.backward)
    timer.measure("clip_grad_norm", torch.nn.utils.clip_grad_norm_, model.parameters(), config.max_grad_norm)
    timer.measure("optimizer.step", optimizer.step)
    timer.measure("zero_grad", optimizer.zero_grad, set_to_none=True)


def random_batches(count: int, batch_size: int, *, seed: int) -> list[np.ndarray]:
    """Split indices into batches in random order, as the Trainer's RandomSampler draws them."""
    order = np.random.default_rng(seed).permutation(count)
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]


def profile_training(prepared, config: TrainConfig, steps: int) -> None:
    class_names = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    label_index = {name: index for index, name in enumerate(class_names)}
    train = split_rows(prepared, "train")
    transformers.set_seed(config.seed)
    model, tokenizer = load_classifier(config.model, label_names=class_names)
    encoded = encode_texts(tokenizer, train[data_module.TEXT_COLUMN].tolist(), max_length=config.max_length)
    labels = torch.tensor(train[data_module.LABEL_COLUMN].map(label_index).to_numpy(dtype=np.int64))
    optimizer = _optimizer(model, config)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    print(f"Model parameters: {parameters:,}; optimizer {type(optimizer).__name__}, fused={optimizer.defaults.get('fused')}")

    grouped = length_grouped_batches(encoded.lengths, config.batch_size, rng=np.random.default_rng([config.seed, 1]))
    shuffled = random_batches(len(encoded), config.batch_size, seed=config.seed)
    model.train()
    # One untimed step so one-time kernel setup is not counted in either set.
    train_step(model, optimizer, encoded, labels, grouped[0], config, PhaseTimer())
    # The two batching schemes alternate step by step, so load from other processes hits both alike.
    grouped_timer, shuffled_timer = PhaseTimer(), PhaseTimer()
    for grouped_indices, shuffled_indices in zip(grouped[1 : steps + 1], shuffled[1 : steps + 1]):
        train_step(model, optimizer, encoded, labels, grouped_indices, config, grouped_timer)
        train_step(model, optimizer, encoded, labels, shuffled_indices, config, shuffled_timer)
    for title, batches, timer in (
        ("length-grouped batches (core)", grouped, grouped_timer),
        ("random batches (Trainer)", shuffled, shuffled_timer),
    ):
        chosen = batches[1 : steps + 1]
        widths = [int(encoded.lengths[indices].max()) for indices in chosen]
        timer.report(f"Training steps, {title}, mean padded length {np.mean(widths):.1f}", sum(len(b) for b in chosen))


@torch.inference_mode()
def forward_only(model, encoded, batches, timer: PhaseTimer) -> None:
    device = torch.device("cpu")
    for indices in batches:
        inputs = timer.measure("collate", collate, encoded, indices, device)
        timer.measure("forward", lambda: model(**inputs).logits)


def profile_scoring(prepared, config: TrainConfig) -> None:
    class_names = data_module.label_names(prepared[data_module.LABEL_COLUMN])
    model, tokenizer = load_classifier(config.model, label_names=class_names)
    model.eval()
    texts = split_rows(prepared, "test")[data_module.TEXT_COLUMN].tolist()

    timer = PhaseTimer()
    encoded = timer.measure("encode_texts", encode_texts, tokenizer, texts, max_length=MAX_LENGTH)
    timer.report("Tokenization of the test split", len(texts))
    batched_timer, single_timer = PhaseTimer(), PhaseTimer()
    batches = sorted_batches(encoded.lengths, BATCH_SIZE)
    forward_only(model, encoded, batches[:1], PhaseTimer())
    # Each batch of 32 is followed by the same 32 texts one at a time, so load hits both alike.
    for indices in batches:
        forward_only(model, encoded, [indices], batched_timer)
        forward_only(model, encoded, [np.array([index]) for index in indices], single_timer)
    batched_timer.report("Scoring, batch size 32, length order", len(texts))
    single_timer.report("Scoring, batch size 1 (forward passes only)", len(texts))

    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None, device=-1)
    timer = PhaseTimer()
    timer.measure("pipeline", pipe, texts, truncation=True, max_length=MAX_LENGTH)
    timer.report("Scoring, pipeline with its default batch size", len(texts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="Training steps timed per batching scheme.")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="Folder with rt-polarity.pos and rt-polarity.neg.")
    parser.add_argument("--skip-training", action="store_true", help="Profile scoring only.")
    args = parser.parse_args()

    config = TrainConfig(epochs=1, batch_size=BATCH_SIZE, max_length=MAX_LENGTH)
    prepared = prepare_training_data(load_mr(args.data_dir), config)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    started = cpu_sample()
    if not args.skip_training:
        profile_training(prepared, config, args.steps)
    profile_scoring(prepared, config)
    share = other_cpu_share(started, cpu_sample())
    print(f"\nOther processes used {'an unknown share' if share is None else format(share, '.0%')} of the CPU during the profile.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The uncertainty methods a run can be scored with, their settings, and one entry point.

Symbols: N samples, K classes, T passes (or ensemble members).

Every method returns class probabilities of shape (T, N, K) for rows of a finished
run: ``softmax`` is the run's stored single pass (T = 1), the others are the
stochastic methods of :mod:`core.mc`, :mod:`core.perturbation`, :mod:`core.augment`
and :mod:`core.ensemble`. :func:`sampled_probs` loads the model when a method needs
one and dispatches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from core import data as data_module
from core import runs
from core.augment import check_rate, tta_probs
from core.batching import encode_texts
from core.ensemble import check_members, ensemble_probs
from core.mc import mc_dropout_head_probs, mc_dropout_probs
from core.models import load_classifier, model_max_length, resolve_device
from core.passes import (
    DEFAULT_ROWS_PER_FORWARD,
    ProgressCallback,
    StopCallback,
    check_batching,
    check_passes,
    check_scale,
)
from core.perturbation import embedding_noise_probs, weight_noise_probs
from core.uncertainty import PROB_PREFIX

METHODS = (
    "softmax",
    "mc_dropout",
    "mc_dropout_head",
    "embedding_noise",
    "weight_noise",
    "tta_character",
    "tta_word",
    "ensemble",
)
# Methods that draw T random passes; their settings include ``passes`` and ``seed``.
SAMPLING_METHODS = ("mc_dropout", "mc_dropout_head", "embedding_noise", "weight_noise", "tta_character", "tta_word")
# Methods with a ``scale`` setting, and its default: relative noise standard deviation
# for the noise methods, edit probability per character or word for augmentation.
DEFAULT_SCALES = {"embedding_noise": 0.1, "weight_noise": 0.01, "tta_character": 0.05, "tta_word": 0.1}
DEFAULT_PASSES = 10
MAX_PASSES = 1000


@dataclass(frozen=True)
class MethodSpec:
    """One method with its settings; :meth:`normalised` fills defaults and validates.

    Attributes:
        method: one of :data:`METHODS`.
        passes: T for the sampling methods (ignored by ``softmax`` and ``ensemble``).
        scale: noise scale or edit rate for the methods in :data:`DEFAULT_SCALES`
            (``None`` takes the default).
        seed: seeds the random draws of the sampling methods.
        members: for ``ensemble``, ids of the other runs (folders beside the base run).
        allow_train_overlap: for ``ensemble``, accept members trained on held-out rows.
        batch_size: texts per batch.
        rows_per_forward: for MC dropout and embedding noise, the most rows (passes x
            texts) in one forward call.
    """

    method: str
    passes: int = DEFAULT_PASSES
    scale: float | None = None
    seed: int = 0
    members: tuple[str, ...] = field(default_factory=tuple)
    allow_train_overlap: bool = False
    batch_size: int = 64
    rows_per_forward: int = DEFAULT_ROWS_PER_FORWARD

    def normalised(self) -> "MethodSpec":
        """Return a validated copy with defaults filled and unused settings reset.

        Raises:
            ValueError: an unknown method, T outside [1, MAX_PASSES], a negative or
                non-finite noise scale, an edit rate outside [0, 1], an ensemble
                without members, or a batch size below 1.
        """
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}.")
        check_batching(self.batch_size, self.rows_per_forward)
        spec = self
        if self.method in SAMPLING_METHODS:
            passes = check_passes(self.passes)
            if passes > MAX_PASSES:
                raise ValueError(f"passes (T) must be at most {MAX_PASSES}; got {passes}.")
        else:
            spec = replace(spec, passes=1, seed=0)
        if self.method in DEFAULT_SCALES:
            scale = DEFAULT_SCALES[self.method] if self.scale is None else self.scale
            if self.method.startswith("tta_"):
                scale = check_rate(scale)
            else:
                scale = check_scale(f"scale ({self.method})", scale)
            spec = replace(spec, scale=scale)
        elif self.scale is not None:
            spec = replace(spec, scale=None)
        if self.method == "ensemble":
            if not self.members:
                raise ValueError("An ensemble needs at least one member run besides the base run; got none.")
            spec = replace(spec, members=tuple(str(member) for member in self.members), passes=len(self.members) + 1)
        else:
            spec = replace(spec, members=(), allow_train_overlap=False)
        return spec

    def settings(self) -> dict:
        """Return the settings as a JSON-ready dict (the cache key hashes it)."""
        values = asdict(self)
        values["members"] = list(self.members)
        return values

    @classmethod
    def from_settings(cls, values: dict) -> "MethodSpec":
        """Rebuild a spec from :meth:`settings` output."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown method setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        values = dict(values)
        values["members"] = tuple(values.get("members", ()))
        return cls(**values)


def split_positions(run_dir: str | Path, split: str) -> np.ndarray:
    """Return the row positions of ``split`` in a run's predictions table, shape (n,).

    Raises:
        ValueError: ``split`` is not a split name, or the run has no rows in it.
    """
    allowed = (*data_module.SPLIT_NAMES, data_module.UNLABELLED_SPLIT)
    if split not in allowed:
        raise ValueError(f"split must be one of {', '.join(allowed)}; got {split!r}.")
    table = runs.load_predictions(Path(run_dir))
    positions = np.flatnonzero((table[data_module.SPLIT_COLUMN] == split).to_numpy())
    if len(positions) == 0:
        raise ValueError(f"Run {Path(run_dir).name} has no rows in the {split} split. Choose another split.")
    return positions


def member_dirs(run_dir: str | Path, spec: MethodSpec) -> list[Path]:
    """Return the folders of an ensemble's member runs, which sit beside ``run_dir``."""
    return [Path(run_dir).parent / member for member in spec.members]


def check_spec_for_run(run_dir: str | Path, spec: MethodSpec) -> MethodSpec:
    """Return ``spec`` normalised, after checks that need the run (ensemble members, label sets)."""
    spec = spec.normalised()
    runs.read_summary(Path(run_dir))
    if spec.method == "ensemble":
        check_members(run_dir, member_dirs(run_dir, spec))
    return spec


class RunModel:
    """Loads a run's model and tokenizer on first use and keeps them for later splits."""

    def __init__(self, run_dir: str | Path, device: torch.device) -> None:
        self.run_dir = Path(run_dir)
        self.device = device
        self._loaded = None

    def get(self):
        """Return ``(model, tokenizer, max_length)``; max_length is the one the run was trained with."""
        if self._loaded is None:
            model, tokenizer = load_classifier(runs.model_dir(self.run_dir))
            model.to(self.device)
            metrics = runs.read_json(self.run_dir, "metrics.json")
            max_length = int(metrics.get("max_length") or model_max_length(tokenizer, model))
            self._loaded = (model, tokenizer, max_length)
        return self._loaded


def sampled_probs(
    run_dir: str | Path,
    positions: Sequence[int],
    spec: MethodSpec,
    *,
    device: torch.device | None = None,
    run_model: RunModel | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> tuple[np.ndarray, dict]:
    """Return the (T, N, K) float32 probabilities of ``spec`` on rows ``positions`` of a run.

    Args:
        positions: N row positions in the run's predictions table.
        run_model: a loader to share the model between calls (one is made if absent).

    Returns:
        ``(mc_probs, details)``, where ``details`` contains per-member records for
        ensembles and is empty otherwise.
    """
    spec = spec.normalised()
    run_dir = Path(run_dir)
    summary = runs.read_summary(run_dir)
    positions = np.asarray(positions, dtype=np.int64)
    table = runs.load_predictions(run_dir)
    if spec.method == "softmax":
        columns = [f"{PROB_PREFIX}{name}" for name in summary.labels]
        return table[columns].to_numpy(dtype=np.float32)[positions][np.newaxis], {}  # (1, N, K)
    if spec.method == "ensemble":
        result = ensemble_probs(
            run_dir, member_dirs(run_dir, spec), positions, allow_train_overlap=spec.allow_train_overlap,
            batch_size=spec.batch_size, device=device, progress=progress, should_stop=should_stop,
        )
        return result.mc_probs, {"members": result.members}

    device = device or resolve_device("auto")
    run_model = run_model or RunModel(run_dir, device)
    model, tokenizer, max_length = run_model.get()
    texts = table[data_module.TEXT_COLUMN].iloc[positions].astype(str).tolist()
    common = dict(passes=spec.passes, seed=spec.seed, batch_size=spec.batch_size, device=run_model.device,
                  progress=progress, should_stop=should_stop)
    if spec.method.startswith("tta_"):
        kind = spec.method.removeprefix("tta_")
        mc_probs = tta_probs(model, tokenizer, texts, kind=kind, rate=spec.scale, sample_keys=positions,
                             max_length=max_length, **common)
    else:
        encoded = encode_texts(tokenizer, texts, max_length=max_length)
        if spec.method == "mc_dropout":
            mc_probs = mc_dropout_probs(model, encoded, rows_per_forward=spec.rows_per_forward, **common)
        elif spec.method == "mc_dropout_head":
            mc_probs = mc_dropout_head_probs(model, encoded, **common)
        elif spec.method == "embedding_noise":
            mc_probs = embedding_noise_probs(model, encoded, scale=spec.scale, rows_per_forward=spec.rows_per_forward,
                                             **common)
        else:
            mc_probs = weight_noise_probs(model, encoded, scale=spec.scale, **common)
    return _to_run_class_order(mc_probs, model, summary.labels), {}


def _to_run_class_order(mc_probs: np.ndarray, model, class_names: Sequence[str]) -> np.ndarray:
    model_order = [str(model.config.id2label[index]) for index in range(model.config.num_labels)]
    if model_order == list(class_names):
        return mc_probs
    return mc_probs[:, :, [model_order.index(name) for name in class_names]]


def passes_label(spec: MethodSpec) -> str:
    """Return a short settings summary such as ``T=10, scale=0.1, seed=0`` (numbers only, no prose)."""
    spec = spec.normalised()
    parts = [f"T={spec.passes}"]
    if spec.scale is not None:
        parts.append(f"scale={spec.scale:g}")
    if spec.method in SAMPLING_METHODS:
        parts.append(f"seed={spec.seed}")
    return ", ".join(parts)

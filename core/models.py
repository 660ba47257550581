"""Load sequence classifiers and tokenizers, and choose the device.

Models are read from safetensors only (``use_safetensors=True``), so no pickle from
a checkpoint is ever unpickled. ``trust_remote_code`` stays off unless the caller
turns it on.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from core import resources

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


class ModelLoadError(RuntimeError):
    """A model or tokenizer cannot be loaded; the message says why and what to do."""


def resolve_device(requested: str = "auto") -> torch.device:
    """Return the device to run on: cuda, then mps, then cpu for ``"auto"``.

    Raises:
        ValueError: ``requested`` is not in :data:`DEVICE_CHOICES`, or names a device
            this machine does not have.
    """
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {requested!r}.")
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        if cuda:
            return torch.device("cuda")
        if mps:
            return torch.device("mps")
        return torch.device("cpu")
    if requested == "cuda" and not cuda:
        raise ValueError("device 'cuda' was requested but no CUDA GPU is visible. Use 'auto' or 'cpu'.")
    if requested == "mps" and not mps:
        raise ValueError("device 'mps' was requested but Apple MPS is not available. Use 'auto' or 'cpu'.")
    return torch.device(requested)


def autocast_dtype(device: torch.device, *, enabled: bool = True, bf16_supported: bool | None = None) -> torch.dtype | None:
    """Return the mixed-precision dtype for ``device``, or ``None`` for full precision.

    CUDA uses bfloat16 where the GPU supports it and float16 otherwise; CPU and MPS
    run in float32 (CPU bfloat16 autocast is slower than float32 on most CPUs).
    ``bf16_supported`` overrides the hardware query, for tests.
    """
    if not enabled or device.type != "cuda":
        return None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else torch.float16


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """Return an autocast context for ``dtype`` on ``device``, or a no-op one."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_model_source(source: str | Path | None) -> str:
    """Return a loadable folder path or hub id; ``None`` or ``"builtin"`` give the built-in model."""
    if source is None or str(source).strip() in ("", resources.BUILTIN_MODEL_ALIAS):
        return str(resources.builtin_model_dir())
    text = str(source).strip()
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"Model path {path} is a file; give the folder that holds config.json.")
        if not (path / "config.json").exists():
            raise ModelLoadError(
                f"Model folder {path} has no config.json, so it is not a Hugging Face checkpoint. "
                "Give the folder written by save_pretrained()."
            )
        return str(path.resolve())
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise ModelLoadError(f"Model folder {text} not found. Check the path.")
    return text


def _load_error(source: str, what: str, exc: Exception) -> ModelLoadError:
    if Path(source).exists():
        return ModelLoadError(f"Cannot load the {what} from folder {source}: {exc}")
    return ModelLoadError(
        f"Cannot load the {what} {source!r}: it is not a local folder and could not be fetched from the "
        "Hugging Face Hub (no network access, or no such model). On a machine with access, save it with "
        "save_pretrained() and pass that folder instead. "
        f"Details: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    )


def load_tokenizer(source: str | Path | None, *, trust_remote_code: bool = False):
    """Load the (fast, where available) tokenizer of ``source``."""
    resolved = resolve_model_source(source)
    try:
        return AutoTokenizer.from_pretrained(resolved, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _load_error(resolved, "tokenizer", exc) from exc


def load_classifier(
    source: str | Path | None,
    *,
    label_names: list[str] | None = None,
    trust_remote_code: bool = False,
):
    """Load a sequence classifier and its tokenizer.

    With ``label_names`` the classification head gets one output per name and the
    label map is written into the model config (a new head is initialised when the
    checkpoint has none or a different size). Without it, the checkpoint's own head
    and ``id2label`` are used, as for a finished run.

    Returns:
        ``(model, tokenizer)``, the model in eval mode on the CPU.
    """
    resolved = resolve_model_source(source)
    kwargs: dict = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    if label_names is not None:
        if len(label_names) < 2:
            raise ValueError(f"A classifier needs at least 2 labels; got {label_names!r}.")
        kwargs.update(
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={name: index for index, name in enumerate(label_names)},
            ignore_mismatched_sizes=True,
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise _load_error(resolved, "model", exc) from exc
    tokenizer = load_tokenizer(resolved, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"Tokenizer of {resolved} has neither a pad nor an EOS token; batching needs one.")
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer


def model_label_names(model) -> list[str]:
    """Return the class names of a classifier, in output order."""
    id2label = model.config.id2label
    return [str(id2label[index]) for index in range(model.config.num_labels)]


def model_max_length(tokenizer, model=None, *, cap: int = 512) -> int:
    """Return the longest input the model accepts, capped at ``cap`` tokens."""
    limits = [cap]
    tokenizer_max = getattr(tokenizer, "model_max_length", None)
    if tokenizer_max and tokenizer_max < 10**6:
        limits.append(int(tokenizer_max))
    if model is not None:
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions:
            limits.append(int(positions))
    return min(limits)

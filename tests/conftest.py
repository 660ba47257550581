"""Shared fixtures: the public datasets beside the repository and a tiny BERT checkpoint.

The tiny checkpoint is built from a hand-written WordPiece vocabulary and random,
seeded weights, saved with ``save_pretrained`` and then read back through
``core.models`` exactly as a user's folder would be.
"""

import os

# huggingface_hub reads HF_HUB_OFFLINE once, when it is first imported, so it must be set
# before transformers is imported. The suite never needs the network. Without this, loading
# an unknown hub id on a machine without network retried for about 45 s before it failed
# (huggingface_hub 0.36, measured once on a 2-core CPU machine).
os.environ["HF_HUB_OFFLINE"] = "1"
# No spare worker processes (core.spares) unless a test turns them on, because a spare left by a
# test would keep about 0.5 GB until its idle timeout.
os.environ["UNCERTAINTY_EXPLORER_SPARE_IDLE_SECONDS"] = "0"

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast  # noqa: E402

from core import data as data_module  # noqa: E402
from core.models import load_tokenizer  # noqa: E402

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
POSITIVE_WORD = "good"
NEGATIVE_WORD = "bad"
# Words that carry no label; the keyword dataset pads sentences with them.
FILLER_WORDS = (
    "the", "a", "movie", "film", "plot", "actor", "story", "scene", "was", "is", "very", "quite",
    "really", "and", "but", "with", "long", "short", "funny", "dark", "music", "ending", "cast",
    "script", "camera", "score", "pace", "tone", "great", "awful", "fine", "boring",
)
TINY_MAX_POSITIONS = 64


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Return the folder of public datasets that sits beside the repository checkout."""
    path = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.fail(f"Dataset folder {path} not found; check out shared/ beside the repository.")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Build a 1-layer BERT classifier over a vocabulary of a few dozen words and return its folder.

    Tests must not modify this folder. A test that changes it uses ``tiny_model_copy``.
    """
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = [*SPECIAL_TOKENS, POSITIVE_WORD, NEGATIVE_WORD, *FILLER_WORDS]
    vocab_file = folder / "vocab-source.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(vocab_file), do_lower_case=True, model_max_length=TINY_MAX_POSITIONS
    )

    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=TINY_MAX_POSITIONS,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)

    checkpoint = folder / "checkpoint"
    model.save_pretrained(checkpoint, safe_serialization=True)
    tokenizer.save_pretrained(checkpoint)
    return checkpoint


@pytest.fixture
def tiny_model_copy(tiny_model_dir, tmp_path) -> Path:
    """Return a private copy of the tiny checkpoint that a test may change."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "tiny-bert-copy"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    """Return the tiny checkpoint's fast tokenizer, loaded through ``core.models``."""
    return load_tokenizer(tiny_model_dir)


def keyword_rows(count: int, *, seed: int) -> pd.DataFrame:
    """Return ``count`` distinct sentences labelled by the keyword they contain.

    Even rows contain ``good`` and are labelled ``pos``; odd rows contain ``bad`` and are
    labelled ``neg``. Every other word is drawn from ``FILLER_WORDS``, so the keyword is
    the only signal a classifier can learn.
    """
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    rows: list[tuple[str, str]] = []
    while len(rows) < count:
        label = "pos" if len(rows) % 2 == 0 else "neg"
        words = list(rng.choice(FILLER_WORDS, size=int(rng.integers(3, 8))))
        keyword = POSITIVE_WORD if label == "pos" else NEGATIVE_WORD
        words.insert(int(rng.integers(0, len(words) + 1)), keyword)
        text = " ".join(words)
        if text in seen:
            continue
        seen.add(text)
        rows.append((text, label))
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.fixture(scope="session")
def make_keyword_dataset():
    """Return a function that builds a fresh mapped keyword dataset, as ``apply_mapping`` outputs it."""

    def build(count: int = 300, *, seed: int = 0) -> pd.DataFrame:
        table = data_module.RawTable(keyword_rows(count, seed=seed), name="keywords.csv", format="csv")
        return data_module.apply_mapping(table, data_module.ColumnMapping(text="text", label="label"))

    return build


@pytest.fixture
def keyword_dataset(make_keyword_dataset) -> pd.DataFrame:
    """Return 300 mapped keyword rows (150 per class) that the test may change."""
    return make_keyword_dataset()


@pytest.fixture(scope="session")
def keyword_csv(tmp_path_factory) -> Path:
    """Write the 300 keyword rows to a ``text,label`` CSV once and return its path (read only)."""
    path = tmp_path_factory.mktemp("keyword-data") / "keywords.csv"
    keyword_rows(300, seed=0).to_csv(path, index=False)
    return path

"""Attack recipes: the settings of one adversarial attack, their allowed values and named presets.

A recipe combines four choices, each described in :mod:`core.attack`:

- a **transformation** that proposes replacements for one word (character edits,
  embedding neighbours, masked language model predictions, HotFlip token flips),
- a **word importance** method that orders the words (leave-one-out deletion or the
  gradient norm),
- a **search** (greedy over the words in importance order, or beam search),
- **constraints**: maximum fraction of words changed, protected stop words and named
  entities, minimum sentence-embedding similarity, a query budget and a time limit
  per sample.

The allowed values live in the module constants below, which :meth:`AttackRecipe.validate`
and any user interface read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from core.attribution_text import CJK_SEGMENTERS

TRANSFORMATIONS = ("character", "embedding", "mlm", "hotflip")
IMPORTANCE_METHODS = ("deletion", "gradient")
SEARCH_METHODS = ("greedy", "beam")
CHARACTER_EDITS = ("swap", "substitute", "delete", "insert", "homoglyph")

MAX_BEAM_WIDTH = 32
MAX_CANDIDATES_PER_WORD = 200
MAX_QUERIES = 100_000
MAX_TIME_LIMIT_SECONDS = 3600.0
MAX_BATCH_SIZE = 4096


@dataclass(frozen=True, kw_only=True)
class AttackRecipe:
    """Settings of one attack; :meth:`validate` checks them and :data:`RECIPES` names presets.

    Attributes:
        name: a label stored with the results (the preset name, or any name for a custom recipe).
        transformation: one of :data:`TRANSFORMATIONS`.
        importance: one of :data:`IMPORTANCE_METHODS`. It orders the words the search tries.
        search: one of :data:`SEARCH_METHODS`.
        beam_width: states kept per step of beam search (ignored by greedy search).
        candidates_per_word: the maximum number of replacements proposed for one word.
        character_edits: the edits the ``character`` transformation may use, a subset of
            :data:`CHARACTER_EDITS`.
        max_words_changed: the largest fraction of a text's words that may change, in (0, 1].
            A text of W words may change at most floor(max_words_changed * W) words.
        protect_stop_words: leave the built-in stop words and ``extra_stop_words`` unchanged.
        extra_stop_words: more words to leave unchanged (compared in lower case).
        protect_entities: leave words that look like named entities unchanged (see
            :func:`core.attack_constraints.entity_word_mask`).
        min_similarity: minimum cosine similarity between the sentence embeddings of the
            original and the adversarial text (built-in sentence encoder). 0 turns the
            check off and saves the encoder's compute.
        max_queries: the maximum number of texts the attacked model scores for one
            sample, the original included. It is never exceeded.
        time_limit_seconds: wall time allowed per sample. It is checked before each model
            call, so a sample can run over by the duration of one call.
        mlm_model: folder of a masked language model (Hugging Face, safetensors), needed
            by the ``mlm`` transformation.
        cjk_segmenter: how Chinese and Japanese text is cut into words (see
            :func:`core.attribution_text.split_words`); ``character`` makes each character a word.
        seed: seeds the random character edits.
        batch_size: texts per forward call of the attacked model.
    """

    name: str = "custom"
    transformation: str = "character"
    importance: str = "deletion"
    search: str = "greedy"
    beam_width: int = 4
    candidates_per_word: int = 8
    character_edits: tuple[str, ...] = CHARACTER_EDITS
    max_words_changed: float = 0.25
    protect_stop_words: bool = True
    extra_stop_words: tuple[str, ...] = field(default_factory=tuple)
    protect_entities: bool = True
    min_similarity: float = 0.0
    max_queries: int = 300
    time_limit_seconds: float = 30.0
    mlm_model: str | None = None
    cjk_segmenter: str = "character"
    seed: int = 0
    batch_size: int = 64

    def __post_init__(self) -> None:
        # Accept lists for the tuple fields (JSON and widgets give lists) so recipes stay hashable.
        for name in ("character_edits", "extra_stop_words"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    def validate(self) -> "AttackRecipe":
        """Return the recipe after checking every field.

        Raises:
            ValueError: naming the first invalid field, its value and the allowed values.
        """
        _check_choice("transformation", self.transformation, TRANSFORMATIONS)
        _check_choice("importance", self.importance, IMPORTANCE_METHODS)
        _check_choice("search", self.search, SEARCH_METHODS)
        _check_choice("cjk_segmenter", self.cjk_segmenter, CJK_SEGMENTERS)
        _check_int("beam_width", self.beam_width, 1, MAX_BEAM_WIDTH)
        _check_int("candidates_per_word", self.candidates_per_word, 1, MAX_CANDIDATES_PER_WORD)
        _check_int("max_queries", self.max_queries, 1, MAX_QUERIES)
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_int("seed", self.seed, 0, 2**32 - 1)
        if not _is_number(self.max_words_changed) or not 0 < self.max_words_changed <= 1:
            raise ValueError(f"max_words_changed must be in (0, 1]; got {self.max_words_changed!r}.")
        if not _is_number(self.min_similarity) or not 0 <= self.min_similarity <= 1:
            raise ValueError(f"min_similarity must be in [0, 1] (0 turns the check off); got {self.min_similarity!r}.")
        if not _is_number(self.time_limit_seconds) or not 0 < self.time_limit_seconds <= MAX_TIME_LIMIT_SECONDS:
            raise ValueError(
                f"time_limit_seconds must be above 0 and at most {MAX_TIME_LIMIT_SECONDS:g}; "
                f"got {self.time_limit_seconds!r}."
            )
        if not isinstance(self.character_edits, tuple) or not self.character_edits:
            raise ValueError(
                f"character_edits must be a non-empty tuple of {', '.join(CHARACTER_EDITS)}; got {self.character_edits!r}."
            )
        unknown = [edit for edit in self.character_edits if edit not in CHARACTER_EDITS]
        if unknown:
            raise ValueError(f"character_edits must be taken from {', '.join(CHARACTER_EDITS)}; got {unknown!r}.")
        if not isinstance(self.extra_stop_words, tuple) or not all(isinstance(w, str) for w in self.extra_stop_words):
            raise ValueError(f"extra_stop_words must be a tuple of strings; got {self.extra_stop_words!r}.")
        for name in ("protect_stop_words", "protect_entities"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}.")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string; got {self.name!r}.")
        if self.transformation == "mlm" and not self.mlm_model:
            raise ValueError(
                "mlm_model must be the folder of a masked language model when transformation is 'mlm'; got "
                f"{self.mlm_model!r}. Save one with save_pretrained() and give its folder."
            )
        if self.mlm_model is not None and not isinstance(self.mlm_model, str):
            raise ValueError(f"mlm_model must be a folder path (string) or None; got {self.mlm_model!r}.")
        return self

    def settings(self) -> dict:
        """Return the settings as a JSON-ready dict (tuples become lists)."""
        values = asdict(self)
        values["character_edits"] = list(self.character_edits)
        values["extra_stop_words"] = list(self.extra_stop_words)
        return values

    @classmethod
    def from_settings(cls, values: dict) -> "AttackRecipe":
        """Rebuild a recipe from :meth:`settings` output, without validating it.

        Raises:
            ValueError: a key that is not a recipe field.
        """
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown attack setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        return cls(**values)


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}; got {value!r}.")


# Named presets. Defaults aim at a cheap first look: greedy search, few candidates per
# word, a budget of a few hundred queries per sample.
RECIPES: dict[str, AttackRecipe] = {
    # Character edits on the most important words, in the style of DeepWordBug
    # (Gao et al. 2018, "Black-box Generation of Adversarial Text Sequences to Evade
    # Deep Learning Classifiers"). The edits keep words readable, so no sentence
    # similarity check is applied by default.
    "charbug": AttackRecipe(name="charbug", transformation="character", importance="deletion", search="greedy"),
    # Word swaps with nearest neighbours in the attacked model's input-embedding space.
    "embedding": AttackRecipe(
        name="embedding", transformation="embedding", importance="deletion", search="greedy", min_similarity=0.7
    ),
    # Gradient-guided token flips (Ebrahimi et al. 2018, "HotFlip: White-Box Adversarial
    # Examples for Text Classification"), with a small beam.
    "hotflip": AttackRecipe(
        name="hotflip", transformation="hotflip", importance="gradient", search="beam", beam_width=3,
        min_similarity=0.7,
    ),
    # Masked language model predictions for each word, in the style of BERT-Attack
    # (Li et al. 2020). It needs mlm_model.
    "mlm": AttackRecipe(name="mlm", transformation="mlm", importance="deletion", search="greedy", min_similarity=0.7),
}
DEFAULT_RECIPE = "charbug"


def recipe_preset(name: str, **overrides) -> AttackRecipe:
    """Return the preset ``name`` with ``overrides`` applied and validated.

    Raises:
        ValueError: an unknown preset name, an unknown setting or an invalid value.
    """
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}; got {name!r}.")
    known = {item.name for item in fields(AttackRecipe)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"Unknown attack setting(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    return replace(RECIPES[name], **overrides).validate()


def check_mlm_folder(recipe: AttackRecipe) -> None:
    """Raise ``ValueError`` when the recipe needs a masked language model folder that is missing.

    Loading can still fail later, for example on a checkpoint without safetensors
    weights. :func:`core.attack_transforms.load_masked_lm` raises then.
    """
    if recipe.transformation != "mlm":
        return
    folder = Path(str(recipe.mlm_model)).expanduser()
    if not folder.is_dir():
        raise ValueError(f"mlm_model folder {folder} not found. Give the folder written by save_pretrained().")
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"mlm_model folder {folder} has no config.json, so it is not a Hugging Face checkpoint. "
            "Give the folder written by save_pretrained()."
        )

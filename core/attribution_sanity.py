"""Model-randomisation sanity check of an attribution method.

Adebayo et al. 2018, "Sanity Checks for Saliency Maps": an explanation
that barely changes when the model's learned weights are replaced by random ones
cannot be explaining what the model learned. The check re-initialises every layer
above the word embeddings: the encoder and the classification head. The input
embeddings stay, so both models see the same inputs. It then attributes the same
texts with the same method and the original model's target classes, and reports
the Spearman rank correlation between the absolute word scores of the two models.
"""

from __future__ import annotations

import copy
import logging
from typing import Sequence

import numpy as np
import torch
from scipy.stats import spearmanr

from core.attribution import AttributionSpec, attribute_texts
from core.attribution_targets import CLASS_TARGETS
from core.models import model_label_names

logger = logging.getLogger(__name__)

# Mean rank correlation at or above which the method is reported as failing the check.
# NOTE: Adebayo et al. judge similarity visually and by correlation without a fixed
# cut-off; 0.5 is this project's choice.
SIMILARITY_LIMIT = 0.5
MIN_WORDS = 3


def randomised_copy(model, *, seed: int = 0):
    """Return a deep copy of ``model`` with every layer except the input embeddings re-initialised."""
    randomised = copy.deepcopy(model)
    keep = randomised.get_input_embeddings()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in randomised.modules():
            if module is not keep and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    randomised.eval()
    return randomised


def randomisation_check(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    spec: AttributionSpec,
    max_length: int,
    labels: Sequence[str | None] | None = None,
    seed: int = 0,
) -> dict:
    """Attribute ``texts`` with the trained and a randomised model and compare the word rankings.

    Returns:
        A JSON-ready dict: ``rank_correlations`` (one per text with at least
        :data:`MIN_WORDS` scored words, ``None`` otherwise), their mean, and
        ``fails``, true when the mean is at least :data:`SIMILARITY_LIMIT`.
    """
    spec = spec.normalised()
    trained = attribute_texts(model, tokenizer, texts, spec=spec, max_length=max_length, labels=labels,
                              with_faithfulness=False)
    target_indices = None
    if spec.target in CLASS_TARGETS:
        class_names = model_label_names(model)
        target_indices = [class_names.index(result.target_class) for result in trained]
    randomised = randomised_copy(model, seed=seed)
    random_results = attribute_texts(randomised, tokenizer, texts, spec=spec, max_length=max_length, labels=labels,
                                     target_indices=target_indices, with_faithfulness=False)
    correlations: list[float | None] = []
    for first, second in zip(trained, random_results):
        pairs = [(a, b) for a, b in zip(first.word_scores, second.word_scores) if a is not None and b is not None]
        if len(pairs) < MIN_WORDS:
            correlations.append(None)
            continue
        left, right = np.abs(np.asarray(pairs, dtype=np.float64)).T  # (W,), (W,)
        if np.ptp(left) == 0 or np.ptp(right) == 0:
            correlations.append(None)
            continue
        correlations.append(float(spearmanr(left, right).statistic))
    valid = [value for value in correlations if value is not None]
    mean = float(np.mean(valid)) if valid else None
    logger.info("Randomisation check of %s on %d texts: mean rank correlation %s", spec.method, len(texts), mean)
    return {
        "method": spec.method,
        "target": spec.target,
        "settings": spec.settings(),
        "texts": len(texts),
        "seed": seed,
        "rank_correlations": correlations,
        "mean_rank_correlation": mean,
        "fails": bool(mean is not None and mean >= SIMILARITY_LIMIT),
    }

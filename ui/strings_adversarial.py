"""Translation entries of the Adversarial page and robustness report: (English, Simplified Chinese) pairs.

Merged into :data:`ui.i18n.STRINGS`, the one table every page reads through ``t``.
"""

from __future__ import annotations

STRINGS_ADVERSARIAL: dict[str, tuple[str, str]] = {
    "adversarial.title": ("Adversarial flips", "对抗翻转"),
}

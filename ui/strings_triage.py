"""Translation entries of the Triage page (label review queue): (English, Simplified Chinese) pairs.

Merged into :data:`ui.i18n.STRINGS`, the one table every page reads through ``t``.
"""

from __future__ import annotations

STRINGS_TRIAGE: dict[str, tuple[str, str]] = {
    "triage.title": ("Label triage", "标签复核"),
}

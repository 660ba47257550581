"""Character-level difference of two texts, for showing what an adversarial edit changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

OPERATIONS = ("equal", "delete", "insert")


@dataclass(frozen=True)
class DiffPiece:
    """A run of characters that both texts share (``equal``), only the first has
    (``delete``) or only the second has (``insert``)."""

    operation: str
    text: str


def character_diff(original: str, changed: str) -> list[DiffPiece]:
    """Return the pieces that turn ``original`` into ``changed``, in reading order.

    A replaced run appears as its deleted characters followed by the inserted ones.
    Joining the ``equal`` and ``delete`` pieces gives ``original``; joining the
    ``equal`` and ``insert`` pieces gives ``changed``.
    """
    matcher = difflib.SequenceMatcher(None, original, changed, autojunk=False)
    pieces: list[DiffPiece] = []
    for tag, start_a, end_a, start_b, end_b in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(DiffPiece("equal", original[start_a:end_a]))
            continue
        if end_a > start_a:
            pieces.append(DiffPiece("delete", original[start_a:end_a]))
        if end_b > start_b:
            pieces.append(DiffPiece("insert", changed[start_b:end_b]))
    return pieces

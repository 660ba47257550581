"""Replace one benchmark's marked part of a Markdown results page, keeping every other line."""

from __future__ import annotations

import os
from pathlib import Path


def _between(text: str, start: str, end: str) -> tuple[str, str, str] | None:
    """Split ``text`` into (before, inside, after) the markers, or return ``None`` when they are missing."""
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    inside, tail = rest.split(end, 1)
    return head, inside, tail


def write_part(path: Path, script: str, part_names: tuple[str, ...], part: str, text: str) -> None:
    """Store ``text`` as part ``part`` of the ``<!-- script:start -->`` section of ``path``.

    The section contains the parts in the order of ``part_names``, and parts written by
    earlier runs stay as they are. A missing page or section is created, and the
    page is replaced atomically.
    """
    section_start, section_end = f"<!-- {script}:start -->", f"<!-- {script}:end -->"
    page = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    found = _between(page, section_start, section_end)
    head, section, tail = found if found else (page.rstrip() + "\n\n", "", "\n")
    parts = {}
    for name in part_names:
        inner = _between(section, f"<!-- {script}:{name}:start -->", f"<!-- {script}:{name}:end -->")
        if inner is not None:
            parts[name] = inner[1].strip("\n")
    parts[part] = text
    blocks = [
        f"<!-- {script}:{name}:start -->\n{parts[name]}\n<!-- {script}:{name}:end -->"
        for name in part_names
        if name in parts
    ]
    page = head + section_start + "\n" + "\n\n".join(blocks) + "\n" + section_end + tail
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)

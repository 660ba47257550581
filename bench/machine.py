"""Describe the machine a benchmark ran on, for the results page."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """Return the CPU model name from ``/proc/cpuinfo``, or what ``platform`` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """Return the platform, CPU model and core count on one line."""
    return f"{platform.platform()}, {cpu_model()}, {os.cpu_count()} cores"

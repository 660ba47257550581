"""Measure how much CPU other processes used while a benchmark ran, and wait for an idle machine.

Linux only: both read ``/proc/stat`` (CPU time of the whole machine) and ``/proc/self/stat``
(CPU time of this process, all threads). Elsewhere :func:`cpu_sample` returns ``None`` and
the share is reported as unknown.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Columns of the aggregate cpu line of /proc/stat are user nice system idle iowait irq softirq
# steal. All but idle and iowait count as busy, steal (time given to other guests) included.
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)
_IDLE_COLUMNS = (3, 4)


@dataclass(frozen=True)
class CpuSample:
    """Cumulative CPU time in clock ticks at one moment."""

    machine_busy: int
    machine_total: int
    own: int


def cpu_sample() -> CpuSample | None:
    """Return the current CPU counters, or ``None`` where ``/proc`` cannot be read."""
    try:
        machine = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]
        own_fields = Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in machine[:8]]
    busy = sum(ticks[column] for column in _BUSY_COLUMNS)
    idle = sum(ticks[column] for column in _IDLE_COLUMNS)
    # utime and stime are fields 14 and 15 of /proc/PID/stat, and this list starts at field 3.
    own = int(own_fields[11]) + int(own_fields[12])
    return CpuSample(busy, busy + idle, own)


def other_cpu_share(start: CpuSample | None, end: CpuSample | None) -> float | None:
    """Return the share of the machine's CPU time between two samples that other processes used.

    0.0 means this process had the machine to itself; 0.5 on a 2-core machine means other
    processes kept one core busy on average.
    """
    if start is None or end is None or end.machine_total <= start.machine_total:
        return None
    others = (end.machine_busy - start.machine_busy) - (end.own - start.own)
    return min(max(others / (end.machine_total - start.machine_total), 0.0), 1.0)


def wait_for_idle(max_seconds: float, *, window_seconds: float = 5.0, threshold: float = 0.10) -> float | None:
    """Sleep until other processes use less than ``threshold`` of the CPU over one window.

    Gives up after ``max_seconds`` (0 disables waiting) and logs that it did.

    Returns:
        The other processes' CPU share over the last window, or ``None`` when unknown.
    """
    if max_seconds <= 0:
        return None
    deadline = time.monotonic() + max_seconds
    share: float | None = None
    while True:
        start = cpu_sample()
        time.sleep(window_seconds)
        share = other_cpu_share(start, cpu_sample())
        if share is None or share < threshold:
            return share
        if time.monotonic() >= deadline:
            logger.warning(
                "Other processes still use %.0f%% of the CPU after waiting %.0f s, so the next timing may be slowed",
                100 * share, max_seconds,
            )
            return share
        logger.info("Other processes use %.0f%% of the CPU; waiting for an idle machine", 100 * share)

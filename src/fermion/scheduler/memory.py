"""How much memory an attempt's processes hold, as its limit counts it, read as cheaply
as the limit allows.

The limit holds the proportional set size (PSS) summed over the attempt's processes:
pages shared between ranks and loader workers (torch's libraries, a forked worker's
copy of its parent) count once. Reading PSS walks each process's whole memory map:
about 14 ms for a process with torch loaded, 130-200 ms for a 2-rank job with its
loader workers, taken every second from the cores the job trains on. Two cheaper
readings stand in while they can:

- the resident sizes (RSS) summed, read in microseconds, bound PSS from above: while
  that sum is within the limit, it is the answer;
- past it, the last exact reading plus what the resident sum grew since. New pages show
  in both; a page that forked processes shared and one of them then wrote raises PSS
  alone, so the estimate stands in only while it stays under MARGIN of the limit and for
  at most EXACT_EVERY_S, then PSS is read again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

EXACT_EVERY_S = 10.0  # the longest an estimate stands in for a reading of PSS
MARGIN = 0.9  # an estimate above this share of the limit is checked at once


def resident_of(tree: list[psutil.Process]) -> int:
    """The processes' resident sizes summed: shared pages counted in each."""
    total = 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total


def proportional_of(tree: list[psutil.Process]) -> int:
    """The processes' PSS summed: shared pages counted once (RSS where PSS is unknown)."""
    total = 0
    for process in tree:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            total += getattr(info, "pss", info.rss)
    return total


@dataclass(frozen=True)
class _Exact:
    proportional: int
    resident: int  # the resident sum at the same moment
    at: float


class MemoryGauge:
    """One attempt's memory, read every second by the scheduler (see the module's doc)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.exact_readings = 0  # how often PSS was read
        self._last: _Exact | None = None

    def read(self, tree: list[psutil.Process], limit: int) -> int:
        """Exact past `limit`; below it, an upper bound or an estimate may stand in."""
        resident = resident_of(tree)
        if resident <= limit:
            return resident
        now, last = self.clock(), self._last
        if last is not None and now - last.at < EXACT_EVERY_S:
            estimate = last.proportional + max(0, resident - last.resident)
            if estimate <= limit * MARGIN:
                return estimate
        proportional = proportional_of(tree)
        self.exact_readings += 1
        self._last = _Exact(proportional, resident, now)
        return proportional

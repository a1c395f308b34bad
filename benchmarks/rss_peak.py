"""Peak resident memory of one phase of a process, torch's allocations included (tracemalloc
sees only Python's allocator, not torch's or NumPy's large buffers).

Linux: writing ``5`` to ``/proc/self/clear_refs`` resets the kernel's peak-RSS mark
(``VmHWM``) to the current RSS; after the phase ``VmHWM`` is the highest RSS reached during
it. Before the reset the heap is trimmed (glibc ``malloc_trim(0)``) so that the phase does not
reuse pages an earlier phase freed but kept mapped; the figure is the phase's peak *above*
the RSS it started from (its own arrays, its temporaries, the pages of code it first
touched). Where ``clear_refs`` cannot be written, the process-lifetime peak
(``ru_maxrss``) minus the starting RSS is reported instead, and ``exact`` says so.
"""

from __future__ import annotations

import ctypes
import resource
import time
from collections.abc import Callable
from typing import Any


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure_phase(fn: Callable[[], Any]) -> tuple[Any, float, float, bool]:
    """``(result, seconds, peak MB above the starting RSS, exact)`` of one call of ``fn``."""
    _trim()
    start_rss = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        exact = True
    except OSError:
        exact = False
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    if exact:
        peak = _status_mb("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out, seconds, max(0.0, peak - start_rss), exact

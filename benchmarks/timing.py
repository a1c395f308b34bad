"""Timing and process helpers shared by the benchmarks and their peer processes.

NumPy and the standard library only, so that a peer's own environment (e.g. a venv holding
only neural-tangents and its older JAX) can import it.
"""

from __future__ import annotations

import ctypes
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _malloc_trim():
    """glibc's ``malloc_trim(0)`` (None elsewhere): hands the heap's free pages back."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


MALLOC_TRIM = _malloc_trim()


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int = 5, clock=time.perf_counter,
                trim=MALLOC_TRIM, warm: bool = True) -> dict[str, float]:
    """Median seconds of each function, called in turn ``repeat`` times (after one warm-up
    each unless ``warm=False``): interleaving makes a burst of load on a shared machine hit
    every function alike. Each timed call starts from a trimmed heap (glibc; ``trim=None``
    leaves it), so that no function runs on pages another left mapped: a page fault costs the
    same to all, as in a process of its own."""
    if warm:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if trim is not None:
                trim(0)
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Python's version and each installed package's (``not installed`` where missing)."""
    out = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_json_process(argv: Sequence[str], timeout: float = 1800,
                     env: dict[str, str] | None = None) -> dict:
    """Run a peer process; the last line of its stdout that is a JSON object, or
    ``{"failed": why}`` (its exit code and the tail of its stderr)."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"failed": f"{type(exc).__name__}: {exc}"[:200]}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:300]
        return {"failed": f"exit code {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def script(name: str) -> str:
    """The path of a benchmark script beside this file."""
    return str(Path(__file__).with_name(name))

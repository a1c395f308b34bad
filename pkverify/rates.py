"""Rates: the log-log slope that every approximate claim is checked by.

One least-squares fit, :func:`loglog_slope`, serves every rate in pkverify (Theorem 1's
error against ε, the NTK lemmas' errors against width); :func:`rate` applies it to a sweep's
tidy table, pooled over seeds and per seed for the spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["loglog_slope", "Rate", "rate"]


def loglog_slope(xs: ArrayLike, ys: ArrayLike) -> float:
    """Least-squares slope ``p`` of ``log y = p·log x + c`` (a rate ``y ∝ x^p``)."""
    return float(np.polyfit(np.log(np.asarray(xs)), np.log(np.asarray(ys)), 1)[0])


class _Table(Protocol):
    def column(self, name: str) -> np.ndarray: ...


@dataclass(frozen=True)
class Rate:
    """A log-log slope over a sweep.

    slope: the pooled fit over every row;  seed_mean, seed_std: mean and spread (ddof 1; 0 for
    one seed) of the per-seed slopes;  x: the sorted distinct x values;  mean: the geometric
    mean of y over seeds at each x (the curve a figure draws).
    """

    slope: float
    seed_mean: float
    seed_std: float
    x: list[float]
    mean: list[float]

    def text(self) -> str:
        return f"{self.slope:.2f} (seeds {self.seed_mean:.2f} ± {self.seed_std:.2f})"


def rate(table: _Table | Any, x: str, y: str) -> Rate:
    """Fit ``log y = slope·log x + c`` to every row of ``table`` (pooled), and per ``seed``
    for the spread. ``table`` is a :class:`pkverify.sweeps.SweepTable` (anything with
    ``column(name)``) holding columns ``x``, ``y`` and ``seed``."""
    xs, ys, seeds = table.column(x), table.column(y), table.column("seed")
    pooled = loglog_slope(xs, ys)
    per_seed = [loglog_slope(xs[seeds == s], ys[seeds == s]) for s in np.unique(seeds)]
    grid = sorted(set(xs.tolist()))
    mean = [float(np.exp(np.mean(np.log(ys[xs == v])))) for v in grid]
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return Rate(pooled, float(np.mean(per_seed)), std, grid, mean)

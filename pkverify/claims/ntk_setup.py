"""Sizes, data and sweep grids of the ``ntk.*`` claims (quick and full), and their slope ranges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import sweeps
from .registry import CheckConfig

__all__ = ["Sizes", "QUICK", "FULL", "sizes", "unit_sphere", "data_axes", "seeds_for",
           "grid_for", "within", "CheckConfig"]

ACTIVATIONS_LEMMA2 = ("relu", "softplus", "tanh", "erf")
FULL_WIDTHS = [2**k for k in range(6, 15)]
N_POINTS, DIM = 8, 4


def unit_sphere(seed: int, n: int = N_POINTS, d: int = DIM) -> np.ndarray:
    """``n`` points drawn uniformly on the unit sphere of ``R^d`` from ``seed``."""
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@dataclass(frozen=True)
class Sizes:
    """Widths and seeds of each sweep (quick: a few seconds per claim; full: the ntk-notes' m)."""

    lemma2_widths: list[int]
    lemma2_seeds: int
    lemma3_widths: list[int]
    lemma3_seeds: int
    wide: int
    dyn_widths: list[int]
    dyn_seeds: int
    label_seeds: int
    kr_widths: list[int]
    kr_seeds: int
    bound_ns: list[int]
    bound_seeds: int
    deep_widths: list[int]
    deep_seeds: int
    norm_seeds: int


QUICK = Sizes(
    lemma2_widths=FULL_WIDTHS, lemma2_seeds=4,
    lemma3_widths=[2**k for k in range(6, 14)], lemma3_seeds=4, wide=2**12,
    dyn_widths=[2**k for k in range(6, 13)], dyn_seeds=4, label_seeds=2,
    kr_widths=[2**k for k in range(6, 12)], kr_seeds=4,
    bound_ns=[16, 64, 256], bound_seeds=3,
    deep_widths=[2**k for k in range(6, 10)], deep_seeds=8, norm_seeds=200,
)
FULL = Sizes(
    lemma2_widths=FULL_WIDTHS, lemma2_seeds=8,
    lemma3_widths=FULL_WIDTHS, lemma3_seeds=8, wide=2**14,
    dyn_widths=FULL_WIDTHS, dyn_seeds=8, label_seeds=6,
    kr_widths=FULL_WIDTHS, kr_seeds=6,
    bound_ns=[16, 32, 64, 128, 256, 512], bound_seeds=8,
    deep_widths=[2**k for k in range(6, 12)], deep_seeds=8, norm_seeds=1000,
)


def sizes(cfg: CheckConfig) -> Sizes:
    return QUICK if cfg.quick else FULL


def data_axes(cfg: CheckConfig) -> dict[str, Any]:
    """The data every two-layer sweep point shares: ``N_POINTS`` unit vectors in ``R^DIM``
    drawn from the run's seed."""
    return {"data_seed": cfg.seed, "n": N_POINTS, "d": DIM}


def seeds_for(cfg: CheckConfig, count: int) -> list[int]:
    """``count`` network seeds, distinct across the run's seeds."""
    return [cfg.seed * 1_000 + s for s in range(count)]


def grid_for(cfg: CheckConfig, **axes: Any) -> list[dict[str, Any]]:
    """``sweeps.grid`` of ``axes`` over the run's shared data (:func:`data_axes`)."""
    return sweeps.grid(**axes, **{k: [v] for k, v in data_axes(cfg).items()})


def within(value: float, lo: float, hi: float) -> bool:
    """``lo ≤ value ≤ hi`` (a slope inside its tolerance range)."""
    return bool(lo <= value <= hi)


PSD_FLOOR = -1e-12
"""Smallest eigenvalue of a kernel matrix relative to its largest that still counts as PSD:
float64 rounding of ``eigvalsh`` on an O(1) matrix."""
LEMMA2_RANGE = (-0.65, -0.35)
DYN_RANGE = (-0.7, -0.3)
DEEP_RANGE = (-0.75, -0.3)

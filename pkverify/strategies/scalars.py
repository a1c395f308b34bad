"""Strategies that draw one number or name: activations, seeds, step sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..errors import InvalidArgumentError
from ..validation import positive_float
from ._arguments import ACTIVATION_NAMES, activation_strategy


def activations(names: Sequence[str] | None = None) -> SearchStrategy[str]:
    """An activation name, from ``names`` (default: all of :data:`ACTIVATION_NAMES`)."""
    return activation_strategy(names, ACTIVATION_NAMES)


def seeds() -> SearchStrategy[int]:
    """An integer seed in ``[0, 2³² − 1]`` for ``numpy.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


def step_sizes(min_value: float = 1e-3, max_value: float = 1e-1) -> SearchStrategy[float]:
    """A step size ε, log-uniform on ``[min_value, max_value]`` (``log ε`` uniform).

    Step sizes matter by their order of magnitude, so each decade is drawn equally often.
    """
    lo = positive_float(min_value, "min_value")
    hi = positive_float(max_value, "max_value")
    if hi < lo:
        raise InvalidArgumentError(
            f"step_sizes needs min_value ≤ max_value; got {min_value!r} > {max_value!r}."
        )
    if lo == hi:
        return st.just(lo)
    log_lo, log_hi = math.log(lo), math.log(hi)
    return st.floats(log_lo, log_hi).map(lambda u: min(max(math.exp(u), lo), hi))

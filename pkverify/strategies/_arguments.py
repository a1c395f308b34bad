"""Argument checks shared by the strategies: raised when a strategy is built, before any draw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..activations import ACTIVATIONS, KINKED
from ..errors import InvalidArgumentError

ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)
"""Every activation the numeric models accept."""

SMOOTH_ACTIVATIONS: tuple[str, ...] = tuple(a for a in ACTIVATIONS if a not in KINKED)
"""Activations with a continuous derivative (every one but relu): the exact rule needs no
kink splitting on them, at any depth."""

Range = int | tuple[int, int]
ActivationChoice = str | Sequence[str] | SearchStrategy[str] | None


def as_range(value: Range, name: str, lowest: int = 1) -> tuple[int, int]:
    """An int or an inclusive ``(lo, hi)`` pair of ints ≥ ``lowest``."""
    lo, hi = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if (
        isinstance(lo, bool)
        or isinstance(hi, bool)
        or not all(isinstance(v, (int, np.integer)) for v in (lo, hi))
    ):
        raise InvalidArgumentError(
            f"{name} must be an int or a (min, max) pair of ints; got {value!r}."
        )
    if lo < lowest or hi < lo:
        raise InvalidArgumentError(
            f"{name} must satisfy {lowest} ≤ min ≤ max; got {value!r}. "
            f"For example {name}=({lowest}, {max(lowest, 4)})."
        )
    return int(lo), int(hi)


def int_strategy(value: Range, name: str, lowest: int = 1) -> SearchStrategy[int]:
    lo, hi = as_range(value, name, lowest)
    return st.just(lo) if lo == hi else st.integers(lo, hi)


def activation_strategy(choice: ActivationChoice, default: Sequence[str]) -> SearchStrategy[str]:
    if isinstance(choice, SearchStrategy):
        return choice
    names = default if choice is None else [choice] if isinstance(choice, str) else list(choice)
    if not names:
        raise InvalidArgumentError(
            "activations must name at least one activation; got an empty list. "
            f"Known: {', '.join(ACTIVATION_NAMES)}."
        )
    unknown = [a for a in names if a not in ACTIVATIONS]
    if unknown:
        raise InvalidArgumentError(
            f"unknown activation(s) {unknown}; expected names from {list(ACTIVATION_NAMES)}."
        )
    return st.sampled_from(list(names))

"""What a sweep runs over: a grid of configurations, the seeds, and their checks against the
measure (each refused before any task runs)."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterable, Mapping, Set
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from .table import Measure

__all__ = ["grid", "as_configs", "as_seeds"]


def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Every combination of the axes, the first axis varying slowest.

    ``grid(act=["relu", "erf"], width=[64, 128])`` →
    ``[{act: relu, width: 64}, {act: relu, width: 128}, {act: erf, width: 64}, ...]``.

    Each axis is a list (or tuple, range, 1-d array) of values; a single value — a number, a
    string (which would be swept letter by letter), a mapping or an unordered set — is refused
    with the list to write instead.
    """
    if not axes:
        raise InvalidArgumentError(
            "grid needs at least one axis, e.g. grid(width=[64, 256]); got none."
        )
    names = list(axes)
    values = [_axis(name, v) for name, v in axes.items()]
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def _axis(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)):
        raise InvalidArgumentError(
            f"grid axis {name!r} is the string {values!r}, which would be swept letter by "
            f"letter; give a list of values: {name}=[{values!r}]."
        )
    if isinstance(values, (Mapping, Set)):
        kind = "a mapping" if isinstance(values, Mapping) else "an unordered set"
        raise InvalidArgumentError(
            f"grid axis {name!r} is {kind}; give a list of values in the order to sweep them, "
            f"e.g. {name}={sorted(values, key=repr)!r}."
        )
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise InvalidArgumentError(
            f"grid axis {name!r} is a {values.ndim}-d array; give a 1-d list of values."
        )
    if not isinstance(values, Iterable):
        raise InvalidArgumentError(
            f"grid axis {name!r} is a single {type(values).__name__} ({values!r}); give a list "
            f"of values to sweep, even for one value: {name}=[{values!r}]."
        )
    out = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not out:
        raise InvalidArgumentError(f"grid axis {name!r} is empty; give it at least one value.")
    return out


def as_configs(configs: Any, fn: Measure) -> list[dict[str, Any]]:
    """The configurations as a list of dicts with the same keys, each a valid call of ``fn``."""
    if isinstance(configs, Mapping):
        raise InvalidArgumentError(
            "configs is one mapping; give a list of configurations: [config], or "
            "sweeps.grid(...) for every combination of several values."
        )
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Iterable):
        raise InvalidArgumentError(
            "configs must be a list of mappings (one per configuration), e.g. "
            f"sweeps.grid(width=[64, 256]); got {type(configs).__name__}."
        )
    out = []
    for i, c in enumerate(configs):
        if not isinstance(c, Mapping):
            raise InvalidArgumentError(
                f"configuration {i} is a {type(c).__name__}, not a mapping of argument names "
                "to values; build the list with sweeps.grid(...)."
            )
        if not all(isinstance(k, str) for k in c):
            raise InvalidArgumentError(
                f"configuration {i} has non-string keys {[k for k in c if not isinstance(k, str)]}"
                "; its keys are the measure's argument names."
            )
        out.append(dict(c))
    if not out:
        raise InvalidArgumentError("configs is empty; give at least one configuration ({}).")
    for i, c in enumerate(out):
        if "seed" in c:
            raise InvalidArgumentError(
                "a configuration may not set 'seed'; seeds are given separately (seeds=...)."
            )
        if set(c) != set(out[0]):
            missing, extra = sorted(set(out[0]) - set(c)), sorted(set(c) - set(out[0]))
            raise InvalidArgumentError(
                f"configuration {i} has keys {sorted(c)} but configuration 0 has "
                f"{sorted(out[0])} (missing {missing}, extra {extra}); every configuration "
                "needs the same keys, the columns of the table."
            )
    _check_call(fn, out[0])
    return out


def _check_call(fn: Measure, config: dict[str, Any]) -> None:
    """Refuse keys the measure does not take, or arguments it needs that no key gives."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check against
        return
    try:
        signature.bind(**config, seed=0)
    except TypeError as exc:
        params = [p for p in signature.parameters if p != "seed"]
        name = getattr(fn, "__name__", repr(fn))
        raise InvalidArgumentError(
            f"the configurations do not fit the measure {name}({', '.join(params)}, seed): "
            f"{exc}. A configuration has the keys {sorted(config)}; give each configuration "
            "exactly the measure's arguments (seed comes from seeds=)."
        ) from exc


def as_seeds(seeds: int | Iterable[int]) -> list[int]:
    """A seed count ``N`` (seeds 0..N−1) or a list of int seeds, as a list."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise InvalidArgumentError(
                f"seeds must be ≥ 1 (a count) or a list of ints; got {seeds}."
            )
        return list(range(int(seeds)))
    try:
        out = list(seeds)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InvalidArgumentError(
            f"seeds must be a count or an iterable of ints; got {seeds!r}."
        ) from exc
    if not out or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                          for s in out):
        raise InvalidArgumentError(f"seeds must be a non-empty list of ints; got {out!r}.")
    return [int(s) for s in out]

"""Figure specifications a claim puts in its data, so that reports draw them.

Each kind of figure is one frozen dataclass below — the one place the kinds are listed
(:data:`KINDS`, :data:`SPECS`); the report's JSON Schema and its renderers read them from
here. A claim builds a spec with the factory of its kind (``loglog_rate(...)``, ...) and
puts it in ``Outcome.data["figures"]``; the claim's Result holds its JSON form
(:meth:`to_dict`, a plain dict with a ``kind`` key), and the report turns that back into the
typed spec (:func:`from_dict`) to draw it. The report draws every kind the same way whatever
claim made it, and never looks at claim ids.

=============  ============================================================================
kind           fields
=============  ============================================================================
loglog_rate    x (list), series {label: list of y}, slopes {label: fitted slope} (optional),
               xlabel, ylabel, reference_slope (optional: a dashed guide line of that slope)
heatmap        panels {label: 2-D list}, xlabel, ylabel (panels drawn side by side, one scale)
bars           labels (list of str), values (list), xlabel, ylabel, baseline (optional
               float: the bars sum to ``total − baseline``), total (optional float)
curves         x (list), series {label: list of y}, xlabel, ylabel, logy (bool)
=============  ============================================================================

Text (titles, labels, series names) may carry sub- and superscripts written as in LaTeX
(``K^g_{w(t)}``, ``m^{-1/2}``); the report renders them as math.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from numpy.typing import ArrayLike

from ..errors import InvalidArgumentError

__all__ = ["KINDS", "SPECS", "Figure", "LoglogRate", "Heatmap", "Bars", "Curves",
           "loglog_rate", "heatmap", "bars", "curves", "from_dict"]

Series = dict[str, list[Any]]


def _floats(values: Any) -> list[Any]:
    """Numbers as a (nested) list of Python floats; JSON's stand-ins ("nan", "inf") kept."""
    import numpy as np

    try:
        return np.asarray(values, dtype=np.float64).tolist()
    except (TypeError, ValueError):  # e.g. "nan" strings read back from results.json
        return [_floats(v) if isinstance(v, (list, tuple)) else v for v in values]


@dataclass(frozen=True)
class _Spec:
    kind: ClassVar[str]
    title: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"kind": ..., "title": ..., <fields>}``."""
        return {"kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class LoglogRate(_Spec):
    """Errors against a step size or width on log-log axes, with each series' fitted slope."""

    kind: ClassVar[str] = "loglog_rate"
    x: list[Any]
    series: Series
    xlabel: str
    ylabel: str
    slopes: dict[str, float] = field(default_factory=dict)
    reference_slope: float | None = None


@dataclass(frozen=True)
class Heatmap(_Spec):
    """One or more matrices side by side (e.g. K^g at w0 beside K^p), on one colour scale."""

    kind: ClassVar[str] = "heatmap"
    panels: dict[str, list[Any]]
    xlabel: str = "j"
    ylabel: str = "i"


@dataclass(frozen=True)
class Bars(_Spec):
    """Labelled bars (e.g. contributions a_i K^p summing to total − baseline)."""

    kind: ClassVar[str] = "bars"
    labels: list[str]
    values: list[Any]
    xlabel: str = ""
    ylabel: str = ""
    baseline: float | None = None
    total: float | None = None


@dataclass(frozen=True)
class Curves(_Spec):
    """Several curves over one x axis (e.g. kernel drift against time, narrow vs wide)."""

    kind: ClassVar[str] = "curves"
    x: list[Any]
    series: Series
    xlabel: str
    ylabel: str
    logy: bool = False


Figure = LoglogRate | Heatmap | Bars | Curves
"""Any figure spec."""

SPECS: dict[str, type[_Spec]] = {c.kind: c for c in (LoglogRate, Heatmap, Bars, Curves)}
"""Each kind's spec class, by kind."""

KINDS = tuple(SPECS)
"""The figure kinds, in the order of the table above."""


def from_dict(spec: Mapping[str, Any] | _Spec) -> Figure:
    """The typed spec of a figure's JSON form (a spec passes through unchanged).

    Raises :class:`~pkverify.errors.InvalidArgumentError` for an unknown kind or a missing
    field, naming what was expected.
    """
    if isinstance(spec, _Spec):
        return spec  # type: ignore[return-value]
    kind = spec.get("kind")
    cls = SPECS.get(str(kind))
    if cls is None:
        raise InvalidArgumentError(
            f"figure spec: kind {kind!r} is not one of {', '.join(KINDS)}; build figures with "
            "pkverify.claims.figures")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in spec.items() if k in names})  # type: ignore[return-value]
    except TypeError as exc:
        raise InvalidArgumentError(f"figure spec of kind {kind!r}: {exc}; expected the fields "
                                   f"{', '.join(sorted(names))}") from None


def loglog_rate(
    title: str,
    x: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    xlabel: str,
    ylabel: str,
    slopes: Mapping[str, float] | None = None,
    reference_slope: float | None = None,
) -> LoglogRate:
    """Errors against a step size or width on log-log axes, with each series' fitted slope."""
    return LoglogRate(
        title=title, x=_floats(x), series={k: _floats(v) for k, v in series.items()},
        xlabel=xlabel, ylabel=ylabel, slopes={k: float(v) for k, v in (slopes or {}).items()},
        reference_slope=None if reference_slope is None else float(reference_slope),
    )


def heatmap(title: str, panels: Mapping[str, Any], *, xlabel: str = "j",
            ylabel: str = "i") -> Heatmap:
    """One or more matrices side by side (e.g. K^g at w0 beside K^p)."""
    return Heatmap(title=title, panels={k: _floats(v) for k, v in panels.items()},
                   xlabel=xlabel, ylabel=ylabel)


def bars(
    title: str,
    labels: Sequence[str],
    values: ArrayLike,
    *,
    xlabel: str = "",
    ylabel: str = "",
    baseline: float | None = None,
    total: float | None = None,
) -> Bars:
    """Labelled bars (e.g. contributions a_i K^p summing to prediction − b)."""
    return Bars(title=title, labels=[str(s) for s in labels], values=_floats(values),
                xlabel=xlabel, ylabel=ylabel,
                baseline=None if baseline is None else float(baseline),
                total=None if total is None else float(total))


def curves(
    title: str,
    x: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
) -> Curves:
    """Several curves over one x axis (e.g. kernel drift against time, narrow vs wide)."""
    return Curves(title=title, x=_floats(x), series={k: _floats(v) for k, v in series.items()},
                  xlabel=xlabel, ylabel=ylabel, logy=bool(logy))

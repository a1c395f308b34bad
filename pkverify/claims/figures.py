"""Figure specifications a claim puts in its data, so that reports draw them.

A claim's ``Outcome.data["figures"]`` is a list of plain dicts built by the functions here.
Each names its ``kind``; the report renders every kind the same way whatever claim made it,
and never looks at claim ids. All values are JSON-friendly lists and numbers.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from numpy.typing import ArrayLike

__all__ = ["KINDS", "loglog_rate", "heatmap", "bars", "curves"]

KINDS = ("loglog_rate", "heatmap", "bars", "curves")


def _floats(values: Any) -> list[Any]:
    import numpy as np

    return np.asarray(values, dtype=np.float64).tolist()


def loglog_rate(
    title: str,
    x: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    xlabel: str,
    ylabel: str,
    slopes: Mapping[str, float] | None = None,
    reference_slope: float | None = None,
) -> dict[str, Any]:
    """Errors against a step size or width on log-log axes, with each series' fitted slope."""
    return {
        "kind": "loglog_rate",
        "title": title,
        "x": _floats(x),
        "series": {k: _floats(v) for k, v in series.items()},
        "slopes": {k: float(v) for k, v in (slopes or {}).items()},
        "xlabel": xlabel,
        "ylabel": ylabel,
        "reference_slope": reference_slope,
    }


def heatmap(
    title: str, panels: Mapping[str, Any], *, xlabel: str = "j", ylabel: str = "i"
) -> dict[str, Any]:
    """One or more matrices side by side (e.g. K^g at w0 beside K^p)."""
    return {
        "kind": "heatmap",
        "title": title,
        "panels": {k: _floats(v) for k, v in panels.items()},
        "xlabel": xlabel,
        "ylabel": ylabel,
    }


def bars(
    title: str,
    labels: Sequence[str],
    values: ArrayLike,
    *,
    xlabel: str = "",
    ylabel: str = "",
    baseline: float | None = None,
    total: float | None = None,
) -> dict[str, Any]:
    """Labelled bars (e.g. contributions a_i K^p summing to prediction − b)."""
    return {
        "kind": "bars",
        "title": title,
        "labels": [str(s) for s in labels],
        "values": _floats(values),
        "xlabel": xlabel,
        "ylabel": ylabel,
        "baseline": None if baseline is None else float(baseline),
        "total": None if total is None else float(total),
    }


def curves(
    title: str,
    x: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
) -> dict[str, Any]:
    """Several curves over one x axis (e.g. kernel drift against time, narrow vs wide)."""
    return {
        "kind": "curves",
        "title": title,
        "x": _floats(x),
        "series": {k: _floats(v) for k, v in series.items()},
        "xlabel": xlabel,
        "ylabel": ylabel,
        "logy": bool(logy),
    }

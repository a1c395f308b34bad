"""Draw a claim's figure specs (:mod:`pkverify.claims.figures`) as SVG with matplotlib (Agg).

:func:`render_svg` draws any spec by its kind — never by which claim made it — and returns
one standalone SVG document as text; it takes the typed spec or its JSON form. Output is
deterministic: a fixed hash salt for matplotlib's element ids and no date in the metadata,
so the same data gives the same file. Text stays text (``svg.fonttype = "none"``): smaller
files, drawn in the reader's sans-serif. Notation in titles, labels and legends
(``K^g_{w(t)}``, ``m^{-1/2}``) is drawn as mathtext (:func:`pkverify.report.notation.mathtext`).
Legends stand outside the axes, right of them, so they never cover a curve.

:func:`inline_svg` turns such a document into an element for embedding in HTML: the XML
prologue is dropped and every id is prefixed, so several figures on one page cannot clash.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..claims.figures import Bars, Curves, Heatmap, LoglogRate, from_dict
from ..errors import InvalidArgumentError
from .notation import mathtext

__all__ = ["render_svg", "draw", "inline_svg", "RENDERERS"]

_RC: dict[str, Any] = {
    "svg.hashsalt": "pkverify",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.dpi": 100,
}

_SIZE = (7.0, 3.8)
"""Figure size in inches (the page shows it at up to 760 px, scaled to the column)."""


def _num(v: Any) -> float:
    """A plotted value: numbers as floats, the strings 'nan'/'inf' (JSON's stand-ins) too."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _positive(xs: list[Any], ys: list[Any]) -> tuple[list[float], list[float]]:
    """Points usable on log axes (both coordinates finite and > 0)."""
    pts = [(_num(x), _num(y)) for x, y in zip(xs, ys)]
    pts = [(x, y) for x, y in pts if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _labels(ax: Any, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(mathtext(xlabel))
    ax.set_ylabel(mathtext(ylabel))


def _legend(ax: Any) -> None:
    """The legend outside the axes, right of them (never over a curve), if anything is named."""
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  ncol=2 if len(handles) > 12 else 1, frameon=False)


def _loglog_rate(fig: Any, spec: LoglogRate) -> None:
    ax = fig.add_subplot(1, 1, 1)
    first: tuple[float, float] | None = None
    for label, ys in spec.series.items():
        x, y = _positive(spec.x, ys)
        if not x:
            continue
        name = mathtext(label)
        slope = spec.slopes.get(label)
        text = f"{name} (slope {_num(slope):.2f})" if slope is not None else name
        ax.plot(x, y, marker="o", label=text)
        if first is None:
            first = (x[0], y[0])
    ref = spec.reference_slope
    xs = [v for v in (_num(x) for x in spec.x) if v > 0 and math.isfinite(v)]
    if ref is not None and first is not None and xs:
        x0, y0 = first
        lo, hi = min(xs), max(xs)
        ax.plot([lo, hi], [y0 * (lo / x0) ** ref, y0 * (hi / x0) ** ref], "k--", lw=0.8,
                label=f"slope {ref:g} (guide)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels on a short decade collide
    _labels(ax, spec.xlabel, spec.ylabel)
    ax.grid(True, which="both", lw=0.3)
    _legend(ax)


def _heatmap(fig: Any, spec: Heatmap) -> None:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    panels = {k: np.asarray([[_num(v) for v in row] for row in m]) for k, m in
              spec.panels.items()}
    if not panels:
        return
    finite = [m[np.isfinite(m)] for m in panels.values()]
    vals = np.concatenate([f for f in finite if f.size] or [np.zeros(1)])
    vmin, vmax = float(vals.min()), float(vals.max())
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for k, (ax, (label, m)) in enumerate(zip(axes, panels.items())):
        # vector cells (pcolormesh), not a raster <image>: the page stays free of data: URIs
        image = ax.pcolormesh(m, vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_aspect("equal")
        ax.invert_yaxis()  # row 0 at the top, as a matrix is written
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(mathtext(label))
        ax.set_xlabel(mathtext(spec.xlabel))
        if k == 0:
            ax.set_ylabel(mathtext(spec.ylabel))
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), shrink=0.8)
        if bar.solids is not None:
            bar.solids.set_rasterized(False)  # matplotlib rasterizes the scale by default


def _bars(fig: Any, spec: Bars) -> None:
    ax = fig.add_subplot(1, 1, 1)
    labels = [mathtext(s) for s in spec.labels]
    values = [_num(v) for v in spec.values]
    colors = ["tab:blue" if v >= 0 else "tab:red" for v in values]
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=30 if len(labels) > 6 else 0, ha="right"
                       if len(labels) > 6 else "center", fontsize=7 if len(labels) > 6 else 8)
    ax.axhline(0.0, color="k", lw=0.6)
    _labels(ax, spec.xlabel, spec.ylabel)
    base, total = spec.baseline, spec.total
    if base is not None and total is not None:  # beside the axes: it never covers a bar
        ax.text(1.02, 1.0, f"Σ bars = {sum(values):.6g}\nprediction − b(x) = "
                f"{_num(total) - _num(base):.6g}\n(b(x) = {_num(base):.6g})",
                transform=ax.transAxes, ha="left", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "0.7"})
    ax.grid(True, axis="y", lw=0.3)


def _curves(fig: Any, spec: Curves) -> None:
    ax = fig.add_subplot(1, 1, 1)
    xs = [_num(x) for x in spec.x]
    marker = "o" if len(xs) <= 12 else None
    for label, ys in spec.series.items():
        y = [_num(v) for v in ys]
        if spec.logy:
            pts = [(a, b) for a, b in zip(xs, y) if b > 0 and math.isfinite(b)]
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker,
                    label=mathtext(label))
        else:
            ax.plot(xs, y, marker=marker, label=mathtext(label))
    if spec.logy:
        ax.set_yscale("log")
    _labels(ax, spec.xlabel, spec.ylabel)
    ax.grid(True, lw=0.3)
    if len(spec.series) <= 24:
        _legend(ax)


RENDERERS: dict[str, Callable[[Any, Any], None]] = {
    LoglogRate.kind: _loglog_rate,
    Heatmap.kind: _heatmap,
    Bars.kind: _bars,
    Curves.kind: _curves,
}
"""The drawing function of each figure kind (one per :data:`pkverify.claims.figures.KINDS`)."""


def draw(spec: Any) -> Any:
    """One figure spec (typed, or its JSON form) → a matplotlib ``Figure`` (not pyplot's).
    A spec of an unknown kind draws a note saying so instead of failing the report."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # a Figure, not pyplot: no global figure state

    kind = spec.get("kind", "") if isinstance(spec, Mapping) else getattr(spec, "kind", "")
    try:
        typed = from_dict(spec)
    except InvalidArgumentError as exc:
        fig = Figure(figsize=_SIZE)
        note = (f"(no renderer for figure kind {kind!r})" if kind not in RENDERERS
                else f"({exc})")
        fig.text(0.5, 0.5, note, ha="center")
        return fig
    wide = isinstance(typed, Heatmap) and len(typed.panels) > 1
    fig = Figure(figsize=(_SIZE[0] * 4 / 3, _SIZE[1]) if wide else _SIZE)
    RENDERERS[typed.kind](fig, typed)
    if typed.title:
        fig.suptitle(mathtext(typed.title), fontsize=10)
    return fig


def render_svg(spec: Any) -> str:
    """One figure spec (typed, or its JSON form) → a standalone SVG document (text)."""
    import matplotlib

    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        fig = draw(spec)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def inline_svg(svg: str, prefix: str) -> str:
    """The ``<svg>`` element of a document, with every id (and reference to it) prefixed and
    matplotlib's RDF ``<metadata>`` block and source comments dropped (a page needs no
    creator record, and a comment is no text a reader sees)."""
    body = _PROLOGUE.sub("", svg, count=1)
    body = re.sub(r"\s*<metadata>.*?</metadata>", "", body, flags=re.S)
    body = re.sub(r"\s*<!--.*?-->", "", body, flags=re.S)  # matplotlib's source comments
    body = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', body)
    body = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', body)
    body = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", body)
    return body.strip()

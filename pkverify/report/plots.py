"""Draw a claim's figure specs (:mod:`pkverify.claims.figures`) as SVG with matplotlib (Agg).

:func:`render_svg` draws any spec by its ``kind`` — never by which claim made it — and
returns one standalone SVG document as text. Output is deterministic: a fixed hash salt for
matplotlib's element ids and no date in the metadata, so the same data gives the same file.
Text stays text (``svg.fonttype = "none"``): smaller files, drawn in the reader's sans-serif.

:func:`inline_svg` turns such a document into an element for embedding in HTML: the XML
prologue is dropped and every id is prefixed, so several figures on one page cannot clash.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["render_svg", "inline_svg", "RENDERERS"]

_RC: dict[str, Any] = {
    "svg.hashsalt": "pkverify",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.dpi": 100,
}


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


def _loglog_rate(fig: Any, spec: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    slopes = spec.get("slopes") or {}
    first: tuple[float, float] | None = None
    for label, ys in spec.get("series", {}).items():
        x, y = _positive(spec.get("x", []), ys)
        if not x:
            continue
        text = f"{label} (slope {slopes[label]:.2f})" if label in slopes else label
        ax.plot(x, y, marker="o", label=text)
        if first is None:
            first = (x[0], y[0])
    ref = spec.get("reference_slope")
    xs = [v for v in (_num(x) for x in spec.get("x", [])) if v > 0]
    if ref is not None and first is not None and xs:
        x0, y0 = first
        lo, hi = min(xs), max(xs)
        ax.plot([lo, hi], [y0 * (lo / x0) ** ref, y0 * (hi / x0) ** ref], "k--", lw=0.8,
                label=f"slope {ref:g} (guide)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels on a short decade collide
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)


def _heatmap(fig: Any, spec: dict[str, Any]) -> None:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    panels = {k: np.asarray([[_num(v) for v in row] for row in m]) for k, m in
              spec.get("panels", {}).items()}
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
        ax.set_title(label)
        ax.set_xlabel(spec.get("xlabel", ""))
        if k == 0:
            ax.set_ylabel(spec.get("ylabel", ""))
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), shrink=0.8)
        if bar.solids is not None:
            bar.solids.set_rasterized(False)  # matplotlib rasterizes the scale by default


def _bars(fig: Any, spec: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    labels = spec.get("labels", [])
    values = [_num(v) for v in spec.get("values", [])]
    colors = ["tab:blue" if v >= 0 else "tab:red" for v in values]
    ax.bar(range(len(values)), values, color=colors)
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=30 if len(labels) > 6 else 0, ha="right"
                       if len(labels) > 6 else "center", fontsize=7 if len(labels) > 6 else 8)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    base, total = spec.get("baseline"), spec.get("total")
    if base is not None and total is not None:
        ax.text(0.99, 0.97, f"Σ bars = {sum(values):.6g}\nprediction − b(x) = "
                f"{_num(total) - _num(base):.6g}\n(b(x) = {_num(base):.6g})",
                transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "0.7"})
    ax.grid(True, axis="y", lw=0.3)


def _curves(fig: Any, spec: dict[str, Any]) -> None:
    ax = fig.add_subplot(1, 1, 1)
    xs = [_num(x) for x in spec.get("x", [])]
    logy = bool(spec.get("logy"))
    marker = "o" if len(xs) <= 12 else None
    for label, ys in spec.get("series", {}).items():
        y = [_num(v) for v in ys]
        if logy:
            pts = [(a, b) for a, b in zip(xs, y) if b > 0 and math.isfinite(b)]
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
        else:
            ax.plot(xs, y, marker=marker, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.grid(True, lw=0.3)
    if len(spec.get("series", {})) <= 10:
        ax.legend(fontsize=7, loc="best", ncol=2 if len(spec.get("series", {})) > 5 else 1)


RENDERERS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "loglog_rate": _loglog_rate,
    "heatmap": _heatmap,
    "bars": _bars,
    "curves": _curves,
}


def render_svg(spec: dict[str, Any]) -> str:
    """One figure spec → a standalone SVG document (text). An unknown kind draws a note."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # a Figure, not pyplot: no global figure state

    with matplotlib.rc_context(_RC):
        kind = spec.get("kind", "")
        wide = kind == "heatmap" and len(spec.get("panels", {})) > 1
        fig = Figure(figsize=(8.0 if wide else 6.0, 3.6))
        draw = RENDERERS.get(kind)
        if draw is None:
            fig.text(0.5, 0.5, f"(no renderer for figure kind {kind!r})", ha="center")
        else:
            draw(fig, spec)
        if spec.get("title"):
            fig.suptitle(spec["title"], fontsize=10)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)


def inline_svg(svg: str, prefix: str) -> str:
    """The ``<svg>`` element of a document, with every id (and reference to it) prefixed and
    matplotlib's RDF ``<metadata>`` block dropped (a page needs no creator record)."""
    body = _PROLOGUE.sub("", svg, count=1)
    body = re.sub(r"\s*<metadata>.*?</metadata>", "", body, flags=re.S)
    body = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', body)
    body = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', body)
    body = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", body)
    return body.strip()

"""Render claim Results as a Markdown correctness report."""

from __future__ import annotations

from typing import Any

from ..claims.registry import Result

__all__ = ["render_markdown"]

_BADGE = {"pass": "✅ pass", "fail": "❌ fail", "report": "ℹ️ reported", "error": "💥 error"}


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (a bare | would end the cell)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return _cell(value)


def render_markdown(results: list[Result], environment: dict[str, Any]) -> str:
    """A self-contained Markdown report: summary table, then each claim with its figures."""
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status in ("fail", "error") for r in results)
    lines = [
        "# pkverify correctness report",
        "",
        f"{passed} passed, {failed} failed, {len(results)} claims — seed "
        f"{environment.get('seed')}, {'quick' if environment.get('quick') else 'full'} run, "
        f"Python {environment.get('python')}, "
        + ", ".join(f"{k} {v}" for k, v in environment.get("versions", {}).items() if v),
        "",
        "| claim | status | finding | source |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| `{r.id}` | {_BADGE[r.status]} | {_cell(r.message)} | {_cell(r.source)} |")
    for r in results:
        lines += [
            "",
            f"## `{r.id}` — {r.title}",
            "",
            f"$$ {r.statement} $$",
            "",
            f"*Source:* {r.source}  ",
            f"*Tolerance:* {r.tolerance}  ",
            f"*Status:* {_BADGE[r.status]} ({r.seconds:.2f} s)",
            "",
            "| figure | value |",
            "|---|---|",
        ]
        lines += [f"| {k} | {_figure(v)} |" for k, v in r.metrics.items()]
    lines += _references(results)
    return "\n".join(lines) + "\n"


def _references(results: list[Result]) -> list[str]:
    """The full citation of every source id the claims cite, in order of first use."""
    from ..sources import SOURCES, parts

    ids: list[str] = []
    for r in results:
        for sid, _ in parts(r.source):
            if sid in SOURCES and sid not in ids:
                ids.append(sid)
    if not ids:
        return []
    return ["", "## References", ""] + [f"- `{sid}`: {SOURCES[sid].citation()}" for sid in ids]

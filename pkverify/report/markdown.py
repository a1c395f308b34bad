"""Render claim Results as a Markdown correctness report.

* :func:`render_markdown` — the table-only report of ``pkverify verify --markdown``;
* :func:`render_report` — ``report.md`` of ``pkverify report``: the same content as
  ``index.html`` for a code host (LaTeX math in ``$$ … $$``, figures as ``figures/*.svg``).
"""

from __future__ import annotations

from typing import Any

from ..claims.registry import Result
from .content import figure_path, fmt, key_figure

__all__ = ["render_markdown", "render_report"]

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
        f"{environment.get('seed')}, {environment.get('mode', 'full')} run, "
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


def _math(tex: str) -> list[str]:
    return ["$$", tex.strip(), "$$"]


def _env_lines(env: dict[str, Any]) -> list[str]:
    git = env.get("git")
    rev = "not a git checkout" if not git else git["commit"][:12] + (" (dirty)" if git["dirty"]
                                                                     else "")
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    return [
        f"- command: `{env.get('command')}`",
        f"- seed {env.get('seed')}, {env.get('mode')} run, {env.get('dtype')}",
        f"- git revision: {rev}",
        f"- Python {env.get('python')} on {env.get('platform')}",
        f"- {versions}",
        f"- generated {env.get('generated_at')}",
    ]


def _checks_table(checks: list[dict[str, Any]]) -> list[str]:
    if not checks:
        return []
    lines = ["| numeric check on the report's model | value | tolerance | result |",
             "|---|---|---|---|"]
    for c in checks:
        tol = "reported" if c["tolerance"] is None else f"≤ {c['tolerance']:g} ({c['reason']})"
        mark = "—" if c["ok"] is None else ("✅" if c["ok"] else "❌")
        lines.append(f"| {_cell(c['what'])} | {c['value']:.3g} | {_cell(tol)} | {mark} |")
    return lines


def _proof_lines(proof: dict[str, Any]) -> list[str]:
    query = ", ".join(f"{v:.4g}" for v in proof["query"])
    lines = [
        "",
        "## The proof, step by step",
        "",
        f"Each step is checked twice: symbolically with SymPy on a concrete model "
        f"({proof['symbolic_model']}), and numerically on this report's own model: "
        f"{proof['model']}. The query point is x = ({query}).",
    ]
    for p in proof["proofs"]:
        lines += ["", f"### {p['title']}"]
        for n, step in enumerate(p["steps"], 1):
            lines += ["", f"**{n}. {step['key'].replace('_', ' ')}.** {step['sentence']}", ""]
            lines += _math(step["latex"])
            sym = step["symbolic"]
            if sym is not None:
                lines += ["", f"*Symbolic:* {'✅ verified' if sym['ok'] else '❌ NOT verified'} "
                          f"({sym['method']}: {sym['detail']}; {sym['how']})"]
            table = _checks_table(step["numeric"])
            if table:
                lines += [""] + table
            for k, spec in enumerate(step["figures"]):
                path = figure_path(f"proof-{p['name']}-{step['key']}", k)
                lines += ["", f"![{spec.get('title', '')}]({path})"]
    return lines


def render_report(payload: dict[str, Any]) -> str:
    """``report.md`` from a ``results.json`` payload (see :mod:`pkverify.report.json`)."""
    summary, env = payload["summary"], payload["environment"]
    claims = payload["claims"]
    lines = [
        "# pkverify correctness report",
        "",
        "Domingos (2020), *Every Model Learned by Gradient Descent Is Approximately a Kernel "
        "Machine*, and the neural-tangent-kernel facts it rests on, checked claim by claim.",
        "",
    ]
    if claims:
        lines += [
            f"**{summary['passed']} passed, {summary['failed'] + summary['errors']} failed, "
            f"{summary['reported']} reported** of {summary['total']} claims.",
            "",
            "| claim | source | status | key figure |",
            "|---|---|---|---|",
        ]
        for c in claims:
            lines.append(f"| [`{c['id']}`](#{_anchor(c['id'])}) | {_cell(c['source'])} | "
                         f"{_BADGE[c['status']]} | {_cell(key_figure(c))} |")
    for c in claims:
        lines += ["", f"## {c['id']}", "", f"**{c['title']}**", ""]
        lines += _math(c["statement"])
        lines += [
            "",
            f"- *Status:* {_BADGE[c['status']]}",
            f"- *Source:* {c['source']}",
            f"- *Measured:* {c['message']}",
            f"- *Tolerance and its reason:* {c['tolerance']}",
            f"- *Reproduce:* `{c['command']}`",
            "",
            "| figure | value |",
            "|---|---|",
        ]
        lines += [f"| {_cell(k)} | {_cell(fmt(v))} |" for k, v in c["metrics"].items()]
        for k, spec in enumerate(c.get("data", {}).get("figures", []) or []):
            lines += ["", f"![{spec.get('title', '')}]({figure_path(c['id'], k)})"]
    if payload.get("proof"):
        lines += _proof_lines(payload["proof"])
    lines += ["", "## Environment", ""] + _env_lines(env)
    return "\n".join(lines) + "\n"


def _anchor(claim_id: str) -> str:
    """GitHub's heading anchor for ``## claim.id`` (dots dropped, lower case)."""
    return claim_id.lower().replace(".", "")



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

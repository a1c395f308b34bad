"""``index.html``: one self-contained page from a ``results.json`` payload.

Self-contained means: no scripts, no external style sheets, fonts or images, no network —
a Content-Security-Policy of ``default-src 'none'`` says so to the browser. Math is MathML
(:mod:`pkverify.report.mathml`), figures are inline SVG (:mod:`pkverify.report.plots`), the
style sheet is inline. Layout: a summary table (claim, source, status, key figure), one
section per claim (statement, what was measured, tolerance and reason, figures, the command
that reproduces it), the proof walkthrough, the environment.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .content import STATUS_LABEL, figure_path, fmt, key_figure
from .mathml import prose_html, to_mathml
from .plots import inline_svg

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1000px;margin:0 auto;
padding:1.2em;color:#1b1f23;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f4f6}code{background:#f3f4f6;padding:0 .2em;border-radius:3px}
.status{font-weight:600;padding:.05em .45em;border-radius:4px;white-space:nowrap}
.pass{background:#d1fadf;color:#05603a}.fail,.error{background:#fee4e2;color:#912018}
.report{background:#e0eaff;color:#1d2c6e}
.banner{padding:.6em .9em;border-radius:6px;margin:.6em 0}
figure{margin:1em 0}figure svg{display:block;width:100%;max-width:760px;height:auto}
figcaption{font-size:.85em;color:#555}
math{font-family:"Latin Modern Math","STIX Two Math","Cambria Math","DejaVu Math TeX Gyre",
"TeX Gyre Pagella Math",math}
math[display=block]{margin:.6em 0;overflow-x:auto;overflow-y:hidden}
.num,td.value{white-space:nowrap}
dl.facts{display:grid;grid-template-columns:11em 1fr;gap:.2em .8em}dl.facts dt{font-weight:600}
dl.facts dd{margin:0}.step{border-left:3px solid #c7d2fe;padding-left:.8em;margin:1.2em 0}
"""


def _status(status: str) -> str:
    return f'<span class="status {escape(status)}">{escape(STATUS_LABEL[status])}</span>'


def _figure(path: str, spec: dict[str, Any], svgs: dict[str, str], n: int) -> str:
    svg = svgs.get(path)
    if svg is None:
        return ""
    body = inline_svg(svg, f"fig{n}")
    return (f'<figure class="plot" data-kind="{escape(spec.get("kind", ""))}">{body}'
            f"<figcaption>{prose_html(spec.get('title', ''))}</figcaption></figure>")


def _summary(payload: dict[str, Any]) -> str:
    s = payload["summary"]
    ok = s["ok"]
    proof = payload.get("proof")
    if s["total"] == 0 and proof is not None:  # report --proof: the walkthrough alone
        text = ("The proof walkthrough alone (no claims run): "
                + ("verified" if proof["ok"] else "NOT verified"))
    else:
        text = (f"{s['passed']} passed, {s['failed'] + s['errors']} failed, {s['reported']} "
                f"reported of {s['total']} claims")
        if proof is not None:
            text += "; proof walkthrough " + ("verified" if proof["ok"] else "NOT verified")
    cls = "pass" if ok else "fail"
    rows = "".join(
        f'<tr><td><a href="#claim-{escape(c["id"])}"><code>{escape(c["id"])}</code></a></td>'
        f"<td>{escape(c['source'])}</td><td>{_status(c['status'])}</td>"
        f'<td class="value">{escape(key_figure(c))}</td></tr>'
        for c in payload["claims"]
    )
    table = ""
    if payload["claims"]:
        table = ('<table id="summary-table"><thead><tr><th>claim</th><th>source</th>'
                 f"<th>status</th><th>key figure</th></tr></thead><tbody>{rows}</tbody></table>")
    return (f'<section id="summary"><p class="banner {cls}">{escape(text)}.</p>{table}'
            "</section>")


def _claim(c: dict[str, Any], svgs: dict[str, str], counter: list[int]) -> str:
    metrics = "".join(f'<tr><td>{escape(k)}</td><td class="value">{escape(fmt(v))}</td></tr>'
                      for k, v in c["metrics"].items())
    figures = []
    for k, spec in enumerate(c.get("data", {}).get("figures", []) or []):
        counter[0] += 1
        figures.append(_figure(figure_path(c["id"], k), spec, svgs, counter[0]))
    return (
        f'<section class="claim" id="claim-{escape(c["id"])}">'
        f"<h2><code>{escape(c['id'])}</code> — {prose_html(c['title'])}</h2>"
        f"{to_mathml(c['statement'])}"
        '<dl class="facts">'
        f"<dt>Status</dt><dd>{_status(c['status'])}</dd>"
        f"<dt>Source</dt><dd>{escape(c['source'])}</dd>"
        f"<dt>Measured</dt><dd>{prose_html(c['message'])}</dd>"
        f"<dt>Tolerance</dt><dd>{prose_html(c['tolerance'])}</dd>"
        f"<dt>Reproduce</dt><dd><code>{escape(c['command'])}</code></dd></dl>"
        f'<table class="metrics"><thead><tr><th>figure</th><th>value</th></tr></thead>'
        f"<tbody>{metrics}</tbody></table>{''.join(figures)}</section>"
    )


def _checks(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return ""
    rows = []
    for c in checks:
        tol = ("reported" if c["tolerance"] is None
               else f"≤ {fmt(c['tolerance'])} — {c['reason']}")
        res = ("—" if c["ok"] is None else _status("pass" if c["ok"] else "fail"))
        rows.append(f'<tr><td>{prose_html(c["what"])}</td><td class="value">'
                    f"{escape(fmt(c['value']))}</td><td>{prose_html(tol)}</td><td>{res}</td></tr>")
    return ('<table class="checks"><thead><tr><th>numeric check on the report\'s model</th>'
            f"<th>value</th><th>tolerance</th><th>result</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _proof(proof: dict[str, Any], svgs: dict[str, str], counter: list[int]) -> str:
    parts = [
        '<section id="proof"><h2>The proof, step by step</h2>',
        "<p>Each step is checked twice: <em>symbolically</em> with SymPy on a concrete model "
        f"({escape(proof['symbolic_model'])}), and <em>numerically</em> on this report's own "
        f"model: {escape(proof['model'])}. Query point x = "
        f"({escape(', '.join(f'{v:.4g}' for v in proof['query']))}).</p>",
    ]
    for p in proof["proofs"]:
        parts.append(f'<h3 id="proof-{escape(p["name"])}">{prose_html(p["title"])}</h3><ol>')
        for step in p["steps"]:
            sym = step["symbolic"]
            sym_html = ""
            if sym is not None:
                sym_html = (f"<p>Symbolic: {_status('pass' if sym['ok'] else 'fail')} "
                            f"{escape(sym['method'])} — {prose_html(sym['detail'])}; "
                            f"{prose_html(sym['how'])}</p>")
            figs = []
            for k, spec in enumerate(step["figures"]):
                counter[0] += 1
                figs.append(_figure(figure_path(f"proof-{p['name']}-{step['key']}", k), spec,
                                    svgs, counter[0]))
            parts.append(
                f'<li class="step" id="step-{escape(p["name"])}-{escape(step["key"])}">'
                f"<p><strong>{escape(step['key'].replace('_', ' '))}.</strong> "
                f"{prose_html(step['sentence'])}</p>{to_mathml(step['latex'])}{sym_html}"
                f"{_checks(step['numeric'])}{''.join(figs)}</li>"
            )
        parts.append("</ol>")
    parts.append("</section>")
    return "".join(parts)


def _environment(env: dict[str, Any]) -> str:
    git = env.get("git")
    rev = "not a git checkout" if not git else git["commit"] + (" (dirty)" if git["dirty"]
                                                                else "")
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    rows = [("command", f"<code>{escape(env['command'])}</code>"),
            ("seed", escape(str(env["seed"]))), ("mode", escape(env["mode"])),
            ("git revision", escape(rev)), ("Python", escape(env["python"])),
            ("platform", escape(env["platform"])), ("packages", escape(versions)),
            ("generated", escape(env["generated_at"]))]
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<section id="environment"><h2>Environment</h2><dl class="facts">{items}</dl></section>'


def render_html(payload: dict[str, Any], svgs: dict[str, str]) -> str:
    """The page for ``payload``; ``svgs`` maps each figure's relative path
    (:func:`~pkverify.report.content.figure_path`) to its SVG document."""
    counter = [0]
    body = [
        "<header><h1>pkverify correctness report</h1>"
        "<p>Domingos (2020), <em>Every Model Learned by Gradient Descent Is Approximately a "
        "Kernel Machine</em>, and the neural-tangent-kernel facts it rests on, checked claim "
        "by claim: each with its statement, what was measured, the tolerance and its reason, "
        "and the command that reproduces it.</p></header>",
        _summary(payload),
    ]
    body += [_claim(c, svgs, counter) for c in payload["claims"]]
    if payload.get("proof"):
        body.append(_proof(payload["proof"], svgs, counter))
    body.append(_environment(payload["environment"]))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pkverify correctness report</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )

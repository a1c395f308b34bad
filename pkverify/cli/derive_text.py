"""What ``pkverify derive`` prints: closed forms and verified proof steps, as text, LaTeX or
MathML (:mod:`.derive` checks the options and calls :func:`print_target`).

Text: long closed forms are printed with their common subexpressions named (``q0 = ...``, by
``sympy.cse``) and wrapped at 100 columns (``--full`` prints them whole); step equations are
shown as Unicode text (:func:`~pkverify.cli.tex_text.tex_to_text`); a numerical constant in a
model (the layer scale √(c_σ/m) of tanh, softplus, sigmoid, whose c_σ has no closed form) is
named and its value explained. MathML: one self-contained HTML page, each formula a
``<math display="block">`` element under its label.
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Sequence
from html import escape
from typing import Any, TextIO

import sympy as sp

from .tex_text import tex_to_text

__all__ = ["print_target", "format_exprs", "mathml_page", "WIDTH"]

WIDTH = 100
"""Text output is wrapped at this many columns."""

_MATHML_NS = "http://www.w3.org/1998/Math/MathML"
_FORMULA = "\x00"
"""Marks a line of MathML markup (a formula) among prose lines while a page is assembled."""


# ----- printing ------------------------------------------------------------------------------


def _wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    """Wrap a one-line plain expression at spaces (sstr puts them around + and −)."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent + "    ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def _render(expr: Any, fmt: str) -> str:
    if fmt == "latex":
        return sp.latex(expr)
    if fmt == "mathml":
        return _numeric_entities(sp.mathml(expr, printer="presentation"))
    return sp.sstr(expr)


def _numeric_entities(markup: str) -> str:
    """``&InvisibleTimes;`` → ``&#x2062;``: HTML's named entities are not XML's, and the page
    should read as XHTML too."""
    import re
    from html.entities import html5

    keep = {"amp", "lt", "gt", "quot", "apos"}

    def numeric(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in keep or f"{name};" not in html5:
            return m.group(0)
        return "".join(f"&#x{ord(ch):x};" for ch in html5[f"{name};"])

    return re.sub(r"&([A-Za-z][A-Za-z0-9]*);", numeric, markup)


def _math(label: str, body: str) -> str:
    """A formula line of the MathML page: the label as text, then a display-math block."""
    return (f'{_FORMULA}<p class="label">{escape(label)}</p>'
            f'<math xmlns="{_MATHML_NS}" display="block">{body}</math>')


def format_exprs(
    labelled: Sequence[tuple[str, Any]], fmt: str = "text", full: bool = False
) -> list[str]:
    """Print ``label = expr`` lines; long forms share named subexpressions.

    Unless ``full``, expressions longer than a line go through ``sympy.cse`` together, so a
    subexpression used in several of them is named once (``q0 = ...``, listed under
    "where"). Text is wrapped at 100 columns; LaTeX and MathML print one form per line.
    """
    exprs = [sp.sympify(e) for _, e in labelled]
    long = any(len(sp.sstr(e)) > WIDTH - 20 for e in exprs)
    subs: list[tuple[Any, Any]] = []
    if long and not full:
        subs, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("q"), optimizations="basic")
        exprs = list(reduced)
    lines: list[str] = []
    for (label, _), expr in zip(labelled, exprs):
        if fmt == "text":
            lines.extend(_wrap(f"{label} {sp.sstr(expr)}", ""))
        elif fmt == "mathml":
            lines.append(_math(label, _render(expr, fmt)))
        else:
            lines.append(f"{label} {_render(expr, fmt)}")
    if subs:
        lines.append("  where")
        for sym, sub in subs:
            if fmt == "text":
                lines.extend(_wrap(f"{sym} = {sp.sstr(sub)}", "    "))
            elif fmt == "mathml":
                lines.append(_math("", f"{_render(sym, fmt)}<mo>=</mo>{_render(sub, fmt)}"))
            else:
                lines.append(f"    {_render(sym, fmt)} = {_render(sub, fmt)}")
    return lines


def _emit(lines: Sequence[str], out: TextIO, indent: str = "") -> None:
    for line in lines:
        print((indent + line) if line and not line.startswith(_FORMULA) else line, file=out)


def mathml_page(text: str, title: str) -> str:
    """The lines :func:`print_target` printed in MathML format as one HTML page: prose lines
    become paragraphs, formula lines stay MathML (``<math display="block">``)."""
    body = []
    for line in text.splitlines():
        if line.startswith(_FORMULA):
            body.append(f'<div class="formula">{line[len(_FORMULA):]}</div>')
        elif line.strip():
            body.append(f"<p>{escape(line.strip())}</p>")
    css = ("body{font-family:system-ui,sans-serif;max-width:60em;margin:0 auto;padding:1em}"
           ".label{margin:.8em 0 0;color:#444}math[display=block]{margin:.2em 0 .6em 1em;"
           "overflow-x:auto}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"/>"
            f"<title>{escape(title)}</title><style>{css}</style></head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n")


# ----- targets -------------------------------------------------------------------------------


def _model(args: Any, fmt: str, full: bool, out: TextIO) -> int:
    from ..symbolic.models import build
    from ..symbolic.tangent import tangent_kernel

    kw: dict[str, Any] = {"dim": args.dim}
    if args.model in ("two_layer", "mlp"):
        kw.update(width=args.width, activation=args.activation or "relu")
    if args.model == "mlp":
        kw.update(depth=args.depth)
    if args.model == "linear":
        kw.update(bias=True)  # as pkverify.models.linear: f = w·x + b
    tk = tangent_kernel(build(args.model, **kw))
    m = tk.model
    print(f"Model: {m.name} ({m.n_params} parameters, d = {m.dim}"
          + (f", σ = {m.activation}" if m.activation else "") + ")", file=out)
    named = _name_constants([m.expr, *tk.gradient, *(k for _, k in tk.blocks)],
                            m.activation, args.width)
    for symbol, text in named.values():
        if text:
            _emit(_wrap(f"{symbol} = {text}", "  ", 10**6 if fmt == "mathml" else WIDTH), out)
    subs = {value: symbol for value, (symbol, _) in named.items()}
    print(file=out)
    _emit(format_exprs([("f(w, x) =", m.expr.xreplace(subs))], fmt, full), out)
    print("\nGradient ∇_w f(w, x), one line per parameter:", file=out)
    _emit(format_exprs([(f"∂f/∂{p} =", g.xreplace(subs)) for p, g in zip(m.params, tk.gradient)],
                       fmt, full), out, "  ")
    print("\nTangent kernel K^g(x, x') = ∇_w f(w, x) · ∇_w f(w, x'), by parameter block:",
          file=out)
    _emit(format_exprs([(f"[{label}]", k.xreplace(subs)) for label, k in tk.blocks], fmt, full),
          out, "  ")
    print(f"\n(derived in {tk.seconds:.2f} s)", file=out)
    return 0


def _name_constants(exprs: Sequence[Any], activation: str | None,
                    width: int | None) -> dict[Any, tuple[Any, str]]:
    """``{Float: (symbol, explanation)}`` for the decimal constants in ``exprs``: the layer
    scale √(c_σ/m) (c_σ = 1/E[σ(z)²], z ~ N(0, 1), known only numerically for tanh, softplus
    and sigmoid) becomes ``s``; any other decimal ``k1``, ``k2``, ..."""
    from ..symbolic.activations import SYM_ACTIVATIONS

    floats = sorted({f for e in exprs for f in sp.sympify(e).atoms(sp.Float)}, key=float)
    c = SYM_ACTIVATIONS[activation].c_sigma if activation in SYM_ACTIVATIONS else None
    named: dict[Any, tuple[Any, str]] = {}
    scale = float(sp.sqrt(c / width)) if c is not None and width else None
    s = sp.Symbol("s")
    for value in floats:
        v = float(value)
        if scale is not None and abs(v - scale) <= 1e-14 * scale:  # float64 rounding
            named[value] = (s, (
                f"√(c_σ/m) = {v!r}, the layer scale: c_σ = 1/E[σ(z)²] = {float(c or 0):.17g} for "
                f"σ = {activation} (z ~ N(0, 1), computed numerically), m = {width}"))
        elif scale is not None and abs(v - scale**2) <= 1e-14 * scale**2:
            named[value] = (s**2, "")  # c_σ/m, the square of the scale (in K^g)
        else:
            k = sp.Symbol(f"k{sum(1 for sym, _ in named.values() if sym.is_Symbol) + 1}")
            named[value] = (k, f"{v!r} (a numerical constant)")
    return named


def _ntk(args: Any, fmt: str, full: bool, out: TextIO) -> int:
    from ..symbolic import infinite

    act = args.ntk
    print(f"Infinite-width kernels for σ = {act}; (u, v) ~ N(0, [[a, c], [c, b]]),", file=out)
    print("a = Σ(x, x), b = Σ(x', x'), c = Σ(x, x').\n", file=out)
    ok = _print_steps(infinite.derivation(act), "mathml" if fmt == "mathml" else "text", out)
    print(file=out)
    _emit(format_exprs([("E[σ(u)σ(v)] =", infinite.dual_kernel(act)),
                        ("E[σ'(u)σ'(v)] =", infinite.dual_kernel(act, True))], fmt, full), out)
    print("\nTwo-layer net of ntk-notes eq. 9 (a = ‖x‖², b = ‖x'‖², c = xᵀx'):", file=out)
    _emit(format_exprs([("H*(x, x') =", infinite.h_star(act))], fmt, full), out)
    depth = args.depth
    d = infinite.deep_ntk(act, depth)
    print(f"\nBias-free MLP with {depth} hidden layer(s), width → ∞ (ntk-notes eqs. 22–23):",
          file=out)
    print("  Σ^(h) = c_σ E[σ(u)σ(v)],  Σ̇^(h) = c_σ E[σ'(u)σ'(v)] over N(0, Λ^(h));", file=out)
    print("  Θ^(1) = xᵀx',  Θ^(h+1) = Σ^(h) + Θ^(h) Σ̇^(h).", file=out)
    _emit(format_exprs([("NNGP Σ^(L) =", d["nngp"]), ("NTK  Θ^(L+1) =", d["ntk"])], fmt, full),
          out)
    return 0 if ok else 1


def _print_steps(results: Any, fmt: str, out: TextIO) -> bool:
    if fmt == "latex":  # a LaTeX fragment: one enumerated item per step
        print("\\begin{enumerate}", file=out)
        for r in results:
            print(f"  \\item {r.sentence}\\\\", file=out)
            print(f"    $\\displaystyle {r.latex}$ \\quad ({r.method}: "
                  f"{'verified' if r.ok else 'FAILED'})", file=out)
        print("\\end{enumerate}", file=out)
        return all(r.ok for r in results)
    width = 10**6 if fmt == "mathml" else WIDTH  # a page wraps its own paragraphs
    for i, r in enumerate(results, 1):
        _emit(_wrap(f"{i}. {r.sentence}", "", width), out)
        if fmt == "mathml":
            from ..report.mathml import to_mathml

            print(f"{_FORMULA}{to_mathml(r.latex, display=True)}", file=out)
        else:
            print(f"   {tex_to_text(r.latex)}", file=out)
        _emit(_wrap(f"checked: {r.how} — {r.method}: {r.detail}  {r.mark}", "   ", width), out)
    return all(r.ok for r in results)


def _proof(args: Any, fmt: str, full: bool, out: TextIO) -> int:
    from ..symbolic.proof import verify_proof

    act = args.activation or "tanh"
    title = {
        "theorem1": "Theorem 1 (domingos2020): a model learned by gradient flow is a kernel "
        "machine y = Σ a_i K^p(x, x_i) + b.",
        "lemma1": "Lemma 1 (ntk-notes): du/dt = −H(t)(u − y), H(t) PSD.",
    }[args.proof]
    results = verify_proof(args.proof, activation=act)
    if fmt == "latex":
        print(f"% {title}", file=out)
        ok = _print_steps(results, fmt, out)
        return 0 if ok else 1
    print(title, file=out)
    print(f"Checked on the ntk-notes two-layer net, m = 2, d = 2, σ = {act}, n = 2 symbolic "
          "points.\n", file=out)
    ok = _print_steps(results, fmt, out)
    print("\nAll steps verified." if ok else "\nSOME STEPS FAILED.", file=out)
    return 0 if ok else 1


# ----- entry ---------------------------------------------------------------------------------


def print_target(args: Any, target: str, out: TextIO | None = None) -> int:
    """Print ``--model``/``--ntk``/``--proof`` (options already checked); the exit code."""
    out = out or sys.stdout
    run = {"model": _model, "ntk": _ntk, "proof": _proof}[target]
    if args.format != "mathml":
        return run(args, args.format, bool(args.full), out)
    buf = io.StringIO()
    code = run(args, "mathml", bool(args.full), buf)
    title = f"pkverify derive --{target} {getattr(args, target)}"
    out.write(mathml_page(buf.getvalue(), title))
    return code

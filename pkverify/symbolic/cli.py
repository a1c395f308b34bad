"""``pkverify derive``: print closed forms and verified proofs for a student to read.

    pkverify derive --model {linear,two_layer,mlp} [--width M] [--depth D] [--dim d]
                    [--activation A] [--format text|latex|mathml] [--full]
    pkverify derive --ntk {relu,erf} [--depth D] [--format ...] [--full]
    pkverify derive --proof {theorem1,lemma1} [--activation A] [--format text|latex]

Every option either changes the output or is refused with an error naming the options that
apply (``--width`` means nothing for an infinite-width kernel, for example). In the text
format long closed forms are printed with their common subexpressions named (``q0 = ...``,
by ``sympy.cse``) and wrapped at 100 columns; ``--full`` prints them whole. The parser itself
lives in :mod:`pkverify.cli` (argparse only, so ``pkverify --help`` loads no SymPy);
:func:`run_derive` runs it and returns the exit code (0 when every printed step verified, 1
otherwise). Bad arguments raise a :class:`~pkverify.errors.PkVerifyError` (exit code 2).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

import sympy as sp

from ..errors import InvalidArgumentError, unknown_name

__all__ = ["add_derive_parser", "run_derive", "FORMATS", "format_exprs"]

FORMATS = ("text", "latex", "mathml")
MODELS = ("linear", "two_layer", "mlp")
WIDTH = 100
"""Text output is wrapped at this many columns."""

# the options each target honours (every other option given is refused)
_APPLIES = {
    ("model", "linear"): {"dim", "format", "full"},
    ("model", "two_layer"): {"dim", "width", "activation", "format", "full"},
    ("model", "mlp"): {"dim", "width", "depth", "activation", "format", "full"},
    ("ntk", None): {"depth", "format", "full"},
    ("proof", None): {"activation", "format"},
}
_DEFAULTS = {"width": 2, "depth": 1, "dim": 2, "format": "text", "full": False}


def add_derive_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``derive`` sub-command to an ``argparse`` subparsers object."""
    from ..cli import add_derive

    return add_derive(subparsers)


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
        return sp.mathml(expr, printer="presentation")
    return sp.sstr(expr)


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
        else:
            lines.append(f"{label} {_render(expr, fmt)}")
    if subs:
        lines.append("  where")
        for sym, sub in subs:
            if fmt == "text":
                lines.extend(_wrap(f"{sym} = {sp.sstr(sub)}", "    "))
            else:
                lines.append(f"    {_render(sym, fmt)} = {_render(sub, fmt)}")
    return lines


def _emit(lines: Sequence[str], out: TextIO, indent: str = "") -> None:
    for line in lines:
        print((indent + line) if line else "", file=out)


# ----- targets -------------------------------------------------------------------------------


def _model(args: Any, fmt: str, full: bool, out: TextIO) -> int:
    from .models import build
    from .tangent import tangent_kernel

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
    print(file=out)
    _emit(format_exprs([("f(w, x) =", m.expr)], fmt, full), out)
    print("\nGradient ∇_w f(w, x), one line per parameter:", file=out)
    _emit(format_exprs([(f"∂f/∂{p} =", g) for p, g in zip(m.params, tk.gradient)], fmt, full),
          out, "  ")
    print("\nTangent kernel K^g(x, x') = ∇_w f(w, x) · ∇_w f(w, x'), by parameter block:",
          file=out)
    _emit(format_exprs([(f"[{label}]", k) for label, k in tk.blocks], fmt, full), out, "  ")
    print(f"\n(derived in {tk.seconds:.2f} s)", file=out)
    return 0


def _ntk(args: Any, fmt: str, full: bool, out: TextIO) -> int:
    from . import infinite

    act = args.ntk
    print(f"Infinite-width kernels for σ = {act}; (u, v) ~ N(0, [[a, c], [c, b]]),", file=out)
    print("a = Σ(x, x), b = Σ(x', x'), c = Σ(x, x').\n", file=out)
    ok = _print_steps(infinite.derivation(act), "text", out)
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
    for i, r in enumerate(results, 1):
        _emit(_wrap(f"{i}. {r.sentence}", ""), out)
        print(f"   {r.latex}", file=out)  # step equations are written in LaTeX
        _emit(_wrap(f"checked: {r.how} — {r.method}: {r.detail}  {r.mark}", "   "), out)
    return all(r.ok for r in results)


def _proof(args: Any, fmt: str, full: bool, out: TextIO) -> int:
    from .proof import verify_proof

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


def _check_options(args: Any, target: str) -> None:
    """Refuse every option the chosen target does not use; fill in the defaults of the rest."""
    value = getattr(args, target)
    if target == "model" and value not in MODELS:
        raise unknown_name("model", value, MODELS)
    if target == "ntk":
        from .infinite import NTK_ACTIVATIONS

        if value not in NTK_ACTIVATIONS:
            raise unknown_name("activation with a closed-form kernel", value, NTK_ACTIVATIONS)
    if target == "proof":
        from .proof import PROOFS

        if value not in PROOFS:
            raise unknown_name("proof", value, PROOFS)
    applies = _APPLIES[(target, value if target == "model" else None)]
    given = [
        name for name in ("width", "depth", "dim", "activation", "format", "full")
        if getattr(args, name, None) not in (None, False)
    ]
    refused = [name for name in given if name not in applies]
    if refused:
        what = f"--{target} {value}"
        raise InvalidArgumentError(
            f"{', '.join('--' + r for r in refused)} {'does' if len(refused) == 1 else 'do'} "
            f"not apply to {what}; it uses only {', '.join('--' + a for a in sorted(applies))}."
            + (" (The NTK is the width → ∞ limit and is written in a = Σ(x, x), b, c, "
               "whatever the input dimension; its activation is the value of --ntk.)"
               if target == "ntk" else "")
            + (" (The proofs run on a fixed two-layer net, m = 2, d = 2.)"
               if target == "proof" else "")
        )
    for name, default in _DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    if target == "proof" and args.format == "mathml":
        raise InvalidArgumentError(
            "--format mathml does not apply to --proof (its steps are written in LaTeX); "
            "use --format text or --format latex."
        )


def run_derive(args: Any, out: TextIO | None = None) -> int:
    """Run ``pkverify derive`` for parsed ``args``; returns the exit code."""
    out = out or sys.stdout
    chosen = [k for k in ("model", "ntk", "proof") if getattr(args, k, None) is not None]
    if len(chosen) != 1:
        raise InvalidArgumentError(
            "derive needs exactly one of --model, --ntk or --proof; got "
            f"{', '.join('--' + c for c in chosen) or 'none'}."
        )
    target = chosen[0]
    fmt = getattr(args, "format", None)
    if fmt is not None and fmt not in FORMATS:
        raise unknown_name("format", fmt, FORMATS)
    _check_options(args, target)
    fmt, full = args.format, bool(args.full)
    return {"model": _model, "ntk": _ntk, "proof": _proof}[target](args, fmt, full, out)

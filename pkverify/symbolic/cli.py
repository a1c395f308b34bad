"""``pkverify derive``: print closed forms and verified proofs for a student to read.

    pkverify derive --model {linear,two_layer,mlp} [--width M] [--depth D] [--dim d]
                    [--activation A] [--format text|latex|mathml]
    pkverify derive --ntk {relu,erf} [--depth D]
    pkverify derive --proof {theorem1,lemma1}

:func:`add_derive_parser` registers the sub-command; :func:`run_derive` runs it and returns
the exit code (0 when every printed step verified, 1 otherwise). Bad arguments raise a
:class:`~pkverify.errors.PkVerifyError` (the main CLI maps it to exit code 2).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import sympy as sp

from ..errors import InvalidArgumentError, unknown_name
from .activations import SYM_ACTIVATIONS

__all__ = ["add_derive_parser", "run_derive", "FORMATS"]

FORMATS = ("text", "latex", "mathml")
MODELS = ("linear", "two_layer", "mlp")


def add_derive_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``derive`` sub-command to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "derive",
        help="print closed-form gradients, tangent kernels, NTKs or verified proofs",
        description="Derive with SymPy: ∇f and K^g of a small model, an infinite-width "
        "kernel, or the verified steps of a proof.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help=f"one of {', '.join(MODELS)}")
    what.add_argument("--ntk", help="relu or erf: the infinite-width kernels")
    what.add_argument("--proof", help="theorem1 or lemma1: the verified steps")
    p.add_argument("--width", type=int, default=2, help="hidden width m (default 2)")
    p.add_argument("--depth", type=int, default=1, help="hidden layers (default 1)")
    p.add_argument("--dim", type=int, default=2, help="input dimension d (default 2)")
    p.add_argument("--activation", default="relu",
                   help=f"one of {', '.join(SYM_ACTIVATIONS)} (default relu)")
    p.add_argument("--format", default="text", help="text, latex or mathml (default text)")
    p.set_defaults(func=run_derive)
    return p


def _show(expr: Any, fmt: str) -> str:
    if fmt == "latex":
        return sp.latex(expr)
    if fmt == "mathml":
        return sp.mathml(expr, printer="presentation")
    return sp.pretty(expr, use_unicode=True, wrap_line=False) if sp.count_ops(expr) < 60 \
        else sp.sstr(expr)


def _eq(label: str, expr: Any, fmt: str, out: TextIO) -> None:
    """Print ``label`` and the expression; a multi-line pretty form goes below the label."""
    shown = _show(expr, fmt)
    if "\n" in shown:
        print(label, file=out)
        for line in shown.splitlines():
            print("    " + line, file=out)
    else:
        print(f"{label} {shown}", file=out)


def _model(args: Any, fmt: str, out: TextIO) -> int:
    from .models import build
    from .tangent import tangent_kernel

    if args.model not in MODELS:
        raise unknown_name("model", args.model, MODELS)
    kw: dict[str, Any] = {"dim": args.dim}
    if args.model in ("two_layer", "mlp"):
        kw.update(width=args.width, activation=args.activation)
    if args.model == "mlp":
        kw.update(depth=args.depth)
    if args.model == "linear":
        kw.update(bias=True)  # as pkverify.models.linear: f = w·x + b
    tk = tangent_kernel(build(args.model, **kw))
    m = tk.model
    print(f"Model: {m.name} ({m.n_params} parameters, d = {m.dim}"
          + (f", σ = {m.activation}" if m.activation else "") + ")", file=out)
    print(file=out)
    _eq("f(w, x) =", m.expr, fmt, out)
    print("\nGradient ∇_w f(w, x), one line per parameter:", file=out)
    for p, g in zip(m.params, tk.gradient):
        print(f"  ∂f/∂{p} = {_show(g, fmt) if fmt != 'text' else sp.sstr(g)}", file=out)
    print("\nTangent kernel K^g(x, x') = ∇_w f(w, x) · ∇_w f(w, x'), by parameter block:",
          file=out)
    for label, k in tk.blocks:
        print(f"  [{label}]  {_show(k, fmt) if fmt != 'text' else sp.sstr(k)}", file=out)
    print(f"\n(derived in {tk.seconds:.2f} s)", file=out)
    return 0


def _ntk(args: Any, fmt: str, out: TextIO) -> int:
    from . import infinite

    act = args.ntk
    if act not in infinite.NTK_ACTIVATIONS:
        raise unknown_name("activation with a closed-form kernel", act, infinite.NTK_ACTIVATIONS)
    print(f"Infinite-width kernels for σ = {act}; (u, v) ~ N(0, [[a, c], [c, b]]),", file=out)
    print("a = Σ(x, x), b = Σ(x', x'), c = Σ(x, x').\n", file=out)
    ok = _print_steps(infinite.derivation(act), fmt, out)
    print(file=out)
    _eq("E[σ(u)σ(v)] =", infinite.dual_kernel(act), fmt, out)
    _eq("E[σ'(u)σ'(v)] =", infinite.dual_kernel(act, True), fmt, out)
    print("\nTwo-layer net of seed 003 eq. 9 (a = ‖x‖², b = ‖x'‖², c = xᵀx'):", file=out)
    _eq("H*(x, x') =", infinite.h_star(act), fmt, out)
    depth = args.depth
    d = infinite.deep_ntk(act, depth)
    print(f"\nBias-free MLP with {depth} hidden layer(s), width → ∞ (eqs. 22–23):", file=out)
    print("  Σ^(h) = c_σ E[σ(u)σ(v)],  Σ̇^(h) = c_σ E[σ'(u)σ'(v)] over N(0, Λ^(h));", file=out)
    print("  Θ^(1) = xᵀx',  Θ^(h+1) = Σ^(h) + Θ^(h) Σ̇^(h).", file=out)
    _eq("NNGP Σ^(L) =", d["nngp"], fmt, out)
    _eq("NTK  Θ^(L+1) =", d["ntk"], fmt, out)
    return 0 if ok else 1


def _print_steps(results, fmt: str, out: TextIO) -> bool:
    for i, r in enumerate(results, 1):
        print(f"{i}. {r.sentence}", file=out)
        print(f"   {r.latex}", file=out)  # step equations are written in LaTeX
        print(f"   checked: {r.how} — {r.method}: {r.detail}  {r.mark}", file=out)
    return all(r.ok for r in results)


def _proof(args: Any, fmt: str, out: TextIO) -> int:
    from .proof import PROOFS, verify_proof

    if args.proof not in PROOFS:
        raise unknown_name("proof", args.proof, PROOFS)
    title = {
        "theorem1": "Theorem 1 (Domingos 2020): a model learned by gradient flow is a kernel "
        "machine y = Σ a_i K^p(x, x_i) + b.",
        "lemma1": "Lemma 1 (seed 003): du/dt = −H(t)(u − y), H(t) PSD.",
    }[args.proof]
    print(title, file=out)
    print("Checked on seed 003's two-layer net, m = 2, d = 2, σ = tanh, n = 2 symbolic "
          "points.\n", file=out)
    ok = _print_steps(verify_proof(args.proof), fmt, out)
    print("\nAll steps verified." if ok else "\nSOME STEPS FAILED.", file=out)
    return 0 if ok else 1


def run_derive(args: Any, out: TextIO | None = None) -> int:
    """Run ``pkverify derive`` for parsed ``args``; returns the exit code."""
    out = out or sys.stdout
    fmt = getattr(args, "format", "text")
    if fmt not in FORMATS:
        raise unknown_name("format", fmt, FORMATS)
    chosen = [k for k in ("model", "ntk", "proof") if getattr(args, k, None) is not None]
    if len(chosen) != 1:
        raise InvalidArgumentError(
            "derive needs exactly one of --model, --ntk or --proof; got "
            f"{', '.join('--' + c for c in chosen) or 'none'}."
        )
    return {"model": _model, "ntk": _ntk, "proof": _proof}[chosen[0]](args, fmt, out)

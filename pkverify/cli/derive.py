"""``pkverify derive``: closed forms and verified proofs for a student to read.

    pkverify derive --model {linear,two_layer,mlp} [--width M] [--depth D] [--dim d]
                    [--activation A] [--format text|latex|mathml] [--full]
    pkverify derive --ntk {relu,erf} [--depth D] [--format ...] [--full]
    pkverify derive --proof {theorem1,lemma1} [--activation A] [--format text|latex]

Every option either changes the output or is refused with an error naming the options that
apply (``--width`` means nothing for an infinite-width kernel, for example). The parser is
argparse only (``pkverify --help`` loads no SymPy); :func:`run` checks the options and hands
over to :mod:`.derive_text`. Exit code 0 when every printed step verified, 1 otherwise; bad
arguments raise a :class:`~pkverify.errors.PkVerifyError` (exit code 2).
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from . import options

__all__ = ["add", "run", "FORMATS", "MODELS"]

FORMATS = ("text", "latex", "mathml")
MODELS = ("linear", "two_layer", "mlp")

# the options each target honours (every other option given is refused)
_APPLIES = {
    ("model", "linear"): {"dim", "format", "full"},
    ("model", "two_layer"): {"dim", "width", "activation", "format", "full"},
    ("model", "mlp"): {"dim", "width", "depth", "activation", "format", "full"},
    ("ntk", None): {"depth", "format", "full"},
    ("proof", None): {"activation", "format"},
}
_DEFAULTS = {"width": 2, "depth": 1, "dim": 2, "format": "text", "full": False}


def add(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "derive",
        help="print closed-form gradients, tangent kernels, NTKs or verified proofs",
        description="Derive with SymPy: ∇f and K^g of a small model, an infinite-width "
        "kernel, or the verified steps of a proof. Options that do not apply to the chosen "
        "target are refused, not ignored. --format mathml prints one HTML page.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="linear, two_layer or mlp")
    what.add_argument("--ntk", help="relu or erf: the infinite-width kernels")
    what.add_argument("--proof", help="theorem1 or lemma1: the verified steps")
    p.add_argument("--width", type=int, help="hidden width m of --model (default 2)")
    p.add_argument("--depth", type=int, help="hidden layers of --model mlp or --ntk (default 1)")
    p.add_argument("--dim", type=int, help="input dimension d of --model (default 2)")
    p.add_argument(
        "--activation",
        help="σ of --model two_layer/mlp (default relu) or of --proof (default tanh); an "
        "unknown name lists the choices",
    )
    p.add_argument("--format", help="text (default), latex, or mathml (an HTML page with one "
                   "<math display=\"block\"> per formula)")
    p.add_argument(
        "--full",
        action="store_true",
        help="text format: print each closed form in full instead of naming common "
        "subexpressions",
    )
    options.add_quiet(p)  # accepted like on every verb (derive draws no progress bar)
    p.set_defaults(handler=run)
    return p


def _check_options(args: Any, target: str) -> None:
    """Refuse every option the chosen target does not use; fill in the defaults of the rest."""
    from ..errors import InvalidArgumentError, unknown_name

    value = getattr(args, target)
    if target == "model" and value not in MODELS:
        raise unknown_name("model", value, MODELS)
    if target == "ntk":
        from ..symbolic.infinite import NTK_ACTIVATIONS

        if value not in NTK_ACTIVATIONS:
            raise unknown_name("activation with a closed-form kernel", value, NTK_ACTIVATIONS)
    if target == "proof":
        from ..symbolic.proof import PROOFS

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


def run(args: Any, out: TextIO | None = None) -> int:
    """Run ``pkverify derive`` for parsed ``args``; returns the exit code."""
    from ..errors import InvalidArgumentError, unknown_name
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
    from .derive_text import print_target

    return print_target(args, target, out)

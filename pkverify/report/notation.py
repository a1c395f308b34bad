"""Find the math notation inside prose — ``K^g_{w(t)}(x, x_i)``, ``e^{−λ_i t}``, ``m^{-1/2}``
— so that titles, labels and sentences show it rendered, not as raw ``^`` and ``_``.

A notation token is one symbol (a letter, a Greek letter, ``∇``, ``∂``; primes and a
combining accent allowed) that stands alone (no letter or digit before it) followed by one
or more LaTeX-style scripts: ``_x``, ``^x`` (one character or a number such as ``2.00``,
not followed by a letter or digit) or ``_{...}``, ``^{...}`` (braces nested one level
deep). Identifiers such as ``relu_depth2_slope`` or ``w_T_rel_err`` are *not* tokens (a
word before the script, or ``_`` and a word after a one-character script), so metric names
stay as written.

:func:`segments` splits a text into ``(piece, is_math)``; the HTML page renders math pieces
as inline MathML (:func:`pkverify.report.mathml.prose_html`), the figures as matplotlib
mathtext (:func:`mathtext`).
"""

from __future__ import annotations

import re

__all__ = ["TOKEN", "segments", "tex", "mathtext"]

_SYMBOL = r"[A-Za-zα-ωΑ-Ωϵϕϑℓ∇∂][\u0300-\u036f]?['′]*"
_BRACED = r"\{(?:[^{}]|\{[^{}]*\})*\}"
_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?"
_SCRIPT = rf"[_^](?:{_BRACED}|(?:{_NUMBER}|[A-Za-z0-9α-ωΑ-Ω*])(?![A-Za-z0-9]|_\w\w))"
TOKEN = re.compile(rf"(?<![\w'′.]){_SYMBOL}(?:{_SCRIPT})+ᵀ?")
"""One notation token (see the module docstring)."""


def segments(text: str) -> list[tuple[str, bool]]:
    """``text`` as consecutive ``(piece, is_math)``; joined pieces give ``text`` back."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in TOKEN.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((m.group(0), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return out


_BARE_NUMBER = re.compile(rf"([_^])({_NUMBER})(?![0-9])")


def tex(token: str) -> str:
    """A token as LaTeX for a converter: numbers in braces, Unicode minus to ``-``,
    ``ᵀ`` to ``^{T}``."""
    token = _BARE_NUMBER.sub(lambda m: f"{m.group(1)}{{{m.group(2)}}}", token)
    return token.replace("−", "-").replace("ᵀ", "^{T}")


def mathtext(text: str) -> str:
    """``text`` for a matplotlib label: each notation token wrapped in ``$...$`` (mathtext),
    a literal ``$`` elsewhere escaped."""
    return "".join(f"${tex(p)}$" if is_math else p.replace("$", r"\$")
                   for p, is_math in segments(text))

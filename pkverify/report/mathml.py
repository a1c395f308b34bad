"""LaTeX → MathML for the HTML report, with latex2mathml.

Why latex2mathml and not SymPy's MathML printer: the claims' statements and the proof steps
are LaTeX *text* (integrals with limits, ``\\bar\\ell'_i``, ``\\mathbb{E}``, ``\\text{...}``,
``\\xrightarrow{...}``), not SymPy expressions; SymPy's printer needs an expression and its
LaTeX parser needs antlr4. latex2mathml converts every statement the registry holds (the
test suite checks that no LaTeX command survives unconverted).
"""

from __future__ import annotations

import html
import re

__all__ = ["to_mathml", "unconverted"]

_LEFTOVER = re.compile(r">(\\[A-Za-z]+)<")


def unconverted(mathml: str) -> list[str]:
    """LaTeX commands that latex2mathml passed through as text (none for a good conversion)."""
    return _LEFTOVER.findall(mathml)


def to_mathml(tex: str, display: bool = True) -> str:
    """``<math>`` for ``tex``; if it cannot be converted, the LaTeX itself in ``<code>``."""
    from latex2mathml.converter import convert

    try:
        out = convert(tex, display="block" if display else "inline")
    except Exception:  # latex2mathml raises several exception types on unsupported input
        return f'<code class="tex">{html.escape(tex)}</code>'
    if unconverted(out):
        return f'<code class="tex">{html.escape(tex)}</code>'
    return out

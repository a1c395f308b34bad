"""LaTeX → MathML for the HTML report, with latex2mathml.

Why latex2mathml and not SymPy's MathML printer: the claims' statements and the proof steps
are LaTeX *text* (integrals with limits, ``\\bar\\ell'_i``, ``\\mathbb{E}``, ``\\text{...}``),
not SymPy expressions; SymPy's printer needs an expression and its LaTeX parser needs
antlr4. latex2mathml converts every statement the registry holds; :func:`unconverted`
finds any backslash sequence it passed through as text (``\\alpha`` but also ``\\|``,
``\\{``, ``\\,``), and the test suite checks there is none on any page the report writes.

* :func:`to_mathml` — a formula: ``display="block"`` (a display, sums and integrals at full
  size with their limits above and below) or inline;
* :func:`prose_html` — a sentence, title or label: HTML-escaped, its notation tokens
  (:mod:`pkverify.report.notation`: ``K^g_{w(t)}``, ``m^{-1/2}``) as inline MathML and its
  numbers kept on one line (``1.89e-14`` never breaks at the minus).
"""

from __future__ import annotations

import html
import re

from .notation import segments, tex

__all__ = ["to_mathml", "unconverted", "prose_html", "text_of", "BACKSLASH"]

BACKSLASH = re.compile(r"\\(?:[A-Za-z]+|.)", re.S)
"""A LaTeX control sequence: a backslash and a command name or any one character."""

_TAG = re.compile(r"<[^>]*>")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_NUMBER = re.compile(r"(?<![\w.])[-+−]?\d+(?:\.\d+)?(?:[eE][-+−]?\d+)(?![\w.])|"
                     r"(?<![\w.])[-−]\d+(?:\.\d+)?(?![\w.])")


def text_of(markup: str) -> str:
    """The text a reader sees: comments and tags removed, entities decoded."""
    return html.unescape(_TAG.sub(" ", _COMMENT.sub(" ", markup)))


def unconverted(markup: str) -> list[str]:
    """Every LaTeX control sequence left as text in ``markup`` (none for a good page)."""
    return BACKSLASH.findall(text_of(markup))


def to_mathml(tex_: str, display: bool = True) -> str:
    """``<math>`` for ``tex_``; if it cannot be converted, the LaTeX itself in ``<code>``."""
    from latex2mathml.converter import convert

    try:
        out = convert(tex_, display="block" if display else "inline")
    except Exception:  # latex2mathml raises several exception types on unsupported input
        return f'<code class="tex">{html.escape(tex_)}</code>'
    if unconverted(out):
        return f'<code class="tex">{html.escape(tex_)}</code>'
    return out


def _plain(text: str) -> str:
    """Escaped text with each scientific or negative number in a no-wrap span."""
    out, pos = [], 0
    for m in _NUMBER.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        out.append(f'<span class="num">{html.escape(m.group(0))}</span>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def prose_html(text: str) -> str:
    """``text`` as HTML: escaped, notation tokens as inline MathML, numbers unbroken."""
    return "".join(to_mathml(tex(piece), display=False) if is_math else _plain(piece)
                   for piece, is_math in segments(text))

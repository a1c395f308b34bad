"""LaTeX of a step equation → plain Unicode text, for ``pkverify derive``'s text format.

The proofs' steps are written in LaTeX (the report renders them as MathML); a terminal shows
them as text instead: ``\\frac{a}{b}`` → ``(a)/(b)``, ``\\sqrt{x}`` → ``√(x)``, ``\\sum`` → ``Σ``,
``x^{2}`` → ``x²``, spacing commands → spaces. No backslash survives (an unknown command keeps
its name), so nothing on screen is raw LaTeX.
"""

from __future__ import annotations

__all__ = ["tex_to_text"]

_SYMBOLS = {
    "int": "∫", "sum": "Σ", "prod": "Π", "nabla": "∇", "ell": "ℓ", "cdot": "·", "times": "×",
    "epsilon": "ε", "varepsilon": "ε", "sigma": "σ", "pi": "π", "theta": "θ", "varphi": "φ",
    "phi": "φ", "rho": "ρ", "lambda": "λ", "Lambda": "Λ", "Sigma": "Σ", "Theta": "Θ",
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "Delta": "Δ", "eta": "η", "mu": "μ",
    "nu": "ν", "tau": "τ", "omega": "ω", "psi": "ψ", "chi": "χ", "kappa": "κ", "xi": "ξ",
    "zeta": "ζ", "partial": "∂", "infty": "∞", "to": "→", "rightarrow": "→", "mapsto": "↦",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈",
    "in": "∈", "mid": "|", "langle": "⟨", "rangle": "⟩", "top": "ᵀ", "dots": "…", "ldots": "…",
    "cdots": "⋯", "circ": "∘", "odot": "⊙", "otimes": "⊗", "prime": "′", "lVert": "‖",
    "rVert": "‖", "Vert": "‖", "succeq": "⪰", "preceq": "⪯", "sim": "~", "equiv": "≡",
    "propto": "∝", "perp": "⟂", "forall": "∀", "exists": "∃", "quad": "  ", "qquad": "    ",
    "|": "‖", ",": " ", ";": " ", ":": " ", "!": "", " ": " ", "{": "{", "}": "}", "%": "%",
    "_": "_",
}
_DROP = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
         "displaystyle", "textstyle", "limits"}
_FONTS = {"mathbb", "mathrm", "text", "operatorname", "mathcal", "mathbf", "boldsymbol",
          "mathit", "textrm", "mathsf"}
_ACCENTS = {"bar": "\u0304", "hat": "\u0302", "tilde": "\u0303", "dot": "\u0307",
            "ddot": "\u0308", "vec": "\u20d7", "overline": "\u0304"}
_SUPER = str.maketrans("0123456789-+=()nTi", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺⁼⁽⁾ⁿᵀⁱ")
_SUB = str.maketrans("0123456789-+=()", "₀₁₂₃₄₅₆₇₈₉₋₊₌₍₎")


_WORDS = {"arcsin", "arccos", "arctan", "sin", "cos", "tan", "tanh", "log", "ln", "exp",
          "det", "min", "max", "lim", "sup", "inf", "tr", "erf"}


def _simple(text: str) -> bool:
    """One symbol, a number, or up to two Latin letters (``dw``) need no parentheses."""
    return len(text) <= 1 or text.replace(".", "").isdigit() or (
        text.isascii() and text.isalpha() and len(text) <= 2)


def _wrap(text: str) -> str:
    return text if _simple(text) else f"({text})"


def _script(text: str, table: dict[int, int], mark: str) -> str:
    if text and all(ord(ch) in table for ch in text):
        return text.translate(table)
    return mark + _wrap(text)


class _Reader:
    def __init__(self, tex: str):
        self.tex, self.i = tex, 0

    def group(self) -> str:
        """Text up to the ``}`` that closes the group just opened."""
        out = []
        while self.i < len(self.tex) and self.tex[self.i] != "}":
            out.append(self.token())
        self.i += 1  # the closing brace
        return "".join(out)

    def argument(self) -> str:
        """The next argument: a ``{group}``, a command, or one character."""
        while self.i < len(self.tex) and self.tex[self.i] == " ":
            self.i += 1
        if self.i >= len(self.tex):
            return ""
        if self.tex[self.i] == "{":
            self.i += 1
            return self.group()
        return self.token()

    def command(self) -> str:
        tex, start = self.tex, self.i + 1
        end = start
        while end < len(tex) and tex[end].isalpha():
            end += 1
        name = tex[start:end] if end > start else tex[start:start + 1]
        self.i = end if end > start else start + 1
        if name in _DROP:
            return ""
        if name == "frac":
            num, den = self.argument(), self.argument()
            return f"{_wrap(num)}/{_wrap(den)} "
        if name == "sqrt":
            return "√" + _wrap(self.argument())
        if name in ("xrightarrow", "xleftarrow"):
            over = self.argument()
            return f" —({over})→ " if name == "xrightarrow" else f" ←({over})— "
        if name in _FONTS:
            return self.argument()
        if name in _ACCENTS:
            return self.argument() + _ACCENTS[name]
        if name in _WORDS:
            return f"{name} "
        return _SYMBOLS.get(name, name)

    def token(self) -> str:
        ch = self.tex[self.i]
        if ch == "\\":
            return self.command()
        if ch == "{":
            self.i += 1
            return self.group()
        if ch in "^_":
            self.i += 1
            arg = self.argument()
            return _script(arg, _SUPER if ch == "^" else _SUB, ch)
        self.i += 1
        return "" if ch == "}" else ch


def tex_to_text(tex: str) -> str:
    """Plain Unicode for a LaTeX formula (see the module docstring)."""
    reader = _Reader(tex)
    out = []
    while reader.i < len(tex):
        out.append(reader.token())
    return " ".join("".join(out).split()).replace("( ", "(").replace(" )", ")")

"""A derivation as ordered, checked steps: sentence, LaTeX equation, residuals that must vanish.

A :class:`Step` holds the residual expressions ``lhs − rhs`` (one or several) of its
equation on a concrete model. :meth:`Step.verify` shows they are zero:

* ``"simplify"`` — ``expand`` and, if needed, ``sympy.simplify`` reduce every residual to 0;
* ``"points"`` — every residual is 0 at ``n_points`` random rational points (seeded): exact
  rational arithmetic when the residual is algebraic, else evaluation to 50 significant
  digits with ``|r| < 10^-40`` (for transcendental values such as ``tanh(3/7)``).

``"auto"`` tries ``simplify`` and falls back to ``points``; the result records which method
settled it. A residual that is not zero fails — this is what catches a flipped sign.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sympy as sp
from sympy.core.function import AppliedUndef

__all__ = ["Step", "StepResult", "StepResults", "verify_steps", "vanishes"]

Method = Literal["simplify", "points", "auto"]


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step: ``ok``, the ``method`` that decided it, and a ``detail``."""

    key: str
    sentence: str
    latex: str
    how: str
    ok: bool
    method: str
    detail: str = ""

    @property
    def mark(self) -> str:
        """✓ or ✗."""
        return "✓" if self.ok else "✗"

    def __str__(self) -> str:
        return f"{self.mark} {self.key}: {self.sentence} [{self.method}: {self.detail}]"


class StepResults(tuple):
    """The verified steps of a derivation, in order; prints as a table.

    A plain tuple of :class:`StepResult` (index it, iterate it) with ``ok`` (every step
    verified) and a readable ``repr``: one row per step with its mark, key, method and detail.
    """

    @property
    def ok(self) -> bool:
        """True when every step verified."""
        return all(r.ok for r in self)

    def table(self, width: int = 100) -> str:
        """A fixed-width text table, one step per row (the sentence wrapped under it)."""
        import textwrap

        if not self:
            return "(no steps)"
        kw = max(len("step"), *(len(r.key) for r in self))
        mw = max(len("method"), *(len(r.method) for r in self))
        head = f"   #  {'step':<{kw}}  {'method':<{mw}}  ok  detail"
        rows = [head, "-" * min(width, max(len(head), 60))]
        for i, r in enumerate(self, 1):
            rows.append(f"{i:>4}  {r.key:<{kw}}  {r.method:<{mw}}  {r.mark:<2}  {r.detail}")
            for line in textwrap.wrap(r.sentence, width - 6):
                rows.append(" " * 6 + line)
        verdict = "all steps verified" if self.ok else (
            f"{sum(not r.ok for r in self)} of {len(self)} steps FAILED")
        rows.append(f"({len(self)} steps: {verdict})")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return self.table()

    __str__ = __repr__


@dataclass(frozen=True)
class Step:
    """One step of a derivation.

    key:        short identifier ("chain_rule").
    sentence:   what the step says, in words.
    latex:      the step's equation.
    residuals:  expressions ``lhs − rhs`` on the concrete model; all must vanish.
    how:        how the residual was built (e.g. "differentiate in T, substitute the flow").
    method:     "simplify", "points" or "auto".
    """

    key: str
    sentence: str
    latex: str
    residuals: tuple[sp.Expr, ...]
    how: str = ""
    method: Method = "auto"
    n_points: int = 4
    seed: int = 0

    def verify(self) -> StepResult:
        """Check every residual vanishes; see the module docstring for the methods."""
        ok, method, detail = vanishes(self.residuals, self.method, self.n_points, self.seed)
        return StepResult(self.key, self.sentence, self.latex, self.how, ok, method, detail)


def _flat(residuals: Sequence) -> list[sp.Expr]:
    out: list[sp.Expr] = []
    for r in residuals:
        if isinstance(r, sp.MatrixBase):
            out.extend(r)
        else:
            out.append(sp.sympify(r))
    return out


def _symbolic_zero(expr: sp.Expr) -> bool:
    if expr == 0:
        return True
    e = sp.expand(expr)
    if e == 0:
        return True
    return sp.simplify(e) == 0


def _point_zero(expr: sp.Expr, n_points: int, seed: int) -> tuple[bool, bool]:
    """(all zero, exact) at random rational points of the free symbols."""
    rnd = random.Random(seed)
    syms = sorted(expr.free_symbols, key=str)
    exact = True
    for _ in range(n_points):
        sub = {}
        for s in syms:
            num = rnd.randint(1, 9) if s.is_positive else (rnd.randint(-9, 9) or 1)
            sub[s] = sp.Rational(num, rnd.randint(1, 7))
        try:
            val = sp.expand(expr.xreplace(sub).doit())
        except (ValueError, TypeError):  # e.g. a derivative with respect to a number
            return False, False
        if val.free_symbols or val.has(sp.Derivative, sp.Integral, sp.Subs):
            return False, False  # undefined functions left: points cannot decide
        if val.is_Rational:
            if val != 0:
                return False, True
            continue
        exact = False
        approx = sp.N(val, 50)
        if not approx.is_number or abs(complex(approx)) > 1e-40:
            return False, False
    return True, exact


def _opaque(expr: sp.Expr) -> sp.Expr:
    """Replace integrals, Subs, derivatives and undefined functions by fresh symbols.

    They are then treated as independent unknowns, so a residual that is non-zero at one
    rational point of them and of the other symbols is refuted at once.
    """
    n = 0
    for kind in (sp.Integral, sp.Subs, sp.Derivative, AppliedUndef):
        found = sorted(expr.atoms(kind), key=sp.default_sort_key)
        if found:
            rep = {}
            for a in found:
                n += 1
                rep[a] = sp.Symbol(f"_opaque{n}", real=True)
            expr = expr.xreplace(rep)
    return expr


def vanishes(
    residuals: Sequence, method: Method = "auto", n_points: int = 4, seed: int = 0
) -> tuple[bool, str, str]:
    """``(ok, method used, detail)`` for "every residual is identically zero"."""
    flat = _flat(residuals)
    if method == "auto":
        # refute fast: a residual that is not 0 at one rational point is not identically 0,
        # and simplify() on a non-zero residual can take minutes.
        for r in flat:
            e = sp.expand(r)
            if e != 0:
                ok, _ = _point_zero(_opaque(e), 1, seed)
                if not ok:
                    return False, "points", (
                        f"residual is not 0 at a rational point: {sp.sstr(r)[:200]}")
    if method in ("simplify", "auto"):
        bad = [r for r in flat if not _symbolic_zero(r)]
        if not bad:
            return True, "simplify", f"{len(flat)} residual(s) simplify to 0"
        if method == "simplify":
            return False, "simplify", f"residual does not simplify to 0: {sp.sstr(bad[0])[:200]}"
        flat = bad
    for r in flat:
        ok, exact = _point_zero(r, n_points, seed)
        if not ok:
            return False, "points", f"residual is not 0 at a rational point: {sp.sstr(r)[:200]}"
    kind = "exact" if exact else "50-digit"
    return True, "points", f"{len(flat)} residual(s) vanish at {n_points} rational points ({kind})"


def verify_steps(steps: Sequence[Step]) -> StepResults:
    """Verify every step, in order (a tuple of results that prints as a table)."""
    return StepResults(s.verify() for s in steps)

"""Where a network's piecewise-linear units switch along a straight step ``w + τΔ``, row by
row, for any framework: the kinks the exact rule splits steps at
(:mod:`pkverify.kernels.exact_rows`).

The model is seen only through its **switch values**: ``values(rows, taus)`` returns, for
evaluation rows ``e`` (query row ``rows[e]`` at weights ``w + taus[e]·Δ``), one ``(E, units)``
array per piecewise-linear op in forward order — the input minus the threshold of a relu,
leaky relu, clamp or hardtanh bound, the differences of the elements of a max-pooling window —
so that a kink is exactly where some switch value changes sign. The framework adapters
capture them (``pkverify.extra.torch_switches`` for PyTorch); nothing here imports one.

Method (op by op, as :func:`pkverify.kernels.kinks.row_breakpoints` does for built-in relu
nets). Between the kinks of ops ``< h`` every op before h stays on one linear branch, so the
inputs of op h are smooth functions of τ there (polynomials for relu/conv/linear/max-pool
nets, smooth for GELU + relu) — the **assumption** the locator rests on. On each current piece
``[a, b]`` of a row:

1. sample the switch values of op h at ``m`` Chebyshev points of the second kind
   (``m = 9, 17, …, 129``: nested, so raising m re-uses every sample) and take the Chebyshev
   coefficients of the interpolant [trefethen2019 ch. 3–4];
2. raise m until the tail coefficients are at rounding relative to the op's scale on the
   piece (a plain form of Chebfun's chopping rule [trefethen2019 ch. 8]): the interpolant then
   equals the switch value to rounding on the whole piece, so two crossings that a coarse grid
   would straddle are both roots of it — no grid bracketing;
3. its real roots in the piece are the eigenvalues of the colleague matrix
   (``numpy.polynomial.chebyshev.chebroots``, [trefethen2019 ch. 18]); units whose
   coefficients prove them sign-definite on the piece (``|c_0| > Σ_{k≥1} |c_k|``, as
   ``|T_k| ≤ 1``) are skipped without a root-finder;
4. each root is refined on the **true** switch value (a Newton step with the interpolant's
   derivative, then secant steps; a step kept only if it shrinks the value and stays inside
   the piece) until the value is at rounding, and the piece is split there.

A piece where op h has no root keeps its samples for op h + 1 (no new evaluation). Where the
coefficients do not reach rounding by m = 129 (a non-smooth input the adapter did not see, or
a step far too large), the roots of the finest interpolant and the sign changes between its
samples are used all the same and the piece is counted in ``unresolved``: the step
identity's residual, which the exact rule always measures, then shows what was missed and
is warned about (``PathWarning`` with the residual) — never silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from ..errors import ShapeError

__all__ = ["SwitchValues", "Located", "locate_switches", "LEVELS"]

SwitchValues = Callable[[np.ndarray, np.ndarray], list[np.ndarray]]
"""``values(rows (E,) int, taus (E,) float) -> [(E, units_h) for each kinked op h]``."""

LEVELS = (9, 17, 33, 65, 129)
"""Chebyshev points per piece, nested: level m's points are every other point of 2m − 1."""

TAIL_ULPS = 64.0
"""The tail coefficients count as rounding below 64 ulps of the op's scale on the piece:
a switch value sums O(10–100) products, each rounded (backward error of a few ulps per
term), and interpolation at Chebyshev points amplifies value errors by at most the
Lebesgue constant (< 4 for m ≤ 129) [trefethen2019 ch. 15]."""

MERGE_ULPS = 64.0
"""Kinks closer than 64 ulps of τ are one kink (the piece between would carry no weight)."""

REFINE_STEPS = 5
"""At most 5 evaluations of the true switch values per root (each one batched forward of all
roots): Newton, then secant steps; a root at rounding stops after its first."""


@dataclass
class Located:
    """The kinks of every query row and what locating them cost.

    kinks:       per query row, the sorted τ in (0, 1) where a switch value changes sign.
    evaluations: switch-value evaluations (forward passes of one row) in total.
    unresolved:  pieces whose interpolant did not reach rounding by the finest level.
    """

    kinks: list[np.ndarray]
    evaluations: int = 0
    unresolved: int = 0


@dataclass
class _Piece:
    row: int
    a: float
    b: float
    op: int = 0
    level: int = 0  # index into LEVELS the piece wants
    vals: list[np.ndarray] | None = None  # per op (m_have, units), at the nested points
    roots: list[tuple[float, int, int, float]] = field(default_factory=list)


@cache
def _points(m: int) -> np.ndarray:
    """m Chebyshev points of the second kind on [−1, 1], ``cos(jπ/(m − 1))``, j = 0..m−1."""
    return np.cos(np.arange(m) * math.pi / (m - 1))


@cache
def _coefficient_map(m: int) -> np.ndarray:
    """The matrix taking values at :func:`_points` to Chebyshev coefficients (the DCT-I):
    ``c_k = (2/N) Σ''_j v_j cos(jkπ/N)``, N = m − 1, halving the first and last terms of the
    sum and the coefficients c_0 and c_N."""
    N = m - 1
    j = np.arange(m)
    M = np.cos(np.outer(j, j) * math.pi / N) * (2.0 / N)
    M[:, 0] *= 0.5
    M[:, -1] *= 0.5
    M[0] *= 0.5
    M[-1] *= 0.5
    return M


def locate_switches(values: SwitchValues, q: int, eps: float) -> Located:
    """Per query row ``0..q−1``, the sorted τ ∈ (0, 1) where some switch value changes sign
    along the step (module docstring). ``eps``: the unit roundoff of the model's dtype."""
    out = Located([np.empty(0) for _ in range(q)])
    active = [_Piece(r, 0.0, 1.0) for r in range(q)]
    edges: list[list[float]] = [[] for _ in range(q)]
    values = _checked(values, out)
    while active:
        nops = _sample(values, active)
        if nops == 0:
            break
        keep: list[_Piece] = []
        found: list[_Piece] = []
        for p in active:
            status = _roots_of_op(p, eps)
            if status == "more":
                p.level += 1
                keep.append(p)
                continue
            out.unresolved += status == "unresolved"
            if p.roots:
                found.append(p)
            else:  # op p.op does not switch on p: its samples serve the next op
                _advance(p, keep, edges, nops)
        _refine(values, found, eps)
        for p in found:
            taus = _merged(np.asarray([t for t, *_ in p.roots]), eps)
            cuts = [p.a, *taus.tolist(), p.b]
            for lo, hi in zip(cuts[:-1], cuts[1:]):
                if hi - lo > 4.0 * eps:
                    _advance(_Piece(p.row, lo, hi, p.op), keep, edges, nops)
                else:
                    edges[p.row].append(hi)
        active = keep
    for r in range(q):
        e = _merged(np.asarray(edges[r], dtype=np.float64), eps)
        out.kinks[r] = e[(e > MERGE_ULPS * eps) & (e < 1.0 - MERGE_ULPS * eps)]
    return out


def _merged(taus: np.ndarray, eps: float) -> np.ndarray:
    """Sorted τ with those within MERGE_ULPS ulps of the previous one dropped (one root found
    twice — by the interpolant and by a sign change — refines to nearly the same τ)."""
    taus = np.sort(taus)
    if taus.size < 2:
        return taus
    keep = np.concatenate([[True], np.diff(taus) > MERGE_ULPS * eps])
    return taus[keep]


def _checked(values: SwitchValues, out: Located) -> SwitchValues:
    """``values`` as float64 ``(E, units)`` arrays, counted in ``out.evaluations``, refusing
    a model whose number of piecewise-linear ops changes between calls."""
    nops: list[int] = []

    def call(rows: np.ndarray, taus: np.ndarray) -> list[np.ndarray]:
        got = [np.asarray(v, dtype=np.float64).reshape(rows.size, -1)
               for v in values(rows, taus)]
        out.evaluations += int(rows.size)
        if nops and len(got) != nops[0]:
            raise ShapeError(
                f"the model's switch values changed from {nops[0]} piecewise-linear ops to "
                f"{len(got)} between two evaluations: its control flow depends on the "
                "weights or the input, and its kinks cannot be located op by op."
            )
        nops[:] = [len(got)]
        return got

    return call


def _advance(p: _Piece, keep: list[_Piece], edges: list[list[float]], nops: int) -> None:
    """Op p.op is done on p (no roots there, or p lies between two of its roots): on to the
    next op, or p is a final piece."""
    p.op += 1
    if p.op >= nops:
        edges[p.row].extend([p.a, p.b])
    else:
        keep.append(p)


def _sample(values: SwitchValues, pieces: list[_Piece]) -> int:
    """Evaluate the new points of every piece whose level asks for more samples."""
    rows, taus, owners = [], [], []
    for i, p in enumerate(pieces):
        m = LEVELS[p.level]
        have = 0 if p.vals is None else p.vals[0].shape[0]
        if have == m:
            continue
        x = _points(m) if have == 0 else _points(m)[1::2]
        rows.append(np.full(x.size, p.row))
        taus.append(0.5 * (p.a + p.b) + 0.5 * (p.b - p.a) * x)
        owners.append((i, x.size, have))
    if not rows:
        return len(pieces[0].vals or ()) if pieces else 0
    got = values(np.concatenate(rows), np.concatenate(taus))
    start = 0
    for i, size, have in owners:
        p = pieces[i]
        new = [g[start:start + size] for g in got]
        start += size
        if have == 0:
            p.vals = new
        else:
            assert p.vals is not None
            merged = []
            for old, add in zip(p.vals, new):
                both = np.empty((old.shape[0] + add.shape[0], old.shape[1]))
                both[0::2], both[1::2] = old, add
                merged.append(both)
            p.vals = merged
    return len(got)


def _roots_of_op(p: _Piece, eps: float) -> str:
    """Roots of op p.op's switch values on p (into p.roots): "done", "more" (sample at the
    next level first) or "unresolved" (the finest level did not reach rounding)."""
    assert p.vals is not None
    V = p.vals[p.op]
    m = V.shape[0]
    if V.shape[1] == 0:
        return "done"
    scale = float(np.max(np.abs(V)))
    if scale == 0.0:
        return "done"
    tol = TAIL_ULPS * eps * scale
    C = _coefficient_map(m) @ V  # (m, units)
    tail = max(2, m // 4)
    converged = float(np.max(np.abs(C[-tail:]))) <= tol
    if not converged and p.level + 1 < len(LEVELS):
        return "more"
    # sign-definite units: |c_0| > Σ_{k≥1} |c_k| + tol (|T_k| ≤ 1 on [−1, 1])
    maybe = np.abs(C[0]) <= np.sum(np.abs(C[1:]), axis=0) + tol
    maybe &= np.max(np.abs(V), axis=0) > tol  # a unit at rounding level has no sign
    half, mid = 0.5 * (p.b - p.a), 0.5 * (p.a + p.b)
    for u in np.flatnonzero(maybe):
        c = C[:, u].copy()
        top = m - 1
        while top > 0 and abs(c[top]) <= tol:
            top -= 1
        c = c[: top + 1]
        if top == 0:
            continue
        xs = np.polynomial.chebyshev.chebroots(c)
        real = xs[np.abs(xs.imag) <= 1e-8].real
        if not converged:  # also every sign change between adjacent samples
            s = V[::-1, u]  # the points run from +1 to −1: reversed, ascending in x
            x = _points(m)[::-1]
            flip = np.flatnonzero(np.sign(s[:-1]) * np.sign(s[1:]) < 0)
            real = np.concatenate([real, 0.5 * (x[flip] + x[flip + 1])])
        dc = np.polynomial.chebyshev.chebder(c)
        for x in real[(real > -1.0) & (real < 1.0)]:
            slope = float(np.polynomial.chebyshev.chebval(x, dc)) / half
            p.roots.append((mid + half * float(x), p.op, int(u), slope))
    return "done" if converged else "unresolved"


def _refine(values: SwitchValues, pieces: list[_Piece], eps: float) -> None:
    """Refine all roots at once on their true switch values: a Newton step with the
    interpolant's slope, then secant steps through the last two true values (exact for a
    switch value linear near its root, superlinear otherwise). A step is taken only inside
    the piece; a root stops once |s| is at rounding (TAIL_ULPS ulps of the op's scale) or a
    step stops shrinking |s|; the point of least |s| is kept."""
    todo = [(p, i) for p in pieces for i in range(len(p.roots))]
    if not todo:
        return
    size = {id(p): TAIL_ULPS * eps * float(np.max(np.abs(p.vals[p.op]))) for p in pieces
            if p.vals is not None}
    n = len(todo)
    current = np.asarray([p.roots[i][0] for p, i in todo])
    best = np.full(n, np.inf)
    last_t, last_s = np.full(n, np.nan), np.full(n, np.nan)
    trial = current.copy()
    for _ in range(REFINE_STEPS):
        live = np.flatnonzero(np.isfinite(trial))
        if live.size == 0:
            break
        got = values(np.asarray([todo[j][0].row for j in live]), trial[live])
        nxt = np.full(n, np.nan)
        for k, j in enumerate(live):
            p, i = todo[j]
            _, op, u, slope = p.roots[i]
            s = float(got[op][k, u])
            if abs(s) >= best[j]:
                continue  # the step did not help: keep the best point
            best[j], current[j] = abs(s), trial[j]
            if abs(s) <= size[id(p)]:
                continue
            if np.isfinite(last_t[j]) and s != last_s[j]:
                slope = (s - last_s[j]) / (trial[j] - last_t[j])
            last_t[j], last_s[j] = trial[j], s
            if slope == 0.0:
                continue
            t = trial[j] - s / slope
            if p.a < t < p.b:
                nxt[j] = t
        trial = nxt
    for (p, i), t in zip(todo, current):
        p.roots[i] = (float(t),) + p.roots[i][1:]

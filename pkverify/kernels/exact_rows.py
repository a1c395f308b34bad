"""The exact rule on a foreign model with piecewise-linear units (a torch ReLU / LeakyReLU /
max-pooling network): each query row's step is split at its own kinks, located from the
model's switch values (:mod:`pkverify.kernels.switches`), and integrated piece by piece.

Between its kinks a generic model is smooth but not necessarily polynomial in τ (GELU beside
ReLU), so each piece gets the nested rule of :mod:`pkverify.kernels.exact`: Fejér's second
rule (interior nodes only: a piece's ends are kinks, where the gradient takes either side's
value) climbing :data:`~pkverify.kernels.rules.CC_LEVELS` until the step identity
``f(w+Δ, x) − f(w, x) = ∫∇f·Δ`` holds to rounding — row by row here, so a row that reached
rounding stops climbing while the others go on; every node already evaluated is kept. With
``nodes=int`` each piece gets that many Gauss–Legendre nodes instead (exact for polynomial
pieces of degree ≤ 2·nodes − 1). The engine evaluates every (row, node) pair at its own
weights ``w + τΔ`` (``engine.jvp(..., along=(Δ, τ))``) [bell2023].
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .rows import scatter_rows
from .rules import CC_LEVELS, fejer2, gauss_legendre
from .step_identity import RoundingScale, StepPlan, adaptive_rtol, unit_roundoff
from .switches import locate_switches

__all__ = ["gauss_on_pieces", "integrate_pieces"]


def _take(xp: Any, X: Any, rows: np.ndarray) -> Any:
    return X[rows] if isinstance(X, np.ndarray) else X[xp.asarray(rows)]


def integrate_pieces(engine: Any, w: Any, delta: Any, Xq: Any, U: Any, step_integral: Any,
                     nodes: int | None) -> tuple[Any, Any, StepPlan]:
    """``(∫_0^1 ∇f(w + τΔ, Xq)·U dτ (t, q, k), f(w, Xq), plan)`` with per-row pieces (module
    docstring); ``plan.switch_evaluations`` counts the forward passes that located the
    kinks, per query row."""
    xp = engine.xp
    q = int(Xq.shape[0])
    dt = Xq.dtype

    def values(rows: np.ndarray, taus: np.ndarray) -> list[Any]:
        return engine.switch_values(w, _take(xp, Xq, rows), (delta, xp.asarray(taus, dtype=dt)))

    located = locate_switches(values, q, unit_roundoff(dt))
    pieces = [np.concatenate([[0.0], k, [1.0]]) for k in located.kinks]
    y0, y1 = engine.forward(w, Xq), engine.forward(w + delta, Xq)
    scale = RoundingScale(engine, w, delta, Xq)
    if nodes is not None:
        total, plan = gauss_on_pieces(engine, w, delta, Xq, U, pieces, nodes)
        res = scale.residual((y1 - y0) - step_integral(total), y0, y1)
    else:
        total, plan, res = _climb_rows(engine, w, delta, Xq, U, step_integral, pieces, y0, y1,
                                       scale)
    return total, y0, StepPlan(plan[1], plan[2], plan[0], plan[0].size / q, res,
                               located.evaluations / q)


def _nodes_of(pieces: list[np.ndarray], rows: Any, taus01: np.ndarray, wts01: np.ndarray):
    """Rows, τ and weights of one rule (nodes ``taus01`` on [0, 1]) on every piece of rows."""
    r_all, t_all, c_all = [], [], []
    for r in rows:
        e = pieces[r]
        a, b = e[:-1], e[1:]
        ok = b > a
        a, b = a[ok], b[ok]
        t_all.append((a[:, None] + (b - a)[:, None] * taus01[None, :]).ravel())
        c_all.append(((b - a)[:, None] * wts01[None, :]).ravel())
        r_all.append(np.full(t_all[-1].size, r))
    return np.concatenate(r_all), np.concatenate(t_all), np.concatenate(c_all)


def gauss_on_pieces(engine, w, delta, Xq, U, pieces, nodes):
    """``∫∇f·U`` by ``nodes`` Gauss–Legendre nodes on each row's pieces (``pieces[r]``: the
    row's edges from 0 to 1), every (row, node) at its own weights; with the nodes used."""
    taus01, wts01 = gauss_legendre(nodes)
    rows, taus, wts = _nodes_of(pieces, range(len(pieces)), taus01, wts01)
    xp = engine.xp
    _, dY = engine.jvp(w, _take(xp, Xq, rows), U, along=(delta, xp.asarray(taus, dtype=Xq.dtype)))
    return scatter_rows(xp, dY, rows, wts, len(pieces), axis=1), (rows, taus, wts)


def _climb_rows(engine, w, delta, Xq, U, step_integral, pieces, y0, y1, scale):
    """Nested Fejér levels per row until each row's identity holds (module docstring)."""
    xp = engine.xp
    q = len(pieces)
    rtol = adaptive_rtol(Xq.dtype)
    finest = CC_LEVELS[-1]
    cols: dict[tuple[int, float], int] = {}  # (row, τ) -> column of the evaluated products
    parts: list[Any] = []
    climbing = np.ones(q, dtype=bool)
    total = None
    plan_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * q
    best = np.full(q, np.inf)
    prev = np.full(q, np.inf)
    for N in CC_LEVELS:
        taus01, wts01 = fejer2(N)
        rows, taus, wts = _nodes_of(pieces, np.flatnonzero(climbing), taus01, wts01)
        keys = list(zip(rows.tolist(), taus.tolist()))
        new = [i for i, key in enumerate(keys) if key not in cols]
        if new:
            _, dY = engine.jvp(w, _take(xp, Xq, rows[new]), U,
                               along=(delta, xp.asarray(taus[new], dtype=Xq.dtype)))
            base = sum(int(p.shape[1]) for p in parts)
            for j, i in enumerate(new):
                cols[keys[i]] = base + j
            parts.append(dY)
        allp = parts[0] if len(parts) == 1 else (getattr(xp, "concat", None) or
                                                   xp.concatenate)(parts, axis=1)
        idx = np.asarray([cols[key] for key in keys])
        level = scatter_rows(xp, allp[:, idx if xp is np else xp.asarray(idx), ...], rows, wts,
                             q, axis=1)
        mask = xp.asarray(climbing.astype(np.float64), dtype=level.dtype)[None, :, None]
        trial = level if total is None else total * (1.0 - mask) + level * mask
        gap = (y1 - y0) - step_integral(trial)
        plain = scale.per_row(gap, y0, y1, refine=False)
        stalled = bool(np.any(climbing & (plain > 0.5 * prev)))
        res = scale.per_row(gap, y0, y1, refine=stalled or N == finest) \
            if float(np.max(plain[climbing])) > rtol else plain
        prev = plain
        better = climbing & (res < best)
        if total is None or better.any():
            bm = xp.asarray(better.astype(np.float64), dtype=level.dtype)[None, :, None]
            total = level if total is None else total * (1.0 - bm) + level * bm
            best = np.where(better, res, best)
            for r in np.flatnonzero(better):
                sel = rows == r
                plan_rows[r] = (rows[sel], taus[sel], wts[sel])
        climbing &= best > rtol
        if not climbing.any():
            break
    assert total is not None
    done = [p for p in plan_rows if p is not None]
    plan = tuple(np.concatenate([p[i] for p in done]) for i in range(3))
    return total, plan, float(np.max(best))

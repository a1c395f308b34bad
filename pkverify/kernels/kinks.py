"""Where a relu network's gradient jumps along a straight step ``w + τΔ``, row by row
(the kinks the exact rule splits steps at; :mod:`pkverify.kernels.exact`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..activations import KINKED
from ..backend import to_numpy
from ..models.layers import Network, forward

__all__ = ["row_breakpoints"]


def _cheb_points(m: int) -> np.ndarray:
    """m Chebyshev points of the first kind on [−1, 1]."""
    k = np.arange(m)
    return np.cos((2 * k + 1) * math.pi / (2 * m))


def row_breakpoints(net: Network, w: Any, delta: Any, X: Any, xp: Any) -> list[np.ndarray]:
    """For each row of X, the sorted τ in (0, 1) where some relu pre-activation along
    ``w + τΔ`` changes sign (the kinks of ∇f), found layer by layer.

    Between the kinks of earlier layers, layer h's pre-activations (h = 1, 2, …) are
    polynomials of degree h in τ: sampled at h + 1 Chebyshev points of each piece they are
    interpolated exactly, and their real roots inside the piece are the new kinks.
    """
    n = int(X.shape[0])
    edges = [np.array([0.0, 1.0]) for _ in range(n)]
    for h, layer in enumerate(net.layers[:-1]):
        if layer.activation not in KINKED:
            continue
        deg = h + 1
        m = deg + 1
        cheb = _cheb_points(m)
        # every (row, piece) pair, sampled at m points
        row_idx: list[int] = []
        lo: list[float] = []
        hi: list[float] = []
        for r in range(n):
            e = edges[r]
            row_idx.extend([r] * (e.size - 1))
            lo.extend(e[:-1])
            hi.extend(e[1:])
        row_idx_a = np.asarray(row_idx)
        lo_a, hi_a = np.asarray(lo), np.asarray(hi)
        npieces = row_idx_a.size
        taus = (0.5 * (lo_a + hi_a))[:, None] + (0.5 * (hi_a - lo_a))[:, None] * cheb[None, :]
        rows = np.repeat(row_idx_a, m)
        Xe = X[xp.asarray(rows)] if not isinstance(X, np.ndarray) else X[rows]
        tr = forward(net, w, Xe, xp, keep=True, along=(delta, xp.asarray(taus.ravel(),
                                                                          dtype=X.dtype)))
        vals = to_numpy(tr.pres[h]).astype(np.float64).reshape(npieces, m, -1)
        roots = _poly_roots(vals, cheb)  # list per piece of roots in (−1, 1)
        new_edges: list[list[float]] = [[] for _ in range(n)]
        for p in range(npieces):
            if roots[p].size:
                half, mid = 0.5 * (hi_a[p] - lo_a[p]), 0.5 * (hi_a[p] + lo_a[p])
                new_edges[row_idx_a[p]].extend((mid + half * roots[p]).tolist())
        for r in range(n):
            if new_edges[r]:
                cand = np.concatenate([edges[r], np.asarray(new_edges[r])])
                cand = cand[(cand >= 0.0) & (cand <= 1.0)]
                edges[r] = np.unique(cand)
    return [e[1:-1] for e in edges]


def _poly_roots(vals: np.ndarray, cheb: np.ndarray) -> list[np.ndarray]:
    """Real roots in (−1, 1) of the polynomial through ``vals[p, :, u]`` at ``cheb`` for
    every piece p and unit u; returns the roots of each piece (all units together)."""
    npieces, m, units = vals.shape
    deg = m - 1
    V = np.polynomial.chebyshev.chebvander(cheb, deg)  # (m, m)
    coef = np.linalg.solve(V, vals.transpose(1, 0, 2).reshape(m, -1))  # (m, P·U)
    coef = coef.reshape(m, npieces, units)
    out: list[list[float]] = [[] for _ in range(npieces)]
    if deg == 1:
        c0, c1 = coef[0], coef[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = -c0 / c1
        ok = np.isfinite(r) & (np.abs(r) < 1.0)
        for p, u in zip(*np.nonzero(ok)):
            out[p].append(float(r[p, u]))
        return [np.asarray(o) for o in out]
    # |T_k| ≤ 1 on [−1, 1]: a unit with |c_0| > Σ_{k≥1} |c_k| has no root there
    maybe = np.abs(coef[0]) <= np.sum(np.abs(coef[1:]), axis=0)
    for p, u in zip(*np.nonzero(maybe)):
        c = np.zeros(m)
        mono = np.polynomial.chebyshev.cheb2poly(coef[:, p, u])
        c[: mono.size] = mono
        size = float(np.max(np.abs(c)))
        if size == 0.0:
            continue
        top = deg  # trim negligible leading coefficients (a lower actual degree)
        while top > 0 and abs(c[top]) <= 1e-14 * size:
            top -= 1
        if top == 0:
            continue
        rs = np.roots(c[: top + 1][::-1])
        real = rs[np.abs(rs.imag) <= 1e-12 * max(1.0, float(np.max(np.abs(rs))))].real
        for x in real[(real > -1.0) & (real < 1.0)]:
            out[p].append(float(_polish(c[: top + 1], x)))
    return [np.asarray(o) for o in out]


def _polish(c: np.ndarray, x: float) -> float:
    """Two Newton steps on the monomial polynomial c (ascending) from x."""
    p = np.polynomial.polynomial
    dc = p.polyder(c)
    for _ in range(2):
        d = p.polyval(x, dc)
        if d == 0.0:
            break
        x = x - p.polyval(x, c) / d
    return x



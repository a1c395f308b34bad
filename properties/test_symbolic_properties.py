"""Properties of the symbolic engine: drawn architectures, activations and rational inputs.

The closed-form tangent kernels are judged by the claim's own check
(:func:`pkverify.claims.symbolic.check_tangent_case`, claim ``symbolic.tangent_agrees``), the
infinite-width Grams by :func:`pkverify.claims.kernel.check_gram` (claim ``kernel.psd``).

SymPy derivations are cached per architecture, but each new architecture costs ~0.1–1 s,
so these suites run a fraction (1/30, at least 3) of the active profile's ``max_examples``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pkverify import ntk
from pkverify.claims.kernel import check_gram
from pkverify.claims.symbolic import check_tangent_case
from pkverify.symbolic import models as sm

FEW = max(3, settings.default.max_examples // 30)
NUMERIC_ACTS = ["relu", "tanh", "softplus", "erf", "sigmoid", "identity"]

rationals = st.fractions(min_value=-3, max_value=3, max_denominator=12)


@st.composite
def architectures(draw):
    kind = draw(st.sampled_from(["linear", "two_layer", "mlp"]))
    if kind == "linear":
        return sm.linear(draw(st.integers(1, 3)), bias=draw(st.booleans()),
                         degree=draw(st.integers(1, 2)))
    act = draw(st.sampled_from(NUMERIC_ACTS))
    if kind == "two_layer":
        return sm.two_layer(draw(st.integers(1, 3)), draw(st.integers(1, 4)), act,
                            seed=draw(st.integers(0, 3)))
    depth = draw(st.integers(1, 2))
    sizes = [draw(st.integers(1, 2))] + [draw(st.integers(1, 3)) for _ in range(depth)] + [1]
    return sm.mlp(sizes, act, bias=draw(st.booleans()))


def _matrix(draw, rows, cols):
    return np.array([[float(draw(rationals)) for _ in range(cols)] for _ in range(rows)])


@settings(max_examples=FEW, deadline=None)
@given(data=st.data())
def test_symbolic_and_numeric_tangent_kernels_agree(data):
    model = data.draw(architectures())
    w = np.array([float(data.draw(rationals)) for _ in range(model.n_params)])
    X1 = _matrix(data.draw, data.draw(st.integers(1, 3)), model.dim)
    X2 = _matrix(data.draw, data.draw(st.integers(1, 3)), model.dim)
    if model.activation == "relu":
        # a pre-activation exactly at 0 is a kink; both sides use relu'(0) = 1/2, but a
        # rational point may land there only through rounding-sensitive sums: nudge off it
        X1 = X1 + 1e-3
        X2 = X2 - 2e-3
    outcome = check_tangent_case(model, w, X1, X2)  # the claim symbolic.tangent_agrees
    assert outcome.passed, outcome.message


@st.composite
def unit_points(draw, n_max=6, d_max=4):
    d = draw(st.integers(2, d_max))
    n = draw(st.integers(1, n_max))
    X = np.array([[float(draw(rationals)) for _ in range(d)] for _ in range(n)])
    X[:, 0] += np.where(np.linalg.norm(X, axis=1) == 0, 1.0, 0.0)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@given(X=unit_points())
def test_arc_cosine_kernel_in_range_and_psd(X):
    H = ntk.two_layer_limit(X, X, "relu")
    G = np.clip(X @ X.T, -1.0, 1.0)
    # for unit inputs H*_ij = ρ (π − arccos ρ)/(2π) ∈ [−1/(2π)·..., 1/2]: ρ ∈ [−1, 1] and the
    # factor (π − arccos ρ)/(2π) ∈ [0, 1/2], so |H*| ≤ 1/2 with H*_ii = 1/2
    assert np.all(np.abs(H) <= 0.5 + 1e-15)
    np.testing.assert_allclose(np.diag(H), 0.5, atol=1e-15)
    assert np.all(H * G >= -1e-15)  # same sign as ρ
    # symmetric PSD up to rounding: the claim kernel.psd on the infinite-width kernels
    assert check_gram(H, "H*").passed
    for depth in (1, 2):
        Th = ntk.mlp_limit(X, X, depth, "relu")
        assert check_gram(Th, f"Θ depth {depth}").passed
        nngp = ntk.mlp_limit(X, X, depth, "relu", kind="nngp")
        # Cauchy–Schwarz: |Σ(x, x')| ≤ √(Σ(x,x) Σ(x',x')) = 1 for unit inputs
        assert np.all(np.abs(nngp) <= 1.0 + 1e-12)


@settings(max_examples=FEW, deadline=None)
@given(a=st.sampled_from(["relu", "erf"]), x=st.lists(rationals, min_size=2, max_size=2),
       y=st.lists(rationals, min_size=2, max_size=2))
def test_symbolic_h_star_matches_numeric(a, x, y):
    import sympy as sp

    from pkverify.symbolic import infinite

    xs = [Fraction(v) for v in x]
    ys = [Fraction(v) for v in y]
    if not any(xs) or not any(ys):
        xs[0] += 1
        ys[1] += 1
    aa = sum(v * v for v in xs)
    bb = sum(v * v for v in ys)
    cc = sum(u * v for u, v in zip(xs, ys))
    exact = infinite.h_star(a).subs({infinite.a: sp.Rational(aa), infinite.b: sp.Rational(bb),
                                     infinite.c: sp.Rational(cc)})
    value = float(sp.N(exact, 30))
    num = ntk.two_layer_limit(np.array([[float(v) for v in xs]]), np.array([[float(v) for v in
                                                                            ys]]), a)[0, 0]
    # float64 formula vs 30-digit evaluation of the closed form: a few ulps, plus arccos's
    # ill-conditioning near ρ = ±1 (derivative ~ 1/√(1−ρ²)), bounded by 1e-7 here
    assert abs(num - value) <= 1e-7 * max(1.0, abs(value))

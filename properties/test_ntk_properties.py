"""Properties of the ntk-notes' NTK facts, driving the ``ntk.*`` claims' own numerics and
sweep tasks (:mod:`pkverify.ntk`, :mod:`pkverify.claims.ntk_measures`) and their criteria
(:mod:`pkverify.claims.ntk_setup`) on drawn unit-norm data, widths, activations and seeds.

Each example is milliseconds (closed-form kernels, a few RK4 steps), but H* for tanh and
softplus is a 2-D quadrature per pair and a Lemma 1 measurement integrates a flow, so those
suites run a fraction (1/10, at least 5) of the active profile's ``max_examples``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkverify import ntk
from pkverify.claims import ntk_measures as C
from pkverify.claims.ntk_setup import PSD_FLOOR
from pkverify.errors import InvalidArgumentError
from pkverify.kernels import jacobian
from pkverify.ntk.two_layer import TwoLayerNet, lemma2_error, two_layer_flow

SOME = max(5, settings.default.max_examples // 10)
ACTS = ["relu", "softplus", "tanh", "erf"]
CLOSED = ["relu", "erf"]  # H* in closed form: cheap enough for the full example count


@st.composite
def unit_data(draw, n_max=6, d_max=4):
    """``X (n, d)`` with unit-norm rows from a drawn seed (directions uniform on the sphere),
    sometimes with a repeated or antipodal row (the PSD claims must hold there too)."""
    n = draw(st.integers(1, n_max))
    d = draw(st.integers(1, d_max))
    X = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    if n > 1 and draw(st.booleans()):
        X[-1] = draw(st.sampled_from([1.0, -1.0])) * X[0]
    return X


def _psd(H: np.ndarray) -> None:
    """The claims' PSD criterion: symmetric to rounding, ``λ_min ≥ PSD_FLOOR·max|H|``."""
    scale = max(np.abs(H).max(), 1e-300)
    assert np.abs(H - H.T).max() <= 1e-14 * scale  # rounding of a symmetric sum
    assert np.linalg.eigvalsh(H).min() >= PSD_FLOOR * scale


@given(X=unit_data(), width=st.integers(1, 64), act=st.sampled_from(ACTS),
       seed=st.integers(0, 10_000))
def test_H0_is_psd_and_equals_the_jacobian_gram(X, width, act, seed):
    net = TwoLayerNet.build(X.shape[1], width, act, seed)
    w = net.init(seed)
    H = net.kernel(w, X)
    _psd(H)
    J = jacobian(net.model, w, X)[:, 0, :]
    # the same float64 products summed in another order: rounding only
    np.testing.assert_allclose(H, J @ J.T, rtol=1e-11, atol=1e-13)


@settings(max_examples=SOME)
@given(X=unit_data(n_max=5, d_max=3), act=st.sampled_from(ACTS))
def test_H_star_is_psd(X, act):
    _psd(ntk.two_layer_limit(X, None, act))


@given(X=unit_data(), act=st.sampled_from(CLOSED))
def test_H_star_closed_forms_are_psd_with_the_unit_diagonal_value(X, act):
    H = ntk.two_layer_limit(X, None, act)
    _psd(H)
    # ‖x‖ = 1: relu H*_ii = (π − 0)/(2π) = ½; erf H*_ii = (4/π)/√(3·3 − 4) = 4/(π√5)
    diag = 0.5 if act == "relu" else 4.0 / (np.pi * np.sqrt(5.0))
    np.testing.assert_allclose(np.diag(H), diag, rtol=1e-12)


@settings(max_examples=SOME)
@given(act=st.sampled_from(["softplus", "tanh"]), n=st.integers(2, 5), d=st.integers(2, 4),
       data_seed=st.integers(0, 10_000), seed=st.integers(0, 10_000), T=st.floats(0.2, 1.0))
def test_lemma1_measure_meets_the_claims_psd_criterion(act, n, d, data_seed, seed, T):
    # ntk.lemma1's own sweep task: H(t) PSD at every sample of the flow (the claim's check)
    width = max(8, -(-n // d))
    rows = C.measure_lemma1(act, width, data_seed, n, d, T, seed)
    assert all(r["min_eig_ratio"] >= PSD_FLOOR for r in rows)
    # central differences converge: the residual falls as h halves (order 2 in the claim)
    res = [r["residual"] for r in rows]
    assert res[-1] < res[0]


@given(act=st.sampled_from(CLOSED), width=st.integers(2, 256), data_seed=st.integers(0, 999),
       seed=st.integers(0, 10_000), n=st.integers(1, 6), d=st.integers(1, 4))
def test_lemma2_measure_is_the_direct_spectral_error(act, width, data_seed, seed, n, d):
    # ntk.lemma2's sweep task against the public lemma2_error on the same data and net
    if n > width * d:
        return
    got = C.measure_lemma2(act, width, data_seed, n, d, seed)
    X = C.unit_sphere(data_seed, n, d)
    assert got["err"] == pytest.approx(lemma2_error(X, width, act, seed), rel=1e-12, abs=1e-15)
    h_star = np.linalg.norm(ntk.two_layer_limit(X, None, act), 2)
    assert got["rel_err"] == pytest.approx(got["err"] / h_star, rel=1e-12)  # rounding


@given(X=unit_data(), width=st.integers(1, 32), act=st.sampled_from(ACTS),
       seed=st.integers(0, 10_000), shift=st.floats(-1.0, 1.0))
def test_lemma1_identity_at_any_weights(X, width, act, seed, shift):
    # du/dt = J(w) · dw/dt with the flow's velocity, which Lemma 1 says is −H(w)(u − y)
    net = TwoLayerNet.build(X.shape[1], width, act, seed)
    w = net.init(seed) + shift  # any point, not only the init
    y = np.cos(2.0 * X[:, -1])
    J = jacobian(net.model, w, X)[:, 0, :]
    du = J @ net.velocity(w, X, y)
    target = -net.kernel(w, X) @ (net.outputs(w, X) - y)
    # two float64 evaluations of the same sums (n·m·d products): rounding
    np.testing.assert_allclose(du, target, rtol=1e-10, atol=1e-12 * (1 + np.abs(target).max()))


@given(X=unit_data(), factor=st.floats(0.1, 10.0).filter(lambda f: abs(f - 1) > 1e-6))
def test_rescaled_inputs_are_always_refused(X, factor):
    Xs = X.copy()
    Xs[0] *= factor
    with pytest.raises(InvalidArgumentError, match="unit-norm"):
        lemma2_error(Xs, 64)
    with pytest.raises(InvalidArgumentError, match="unit-norm"):
        two_layer_flow(Xs, np.zeros(len(X)), 64)
    with pytest.raises(InvalidArgumentError, match="unit-norm"):
        ntk.kernel_regression(Xs, np.zeros(len(X)), X)

"""Properties of the ntk-notes' NTK facts on drawn unit-norm data, widths, activations and seeds.

Each example is milliseconds (closed-form kernels, a few RK4 steps), but H* for tanh and
softplus is a 2-D quadrature per pair, so those suites run a fraction (1/10, at least 5) of
the active profile's ``max_examples``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkverify import ntk
from pkverify.claims import ntk_measures as C
from pkverify.errors import InvalidArgumentError
from pkverify.kernels import jacobian
from pkverify.models import two_layer

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
    scale = max(np.abs(H).max(), 1e-300)
    # symmetric to rounding, and no eigenvalue below the float64 rounding of eigvalsh
    assert np.abs(H - H.T).max() <= 1e-14 * scale
    assert np.linalg.eigvalsh(H).min() >= -1e-12 * scale


@given(X=unit_data(), width=st.integers(1, 64), act=st.sampled_from(ACTS),
       seed=st.integers(0, 10_000))
def test_H0_is_psd_and_equals_the_jacobian_gram(X, width, act, seed):
    W, _ = C.two_layer_init(X.shape[1], width, act, seed)
    H = C.two_layer_kernel(W, X, act)
    _psd(H)
    model = two_layer(X.shape[1], width, act, seed=seed)
    J = jacobian(model, W.ravel(), X)[:, 0, :]
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
@given(X=unit_data(n_max=5, d_max=3), act=st.sampled_from(ACTS),
       seed=st.integers(0, 10_000), T=st.floats(0.05, 1.0))
def test_H_t_stays_psd_along_the_flow(X, act, seed, T):
    width = max(8, -(-X.shape[0] // X.shape[1]))
    y = np.sin(3.0 * X[:, 0])
    fl = C.two_layer_flow(X, y, width, act, seed, np.linspace(0, T, 4), step=T / 30)
    for W in fl.W:
        _psd(C.two_layer_kernel(W, X, act))


@given(X=unit_data(), width=st.integers(1, 32), act=st.sampled_from(ACTS),
       seed=st.integers(0, 10_000), shift=st.floats(-1.0, 1.0))
def test_lemma1_identity_at_any_weights(X, width, act, seed, shift):
    # du/dt = J(w) · dw/dt with dw/dt = −∇_W ½‖u − y‖², which Lemma 1 says is −H(w)(u − y):
    # the chain rule through the autograd/layer-wise Jacobian, against the closed-form H
    W, a = C.two_layer_init(X.shape[1], width, act, seed)
    W = W + shift  # any point, not only the init
    y = np.cos(2.0 * X[:, -1])
    model = two_layer(X.shape[1], width, act, seed=seed)
    J = jacobian(model, W.ravel(), X)[:, 0, :]
    du = J @ C._velocity(W, a, X, y, act).ravel()
    r = C._outputs(W, a, X, act) - y
    target = -C.two_layer_kernel(W, X, act) @ r
    # two float64 evaluations of the same sums (n·m·d products): rounding
    np.testing.assert_allclose(du, target, rtol=1e-10, atol=1e-12 * (1 + np.abs(target).max()))


@given(X=unit_data(), factor=st.floats(0.1, 10.0).filter(lambda f: abs(f - 1) > 1e-6))
def test_rescaled_inputs_are_always_refused(X, factor):
    Xs = X.copy()
    Xs[0] *= factor
    with pytest.raises(InvalidArgumentError, match="unit-norm"):
        C.lemma2_error(Xs, 64)
    with pytest.raises(InvalidArgumentError, match="unit-norm"):
        C.two_layer_flow(Xs, np.zeros(len(X)), 64)

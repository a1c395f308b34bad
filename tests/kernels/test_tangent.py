"""Tangent kernel K^g_w(x, x') = ∇_w f(w, x)·∇_w f(w, x'), each model checked two ways:
against central finite differences of ``model.apply`` and against a closed form by hand."""

from __future__ import annotations

import math

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.activations import c_sigma
from pkverify.errors import NonFiniteError, ShapeError

from ..reference import fd_jacobian, rel_err

# FD step h = 1e-6: Jacobian entries carry O(h²) ≈ 1e-12 truncation plus ≈ eps/h ≈ 2e-10
# rounding; a kernel entry sums P ≤ ~50 such products of O(1) terms, so 1e-7 relative is safe
# while a wrong Jacobian entry (an O(1) error) would fail by orders of magnitude.
FD_RTOL = 1e-7
# closed forms evaluate the same dot products in another order: float64 rounding only
CLOSED_RTOL = 1e-12


def fd_kernel(model, w, X1, X2):
    J1 = fd_jacobian(lambda v: model.apply(v, X1), w)
    J2 = fd_jacobian(lambda v: model.apply(v, X2), w)
    if J1.ndim == 2:
        return J1 @ J2.T
    return np.einsum("iap,jbp->ijab", J1, J2)


MODELS = {
    "linear": lambda: pk.models.linear(2),
    "linear_nobias": lambda: pk.models.linear(2, bias=False),
    "two_layer_tanh": lambda: pk.models.two_layer(2, 5, activation="tanh"),
    "two_layer_relu_out": lambda: pk.models.two_layer(2, 5, train_output=True),
    "mlp_tanh": lambda: pk.models.mlp([2, 4, 3, 1], activation="tanh"),
    "mlp_softplus": lambda: pk.models.mlp([2, 4, 1], activation="softplus"),
    "mlp_erf_nobias": lambda: pk.models.mlp([2, 4, 1], activation="erf", bias=False),
    "mlp_relu": lambda: pk.models.mlp([2, 5, 1], activation="relu"),
    "mlp_vector": lambda: pk.models.mlp([2, 4, 3], activation="sigmoid"),
    "custom": lambda: pk.models.custom(
        lambda w, X: anp.sin(X @ w[:2]) * w[2] + w[3] ** 2, [0.3, -0.2, 1.1, 0.5]
    ),
    "custom_vector": lambda: pk.models.custom(
        lambda w, X: anp.stack([X @ w[:2], anp.tanh(X @ w[2:4]) * w[0]], axis=1),
        [0.3, -0.2, 1.1, 0.5],
    ),
}


def _weights(model):
    w = model.init(2)
    # perturb (zero) biases so their gradients are exercised at a generic point
    return w + 0.1 * np.random.default_rng(3).standard_normal(w.size)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_finite_differences(name, data2d, queries2d):
    X, _ = data2d
    model = MODELS[name]()
    w = _weights(model)
    K = pk.tangent_kernel(model, w, queries2d, X)
    ref = fd_kernel(model, w, queries2d, X)
    assert K.shape == ref.shape
    assert rel_err(K, ref) < FD_RTOL


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fast_path_matches_the_autograd_reference(name, data2d, queries2d):
    X, _ = data2d
    model = MODELS[name]()
    w = _weights(model)
    fast = pk.tangent_kernel(model, w, queries2d, X)
    ref = pk.tangent_kernel(model, w, queries2d, X, implementation="reference")
    # the same products summed in another order: float64 rounding only
    np.testing.assert_allclose(fast, ref, rtol=CLOSED_RTOL, atol=1e-14 * np.abs(ref).max())


@pytest.mark.parametrize(
    "model",
    [pk.models.mlp([2, 4, 1], activation="relu"), pk.models.two_layer(2, 4, train_output=True)],
    ids=["mlp_relu_bias", "two_layer_relu"],
)
def test_fast_path_matches_reference_at_relu_ties(model):
    # x = 0 with zero initial biases puts every pre-activation exactly at relu's kink
    X = np.array([[0.0, 0.0], [1.0, 0.5], [-0.3, 0.8]])
    w = model.init(0)
    np.testing.assert_allclose(
        pk.tangent_kernel(model, w, X),
        pk.tangent_kernel(model, w, X, implementation="reference"),
        rtol=CLOSED_RTOL,
        atol=1e-15,
    )


def test_linear_closed_form(data2d, queries2d):
    X, _ = data2d
    model = pk.models.linear(2)
    K = pk.tangent_kernel(model, model.init(0), queries2d, X)
    np.testing.assert_allclose(K, queries2d @ X.T + 1.0, rtol=CLOSED_RTOL)


def test_linear_with_features_closed_form_at_any_weights(data2d, queries2d):
    X, _ = data2d

    def phi(X):
        return anp.stack([X[:, 0] * X[:, 1], anp.cos(X[:, 0]), X[:, 1]], axis=1)

    def phi_np(X):
        return np.stack([X[:, 0] * X[:, 1], np.cos(X[:, 0]), X[:, 1]], axis=1)

    model = pk.models.linear(2, features=phi)
    expected = phi_np(queries2d) @ phi_np(X).T + 1.0
    for seed in (0, 1, 2):  # K^g does not depend on w for a linear model
        K = pk.tangent_kernel(model, model.init(seed), queries2d, X)
        np.testing.assert_allclose(K, expected, rtol=CLOSED_RTOL)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_two_layer_seed003_eq8(act, data2d, queries2d):
    X, _ = data2d
    m = 7
    model = pk.models.two_layer(2, m, activation=act)
    w = model.init(1)
    W = w.reshape(m, 2)
    dsig = (lambda z: (z > 0).astype(float)) if act == "relu" else (lambda z: 1 - np.tanh(z) ** 2)
    S1, S2 = dsig(queries2d @ W.T), dsig(X @ W.T)  # σ'(w_rᵀx), (q, m) and (n, m)
    # H_ij = x_iᵀx_j Σ_r a_r² σ'(w_rᵀx_i) σ'(w_rᵀx_j) / m  with a_r² = 1
    expected = (queries2d @ X.T) * (S1 @ S2.T) / m
    K = pk.tangent_kernel(model, w, queries2d, X)
    np.testing.assert_allclose(K, expected, rtol=CLOSED_RTOL, atol=1e-15)


def test_two_layer_train_output_adds_the_a_part(data2d, queries2d):
    X, _ = data2d
    m = 6
    model = pk.models.two_layer(2, m, train_output=True)
    w = model.init(1).copy()
    w[2 * m :] = np.random.default_rng(4).standard_normal(m)  # generic output weights a_r
    W, a = w[: 2 * m].reshape(m, 2), w[2 * m :]
    Z1, Z2 = queries2d @ W.T, X @ W.T
    w_part = (queries2d @ X.T) * (((Z1 > 0) * a) @ ((Z2 > 0) * a).T) / m
    a_part = np.maximum(Z1, 0) @ np.maximum(Z2, 0).T / m  # ∂f/∂a_r = σ(w_rᵀx)/√m
    K = pk.tangent_kernel(model, w, queries2d, X)
    np.testing.assert_allclose(K, w_part + a_part, rtol=CLOSED_RTOL, atol=1e-15)


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_one_hidden_layer_mlp_by_hand(act, data2d, queries2d):
    X, _ = data2d
    d, h = 2, 5
    model = pk.models.mlp([d, h, 1], activation=act)
    w = _weights(model)
    W1 = w[: h * d].reshape(h, d)
    b1 = w[h * d : h * d + h]
    v = w[h * d + h : h * d + 2 * h]
    c = math.sqrt(c_sigma(act) / h)
    sig = np.tanh if act == "tanh" else (lambda z: np.maximum(z, 0))
    dsig = (lambda z: 1 - np.tanh(z) ** 2) if act == "tanh" else (lambda z: (z > 0) * 1.0)

    def grads(Xs):
        Z = Xs @ W1.T + b1
        g = c * sig(Z)  # ∂f/∂v = g, ∂f/∂b2 = 1
        back = c * v * dsig(Z)  # ∂f/∂Z
        gW = back[:, :, None] * Xs[:, None, :]  # ∂f/∂W1[r, j] = back_r x_j
        return np.concatenate([gW.reshape(len(Xs), -1), back, g, np.ones((len(Xs), 1))], 1)

    expected = grads(queries2d) @ grads(X).T
    K = pk.tangent_kernel(model, w, queries2d, X)
    np.testing.assert_allclose(K, expected, rtol=CLOSED_RTOL)


def test_vector_output_blocks_are_per_output_kernels(data2d, queries2d):
    X, _ = data2d
    model = pk.models.mlp([2, 4, 3], activation="tanh")
    w = _weights(model)
    K = pk.tangent_kernel(model, w, queries2d, X)
    assert K.shape == (4, 6, 3, 3)
    for a in range(3):
        for b in range(3):
            fa = pk.models.custom(lambda v, Z, a=a: model.f(v, Z)[:, a], w)
            fb = pk.models.custom(lambda v, Z, b=b: model.f(v, Z)[:, b], w)
            Ja = fd_jacobian(lambda v, fa=fa: fa.apply(v, queries2d), w)
            Jb = fd_jacobian(lambda v, fb=fb: fb.apply(v, X), w)
            assert rel_err(K[:, :, a, b], Ja @ Jb.T) < FD_RTOL
            if a == b:  # diagonal blocks are the scalar kernels of each output
                Kaa = pk.tangent_kernel(fa, w, queries2d, X)
                np.testing.assert_allclose(K[:, :, a, a], Kaa, rtol=CLOSED_RTOL)


def test_gram_default_and_symmetry(data2d, queries2d):
    X, _ = data2d
    model = pk.models.mlp([2, 4, 1])
    w = _weights(model)
    G = pk.tangent_kernel(model, w, X)
    np.testing.assert_array_equal(G, pk.tangent_kernel(model, w, X, X))
    np.testing.assert_allclose(G, G.T, rtol=0, atol=1e-14 * np.abs(G).max())
    K12 = pk.tangent_kernel(model, w, queries2d, X)
    K21 = pk.tangent_kernel(model, w, X, queries2d)
    np.testing.assert_allclose(K12, K21.T, rtol=1e-14)


@pytest.mark.parametrize(
    "model",
    [
        pk.models.mlp([2, 8, 8, 1], activation="tanh"),
        pk.models.two_layer(2, 6),
        pk.models.mlp([2, 5, 3], activation="softplus"),
    ],
    ids=["mlp", "two_layer", "vector"],
)
def test_gram_is_psd(model):
    X = np.random.default_rng(5).standard_normal((10, 2))
    X[3] = X[2]  # a duplicate point makes the Gram singular: the hardest PSD case
    K = pk.tangent_kernel(model, model.init(0), X)
    if K.ndim == 4:  # (n, n, k, k) → the (nk × nk) Gram of all outputs
        n, _, k, _ = K.shape
        K = K.transpose(0, 2, 1, 3).reshape(n * k, n * k)
    norm = np.linalg.norm(K, 2)
    # J Jᵀ is exactly PSD; float64 rounding in the product and eigvalsh moves eigenvalues by
    # ≈ n·eps·‖K‖ ≈ 1e-14‖K‖, so −1e-10‖K‖ leaves four orders of margin
    assert np.abs(K - K.T).max() <= 1e-12 * norm
    assert np.linalg.eigvalsh(0.5 * (K + K.T)).min() >= -1e-10 * norm


def test_bad_input(data2d):
    X, _ = data2d
    model = pk.models.mlp([2, 3, 1])
    w = model.init(0)
    with pytest.raises(ShapeError, match="X1 must have d = 2 columns"):
        pk.tangent_kernel(model, w, np.ones((3, 3)))
    with pytest.raises(ShapeError, match="X2 must be 2-D"):
        pk.tangent_kernel(model, w, X, np.ones(2))
    with pytest.raises(ShapeError, match=r"shape \(13,\)"):
        pk.tangent_kernel(model, np.ones(12), X)
    with pytest.raises(NonFiniteError, match="NaN or inf"):
        pk.tangent_kernel(model, np.full(13, np.nan), X)


def test_custom_scalar_output_is_rejected(data2d):
    X, _ = data2d
    model = pk.models.custom(lambda w, X: anp.sum(X @ w), [1.0, 2.0])
    with pytest.raises(ShapeError, match=r"\(n,\) or \(n, k\)"):
        pk.tangent_kernel(model, np.ones(2), X)

"""pkverify.ntk.two_layer, .deep and .solve: the lemmas' numerics through the kernel engine,
against autograd and pkverify's own flow, and every bad input refused before any work."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pkverify as pk
from pkverify import models, ntk
from pkverify.errors import (
    InvalidArgumentError,
    NonFiniteError,
    SingularKernelError,
    UnknownNameError,
)
from pkverify.kernels import jacobian
from pkverify.ntk.deep import hidden_norms, layer_kernels
from pkverify.ntk.two_layer import TwoLayerNet, bound_width, lemma2_error, two_layer_flow


def autograd_kernel(model, w, X):
    """The plain, obvious reference: ``J Jᵀ`` from autograd's Jacobian of ``model.f``."""
    from autograd import jacobian as ag_jacobian

    J = ag_jacobian(lambda v: model.f(v, X))(w).reshape(X.shape[0], -1)
    return J @ J.T


def _sphere(seed, n, d):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("act", ["relu", "softplus", "tanh", "erf"])
def test_kernel_equals_autograd_and_the_closed_form(act):
    from pkverify.activations import DERIVATIVES

    X = _sphere(1, 5, 3)
    net = TwoLayerNet.build(3, 7, act, seed=4)
    w = net.init(4) + 0.1  # off the init too (any w)
    H = net.kernel(w, X)
    S = DERIVATIVES[act](X @ w.reshape(7, 3).T)  # (n, m)
    closed = (X @ X.T) * (S @ S.T) / 7  # ntk-notes eq. 5 with a_r² = 1
    # float64 sums of the same 7·3 products in another order
    for K in (autograd_kernel(net.model, w, X), closed):
        np.testing.assert_allclose(H, K, rtol=1e-12, atol=1e-14)


def test_velocity_is_minus_the_loss_gradient():
    from autograd import grad

    X = _sphere(2, 4, 3)
    y = np.array([0.3, -0.2, 0.5, 1.0])
    net = TwoLayerNet.build(3, 9, "tanh", seed=5)
    w = net.init(5)
    g = grad(lambda v: 0.5 * np.sum((net.model.f(v, X) - y) ** 2))(w)
    np.testing.assert_allclose(net.velocity(w, X, y), -g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.outputs(w, X), net.model.apply(w, X), rtol=1e-13)


def test_rk4_flow_matches_pk_gradient_flow():
    X = _sphere(3, 4, 3)
    y = np.array([0.5, -1.0, 0.2, 0.8])
    model = models.two_layer(3, 6, "softplus", seed=2)
    traj = pk.gradient_flow(model, X, y, loss="mse", T=1.0, samples=3, seed=2)
    fl = two_layer_flow(X, y, 6, "softplus", seed=2, times=(0.5, 1.0), step=0.01)
    # RK4 at step 0.01 on a smooth flow: error ~ step⁴ ≈ 1e-8; DOP853 at rtol 1e-10
    np.testing.assert_allclose(fl.ws[-1], traj.ws[-1], atol=1e-7)
    np.testing.assert_allclose(fl.ws[0], traj.ws[1], atol=1e-7)


@pytest.mark.parametrize("act,depth", [("relu", 2), ("erf", 3), ("tanh", 1)])
def test_layer_kernels_are_the_jacobian_blocks(act, depth):
    X = np.random.default_rng(6).standard_normal((5, 3))  # any norm: eq. 22 is an identity
    sizes = [3] + [6] * depth + [1]
    model = models.mlp(sizes, act, bias=False)
    w = model.init(3)
    J = jacobian(model, w, X)[:, 0, :]
    off = 0
    terms = layer_kernels(model, w, X)
    assert len(terms) == depth + 1
    for h, term in enumerate(terms):
        size = sizes[h] * sizes[h + 1]
        block = J[:, off: off + size]
        off += size
        np.testing.assert_allclose(term, block @ block.T, rtol=1e-12, atol=1e-13)  # rounding
    np.testing.assert_allclose(sum(terms), autograd_kernel(model, w, X), rtol=1e-12, atol=1e-13)


def test_hidden_norms_follow_eq16():
    x = np.array([[0.5, -1.0, 2.0]])
    model = models.mlp([3, 5, 4, 1], "relu", bias=False)
    w = model.init(1)
    W1, W2 = w[:15].reshape(5, 3), w[15:35].reshape(4, 5)
    g1 = math.sqrt(2 / 5) * np.maximum(x @ W1.T, 0)
    g2 = math.sqrt(2 / 4) * np.maximum(g1 @ W2.T, 0)
    got = hidden_norms(model, w, x)
    np.testing.assert_allclose([v[0] for v in got], [np.sum(g1**2), np.sum(g2**2)], rtol=1e-13)


def test_lemma2_error_falls_with_width():
    X = _sphere(0, 6, 4)
    small = np.mean([lemma2_error(X, 64, "relu", s) for s in range(4)])
    large = np.mean([lemma2_error(X, 16384, "relu", s) for s in range(4)])
    # 256× the width: m^{-1/2} predicts 16× smaller; ask for ≥ 6× (4 seeds of noise)
    assert large * 6 < small


def test_bound_width_inverts_hoeffding_and_the_union_bound():
    n, eps, delta = 8, 0.1, 0.05
    for act, B in (("relu", 1.0), ("erf", 2 / math.sqrt(math.pi))):
        m = bound_width(n, eps, delta, act)
        # at m the failure probability n² · 2 exp(−2 m (ε/n²)² / (2B²)²) equals δ exactly
        fail = n * n * 2 * math.exp(-2 * m * (eps / n**2) ** 2 / (2 * B * B) ** 2)
        assert fail == pytest.approx(delta, rel=1e-9)
    with pytest.raises(UnknownNameError, match="gelu"):
        bound_width(8, 0.1, 0.05, "gelu")


def test_generalization_bound_against_an_explicit_inverse():
    X = _sphere(5, 10, 3)
    H = ntk.two_layer_limit(X, None, "relu")
    y = np.linspace(-1, 1, 10)
    expected = math.sqrt(2 * y @ np.linalg.inv(H) @ y * np.trace(H)) / 10
    assert ntk.generalization_bound(H, y) == pytest.approx(expected, rel=1e-9)  # cond ~ 10


def test_kernel_regression_interpolates_the_training_points():
    X = _sphere(7, 6, 3)
    y = np.sin(np.arange(6.0))
    u0 = np.full(6, 0.3)
    # at the training points k(X, X) = H*, so the prediction is u0 + (y − u0) = y
    np.testing.assert_allclose(ntk.kernel_regression(X, y, X, "relu", u0, u0), y, atol=1e-10)


def test_solve_matches_a_direct_solve():
    X = _sphere(9, 7, 4)
    H = ntk.two_layer_limit(X, None, "erf")
    b = np.arange(7.0)
    np.testing.assert_allclose(ntk.solve(H, b), np.linalg.solve(H, b), rtol=1e-9)


# ---------------------------------------------------------------------------------------
# bad input: refused before any work, with the fix named
# ---------------------------------------------------------------------------------------


def test_non_unit_inputs_are_refused_everywhere():
    X = _sphere(0, 5, 3) * np.array([[1.0], [2.0], [1.0], [0.5], [1.0]])
    y = np.zeros(5)
    calls = [
        lambda: two_layer_flow(X, y, 64),
        lambda: lemma2_error(X, 64),
        lambda: ntk.kernel_regression(X, y, _sphere(1, 2, 3)),
        lambda: ntk.kernel_regression(_sphere(1, 5, 3), y, X),
        lambda: ntk.check_unit_norm(X),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match=r"unit-norm.*rows are not.*unit_rows"):
            call()
    fixed = ntk.unit_rows(X)
    np.testing.assert_allclose(np.linalg.norm(fixed, axis=1), 1.0, rtol=1e-15)
    lemma2_error(fixed, 64)  # accepted once normalised
    with pytest.raises(InvalidArgumentError, match="all-zero"):
        ntk.unit_rows(np.zeros((2, 3)))


def test_more_points_than_the_width_supports_are_refused():
    X = _sphere(0, 20, 2)
    with pytest.raises(InvalidArgumentError, match=r"m·d = 8 .* width ≥ 10"):
        two_layer_flow(X, np.zeros(20), 4)
    with pytest.raises(InvalidArgumentError, match="rank"):
        lemma2_error(X, 4)
    lemma2_error(X, 10)  # m·d = 20 = n is allowed


def test_flow_rejects_bad_labels_times_and_steps():
    X = _sphere(0, 4, 3)
    with pytest.raises(InvalidArgumentError):
        two_layer_flow(X, np.zeros(3), 16)
    with pytest.raises(InvalidArgumentError):
        two_layer_flow(X, np.zeros((4, 2)), 16)
    with pytest.raises(InvalidArgumentError, match="increasing"):
        two_layer_flow(X, np.zeros(4), 16, times=(1.0, 0.5))
    with pytest.raises(InvalidArgumentError):
        two_layer_flow(X, np.zeros(4), 16, step=0.0)


def test_singular_and_ill_conditioned_h_star_raise_never_nan():
    X = _sphere(0, 5, 3)
    dup = np.vstack([X, X[:1]])  # a repeated point: H* has two equal rows
    y = np.ones(6)
    with pytest.raises(SingularKernelError, match="singular or too ill-conditioned"):
        ntk.solve(ntk.two_layer_limit(dup, None, "relu"), y)
    with pytest.raises(SingularKernelError, match="duplicates"):
        ntk.kernel_regression(dup, y, X)
    with pytest.raises(SingularKernelError):
        ntk.generalization_bound(ntk.two_layer_limit(dup, None, "relu"), y)
    near = np.vstack([X, ntk.unit_rows(X[:1] + 1e-9)])  # nearly the same point
    with pytest.raises(SingularKernelError, match="condition"):
        ntk.solve(ntk.two_layer_limit(near, None, "relu"), y)
    with pytest.raises(NonFiniteError):
        ntk.solve(np.array([[1.0, np.nan], [np.nan, 1.0]]), np.ones(2))
    with pytest.raises(InvalidArgumentError, match="symmetric"):
        ntk.solve(np.array([[2.0, 1.0], [0.0, 2.0]]), np.ones(2))
    with pytest.raises(InvalidArgumentError, match="rows"):
        ntk.solve(np.eye(3), np.ones(2))

"""Path kernels (Def. 2) against plain loops over ``traj.ws`` written here."""

from __future__ import annotations

import numpy as np
import pytest

import pkverify as pk
from pkverify.errors import InvalidArgumentError, ShapeError, UnknownNameError
from pkverify.kernels.exact import PathWarning

from ..reference import jac, loss_derivs, mean_gradient, rel_err

# The rules and the loops below add the same products in a different order: float64
# rounding over ≤ 20 steps of O(1) kernels.
LOOP_RTOL = 1e-12


def tk(model, w, A, B):
    """K^g_w(A, B) from autograd.jacobian on the raw model function."""
    JA, JB = jac(model, w, A), jac(model, w, B)
    if JA.ndim == 2:
        return JA @ JB.T
    return np.einsum("iap,jbp->ijab", JA, JB)


@pytest.fixture
def gd_traj(data2d):
    X, Y = data2d
    return pk.train(pk.models.mlp([2, 5, 1], activation="tanh"), X, Y, lr=0.1, steps=8)


@pytest.fixture
def sgd_traj(data2d):
    X, Y = data2d
    model = pk.models.mlp([2, 5, 1], activation="tanh")
    return pk.train(model, X, Y, lr=0.1, steps=8, batch_size=2, seed=3)


def test_riemann_is_the_left_sum(gd_traj, queries2d):
    t = gd_traj
    expected = sum(e * tk(t.model, w, queries2d, t.X) for e, w in zip(t.step_sizes, t.ws[:-1]))
    K = pk.path_kernel(t, queries2d, t.X, rule="riemann")
    assert K.shape == (4, 6)
    assert rel_err(K, expected) < LOOP_RTOL
    np.testing.assert_array_equal(K, pk.path_kernel(t, queries2d, t.X))  # the default rule


def test_trapezoid(gd_traj, queries2d):
    t = gd_traj
    expected = sum(
        0.5 * e * (tk(t.model, a, queries2d, t.X) + tk(t.model, b, queries2d, t.X))
        for e, a, b in zip(t.step_sizes, t.ws[:-1], t.ws[1:])
    )
    K = pk.path_kernel(t, queries2d, t.X, rule="trapezoid")
    assert rel_err(K, expected) < LOOP_RTOL


def test_exact_rule_is_the_mean_gradient_along_each_step(gd_traj, queries2d):
    t = gd_traj
    expected = sum(
        e * mean_gradient(t.model, w, w1 - w, queries2d) @ jac(t.model, w, t.X).T
        for e, w, w1 in zip(t.step_sizes, t.ws[:-1], t.ws[1:])
    )
    K = pk.path_kernel(t, queries2d, t.X, rule="exact")
    # our 40-node Gauss–Legendre is converged to rounding; pkverify's adaptive rule stops at
    # a step residual of 1e-14 relative, so 1e-12 leaves two orders of margin
    assert rel_err(K, expected) < 1e-12
    # and it really is a different kernel from the Riemann one at ε = 0.1
    assert rel_err(pk.path_kernel(t, queries2d, t.X, rule="riemann"), expected) > 1e-4


def test_exact_rule_with_fixed_nodes(gd_traj, queries2d):
    t = gd_traj
    K40 = pk.path_kernel(t, queries2d, t.X, rule="exact", nodes=40)
    with pytest.warns(PathWarning, match="fixed 1 Gauss"):  # one node misses rounding
        K1 = pk.path_kernel(t, queries2d, t.X, rule="exact", nodes=1)
    # one node is the midpoint rule: ∫ ∇f(w + τΔ) dτ ≈ ∇f(w + Δ/2)
    mid = sum(
        e * jac(t.model, 0.5 * (w + w1), queries2d) @ jac(t.model, w, t.X).T
        for e, w, w1 in zip(t.step_sizes, t.ws[:-1], t.ws[1:])
    )
    assert rel_err(K1, mid) < LOOP_RTOL
    assert rel_err(K40, pk.path_kernel(t, queries2d, t.X, rule="exact")) < 1e-12


def test_exact_rule_is_not_symmetric(gd_traj):
    t = gd_traj
    K = pk.path_kernel(t, t.X, rule="exact")
    assert np.abs(K - K.T).max() > 1e-6 * np.abs(K).max()


def test_simpson_on_a_flow_path(data2d, queries2d):
    X, Y = data2d
    flow = pk.gradient_flow(pk.models.mlp([2, 4, 1]), X, Y, T=0.5, samples=5)
    h = 0.125
    weights = h / 3 * np.array([1, 4, 2, 4, 1])  # composite Simpson, 4 intervals
    expected = sum(c * tk(flow.model, w, queries2d, X) for c, w in zip(weights, flow.ws))
    K = pk.path_kernel(flow, queries2d, X, rule="simpson")
    assert rel_err(K, expected) < LOOP_RTOL


def test_weighted_is_remark2_loss_weighted_kernel(gd_traj, queries2d):
    t = gd_traj
    expected = sum(
        e * tk(t.model, w, queries2d, t.X) * loss_derivs(t, w)[None, :]
        for e, w in zip(t.step_sizes, t.ws[:-1])
    )
    K = pk.path_kernel(t, queries2d, rule="riemann", weighted=True)
    assert K.shape == (4, 6)
    assert rel_err(K, expected) < LOOP_RTOL


def test_sgd_path_kernel_against_points_has_no_indicators(sgd_traj, queries2d):
    # path_kernel(traj, X1, X2) is ∫ K^g dt over the whole path, whatever the batches
    t = sgd_traj
    expected = sum(e * tk(t.model, w, queries2d, t.X) for e, w in zip(t.step_sizes, t.ws[:-1]))
    K = pk.path_kernel(t, queries2d, t.X, rule="riemann")
    assert rel_err(K, expected) < LOOP_RTOL


def test_sgd_weighted_kernel_uses_indicators(sgd_traj, queries2d):
    # Remark 5: ∫ I_i(t) ℓ'_i K^g(x, x_i) dt
    t = sgd_traj
    expected = sum(
        e * tk(t.model, w, queries2d, t.X) * (I * loss_derivs(t, w))[None, :]
        for e, w, I in zip(t.step_sizes, t.ws[:-1], t.batches)
    )
    K = pk.path_kernel(t, queries2d, rule="riemann", weighted=True)
    assert rel_err(K, expected) < LOOP_RTOL


def test_vector_output_shapes_and_loop(data2d, queries2d):
    X, _ = data2d
    ids = np.array([0, 1, 2, 0, 1, 2])
    t = pk.train(pk.models.mlp([2, 4, 3]), X, ids, loss="softmax_ce", lr=0.1, steps=4)
    K = pk.path_kernel(t, queries2d, X, rule="trapezoid")
    assert K.shape == (4, 6, 3, 3)
    expected = sum(
        0.5 * e * (tk(t.model, a, queries2d, X) + tk(t.model, b, queries2d, X))
        for e, a, b in zip(t.step_sizes, t.ws[:-1], t.ws[1:])
    )
    assert rel_err(K, expected) < LOOP_RTOL
    Kw = pk.path_kernel(t, queries2d, rule="riemann", weighted=True)
    assert Kw.shape == (4, 6, 3)


def test_linear_model_path_kernel_is_T_times_tangent_kernel(data2d, queries2d):
    X, Y = data2d
    t = pk.train(pk.models.linear(2), X, Y, lr=[0.1, 0.05, 0.02, 0.03], steps=4)
    expected = t.T * (queries2d @ X.T + 1.0)
    for rule in ("riemann", "trapezoid", "exact"):
        # K^g = φ·φ' + 1 at every w: every rule sums the same constant, rounding only
        K = pk.path_kernel(t, queries2d, X, rule=rule)
        np.testing.assert_allclose(K, expected, rtol=1e-12)


@pytest.mark.parametrize("rule", ["riemann", "trapezoid"])
@pytest.mark.parametrize("kind", ["gd", "sgd"])
def test_path_gram_is_symmetric_psd(rule, kind, data2d):
    X, Y = data2d
    X = np.vstack([X, X[:1]])  # a duplicate point: singular Gram, the hardest PSD case
    Y = np.append(Y, Y[0])
    model = pk.models.mlp([2, 6, 1], activation="tanh")
    t = pk.train(model, X, Y, lr=0.1, steps=6, batch_size=3 if kind == "sgd" else None)
    K = pk.path_kernel(t, X, rule=rule)
    norm = np.linalg.norm(K, 2)
    # a positive combination of J Jᵀ Grams is exactly PSD; rounding moves eigenvalues by
    # ≈ n·eps·‖K‖ ≈ 1e-15‖K‖, so −1e-10‖K‖ (the claim's bound) has ample margin
    assert np.abs(K - K.T).max() <= 1e-12 * norm
    assert np.linalg.eigvalsh(0.5 * (K + K.T)).min() >= -1e-10 * norm


class TestBadInput:
    def test_unknown_rule(self, gd_traj):
        with pytest.raises(UnknownNameError, match="unknown path-kernel rule 'midpoint'.*'exact'"):
            pk.path_kernel(gd_traj, gd_traj.X, rule="midpoint")

    def test_rule_enum_accepted(self, gd_traj):
        a = pk.path_kernel(gd_traj, gd_traj.X, rule=pk.Rule.TRAPEZOID)
        b = pk.path_kernel(gd_traj, gd_traj.X, rule="trapezoid")
        np.testing.assert_array_equal(a, b)

    def test_exact_on_flow(self, data2d):
        X, Y = data2d
        flow = pk.gradient_flow(pk.models.linear(2), X, Y, T=0.5, samples=3)
        with pytest.raises(InvalidArgumentError, match="not defined on a gradient-flow path"):
            pk.path_kernel(flow, X, rule="exact")

    def test_simpson_on_sgd_weighted(self, sgd_traj):
        with pytest.raises(InvalidArgumentError, match="simpson' needs a full-batch path"):
            pk.path_kernel(sgd_traj, sgd_traj.X, rule="simpson", weighted=True)

    def test_simpson_needs_two_intervals(self, data2d):
        X, Y = data2d
        t = pk.train(pk.models.linear(2), X, Y, steps=1)
        with pytest.raises(InvalidArgumentError, match="at least 2 intervals"):
            pk.path_kernel(t, X, rule="simpson")

    def test_weighted_with_x2(self, gd_traj):
        with pytest.raises(InvalidArgumentError, match="leave X2=None"):
            pk.path_kernel(gd_traj, gd_traj.X, gd_traj.X, weighted=True)

    @pytest.mark.parametrize("nodes", [0, -2, 2.5])
    def test_bad_nodes(self, gd_traj, nodes):
        with pytest.raises(InvalidArgumentError, match="nodes must be"):
            pk.path_kernel(gd_traj, gd_traj.X, rule="exact", nodes=nodes)

    def test_wrong_columns(self, gd_traj):
        with pytest.raises(ShapeError, match="X1 must have d = 2 columns"):
            pk.path_kernel(gd_traj, np.ones((3, 4)))
        with pytest.raises(ShapeError, match="X2 must have d = 2 columns"):
            pk.path_kernel(gd_traj, gd_traj.X, np.ones((3, 4)))

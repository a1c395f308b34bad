"""The NTK claims: closed forms against pkverify's own kernels and flows, rates, controls
that must fail, every bad input, and each claim passing at its quick size."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pkverify as pk
from pkverify import models, ntk
from pkverify.claims import CheckConfig, get
from pkverify.claims import ntk_measures as C
from pkverify.errors import InvalidArgumentError, NonFiniteError, SingularKernelError


def autograd_kernel(model, w, X):
    """The plain, obvious reference: ``J Jᵀ`` from autograd's Jacobian of ``model.f``."""
    from autograd import jacobian as ag_jacobian

    J = ag_jacobian(lambda v: model.f(v, X))(w).reshape(X.shape[0], -1)
    return J @ J.T


def _sphere(seed, n, d):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------
# the closed forms against the package's models, kernels and flows
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["relu", "softplus", "tanh", "erf"])
def test_closed_form_kernel_equals_tangent_kernel(act):
    X = _sphere(1, 5, 3)
    model = models.two_layer(3, 7, act, seed=4)
    w = model.init(4) + 0.1  # off the init too (any w)
    W, _ = C.two_layer_init(3, 7, act, 4)
    assert np.array_equal(W.ravel(), model.init(4))
    H = C.two_layer_kernel(w.reshape(7, 3), X, act)
    # pkverify's tangent kernel and plain autograd: float64 sums of the same 7·3 products
    for K in (pk.tangent_kernel(model, w, X), autograd_kernel(model, w, X)):
        np.testing.assert_allclose(H, K, rtol=1e-12, atol=1e-14)


def test_signs_and_outputs_match_the_model():
    X = _sphere(2, 4, 3)
    model = models.two_layer(3, 9, "tanh", seed=5)
    W, a = C.two_layer_init(3, 9, "tanh", 5)
    assert set(np.unique(a)) <= {-1.0, 1.0}
    np.testing.assert_allclose(C._outputs(W, a, X, "tanh"), model.apply(model.init(5), X),
                               rtol=1e-13)


def test_rk4_flow_matches_pk_gradient_flow():
    X = _sphere(3, 4, 3)
    y = np.array([0.5, -1.0, 0.2, 0.8])
    model = models.two_layer(3, 6, "softplus", seed=2)
    traj = pk.gradient_flow(model, X, y, loss="mse", T=1.0, samples=3, seed=2)
    fl = C.two_layer_flow(X, y, 6, "softplus", seed=2, times=(0.5, 1.0), step=0.01)
    # RK4 at step 0.01 on a smooth flow: error ~ step⁴ ≈ 1e-8; DOP853 at rtol 1e-10
    np.testing.assert_allclose(fl.W[-1].ravel(), traj.ws[-1], atol=1e-7)
    np.testing.assert_allclose(fl.W[0].ravel(), traj.ws[1], atol=1e-7)


@pytest.mark.parametrize("act,depth", [("relu", 2), ("erf", 3), ("tanh", 1)])
def test_layerwise_eq22_equals_tangent_kernel(act, depth):
    X = np.random.default_rng(6).standard_normal((5, 3))  # any norm: eq. 22 is an identity
    sizes = [3] + [6] * depth + [1]
    model = models.mlp(sizes, act, bias=False)
    w = model.init(3)
    lw = C.layerwise_kernel(C._mlp_layers(w, sizes), X, act)
    for K in (pk.tangent_kernel(model, w, X), autograd_kernel(model, w, X)):
        np.testing.assert_allclose(lw, K, rtol=1e-12, atol=1e-13)  # the same sums, regrouped


# ---------------------------------------------------------------------------------------
# rates and controls
# ---------------------------------------------------------------------------------------


def test_rate_recovers_a_known_slope_and_its_spread():
    from pkverify.sweeps import SweepTable

    widths = [64, 256, 1024, 4096]
    rows = [{"width": m, "seed": s, "err": (1 + 0.1 * s) * m ** (-0.5 - 0.05 * s)}
            for m in widths for s in range(3)]
    r = C.rate(SweepTable(tuple(rows)), "width", "err")
    assert r.seed_mean == pytest.approx(-0.55, abs=1e-12)  # slopes −0.5, −0.55, −0.6
    assert r.seed_std == pytest.approx(0.05, abs=1e-12)
    assert r.x == widths


def test_lemma2_control_with_the_wrong_limit_does_not_converge():
    # H(0) of a relu net against tanh's H*: the error must plateau, not fall like m^{-1/2}
    X = _sphere(0, 6, 4)
    wrong = ntk.two_layer_limit(X, None, "tanh")
    widths = [64, 1024, 16384]
    errs = []
    for m in widths:
        W, _ = C.two_layer_init(4, m, "relu", 0)
        errs.append(np.linalg.norm(C.two_layer_kernel(W, X, "relu") - wrong, 2))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert slope > -0.1  # a fixed O(1) bias: no decay (the real rate is −0.5)


def test_lemma2_error_falls_with_width():
    X = _sphere(0, 6, 4)
    small = np.mean([C.lemma2_error(X, 64, "relu", s) for s in range(4)])
    large = np.mean([C.lemma2_error(X, 16384, "relu", s) for s in range(4)])
    # 256× the width: m^{-1/2} predicts 16× smaller; ask for ≥ 6× (4 seeds of noise)
    assert large * 6 < small


def test_bound_width_inverts_hoeffding_and_the_union_bound():
    n, eps, delta = 8, 0.1, 0.05
    for act, B in (("relu", 1.0), ("erf", 2 / math.sqrt(math.pi))):
        m = C.bound_width(n, eps, delta, act)
        # at m the failure probability n² · 2 exp(−2 m (ε/n²)² / (2B²)²) equals δ exactly
        fail = n * n * 2 * math.exp(-2 * m * (eps / n**2) ** 2 / (2 * B * B) ** 2)
        assert fail == pytest.approx(delta, rel=1e-9)


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
    np.testing.assert_allclose(C.kernel_regression(X, y, X, "relu", u0, u0), y, atol=1e-10)


def test_measures_are_reproducible_by_seed():
    a = C.measure_lemma3("relu", 64, 0, 6, 4, 0.5, seed=3)
    b = C.measure_lemma3("relu", 64, 0, 6, 4, 0.5, seed=3)
    c = C.measure_lemma3("relu", 64, 0, 6, 4, 0.5, seed=4)
    assert a == b and a != c


# ---------------------------------------------------------------------------------------
# bad input: refused before any work, with the fix named
# ---------------------------------------------------------------------------------------


def test_non_unit_inputs_are_refused_everywhere():
    X = _sphere(0, 5, 3) * np.array([[1.0], [2.0], [1.0], [0.5], [1.0]])
    y = np.zeros(5)
    calls = [
        lambda: C.two_layer_flow(X, y, 64),
        lambda: C.lemma2_error(X, 64),
        lambda: C.kernel_regression(X, y, _sphere(1, 2, 3)),
        lambda: C.kernel_regression(_sphere(1, 5, 3), y, X),
        lambda: ntk.check_unit_norm(X),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match=r"unit-norm.*rows are not.*unit_rows"):
            call()
    fixed = ntk.unit_rows(X)
    np.testing.assert_allclose(np.linalg.norm(fixed, axis=1), 1.0, rtol=1e-15)
    C.lemma2_error(fixed, 64)  # accepted once normalised
    with pytest.raises(InvalidArgumentError, match="all-zero"):
        ntk.unit_rows(np.zeros((2, 3)))


def test_more_points_than_the_width_supports_are_refused():
    X = _sphere(0, 20, 2)
    with pytest.raises(InvalidArgumentError, match=r"m·d = 8 .* width ≥ 10"):
        C.two_layer_flow(X, np.zeros(20), 4)
    with pytest.raises(InvalidArgumentError, match="rank"):
        C.lemma2_error(X, 4)
    C.lemma2_error(X, 10)  # m·d = 20 = n is allowed


def test_flow_rejects_bad_labels_times_and_steps():
    X = _sphere(0, 4, 3)
    with pytest.raises(InvalidArgumentError):
        C.two_layer_flow(X, np.zeros(3), 16)
    with pytest.raises(InvalidArgumentError):
        C.two_layer_flow(X, np.zeros((4, 2)), 16)
    with pytest.raises(InvalidArgumentError, match="increasing"):
        C.two_layer_flow(X, np.zeros(4), 16, times=(1.0, 0.5))
    with pytest.raises(InvalidArgumentError):
        C.two_layer_flow(X, np.zeros(4), 16, step=0.0)


def test_singular_and_ill_conditioned_h_star_raise_never_nan():
    X = _sphere(0, 5, 3)
    dup = np.vstack([X, X[:1]])  # a repeated point: H* has two equal rows
    y = np.ones(6)
    with pytest.raises(SingularKernelError, match="singular or too ill-conditioned"):
        ntk.solve(ntk.two_layer_limit(dup, None, "relu"), y)
    with pytest.raises(SingularKernelError, match="duplicates"):
        C.kernel_regression(dup, y, X)
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


def test_solve_matches_a_direct_solve():
    X = _sphere(9, 7, 4)
    H = ntk.two_layer_limit(X, None, "erf")
    b = np.arange(7.0)
    np.testing.assert_allclose(ntk.solve(H, b), np.linalg.solve(H, b), rtol=1e-9)


# ---------------------------------------------------------------------------------------
# every claim at its quick size (the default run covers each once)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cid", ["ntk.lemma1", "ntk.lemma2", "ntk.lemma3",
                                 "ntk.eigen_dynamics", "ntk.kernel_regression", "ntk.deep"])
def test_claim_passes_quick_with_figures(cid):
    from pkverify.claims.figures import KINDS

    result = get(cid).run(CheckConfig(seed=0, quick=True))
    assert result.status == "pass", (result.message, result.metrics)
    assert "—" in result.tolerance  # the tolerance carries its reason
    figs = result.data["figures"]
    assert figs and all(f["kind"] in KINDS for f in figs)
    for f in figs:
        if f["kind"] == "loglog_rate":
            assert all(np.all(np.asarray(v) > 0) for v in f["series"].values())


def test_bound_width_refuses_an_activation_without_a_derivative_bound():
    from pkverify.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="gelu"):
        C.bound_width(8, 0.1, 0.05, "gelu")

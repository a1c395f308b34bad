"""The NTK claims: each sweep measure against the same quantity computed another way (plain
NumPy closed forms written here, autograd Jacobians, explicit inverses), rates, controls that
must fail, and each claim passing at its quick size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pkverify import models
from pkverify.claims import CheckConfig, get
from pkverify.claims import ntk_measures as C
from pkverify.rates import rate


def _sphere(seed, n, d):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------
# an independent two-layer net: the ntk-notes' closed forms in plain NumPy
# ---------------------------------------------------------------------------------------

SIGMA = {"relu": lambda z: np.maximum(z, 0.0), "softplus": lambda z: np.logaddexp(0.0, z),
         "tanh": np.tanh}
DSIGMA = {"relu": lambda z: (z > 0).astype(float), "softplus": lambda z: 1 / (1 + np.exp(-z)),
          "tanh": lambda z: 1 - np.tanh(z) ** 2}


def ref_net(d, m, seed):
    """``(W0 (m, d), a (m,))`` as ``models.two_layer(d, m, seed=seed).init(seed)`` draws them:
    signs from ``default_rng(seed).random(m) < 0.5``, W from ``standard_normal``."""
    a = np.where(np.random.default_rng(seed).random(m) < 0.5, -1.0, 1.0)
    return np.random.default_rng(seed).standard_normal((m, d)), a


def ref_outputs(W, a, X, act):
    return SIGMA[act](X @ W.T) @ a / math.sqrt(len(a))


def ref_kernel(W, X, act):
    """``H_ij = x_iᵀx_j (1/m) Σ_r σ'(w_rᵀx_i) σ'(w_rᵀx_j)`` (ntk-notes eq. 5, a_r² = 1)."""
    S = DSIGMA[act](X @ W.T)
    return (X @ X.T) * (S @ S.T) / W.shape[0]


def ref_velocity(W, a, X, y, act):
    """``dw_r/dt = −m^{-1/2} a_r Σ_i (u_i − y_i) σ'(w_rᵀx_i) x_i`` (ntk-notes eq. 4)."""
    r = ref_outputs(W, a, X, act) - y
    return -(a[:, None] * (DSIGMA[act](X @ W.T).T * r) @ X) / math.sqrt(len(a))


def ref_rk4(W, a, X, y, act, step, steps):
    for _ in range(steps):
        k1 = ref_velocity(W, a, X, y, act)
        k2 = ref_velocity(W + step / 2 * k1, a, X, y, act)
        k3 = ref_velocity(W + step / 2 * k2, a, X, y, act)
        k4 = ref_velocity(W + step * k3, a, X, y, act)
        W = W + step / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return W


def relu_h_star(X, Z=None):
    """Unit-norm inputs: ``H*(x, z) = xᵀz (π − arccos xᵀz) / (2π)`` (ntk-notes eq. 9)."""
    G = np.clip(X @ (X if Z is None else Z).T, -1.0, 1.0)
    if Z is None:  # xᵀx = 1 exactly: arccos(1 − 1e-16) would be 1.5e-8, not 0
        np.fill_diagonal(G, 1.0)
    return G * (math.pi - np.arccos(G)) / (2 * math.pi)


def spectral(A):
    return float(np.max(np.abs(np.linalg.eigvalsh(A))))  # A symmetric: ‖A‖₂ = max |λ|


def true_labels(X):
    y = math.sqrt(X.shape[1]) * X[:, 0] + np.sin(2.0 * X[:, 1])
    return y * math.sqrt(len(y)) / np.linalg.norm(y)


# ---------------------------------------------------------------------------------------
# anchors: each measure's value (not only its rate) against an independent computation.
# A wrong norm (Frobenius for spectral), a factor 2 in H or a wrong step would fail these.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_lemma2_measure_is_the_spectral_error_to_h_star(act):
    n, d, m, seed = 6, 3, 200, 7
    X = _sphere(11, n, d)
    W, _ = ref_net(d, m, seed)
    got = C.measure_lemma2(act, m, 11, n, d, seed)
    if act == "relu":
        Hs = relu_h_star(X)
        expected = spectral(ref_kernel(W, X, act) - Hs)
        # float64 sums of the same products in another order: rounding
        assert got["err"] == pytest.approx(expected, rel=1e-10)
        assert got["rel_err"] == pytest.approx(expected / spectral(Hs), rel=1e-10)
    # the sweep's measure is the direct lemma2_error at one width
    from pkverify.ntk.two_layer import lemma2_error

    assert got["err"] == pytest.approx(lemma2_error(X, m, act, seed), rel=1e-12)


def test_lemma1_measure_against_a_numpy_flow():
    act, n, d, m, T, seed = "softplus", 4, 3, 16, 1.0, 2
    X = _sphere(5, n, d)
    y = true_labels(X)
    W0, a = ref_net(d, m, seed)
    sol = solve_ivp(lambda t, v: ref_velocity(v.reshape(m, d), a, X, y, act).ravel(),
                    (0.0, T), W0.ravel(), method="DOP853", rtol=1e-11, atol=1e-12,
                    dense_output=True)

    def u(t):
        return ref_outputs(sol.sol(t).reshape(m, d), a, X, act)

    rows = C.measure_lemma1(act, m, 5, n, d, T, seed)
    for row in rows:
        h, worst = row["h"], 0.0
        for t in np.linspace(0.2 * T, 0.8 * T, 7):
            target = -ref_kernel(sol.sol(t).reshape(m, d), X, act) @ (u(t) - y)
            du = (u(t + h) - u(t - h)) / (2 * h)
            worst = max(worst, np.linalg.norm(du - target) / np.linalg.norm(target))
        # two DOP853 solves at rtol 1e-11 (differently rounded right-hand sides): their u
        # agree to ~1e-10, which divided by 2h ≥ 2e-3 moves the residual by < 1e-7
        assert row["residual"] == pytest.approx(worst, rel=1e-3, abs=1e-7)


@pytest.mark.parametrize("act", ["relu", "softplus"])
def test_lemma3_measure_against_a_numpy_rk4_flow(act):
    n, d, m, t, seed = 5, 3, 64, 0.5, 3
    X = _sphere(2, n, d)
    y = true_labels(X)
    step = 0.02 if act == "relu" else 0.05  # the measure's steps (its docstring)
    W0, a = ref_net(d, m, seed)
    Wt = ref_rk4(W0, a, X, y, act, step, int(round(t / step)))
    got = C.measure_lemma3(act, m, 2, n, d, t, seed)
    loss = [np.sum((ref_outputs(W, a, X, act) - y) ** 2) for W in (W0, Wt)]
    # the same RK4 steps in another summation order: rounding, amplified little over 25 steps
    assert got["drift"] == pytest.approx(
        spectral(ref_kernel(Wt, X, act) - ref_kernel(W0, X, act)), rel=1e-8)
    assert got["max_dw"] == pytest.approx(np.max(np.linalg.norm(Wt - W0, axis=1)), rel=1e-10)
    assert got["loss_ratio"] == pytest.approx(loss[1] / loss[0], rel=1e-10)


def test_eigen_measures_against_a_numpy_flow_and_h_star():
    act, n, d, m, T, seed = "relu", 5, 3, 128, 1.0, 4
    X = _sphere(3, n, d)
    y = true_labels(X)
    lam, V = np.linalg.eigh(relu_h_star(X))
    W0, a = ref_net(d, m, seed)
    ts = np.linspace(0.0, T, 9)
    Ws, W, done = [], W0, 0
    for t in ts:  # the measure's RK4 at step 0.05, sampled at whole steps
        k = int(round(t / 0.05))
        W, done = ref_rk4(W, a, X, y, act, 0.05, k - done), k
        Ws.append(W)
    times = 0.05 * np.round(ts / 0.05)  # the sample times actually reached
    proj = np.array([(ref_outputs(Wk, a, X, act) - y) @ V for Wk in Ws])
    gap = np.max(np.abs(proj - np.exp(-np.outer(times, lam)) * proj[0]))
    gap /= np.linalg.norm(ref_outputs(W0, a, X, act) - y)
    # rounding in a kinked flow (relu): 1e-8 leaves room for a unit crossing 0 a hair apart
    assert C.measure_eigen(act, m, 3, n, d, T, seed)["gap"] == pytest.approx(gap, rel=1e-8)
    # the labels' share left: predicted from H*'s spectrum
    got = C.measure_labels(act, m, 3, n, d, T, "top", seed)
    top = V[:, -1] * math.sqrt(n) * np.sign(V[0, -1])
    pred = np.sum(np.exp(-2 * lam * T) * (V.T @ top) ** 2) / (top @ top)
    assert got["predicted"] == pytest.approx(pred, rel=1e-10)  # = e^{−2λ_max T}
    assert pred == pytest.approx(math.exp(-2 * lam[-1] * T), rel=1e-10)


def test_kernel_regression_measure_against_a_numpy_training_run():
    act, n, d, m, seed = "relu", 8, 4, 256, 5
    X, Xt = _sphere(6, n, d), _sphere(1_006, 5, d)
    y = true_labels(X)
    Hs = relu_h_star(X)
    lam = np.linalg.eigvalsh(Hs)
    step = 0.5 / lam[-1]
    chunk = int(math.ceil(12.0 / lam[0] / step))
    W0, a = ref_net(d, m, seed)
    u0 = ref_outputs(W0, a, X, act)
    W, chunks, resid = W0, 0, 1.0
    while resid > 1e-6 and chunks < 8:
        W = ref_rk4(W, a, X, y, act, step, chunk)
        chunks += 1
        resid = np.linalg.norm(ref_outputs(W, a, X, act) - y) / np.linalg.norm(u0 - y)
    f0, fT = ref_outputs(W0, a, Xt, act), ref_outputs(W, a, Xt, act)
    limit = f0 + relu_h_star(Xt, X) @ np.linalg.solve(Hs, y - u0)
    got = C.measure_kernel_regression(act, m, 6, n, d, seed)
    # thousands of RK4 steps of a relu flow: rounding differences stay ~1e-9 relative
    assert got["gap"] == pytest.approx(
        np.linalg.norm(fT - limit) / np.linalg.norm(limit - f0), rel=1e-6)
    assert got["T"] == pytest.approx(chunks * chunk * step, rel=1e-12)


def test_bound_measure_against_an_explicit_inverse():
    n, d, seed = 12, 5, 2
    X = _sphere(50_000 + seed, n, d)
    y = math.sqrt(d) * X[:, 0]
    Hs = relu_h_star(X)
    expected = math.sqrt(2 * y @ np.linalg.inv(Hs) @ y * np.trace(Hs)) / n
    got = C.measure_bound(n, d, "true", seed)["bound"]
    assert got == pytest.approx(expected, rel=1e-9)  # an explicit inverse: cond(H*) ~ 10


def _relu_limit_depth(X, depth):
    """eqs. 16–23 for relu (c_σ = 2) and unit inputs, written out: ρ stays in [−1, 1]."""
    sig = np.clip(X @ X.T, -1, 1)
    np.fill_diagonal(sig, 1.0)  # unit inputs, exactly (see relu_h_star)
    theta = sig.copy()
    for _ in range(depth):
        t = np.arccos(np.clip(sig, -1, 1))
        new = (np.sqrt(1 - np.clip(sig, -1, 1) ** 2) + (math.pi - t) * sig) / math.pi
        theta = new + theta * (math.pi - t) / math.pi
        sig = new
    return theta


def test_deep_measure_against_autograd_and_the_written_recursion():
    from autograd import jacobian as ag_jacobian

    depth, m, n, d, seed = 2, 32, 5, 3, 1
    X = _sphere(9, n, d)
    model = models.mlp([d, m, m, 1], "relu", bias=False)
    w = model.init(seed)
    J = ag_jacobian(lambda v: model.f(v, X))(w).reshape(n, -1)
    Th = _relu_limit_depth(X, depth)
    expected = np.linalg.norm(J @ J.T - Th) / np.linalg.norm(Th)  # Frobenius, as claimed
    got = C.measure_deep("relu", depth, m, 9, n, d, seed)["rel_err"]
    assert got == pytest.approx(expected, rel=1e-9)  # rounding; arccos near ρ = 1 costs 1e-8·ρ'


def test_norms_measure_against_a_numpy_forward_pass():
    depth, m, scale, seed = 3, 16, 2.5, 4
    x = scale * _sphere(70_000, 1, 4)
    w = models.mlp([4] + [m] * depth + [1], "relu", bias=False).init(seed)
    rng_w, off, g, ratios = w, 0, x, []
    for fan_in in [4] + [m] * (depth - 1):
        W = rng_w[off: off + m * fan_in].reshape(m, fan_in)
        off += m * fan_in
        g = math.sqrt(2.0 / m) * np.maximum(g @ W.T, 0.0)  # eq. 16: sqrt(c_σ/d_h) σ(W g)
        ratios.append(float(np.sum(g * g) / np.sum(x * x)))
    rows = C.measure_norms(depth, m, scale, seed)
    np.testing.assert_allclose([r["ratio"] for r in rows], ratios, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# rates and controls
# ---------------------------------------------------------------------------------------


def test_rate_recovers_a_known_slope_and_its_spread():
    from pkverify.sweeps import SweepTable

    widths = [64, 256, 1024, 4096]
    rows = [{"width": m, "seed": s, "err": (1 + 0.1 * s) * m ** (-0.5 - 0.05 * s)}
            for m in widths for s in range(3)]
    r = rate(SweepTable(tuple(rows)), "width", "err")
    assert r.seed_mean == pytest.approx(-0.55, abs=1e-12)  # slopes −0.5, −0.55, −0.6
    assert r.seed_std == pytest.approx(0.05, abs=1e-12)
    assert r.x == widths


def test_lemma2_control_with_the_wrong_limit_does_not_converge():
    # H(0) of a relu net against tanh's H*: the error must plateau, not fall like m^{-1/2}
    from pkverify import ntk
    from pkverify.ntk.two_layer import TwoLayerNet

    X = _sphere(0, 6, 4)
    wrong = ntk.two_layer_limit(X, None, "tanh")
    widths = [64, 1024, 16384]
    errs = []
    for m in widths:
        net = TwoLayerNet.build(4, m, "relu", 0)
        errs.append(np.linalg.norm(net.kernel(net.init(0), X) - wrong, 2))
    slope = np.polyfit(np.log(widths), np.log(errs), 1)[0]
    assert slope > -0.1  # a fixed O(1) bias: no decay (the real rate is −0.5)


def test_measures_are_reproducible_by_seed():
    a = C.measure_lemma3("relu", 64, 0, 6, 4, 0.5, seed=3)
    b = C.measure_lemma3("relu", 64, 0, 6, 4, 0.5, seed=3)
    c = C.measure_lemma3("relu", 64, 0, 6, 4, 0.5, seed=4)
    assert a == b and a != c


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

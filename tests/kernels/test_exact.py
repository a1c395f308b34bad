"""The exact rule's quadrature along a step: nested Clenshaw–Curtis, kinks of relu nets row by
row, custom locators, and what the machine records when it cannot be exact."""

from __future__ import annotations

import dataclasses
import math
import warnings
from fractions import Fraction

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.kernels import exact, exactness
from pkverify.kernels.exact import PathWarning, row_breakpoints
from pkverify.kernels.rules import CC_LEVELS, clenshaw_curtis, fejer2

from ..reference import rel_err

# the trained model's change over ~15 steps, rebuilt by the machine: float64 rounding of each
# step's sums accumulated over the steps (measured ≤ 3e-15); 1e-12 is the target
EXACT_RTOL = 1e-12


@pytest.mark.parametrize("N", CC_LEVELS)
def test_clenshaw_curtis_integrates_polynomials_of_degree_n(N):
    taus, wts = clenshaw_curtis(N)
    for p in range(N + 1):  # ∫_0^1 τ^p dτ = 1/(p+1), exactly
        assert abs(float(wts @ taus**p) - float(Fraction(1, p + 1))) <= 1e-15


def test_clenshaw_curtis_levels_are_nested():
    for coarse, fine in zip(CC_LEVELS[:-1], CC_LEVELS[1:]):
        np.testing.assert_allclose(clenshaw_curtis(fine)[0][::2], clenshaw_curtis(coarse)[0],
                                   rtol=0, atol=1e-15)  # cos(2jπ/2N) = cos(jπ/N) to rounding


def _rel_change(km, traj, X):
    y, y0 = traj.predict(X), traj.predict_initial(X)
    return rel_err(km.predict(X) - y0, y - y0)


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_deep_relu_nets_are_rebuilt_to_rounding(depth, bias, k, data2d, queries2d):
    X, Y = data2d
    Yk = Y if k == 1 else np.stack([Y, -Y, Y**2], axis=1)
    model = pk.models.mlp([2, *([8] * depth), k], "relu", bias=bias)
    traj = pk.train(model, X, Yk, lr=0.1, steps=15)
    Xq = np.vstack([X, queries2d])
    km = pk.kernel_machine(traj)
    assert _rel_change(km, traj, Xq) <= EXACT_RTOL
    # the control: without the kink splitting (8 Gauss nodes across each step) it is far off
    smooth = dataclasses.replace(traj, model=dataclasses.replace(model, network=None))
    with pytest.warns(PathWarning, match="fixed 8 Gauss"):  # and it says so
        off = _rel_change(pk.kernel_machine(smooth, nodes=8), traj, Xq)
    assert off > 1e3 * EXACT_RTOL


def test_kinks_were_crossed_in_the_deep_relu_runs(data2d):
    X, Y = data2d
    traj = pk.train(pk.models.mlp([2, 8, 8, 1], "relu"), X, Y, lr=0.1, steps=15)
    net = traj.model.network
    count = sum(
        sum(b.size for b in row_breakpoints(net, traj.ws[s], traj.ws[s + 1] - traj.ws[s], X, np))
        for s in range(traj.steps)
    )
    assert count > 0


def _relu_pair(w, X):
    # a two-unit relu net written by hand: f = relu(w0 x0 + w1) − relu(w2 x1)
    return anp.maximum(X[:, 0] * w[0] + w[1], 0.0) - anp.maximum(X[:, 1] * w[2], 0.0)


def _locator(w, delta, X):
    z0, d0 = X[:, 0] * w[0] + w[1], X[:, 0] * delta[0] + delta[1]
    z1, d1 = X[:, 1] * w[2], X[:, 1] * delta[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.concatenate([-z0 / d0, -z1 / d1])
    return t[np.isfinite(t) & (t > 0) & (t < 1)]


def test_custom_model_with_a_kink_locator_is_exact(data2d, queries2d):
    X, Y = data2d
    located = pk.models.custom(_relu_pair, [0.4, 0.1, -0.3], input_dim=2, smooth=False,
                               kinks=_locator, piece_degree=0)
    traj = pk.train(located, X, Y, lr=0.3, steps=15)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)  # no warning: it is exact
        km = pk.kernel_machine(traj)
        assert _rel_change(km, traj, np.vstack([X, queries2d])) <= EXACT_RTOL


def test_without_a_locator_it_warns_once_and_records_the_residual(data2d, queries2d):
    X, Y = data2d
    unlocated = pk.models.custom(_relu_pair, [0.4, 0.1, -0.3], input_dim=2, smooth=False,
                                 name="relu_pair_unlocated")
    traj = pk.train(unlocated, X, Y, lr=0.3, steps=15)
    Xq = np.vstack([X, queries2d])
    with pytest.warns(PathWarning, match=r"no locator.*residual is \d.*Pass kinks="):
        km = pk.kernel_machine(traj)
        km.predict(Xq)
    diag = km.diagnostics(Xq)
    assert diag.max_residual > 1e-12  # a kink inside a step costs digits, and it is recorded
    assert diag.evaluations.shape == (traj.steps,)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)  # once per model: no second warning
        pk.kernel_machine(traj).predict(queries2d)


def test_nested_levels_reuse_the_nodes_already_evaluated(data2d, monkeypatch):
    X, Y = data2d
    traj = pk.train(pk.models.mlp([2, 6, 6, 1], "tanh"), X, Y, lr=0.3, steps=3)
    calls = []
    real = exact._at

    def counting(engine, w, delta, tau, Xq, U):
        calls.append(tau)
        return real(engine, w, delta, tau, Xq, U)

    monkeypatch.setattr(exact, "_at", counting)
    km = pk.kernel_machine(traj)
    km.predict(X)
    diag = km.diagnostics(X)
    assert len(calls) == int(diag.evaluations.sum())
    # every evaluation count is the size of some nested level (5, 9, 17, …) — never the sum
    # of two levels, which is what restarting from scratch would cost
    assert set(diag.evaluations.astype(int)) <= {N + 1 for N in CC_LEVELS}
    assert diag.max_residual <= 1e-14


def test_an_edited_path_is_flagged(data2d):
    X, Y = data2d
    traj = pk.train(pk.models.mlp([2, 6, 1], "tanh"), X, Y, lr=0.1, steps=5)
    edited = dataclasses.replace(traj, X=traj.X + np.array([0.5, 0.0]))
    with pytest.warns(PathWarning, match="not the gradient-descent path"):
        pk.kernel_machine(edited).predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)
        pk.kernel_machine(traj).predict(X)  # the path as trained: no warning


def test_a_huge_step_on_a_saturating_net_is_bisected(data2d):
    X, Y = data2d
    model = pk.models.mlp([2, 3, 1], "tanh", bias=False)
    traj = pk.train(model, 6 * X, Y, lr=0.5, steps=2)
    km = pk.kernel_machine(traj)
    diag = km.diagnostics(6 * X)
    assert diag.max_residual <= 1e-14
    assert _rel_change(km, traj, 6 * X) <= EXACT_RTOL
    assert math.isfinite(diag.mean_evaluations)


@pytest.mark.parametrize("N", CC_LEVELS)
def test_fejer_second_rule_is_exact_to_degree_n_minus_one_and_nested(N):
    taus, wts = fejer2(N)
    assert taus.min() > 0.0 and taus.max() < 1.0  # never at a piece's ends
    for p in range(N):
        assert abs(float(wts @ taus**p) - float(Fraction(1, p + 1))) <= 1e-15
    if N > CC_LEVELS[0]:
        np.testing.assert_allclose(taus[1::2], fejer2(N // 2)[0], rtol=0, atol=1e-15)


def test_custom_locator_without_a_degree_uses_the_open_nested_rule(data2d, queries2d):
    X, Y = data2d
    located = pk.models.custom(_relu_pair, [0.4, 0.1, -0.3], input_dim=2, smooth=False,
                               kinks=_locator)
    traj = pk.train(located, X, Y, lr=0.3, steps=15)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)
        km = pk.kernel_machine(traj)
        assert _rel_change(km, traj, np.vstack([X, queries2d])) <= EXACT_RTOL


def test_every_pass_over_the_same_queries_uses_the_same_nodes(data2d):
    # Remark 2 identity b − Σ_i K^lp = predict holds to rounding even where the quadrature
    # is not converged (a huge regularised step), because the kernel pass reuses the plan the
    # product pass chose; a plan that ignored ∇R would pick other nodes
    X, Y = data2d
    model = pk.models.mlp([2, 1, 1], "tanh", bias=False)
    traj = pk.train(model, X, Y, lr=1.0, steps=2, regularizer=pk.l2(0.5))
    with warnings.catch_warnings():  # the huge step is not converged, and is warned about
        warnings.simplefilter("ignore", PathWarning)
        km = pk.kernel_machine(traj)
        Klp = pk.path_kernel(traj, X, rule="exact", weighted=True)
        gap = np.abs(km.b(X) - Klp.sum(axis=1) - km.predict(X))
        scale = np.abs(km.b(X)) + np.abs(Klp).sum(axis=1)
    assert np.all(gap <= 1e-12 * np.maximum(scale, np.finfo(float).tiny))  # rounding only
    np.testing.assert_allclose(km.loss_weighted_kernel(X), Klp, rtol=1e-13, atol=1e-300)


# ----- warnings that name the true cause, and no false alarms ------------------------------


def _tanh_path():
    from pkverify.claims.problems import regression_data

    X, Y = regression_data(0)
    return X, pk.train(pk.models.mlp([3, 16, 1], "tanh", seed=0), X, Y, lr=0.1, steps=30)


def test_a_fixed_node_count_that_misses_rounding_warns_with_its_residual():
    X, traj = _tanh_path()
    # one Gauss node a step is the midpoint rule: off by ~1e-5 of the change here
    with pytest.warns(PathWarning, match=r"fixed 1 Gauss–Legendre node a step.*nodes=None"):
        km = pk.kernel_machine(traj, rule="exact", nodes=1)
        err = _rel_change(km, traj, X)
    assert err > 1e-8  # the warning is not a false alarm: the machine misses the model
    assert km.diagnostics(X).max_residual > 1e-11  # and the figure is recorded
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)  # enough nodes: rounding, no warning
        km4 = pk.kernel_machine(traj, rule="exact", nodes=4)
        assert _rel_change(km4, traj, X) <= EXACT_RTOL


def _no_warning_and_exact(model, X, Y, lr, steps, seed=0):
    traj = pk.train(model, X, Y, lr=lr, steps=steps, seed=seed)
    exactness._WARNED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)
        km = pk.kernel_machine(traj, rule="exact")
        got = km.predict(X)
        diag = km.diagnostics(X)
    y = traj.predict(X)
    # the machine equals the model to float64 rounding of the weights' own size
    w = float(np.max(np.abs(traj.ws)))
    assert np.max(np.abs(got - y)) <= 1e-14 * max(w, np.max(np.abs(y)))
    return diag


# Issue 17's two false alarms had one cause: the model fits targets near 0 (or its inputs are
# near 0), so max|f| is far below ‖w‖‖∇f‖, the size of f's own rounding. The drawn cases below
# are the Hypothesis-shrunk forms of both, found on the code before the fix (same models).


def test_no_false_alarm_on_a_builtin_relu_net_fitted_to_zero():
    """mlp([2, 11, 1], relu, bias=False): warned 'declares kinks but no locator' (it has one)
    with a residual of 1.7e-11 relative to max|f| (issue 17: 1.28 at inputs of size 1e-226)."""
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    model = pk.models.mlp([2, 11, 1], "relu", bias=False)
    _no_warning_and_exact(model, X, np.zeros(3), 0.40059563076839727, 3, seed=2147483646)


def test_no_false_alarm_on_an_erf_net_fitted_to_zero():
    """mlp([3, 15, 1], erf, bias=False): warned that 65 nodes and bisection did not reach
    rounding, residual 4.7e-11 relative to max|f| (issue 17: 5.5e-9 with inputs near 1e-8)."""
    X = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    model = pk.models.mlp([3, 15, 1], "erf", bias=False)
    diag = _no_warning_and_exact(model, X, np.zeros(4), 0.48022077099230026, 3)
    assert diag.mean_evaluations <= 9  # judged at rounding without climbing or bisecting


@pytest.mark.parametrize("scale", [1e-226, 1e-8])
def test_no_false_alarm_with_tiny_inputs(scale):
    """The issue's setting: inputs of size 1e-226 (relu) or 1e-8 (erf), targets of order 1."""
    rng = np.random.default_rng(3)
    sizes, act = ([2, 11, 1], "relu") if scale < 1e-100 else ([3, 15, 1], "erf")
    X = rng.uniform(-1.0, 1.0, (5, sizes[0])) * scale
    _no_warning_and_exact(pk.models.mlp(sizes, act, bias=False), X, rng.uniform(-1, 1, 5),
                          1.0, 5)


def test_no_false_alarm_when_the_model_fits_targets_near_zero():
    """Found by the thorough profile with -W error: a deep identity net fitted to a target of
    1e-283 drives f to 1e-13 while ‖w‖‖∇f‖ stays O(10); relative to max|f| the identity's
    residual climbed to 3e-6 (2015 evaluations a step). Relative to its rounding scale it is
    rounding, at 5 evaluations a step."""
    X = np.array([[-1.1754943508222875e-38, -3.8564291066574671e-283, -6.8201624545456507e-1]])
    Y = np.array([-3.856429106657467e-283])
    model = pk.models.mlp([3, 6, 7, 12, 1], activation="identity", bias=True, seed=0)
    diag = _no_warning_and_exact(model, X, Y, 0.4122695061928097, 6, seed=7)
    assert diag.max_residual <= 1e-14
    assert diag.mean_evaluations <= 9  # no climb, no bisection


def test_a_builtin_model_is_never_told_to_pass_kinks(monkeypatch):
    X, traj = _tanh_path()
    monkeypatch.setattr(exactness, "_WARNED", {})
    with pytest.warns(PathWarning) as record:
        exact.warn_not_exact(traj.model, 1e-6, None)
    message = str(record[0].message)
    assert "kinks=" not in message and "65 nodes" in message
    relu = pk.models.mlp([3, 4, 1], "relu")
    with pytest.warns(PathWarning) as record:
        exact.warn_not_exact(relu, 1e-6, None)
    assert "kinks=" not in str(record[0].message)
    assert "split at every kink" in str(record[0].message)


def test_the_rounding_scale_works_in_any_namespace():
    """The refined scale (‖∇f‖ from a cross kernel) under array-api-strict: the target-near-0
    draw is judged rounding there too."""
    xps = pytest.importorskip("array_api_strict", reason="array-api-strict is in the [test] extra")
    X = np.array([[-1.1754943508222875e-38, -3.8564291066574671e-283, -6.8201624545456507e-1]])
    model = pk.models.mlp([3, 6, 7, 12, 1], activation="identity", bias=True, seed=0)
    traj = pk.train(model, X, np.array([-3.856429106657467e-283]), lr=0.4122695061928097,
                    steps=6, seed=7)
    exactness._WARNED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathWarning)
        km = pk.kernel_machine(traj, backend=xps)
        diag = km.diagnostics(xps.asarray(X))
    assert diag.max_residual <= 1e-14 and diag.mean_evaluations <= 9


def test_each_model_object_is_warned_about_even_when_names_are_shared(monkeypatch):
    # two built-in MLPs share the name "mlp": a warning about the first must not silence the
    # second (the old once-per-name rule did); the same model object is warned about once
    monkeypatch.setattr(exactness, "_WARNED", {})
    first, second = pk.models.mlp([3, 4, 1], "tanh"), pk.models.mlp([3, 5, 1], "tanh")
    with pytest.warns(PathWarning):
        exact.warn_not_exact(first, 1e-6, None)
    with pytest.warns(PathWarning):
        exact.warn_not_exact(second, 1e-6, None)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exact.warn_not_exact(first, 1e-6, None)  # already warned about: silent

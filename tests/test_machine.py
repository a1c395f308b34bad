"""Theorem 1's kernel machine y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i), rebuilt from a path.

The reference here is the trained model itself (``traj.predict``) and hand-written sums over
the path; nothing is compared with a value pkverify computed another way.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.errors import InvalidArgumentError, UnknownNameError
from pkverify.kernels.exact import row_breakpoints

from .reference import jac, loss_derivs, mean_gradient, rel_err

# The exact rule reproduces GD to float64 rounding: each step's identity holds to ~1e-15
# relative and ≤ 20 steps accumulate it, so 1e-10 (the claim's tolerance) has a wide margin
# while any missing term (a step, an indicator, a sign) is ≥ 1e-4.
EXACT_RTOL = 1e-10


def _machine_error(traj, Xq):
    km = pk.kernel_machine(traj)
    return rel_err(km.predict(Xq), traj.predict(Xq))


def hand_exact_prediction(traj, Xq, indicators=True, with_reg=None):
    """y0(x) − Σ_s ε_s [Σ_i I_i(s) ℓ'_i(w_s) Ḡ_s(x)·∇f(w_s, x_i) + Ḡ_s(x)·∇R(w_s)]."""
    y = np.asarray(traj.model.f(traj.ws[0], Xq), dtype=float)
    for s in range(traj.steps):
        w, w1, e = traj.ws[s], traj.ws[s + 1], traj.step_sizes[s]
        G = mean_gradient(traj.model, w, w1 - w, Xq)  # (q, P)
        Ji = jac(traj.model, w, traj.X)  # (n, P)
        I = traj.batches[s] if indicators else np.ones(traj.X.shape[0])
        y = y - e * (G @ Ji.T) @ (I * loss_derivs(traj, w))
        if with_reg is not None:
            y = y - e * G @ with_reg(w)
    return y


class TestExactRule:
    @pytest.mark.parametrize("loss", ["mse", "logistic"])
    @pytest.mark.parametrize("act", ["tanh", "softplus", "sigmoid", "erf"])
    def test_smooth_mlps(self, act, loss, labels2d, data2d, queries2d):
        X, Y = labels2d if loss == "logistic" else data2d
        model = pk.models.mlp([2, 6, 1], activation=act)
        traj = pk.train(model, X, Y, loss=loss, lr=0.1, steps=10)
        Xq = np.vstack([X, queries2d])
        assert _machine_error(traj, Xq) < EXACT_RTOL
        # the path really moved the outputs: the check is not 0 ≈ 0
        assert rel_err(traj.predict(Xq), traj.predict_initial(Xq)) > 1e-2

    @pytest.mark.parametrize("train_output", [False, True])
    def test_two_layer_relu_with_kink_splitting(self, train_output, data2d, queries2d):
        X, Y = data2d
        model = pk.models.two_layer(2, 8, train_output=train_output)
        traj = pk.train(model, X, Y, lr=0.1, steps=15)
        assert _machine_error(traj, np.vstack([X, queries2d])) < EXACT_RTOL

    def test_one_hidden_layer_relu_mlp(self, data2d, queries2d):
        X, Y = data2d
        traj = pk.train(pk.models.mlp([2, 8, 1], activation="relu"), X, Y, lr=0.1, steps=15)
        assert _machine_error(traj, np.vstack([X, queries2d])) < EXACT_RTOL

    def test_kinks_are_actually_crossed(self, data2d):
        # guard for the two tests above: some step must move a pre-activation through 0,
        # otherwise kink splitting was never exercised
        X, Y = data2d
        model = pk.models.two_layer(2, 8)
        traj = pk.train(model, X, Y, lr=0.1, steps=15)
        crossings = sum(
            sum(b.size for b in row_breakpoints(
                model.network, traj.ws[s], traj.ws[s + 1] - traj.ws[s], X, np))
            for s in range(traj.steps)
        )
        assert crossings > 0

    def test_deep_relu_reports_a_finite_error(self, data2d):
        X, Y = data2d
        traj = pk.train(pk.models.mlp([2, 8, 8, 1], activation="relu"), X, Y, lr=0.1, steps=10)
        km = pk.kernel_machine(traj)
        err = rel_err(km.predict(X), traj.predict(X))
        # kinks inside a step make Gauss–Legendre inexact, so only a finite, modest error is
        # promised (3e-4 measured at 20 steps); 5e-2 catches a broken machine (O(1) errors)
        assert np.isfinite(err) and err < 5e-2

    def test_matches_a_hand_computed_sum(self, data2d, queries2d):
        X, Y = data2d
        traj = pk.train(pk.models.mlp([2, 5, 1]), X, Y, lr=0.1, steps=6)
        km = pk.kernel_machine(traj)
        # our 40-node Gauss–Legendre vs pkverify's adaptive rule: both at rounding
        assert rel_err(km.predict(queries2d), hand_exact_prediction(traj, queries2d)) < 1e-12

    def test_vector_output_softmax(self, data2d, queries2d):
        X, _ = data2d
        ids = np.array([0, 1, 2, 0, 1, 2])
        traj = pk.train(pk.models.mlp([2, 5, 3]), X, ids, loss="softmax_ce", lr=0.2, steps=8)
        km = pk.kernel_machine(traj)
        Xq = np.vstack([X, queries2d])
        pred = km.predict(Xq)
        assert pred.shape == (10, 3)
        assert rel_err(pred, traj.predict(Xq)) < EXACT_RTOL
        K, a, b = km.kernel(Xq), km.a(Xq), km.b(Xq)
        assert K.shape == (10, 6, 3, 3) and a.shape == (10, 6, 3) and b.shape == (10, 3)
        # y = b + Σ_i K^p(x, x_i) a_i(x) with k×k blocks; a = −K⁺·(loss-weighted) is exact
        # where the blocks are invertible (lstsq solve: a few ulps × condition number)
        recon = b + np.einsum("qiab,qib->qa", K, a)
        assert rel_err(recon, traj.predict(Xq)) < 1e-8


class TestSGD:
    @pytest.fixture
    def sgd(self, data2d):
        X, Y = data2d
        model = pk.models.mlp([2, 5, 1], activation="tanh")
        return pk.train(model, X, Y, lr=0.1, steps=10, batch_size=2, seed=7)

    def test_exact_machine_reproduces_sgd(self, sgd, queries2d):
        assert _machine_error(sgd, np.vstack([sgd.X, queries2d])) < EXACT_RTOL

    def test_indicators_matter(self, sgd, queries2d):
        with_ind = hand_exact_prediction(sgd, queries2d, indicators=True)
        without = hand_exact_prediction(sgd, queries2d, indicators=False)
        target = sgd.predict(queries2d)
        assert rel_err(with_ind, target) < 1e-12  # the hand sum with I_i(t) is the model
        assert rel_err(without, target) > 1e-2  # ignoring the batches is far off
        km = pk.kernel_machine(sgd)
        assert rel_err(km.predict(queries2d), with_ind) < 1e-12

    def test_kernel_carries_the_indicators(self, sgd, queries2d):
        t = sgd
        expected = sum(
            e * (mean_gradient(t.model, w, w1 - w, queries2d) @ jac(t.model, w, t.X).T) * I
            for e, w, w1, I in zip(t.step_sizes, t.ws[:-1], t.ws[1:], t.batches)
        )
        assert rel_err(pk.kernel_machine(t).kernel(queries2d), expected) < 1e-12


class TestRegularizer:
    @pytest.mark.parametrize("which", ["l2", "custom"])
    def test_b_carries_the_regulariser_and_predict_still_matches(self, which, data2d, queries2d):
        X, Y = data2d
        if which == "l2":
            reg, grad_R = pk.l2(0.5), (lambda w: 0.5 * w)
        else:

            def reg(w):
                return 0.1 * anp.sum(w**4)

            def grad_R(w):
                return 0.4 * w**3

        model = pk.models.mlp([2, 5, 1], activation="tanh")
        traj = pk.train(model, X, Y, lr=0.05, steps=8, regularizer=reg)
        km = pk.kernel_machine(traj)
        Xq = np.vstack([X, queries2d])
        y0, b = km.initial(Xq), km.b(Xq)
        np.testing.assert_array_equal(y0, traj.predict_initial(Xq))
        assert rel_err(b, y0) > 1e-3  # Remark 4: b(x) = y0(x) − ∫ ∇f·∇R dt ≠ y0(x)
        expected_b = y0.copy()
        for s in range(traj.steps):
            w, w1 = traj.ws[s], traj.ws[s + 1]
            expected_b -= traj.step_sizes[s] * mean_gradient(model, w, w1 - w, Xq) @ grad_R(w)
        assert rel_err(b, expected_b) < 1e-12
        assert rel_err(km.predict(Xq), traj.predict(Xq)) < EXACT_RTOL


class TestRemarks:
    @pytest.fixture
    def traj(self, data2d):
        X, Y = data2d
        return pk.train(pk.models.mlp([2, 5, 1], activation="tanh"), X, Y, lr=0.1, steps=10)

    def test_remark2_sum_of_a_times_kernel_plus_b(self, traj, queries2d):
        km = pk.kernel_machine(traj)
        K, a, b = km.kernel(queries2d), km.a(queries2d), km.b(queries2d)
        assert K.shape == (4, 6) and a.shape == (4, 6) and b.shape == (4,)
        assert np.abs(K).min() > 1e-6 * np.abs(K).max()  # K^p non-degenerate here
        # a_i = −K^lp/K^p, so a·K^p = −K^lp up to one division's rounding
        assert rel_err((a * K).sum(axis=1) + b, traj.predict(queries2d)) < EXACT_RTOL

    def test_remark2_loss_weighted_form_has_all_a_equal_minus_one(self, traj, queries2d):
        km = pk.kernel_machine(traj)
        Klp = km.loss_weighted_kernel(queries2d)
        # y = b + Σ_i (−1)·K^lp(x, x_i)
        assert rel_err(km.b(queries2d) - Klp.sum(axis=1), traj.predict(queries2d)) < EXACT_RTOL
        np.testing.assert_allclose(km.a(queries2d) * km.kernel(queries2d), -Klp, rtol=1e-12, atol=0)

    def test_remark1_a_depends_on_x_for_a_nonlinear_model(self, traj, queries2d):
        a = pk.kernel_machine(traj).a(queries2d)
        assert np.ptp(a, axis=0).max() > 1e-4

    def test_riemann_machine_is_the_papers_sum(self, traj, queries2d):
        # y0(x) − Σ_s ε Σ_i ℓ'_i(w_s) K^g_{w_s}(x, x_i)
        t = traj
        expected = t.predict_initial(queries2d) - sum(
            e * (jac(t.model, w, queries2d) @ jac(t.model, w, t.X).T) @ loss_derivs(t, w)
            for e, w in zip(t.step_sizes, t.ws[:-1])
        )
        km = pk.kernel_machine(t, rule="riemann")
        assert rel_err(km.predict(queries2d), expected) < 1e-12


class TestLinear:
    @pytest.fixture
    def traj(self, data2d):
        X, Y = data2d
        return pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=12)

    @pytest.mark.parametrize("rule", ["exact", "riemann", "trapezoid"])
    def test_path_kernel_is_T_times_phi_dot_phi(self, traj, rule, queries2d):
        K = pk.kernel_machine(traj, rule=rule).kernel(queries2d)
        # K^g is the same constant at every step: sums of equal terms, rounding only
        np.testing.assert_allclose(K, traj.T * (queries2d @ traj.X.T + 1.0), rtol=1e-12)

    def test_a_is_independent_of_x_and_the_mean_loss_derivative(self, traj, queries2d):
        a = pk.kernel_machine(traj).a(np.vstack([traj.X, queries2d]))
        expected = -sum(e * loss_derivs(traj, w) for e, w in zip(traj.step_sizes, traj.ws[:-1]))
        expected = expected / traj.T  # −ℓ̄'_i: the time-average of ℓ'_i along the path
        np.testing.assert_allclose(a, np.broadcast_to(expected, a.shape), rtol=1e-10)

    def test_degenerate_kernel_entry_falls_back(self):
        # x_0 ⟂ x_1 and no bias: K^p(x_0, x_1) = 0, so ℓ̄'_1(x_0) is 0/0
        X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        Y = np.array([1.0, -1.0, 0.5])
        traj = pk.train(pk.models.linear(2, bias=False), X, Y, lr=0.1, steps=5)
        km = pk.kernel_machine(traj)
        Xq = np.array([[2.0, 0.0]])
        K, a = km.kernel(Xq), km.a(Xq)
        assert K[0, 1] == 0.0
        assert np.all(np.isfinite(a))
        assert rel_err(km.predict(Xq), traj.predict(Xq)) < EXACT_RTOL


def test_riemann_error_shrinks_linearly_in_eps(data2d):
    X, Y = data2d
    model = pk.models.mlp([2, 6, 1], activation="tanh")
    T = 1.0
    # four halvings at fixed T, inside the asymptotic range: at ε = 0.2 the error is O(1)
    # (local slopes measured 1.13, 1.05, 1.02, 1.01 from ε = 0.025)
    eps = 0.025 / 2.0 ** np.arange(5)
    errors = []
    for e in eps:
        traj = pk.train(model, X, Y, lr=e, steps=int(round(T / e)))
        km = pk.kernel_machine(traj, rule="riemann")
        errors.append(rel_err(km.predict(X), traj.predict(X)))
    slope = np.polyfit(np.log(eps), np.log(errors), 1)[0]
    # Theorem 1 is the ε → 0 limit: the left-Riemann machine misses O(ε²) per step, O(ε)
    # over T/ε steps, so the fitted log-log slope is 1 up to higher-order terms
    assert 0.8 <= slope <= 1.2, (slope, errors)


def test_flow_machine_matches_the_flow_model(data2d, queries2d):
    X, Y = data2d
    flow = pk.gradient_flow(pk.models.mlp([2, 5, 1]), X, Y, T=1.0, samples=101)
    km = pk.kernel_machine(flow, rule="simpson")
    Xq = np.vstack([X, queries2d])
    # Simpson in time is O(h⁴) with h = 0.01 (≈1e-8 × derivative size), plus the ODE
    # solver's rtol = 1e-10; 1e-6 leaves margin while a wrong weight or sign is O(1)
    assert rel_err(km.predict(Xq), flow.predict(Xq)) < 1e-6
    assert rel_err(flow.predict(Xq), flow.predict_initial(Xq)) > 1e-2


class TestMachineMechanics:
    @pytest.fixture
    def traj(self, data2d):
        X, Y = data2d
        return pk.train(pk.models.mlp([2, 4, 1]), X, Y, lr=0.1, steps=5)

    def test_cache_follows_the_query_set(self, traj, queries2d):
        km = pk.kernel_machine(traj)
        p1 = km.predict(queries2d)
        p2 = km.predict(queries2d[:2] + 1.0)
        p3 = km.predict(queries2d)
        np.testing.assert_array_equal(p1, p3)
        np.testing.assert_allclose(p2, traj.predict(queries2d[:2] + 1.0), rtol=EXACT_RTOL)
        assert km.kernel(queries2d).shape == (4, 6)

    def test_explain_ranks_contributions_that_add_up(self, traj, queries2d):
        km = pk.kernel_machine(traj)
        top = km.explain(queries2d, top=6)
        b = km.b(queries2d)
        for qi, row in enumerate(top):
            contrib = [c for _, c in row]
            assert sorted(i for i, _ in row) == list(range(6))
            assert all(abs(x) >= abs(y) for x, y in zip(contrib, contrib[1:]))
            assert b[qi] + sum(contrib) == pytest.approx(traj.predict(queries2d)[qi], rel=1e-10)
        assert [len(r) for r in km.explain(queries2d, top=2)] == [2] * 4

    def test_explain_bad_top(self, traj, queries2d):
        with pytest.raises(InvalidArgumentError, match="top must be"):
            pk.kernel_machine(traj).explain(queries2d, top=0)

    def test_not_a_trajectory(self):
        with pytest.raises(InvalidArgumentError, match="needs a Trajectory"):
            pk.kernel_machine("traj.npz")

    def test_exact_on_flow(self, data2d):
        X, Y = data2d
        flow = pk.gradient_flow(pk.models.linear(2), X, Y, T=0.5, samples=3)
        with pytest.raises(InvalidArgumentError, match="rule='simpson'"):
            pk.kernel_machine(flow)

    def test_unknown_rule(self, traj):
        with pytest.raises(UnknownNameError, match="unknown path-kernel rule 'gauss'"):
            pk.kernel_machine(traj, rule="gauss")

    def test_bad_nodes(self, traj):
        with pytest.raises(InvalidArgumentError, match="nodes must be ≥ 1"):
            pk.kernel_machine(traj, nodes=0)

    def test_query_validation(self, traj):
        km = pk.kernel_machine(traj)
        with pytest.raises(pk.errors.ShapeError, match="Xq must have d = 2 columns"):
            km.predict(np.ones((2, 3)))
        with pytest.raises(pk.errors.NonFiniteError):
            km.predict(np.array([[np.nan, 0.0]]))


def test_a_uses_the_ratio_for_a_small_kernel_that_does_not_cancel():
    # f = x0·w0·w2 + x1·tanh(w1). Against the query (1, 0) the point (1e-16, 1) has
    # K^g = 1e-16 (w0² + w2²): tiny (below 1e-13 of the largest kernel), positive at every
    # step (no cancellation), and varying along the path while ℓ'_i varies too. a_i(x) must
    # be the ratio ∫ℓ'K / ∫K, which then differs from the degenerate-case fallback (the plain
    # time average of −ℓ'_i).
    def f(w, X):
        return X[:, 0] * w[0] * w[2] + X[:, 1] * anp.tanh(w[1])

    model = pk.models.custom(f, np.array([0.3, -0.2, 0.5]), input_dim=2)
    X = np.array([[1.0, 0.0], [1e-16, 1.0]])
    traj = pk.train(model, X, np.array([2.0, 0.5]), lr=0.1, steps=20)
    Xq = np.array([[1.0, 0.0], [0.7, 0.0]])
    km = pk.kernel_machine(traj, rule="riemann")
    K = pk.path_kernel(traj, Xq, X, rule="riemann")
    assert np.all(np.abs(K[:, 1]) < 1e-14) and np.all(K[:, 1] > 0)
    ratio = -pk.path_kernel(traj, Xq, weighted=True, rule="riemann") / K
    np.testing.assert_allclose(km.a(Xq), ratio, rtol=1e-12)  # rounding of two sums
    fallback = -km._mean_loss_deriv()[1, 0]
    assert np.all(np.abs(km.a(Xq)[:, 1] - fallback) > 1e-4)


@pytest.mark.parametrize(
    "rule,batch_size",
    [("exact", None), ("riemann", None), ("trapezoid", None), ("exact", 2), ("riemann", 2)],
)
def test_degenerate_fallback_keeps_a_independent_of_x_on_a_linear_model(rule, batch_size):
    # Linear model, no bias: K^g(x, x_i) = x·x_i at every w, so Remark 1 says a_i(x) is the
    # same for every query. Queries orthogonal to x_1 make K^p(x, x_1) = 0 (the 0/0 case);
    # the fallback there must give the same a_1 as the generic queries do, namely the
    # time-average of −ℓ'_1 with the rule's weights (written out by hand below).
    X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 1.0], [1.0, -1.0, 0.5]])
    Y = np.array([1.0, -1.0, 0.5, 0.2])
    traj = pk.train(pk.models.linear(3, bias=False), X, Y, lr=0.1, steps=12,
                    batch_size=batch_size, seed=3)
    orthogonal = np.array([[2.0, 0.0, 0.0], [0.3, 0.0, -1.0]])  # ⟂ x_1 = (0, 1, 0)
    generic = np.array([[0.4, 0.9, -0.2], [1.0, 2.0, 3.0]])
    km = pk.kernel_machine(traj, rule=rule)
    assert np.all(km.kernel(orthogonal)[:, 1] == 0.0)  # the degenerate entries
    a = km.a(np.vstack([orthogonal, generic]))
    # by hand: ℓ'_i(w_s) = w_s·x_i − y_i, weights ε_s I_i(s) (left rule) or trapezoid halves
    d = traj.ws @ X.T - Y  # (S+1, n)
    eps, ind = traj.step_sizes, traj.batches.astype(float)
    if rule == "trapezoid":
        c = np.zeros(traj.steps + 1)
        c[:-1] += eps / 2
        c[1:] += eps / 2
        expected = -(c @ d) / c.sum()
    else:
        expected = -np.sum(eps[:, None] * ind * d[:-1], axis=0) / (eps @ ind)
    # rounding of two sums over 12 steps
    np.testing.assert_allclose(a, np.broadcast_to(expected, a.shape), rtol=1e-12, atol=1e-14)


# ----- every optimizer: contributions, K^opt, explain (pkverify.optim) -------------------------

# float64 rounding over a few steps of the exact rule (measured ≤ 6e-15 relative)
OPT_ROUNDING = 1e-12


@pytest.fixture
def adam_path():
    r = np.random.default_rng(4)
    X = r.standard_normal((9, 2))
    Y = (np.arange(9) % 3).astype(float)
    traj = pk.train(pk.models.mlp([2, 6, 3], "tanh"), X, Y, loss="softmax_ce",
                    optimizer=pk.optim.adam(0.05, weight_decay=0.01), steps=5, batch_size=4,
                    reduction="mean", progress=False)
    return traj, r.standard_normal((3, 2))


def test_contributions_sum_to_the_trained_model(adam_path, tmp_path):
    traj, Xq = adam_path
    for path in (traj, pk.Trajectory.load(traj.save(tmp_path / "adam.npz"))):
        km = pk.kernel_machine(path, progress=False)
        C = km.contributions(Xq)
        assert C.shape == (3, 9, 3)
        y = traj.predict(Xq)
        change = np.abs(y - traj.predict_initial(Xq)).max()
        assert np.abs(km.b(Xq) + C.sum(axis=1) - y).max() <= OPT_ROUNDING * change
        assert np.abs(km.predict(Xq) - y).max() <= OPT_ROUNDING * change


def test_gd_contributions_are_the_loss_weighted_kernel():
    r = np.random.default_rng(5)
    X = r.standard_normal((7, 2))
    traj = pk.train(pk.models.mlp([2, 5, 1]), X, np.sin(X[:, 0]), lr=0.1, steps=4,
                    progress=False)
    km = pk.kernel_machine(traj, progress=False)
    Xq = r.standard_normal((2, 2))
    C = km.contributions(Xq)
    assert C.shape == (2, 7)
    np.testing.assert_array_equal(C, -km.loss_weighted_kernel(Xq))
    y = traj.predict(Xq)
    assert np.abs(km.b(Xq) + C.sum(axis=1) - y).max() <= OPT_ROUNDING * np.abs(y).max()


def test_explain_ranks_the_optimizer_contributions(adam_path):
    traj, Xq = adam_path
    km = pk.kernel_machine(traj, progress=False)
    C = km.contributions(Xq)  # (q, n, k)
    for c in range(3):
        top = km.explain(Xq, top=3, class_=c)
        for q, row in enumerate(top):
            order = np.argsort(-np.abs(C[q, :, c]), kind="stable")[:3]
            assert [i for i, _ in row] == order.tolist()
            np.testing.assert_allclose([v for _, v in row], C[q, order, c], rtol=1e-12)


def test_node_rules_refuse_an_adam_path(adam_path):
    traj, _ = adam_path
    with pytest.raises(pk.errors.InvalidArgumentError, match="rule='exact'"):
        pk.kernel_machine(traj, rule="riemann")


@pytest.mark.parametrize("optimizer", [pk.optim.gd(0.1), pk.optim.sgd(0.1, momentum=0.9)])
def test_kernel_passes_touch_only_the_batch_rows(monkeypatch, optimizer):
    """A mini-batch step's kernel work sees the batch's rows of the training set only."""
    from pkverify.kernels.engines import LayerwiseEngine

    r = np.random.default_rng(6)
    X = r.standard_normal((30, 2))
    traj = pk.train(pk.models.mlp([2, 4, 1]), X, np.sin(X[:, 0]), optimizer=optimizer,
                    steps=3, batch_size=4, progress=False)
    Xq = r.standard_normal((2, 2))
    seen: set[int] = set()
    for name in ("side", "value_and_vjp"):
        original = getattr(LayerwiseEngine, name)

        def spy(self, w, X, *args, _original=original, **kwargs):
            rows = np.asarray(X)
            if (rows[:, None, :] == traj.X[None]).all(axis=2).any(axis=1).all():  # training rows
                seen.add(int(rows.shape[0]))
            return _original(self, w, X, *args, **kwargs)

        monkeypatch.setattr(LayerwiseEngine, name, spy)
    km = pk.kernel_machine(traj, progress=False)
    km.contributions(Xq)
    km.predict(Xq)
    assert seen == {4}


def test_a_path_that_does_not_follow_its_optimizer_is_named(adam_path):
    """A hand-built path whose recorded rule is not the one that made its steps (Adam's steps
    read as momentum SGD's): the machine warns, naming the first step off the rule."""
    import dataclasses

    traj, Xq = adam_path
    wrong = dataclasses.replace(traj, optimizer=pk.optim.sgd(0.05, momentum=0.9))
    from pkverify.kernels.exact import PathWarning

    with pytest.warns(PathWarning, match=r"at step 0 .*differs from the optimizer's step"):
        pk.kernel_machine(wrong, progress=False).predict(Xq)

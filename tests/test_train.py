"""Gradient descent, SGD and gradient flow against hand-written updates and closed forms."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
import scipy.linalg
from autograd import grad

import pkverify as pk
from pkverify.errors import (
    DivergenceError,
    EmptyDataError,
    InvalidArgumentError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
)
from pkverify.kernels.engines import engine_for

from .reference import rel_err


def _design(X):
    return np.hstack([X, np.ones((X.shape[0], 1))])  # [x, 1]: linear model with bias


class TestGradientDescent:
    def test_linear_mse_path_matches_hand_updates(self, data2d):
        X, Y = data2d
        A = _design(X)
        traj = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=7)
        w = traj.ws[0].copy()
        for s in range(7):
            np.testing.assert_allclose(traj.ws[s], w, rtol=1e-13, atol=1e-15)
            w = w - 0.05 * A.T @ (A @ w - Y)  # ∇ Σ ½(a·w − y)² = Aᵀ(Aw − y): a sum, not a mean
        # 1e-13: seven steps of float64 rounding on O(1) values
        np.testing.assert_allclose(traj.ws[-1], w, rtol=1e-13, atol=1e-15)

    @pytest.mark.parametrize("loss", ["mse", "logistic"])
    def test_mlp_path_matches_autograd_on_a_hand_loss(self, labels2d, loss):
        X, Y = labels2d
        model = pk.models.mlp([2, 4, 1], activation="tanh")

        def L(w):
            y = model.f(w, X)
            if loss == "mse":
                return 0.5 * anp.sum((y - Y) ** 2)
            return anp.sum(anp.log(1 + anp.exp(y)) - Y * y)

        traj = pk.train(model, X, Y, loss=loss, lr=0.1, steps=5, seed=3)
        np.testing.assert_array_equal(traj.ws[0], model.init(3))
        w = traj.ws[0]
        for _ in range(5):
            w = w - 0.1 * grad(L)(w)
        # 1e-12: the same arithmetic in a different order, five steps
        assert rel_err(traj.ws[-1], w) < 1e-12

    def test_l2_regularizer_enters_the_update(self, data2d):
        X, Y = data2d
        A = _design(X)
        lam = 0.7
        traj = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=3, regularizer=pk.l2(lam))
        w = traj.ws[0]
        for _ in range(3):
            w = w - 0.05 * (A.T @ (A @ w - Y) + lam * w)
        np.testing.assert_allclose(traj.ws[-1], w, rtol=1e-13)
        R = 0.5 * lam * traj.ws[-1] @ traj.ws[-1]
        expected_loss = 0.5 * np.sum((A @ traj.ws[-1] - Y) ** 2) + R
        assert traj.losses[-1] == pytest.approx(expected_loss, rel=1e-13)

    def test_step_size_schedule(self, data2d):
        X, Y = data2d
        A = _design(X)
        lrs = [0.1, 0.05, 0.02]
        traj = pk.train(pk.models.linear(2), X, Y, lr=lrs, steps=3)
        np.testing.assert_array_equal(traj.step_sizes, lrs)
        np.testing.assert_allclose(traj.times, [0.0, 0.1, 0.15, 0.17], rtol=1e-15)
        w = traj.ws[0]
        for e in lrs:
            w = w - e * A.T @ (A @ w - Y)
        np.testing.assert_allclose(traj.ws[-1], w, rtol=1e-13)

    def test_explicit_w0(self, data2d):
        X, Y = data2d
        w0 = np.array([1.0, 2.0, 3.0])
        traj = pk.train(pk.models.linear(2), X, Y, steps=2, w0=w0)
        np.testing.assert_array_equal(traj.ws[0], w0)

    def test_vector_output_with_softmax_ce(self, data2d):
        X, _ = data2d
        ids = np.array([0, 1, 2, 0, 1, 2])
        traj = pk.train(pk.models.mlp([2, 5, 3]), X, ids, loss="softmax_ce", lr=0.1, steps=10)
        assert traj.Y.shape == (6, 3)
        assert traj.predict(X).shape == (6, 3)
        assert traj.losses[-1] < traj.losses[0]


class TestSGD:
    def test_batches_and_updates_match_hand_computation(self, data2d):
        X, Y = data2d
        A = _design(X)
        traj = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=6, batch_size=2, seed=4)
        assert traj.kind == "sgd"
        assert traj.batches.shape == (6, 6) and traj.batches.dtype == bool
        np.testing.assert_array_equal(traj.batches.sum(axis=1), 2)
        w = traj.ws[0]
        for s in range(6):
            I = traj.batches[s].astype(float)
            w = w - 0.05 * A.T @ (I * (A @ w - Y))  # Remark 5: the batch sum, not rescaled
        np.testing.assert_allclose(traj.ws[-1], w, rtol=1e-13)
        # the full-batch path is different, so the indicators did something
        full = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=6, seed=4)
        assert rel_err(traj.ws[-1], full.ws[-1]) > 1e-3

    def test_batch_size_n_is_gradient_descent(self, data2d):
        X, Y = data2d
        sgd = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=3, batch_size=6)
        gd = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=3)
        assert sgd.kind == "gd" and gd.kind == "gd"
        assert gd.batches.all()
        np.testing.assert_allclose(sgd.ws, gd.ws, rtol=1e-14)

    def test_same_seed_same_path(self, data2d):
        X, Y = data2d
        model = pk.models.mlp([2, 4, 1])
        a = pk.train(model, X, Y, lr=0.1, steps=8, batch_size=3, seed=11)
        b = pk.train(model, X, Y, lr=0.1, steps=8, batch_size=3, seed=11)
        np.testing.assert_array_equal(a.ws, b.ws)
        np.testing.assert_array_equal(a.batches, b.batches)
        np.testing.assert_array_equal(a.losses, b.losses)

    def test_different_seeds_different_batches(self, data2d):
        X, Y = data2d
        model = pk.models.linear(2)
        a = pk.train(model, X, Y, lr=0.1, steps=8, batch_size=3, seed=1)
        b = pk.train(model, X, Y, lr=0.1, steps=8, batch_size=3, seed=2)
        assert not np.array_equal(a.batches, b.batches)

    def test_global_numpy_state_is_not_used(self, data2d):
        X, Y = data2d
        model = pk.models.mlp([2, 4, 1])
        np.random.seed(0)
        a = pk.train(model, X, Y, lr=0.1, steps=4, batch_size=2, seed=5)
        np.random.seed(1)
        b = pk.train(model, X, Y, lr=0.1, steps=4, batch_size=2, seed=5)
        np.testing.assert_array_equal(a.ws, b.ws)


class TestBadInput:
    def test_mismatched_lengths(self, data2d):
        X, Y = data2d
        with pytest.raises(ShapeError, match="same number of rows; X has 6, Y has 5"):
            pk.train(pk.models.linear(2), X, Y[:5])

    def test_one_dimensional_x(self, data2d):
        _, Y = data2d
        with pytest.raises(ShapeError, match=r"reshape\(-1, 1\)"):
            pk.train(pk.models.linear(1), np.arange(6.0), Y)

    def test_wrong_number_of_columns(self, data2d):
        X, Y = data2d
        with pytest.raises(ShapeError, match="d = 3 columns"):
            pk.train(pk.models.linear(3), X, Y)

    @pytest.mark.parametrize("where", ["X", "Y", "w0"])
    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite(self, data2d, where, bad):
        X, Y = data2d
        X, Y, w0 = X.copy(), Y.copy(), np.zeros(3)
        {"X": X, "Y": Y, "w0": w0}[where].flat[1] = bad
        with pytest.raises(NonFiniteError, match="NaN or inf"):
            pk.train(pk.models.linear(2), X, Y, w0=w0)

    def test_empty_x(self):
        with pytest.raises(EmptyDataError, match="at least one data point"):
            pk.train(pk.models.linear(2), np.zeros((0, 2)), np.zeros(0))

    def test_wrong_w0_length(self, data2d):
        X, Y = data2d
        with pytest.raises(ShapeError, match=r"w0 must be a flat vector of shape \(3,\)"):
            pk.train(pk.models.linear(2), X, Y, w0=np.zeros(4))

    @pytest.mark.parametrize("lr", [0.0, -0.1, np.nan, np.inf])
    def test_bad_step_size(self, data2d, lr):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="lr must be a finite number > 0"):
            pk.train(pk.models.linear(2), X, Y, lr=lr)

    def test_bad_schedule(self, data2d):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match=r"one entry per step, shape \(3,\)"):
            pk.train(pk.models.linear(2), X, Y, lr=[0.1, 0.1], steps=3)
        with pytest.raises(InvalidArgumentError, match="finite and > 0"):
            pk.train(pk.models.linear(2), X, Y, lr=[0.1, -0.1], steps=2)

    @pytest.mark.parametrize("steps", [0, -5])
    def test_bad_steps(self, data2d, steps):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="steps must be ≥ 1"):
            pk.train(pk.models.linear(2), X, Y, steps=steps)

    def test_non_integer_steps(self, data2d):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="steps must be a positive integer"):
            pk.train(pk.models.linear(2), X, Y, steps=2.5)

    def test_batch_size_larger_than_n(self, data2d):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="batch_size must be ≤ n = 6"):
            pk.train(pk.models.linear(2), X, Y, batch_size=7)

    def test_batch_size_zero(self, data2d):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="batch_size must be ≥ 1"):
            pk.train(pk.models.linear(2), X, Y, batch_size=0)

    def test_unknown_loss(self, data2d):
        X, Y = data2d
        with pytest.raises(UnknownNameError, match="unknown loss 'l1'; expected one of"):
            pk.train(pk.models.linear(2), X, Y, loss="l1")

    def test_not_a_model(self, data2d):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="model must be a pkverify Model"):
            pk.train(lambda w, X: X @ w, X, Y)

    def test_custom_model_returning_a_scalar(self, data2d):
        X, Y = data2d
        model = pk.models.custom(lambda w, X: anp.sum(X @ w), np.ones(2))
        with pytest.raises(ShapeError, match=r"\(n,\) or \(n, k\)"):
            pk.train(model, X, Y, steps=1)

    def test_custom_model_returning_the_wrong_length(self, data2d):
        X, Y = data2d
        model = pk.models.custom(lambda w, X: (X @ w)[:3], np.ones(2))
        with pytest.raises(ShapeError, match=r"n = 6 rows of X"):
            pk.train(model, X, Y, steps=1)


class TestDivergence:
    def test_large_step_raises_with_the_step(self, data2d):
        X, Y = data2d
        X = 10.0 * X
        with pytest.raises(DivergenceError, match="smaller step size") as info:
            pk.train(pk.models.linear(2), X, Y, lr=1.0, steps=200)
        step = info.value.step
        assert isinstance(step, int) and 1 <= step <= 200
        assert f"at step {step}" in str(info.value)
        # it is the first bad step: stopping just there still raises, one step earlier does not
        with pytest.raises(DivergenceError) as again:
            pk.train(pk.models.linear(2), X, Y, lr=1.0, steps=step)
        assert again.value.step == step
        if step > 1:
            traj = pk.train(pk.models.linear(2), X, Y, lr=1.0, steps=step - 1)
            assert np.all(np.isfinite(traj.losses))

    def test_overflowing_outputs_raise_divergence(self, data2d):
        X, Y = data2d
        model = pk.models.custom(lambda w, X: anp.exp(X @ w[:2]) * w[2], [3.0, 3.0, 1.0])
        with np.errstate(over="ignore", invalid="ignore"):
            with pytest.raises(DivergenceError, match="smaller step") as info:
                pk.train(model, 3 * X, Y, lr=1.0, steps=50)
        assert info.value.step is not None and info.value.step >= 1


class TestGradientFlow:
    def test_linear_flow_matches_the_matrix_exponential(self, data2d):
        X, Y = data2d
        A = _design(X)
        H = A.T @ A
        w_star = np.linalg.solve(H, A.T @ Y)
        traj = pk.gradient_flow(pk.models.linear(2), X, Y, T=0.8, samples=9)
        assert traj.kind == "flow"
        np.testing.assert_allclose(traj.times, np.linspace(0, 0.8, 9), rtol=1e-15)
        np.testing.assert_allclose(traj.step_sizes, 0.1, rtol=1e-12)
        assert traj.batches.shape == (8, 6) and traj.batches.all()
        for t, w in zip(traj.times, traj.ws):
            # dw/dt = −(Hw − Aᵀy)  ⇒  w(t) = w* + e^{−Ht}(w0 − w*)
            exact = w_star + scipy.linalg.expm(-H * t) @ (traj.ws[0] - w_star)
            # 1e-8: solve_ivp rtol 1e-10 / atol 1e-12, accumulated over the interval
            assert rel_err(w, exact) < 1e-8

    def test_gd_approaches_the_flow_at_rate_eps(self, data2d):
        X, Y = data2d
        model = pk.models.mlp([2, 4, 1], activation="tanh")
        flow = pk.gradient_flow(model, X, Y, T=1.0, samples=3)
        errs = []
        for steps in (20, 40, 80, 160):
            gd = pk.train(model, X, Y, lr=1.0 / steps, steps=steps)
            errs.append(np.linalg.norm(gd.ws[-1] - flow.ws[-1]))
        ratios = np.array(errs[:-1]) / np.array(errs[1:])
        # GD is a first-order scheme: the global error halves with ε, up to O(ε) relative
        # corrections (measured 2.13, 2.06, 2.03 here; 2.39 already at ε = 0.1)
        assert np.all((ratios > 1.8) & (ratios < 2.2)), ratios

    def test_flow_loss_decreases(self, data2d):
        X, Y = data2d
        traj = pk.gradient_flow(pk.models.mlp([2, 4, 1]), X, Y, T=1.0, samples=11)
        assert np.all(np.diff(traj.losses) <= 1e-12)  # dL/dt = −‖∇L‖² ≤ 0; slack for rounding

    @pytest.mark.parametrize("T", [0.0, -1.0, np.nan])
    def test_bad_horizon(self, data2d, T):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="T must be a finite number > 0"):
            pk.gradient_flow(pk.models.linear(2), X, Y, T=T)

    def test_too_few_samples(self, data2d):
        X, Y = data2d
        with pytest.raises(InvalidArgumentError, match="samples must be ≥ 2"):
            pk.gradient_flow(pk.models.linear(2), X, Y, samples=1)

    def test_flow_divergence(self, data2d):
        X, Y = data2d
        # R(w) = −Σw⁴ is unbounded below: dw/dt ≈ 4w³ blows up at t ≈ 1/(8 w0²) = 0.125
        with np.errstate(over="ignore", invalid="ignore"):
            with pytest.raises(DivergenceError, match="smaller T"):
                pk.gradient_flow(
                    pk.models.linear(2),
                    X,
                    Y,
                    T=1.0,
                    samples=5,
                    regularizer=lambda w: -anp.sum(w**4),
                    w0=np.ones(3),
                )


def test_boolean_step_size_is_refused():
    X = np.array([[0.0], [1.0]])
    with pytest.raises(pk.errors.InvalidArgumentError, match="positive number"):
        pk.train(pk.models.linear(1), X, np.zeros(2), lr=True, steps=2)


def test_divergence_threshold_floors_a_near_zero_start():
    from pkverify.train import DIVERGENCE_FACTOR, DIVERGENCE_FLOOR, _diverged

    # a run that starts at a perfect fit may drift up a little without being "diverged"
    assert not _diverged(1e-3, 0.0)
    assert _diverged(DIVERGENCE_FACTOR * DIVERGENCE_FLOOR * 1.01, 0.0)
    assert _diverged(DIVERGENCE_FACTOR * 5.0 * 1.01, 5.0) and not _diverged(4e6, 5.0)
    assert _diverged(float("nan"), 1.0) and _diverged(float("inf"), 1.0)


# ----- optimizers (pkverify.optim) ------------------------------------------------------------


@pytest.mark.parametrize("case", __import__("tests.optim_paths", fromlist=["x"])
                         .optimizer_cases(), ids=lambda c: c[0])
def test_every_optimizer_trains_as_written_by_hand(case):
    """pk.train's path equals a loop that differentiates the batch's loss with autograd and
    steps with the rule (float64 rounding of the same sums in another order: 1e-13)."""
    from tests.optim_paths import hand_path

    _, opt, bs, red, reg = case
    X = np.random.default_rng(0).standard_normal((8, 2))
    Y = np.sin(X[:, 0])
    model = pk.models.mlp([2, 5, 1], "tanh")
    traj = pk.train(model, X, Y, optimizer=opt, steps=6, batch_size=bs, reduction=red,
                    regularizer=reg, progress=False)
    ref = hand_path(model, X, Y, opt, 6, bs, red, reg)
    np.testing.assert_array_equal(traj.batches, ref.batches)
    np.testing.assert_allclose(traj.ws, ref.ws, rtol=0, atol=1e-13)
    assert traj.optimizer == opt and traj.reduction == red


def test_mean_reduction_divides_the_batch_gradient():
    X = np.random.default_rng(1).standard_normal((6, 2))
    Y = X[:, 0]
    model = pk.models.linear(2)
    a = pk.train(model, X, Y, lr=0.1, steps=1, batch_size=3, reduction="mean", progress=False)
    b = pk.train(model, X, Y, lr=0.1 / 3, steps=1, batch_size=3, progress=False)
    np.testing.assert_allclose(a.ws, b.ws, rtol=1e-15, atol=0)


def test_a_step_differentiates_only_its_batch(monkeypatch):
    """The backward pass of a mini-batch step sees the batch's rows only."""
    from pkverify.kernels.engines import LayerwiseEngine

    seen = []
    original = LayerwiseEngine.value_and_vjp

    def spy(self, w, X, cotangent):
        seen.append(int(X.shape[0]))
        return original(self, w, X, cotangent)

    monkeypatch.setattr(LayerwiseEngine, "value_and_vjp", spy)
    X = np.random.default_rng(2).standard_normal((40, 2))
    pk.train(pk.models.mlp([2, 4, 1]), X, X[:, 0], optimizer=pk.optim.adam(0.01), steps=3,
             batch_size=5, progress=False)
    assert seen == [5, 5, 5]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(lr=0.1, optimizer=pk.optim.adam()), "give the step size once"),
        (dict(optimizer="rmsprop"), "unknown optimizer"),
        (dict(optimizer=pk.optim.sgd([0.1, 0.2])), "one entry per step"),
        (dict(reduction="avg"), "unknown reduction"),
    ],
)
def test_bad_optimizer_arguments(kwargs, words):
    X = np.array([[0.0], [1.0]])
    with pytest.raises(pk.errors.InvalidArgumentError, match=words):
        pk.train(pk.models.linear(1), X, X[:, 0], steps=3, **kwargs)


@pytest.fixture(scope="module")
def run32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 3))
    Y = np.sin(X[:, 0])
    model = pk.models.mlp([3, 16, 1], "tanh", seed=1)
    return model, X, Y, pk.train(model, X, Y, lr=0.1, steps=30, dtype=np.float32)


class TestFloat32Training:
    """pk.train(..., dtype=np.float32): passes and steps in float32 (issue 17)."""

    U32 = float(np.finfo(np.float32).eps)

    def test_the_recorded_weights_are_float32_values(self, run32):
        model, X, Y, traj = run32
        assert traj.ws.dtype == np.float64  # the file format is unchanged
        np.testing.assert_array_equal(traj.ws, traj.ws.astype(np.float32).astype(np.float64))
        np.testing.assert_array_equal(traj.ws[0], model.init(0).astype(np.float32))  # seed=0

    def test_it_is_not_float64_training_in_disguise(self, run32):
        model, X, Y, traj = run32
        t64 = pk.train(model, X, Y, lr=0.1, steps=30)
        gap = float(np.max(np.abs(t64.ws - traj.ws)))
        # float32 rounding of w (|w| ≲ 3) and of each gradient: well above float64's 1e-15,
        # and of the order of float32's ulps (not another path)
        assert 1e-9 < gap < 1e3 * self.U32

    def test_the_float32_machine_rebuilds_the_float32_model(self, run32):
        model, X, Y, traj = run32
        eng = engine_for(model, "auto", np)
        X32 = X.astype(np.float32)
        y_end = eng.forward(traj.ws[-1].astype(np.float32), X32)[:, 0]
        y_start = eng.forward(traj.ws[0].astype(np.float32), X32)[:, 0]
        km = pk.kernel_machine(traj, dtype=np.float32)
        predicted = km.predict(X)
        assert predicted.dtype == np.float32
        # the machine adds S = 30 step increments in float32 (≤ ½ ulp of the running sum
        # each) and each increment carries the float32 rounding of its own passes (a few
        # ulps): S · u32 · max|y| bounds both (measured: ≈ 0.12 of it)
        scale = float(max(np.max(np.abs(y_end)), np.max(np.abs(y_start))))
        assert np.max(np.abs(predicted - y_end)) <= traj.steps * self.U32 * scale
        assert np.max(np.abs(y_end - y_start)) > 0.1  # the path moved: the test can fail

    @pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex64])
    def test_other_dtypes_are_refused(self, run32, dtype):
        model, X, Y, _ = run32
        with pytest.raises(InvalidArgumentError, match="float"):
            pk.train(model, X, Y, steps=2, dtype=dtype)


def test_float32_with_an_optimizer_is_refused():
    X = np.array([[0.0], [1.0]])
    with pytest.raises(pk.errors.InvalidArgumentError, match="float32"):
        pk.train(pk.models.linear(1), X, X[:, 0], optimizer=pk.optim.adam(), steps=2,
                 dtype=np.float32)

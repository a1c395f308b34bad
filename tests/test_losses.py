"""Losses ℓ(y*, y) and ℓ' = ∂ℓ/∂y against hand formulas; domains; regularisers."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.errors import DomainError, InvalidArgumentError, ShapeError, UnknownNameError
from pkverify.losses import LOSSES, Regularizer, as_regularizer, get_loss, l2

Y_OUT = np.array([-1.3, 0.2, 0.9, 2.5])
P_OUT = np.array([0.1, 0.35, 0.8, 0.97])  # probabilities for neg_log
LABELS = np.array([1.0, 0.0, 1.0, 0.0])
# float64 rounding of exp/log on O(1) values
RTOL = 1e-13


def _sig(y):
    return 1.0 / (1.0 + np.exp(-y))


def test_the_four_losses_are_registered():
    assert set(LOSSES) == {"mse", "squared_error", "squared_error_mean", "logistic", "neg_log",
                           "softmax_ce"}
    assert get_loss("mse") is LOSSES["mse"]
    assert get_loss(LOSSES["mse"]) is LOSSES["mse"]


@pytest.mark.parametrize("bad", ["hinge", "MSE", None, 3])
def test_unknown_loss(bad):
    with pytest.raises(UnknownNameError, match="unknown loss.*expected one of 'mse'"):
        get_loss(bad)


class TestValues:
    def test_mse_scalar_and_vector(self):
        target = np.array([0.5, 0.5, -1.0, 2.0])
        np.testing.assert_allclose(
            LOSSES["mse"].value(Y_OUT, target), 0.5 * (Y_OUT - target) ** 2, rtol=RTOL
        )
        y2, t2 = np.arange(6.0).reshape(3, 2), np.ones((3, 2))
        np.testing.assert_allclose(
            LOSSES["mse"].value(y2, t2), 0.5 * ((y2 - t2) ** 2).sum(axis=1), rtol=RTOL
        )
        assert LOSSES["mse"].total(y2, t2) == pytest.approx(0.5 * ((y2 - t2) ** 2).sum())

    def test_logistic_is_binary_cross_entropy_on_a_logit(self):
        p = _sig(Y_OUT)
        expected = -(LABELS * np.log(p) + (1 - LABELS) * np.log(1 - p))
        np.testing.assert_allclose(LOSSES["logistic"].value(Y_OUT, LABELS), expected, rtol=RTOL)

    def test_logistic_is_finite_for_huge_logits(self):
        v = LOSSES["logistic"].value(np.array([800.0, -800.0]), np.array([0.0, 1.0]))
        np.testing.assert_allclose(v, [800.0, 800.0], rtol=RTOL)

    def test_neg_log(self):
        p_i = np.where(LABELS == 1, P_OUT, 1 - P_OUT)
        np.testing.assert_allclose(LOSSES["neg_log"].value(P_OUT, LABELS), -np.log(p_i), rtol=RTOL)

    def test_softmax_ce(self):
        y = np.array([[1.0, -2.0, 0.5], [300.0, 299.0, 0.0]])  # second row tests stability
        onehot = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
        logp = (
            y
            - np.log(np.exp(y - y.max(1, keepdims=True)).sum(1, keepdims=True))
            - y.max(1, keepdims=True)
        )
        expected = -(onehot * logp).sum(axis=1)
        np.testing.assert_allclose(LOSSES["softmax_ce"].value(y, onehot), expected, rtol=RTOL)


class TestDerivatives:
    def test_mse_remark3(self):
        target = np.array([0.5, 0.5, -1.0, 2.0])
        np.testing.assert_array_equal(LOSSES["mse"].deriv(Y_OUT, target), Y_OUT - target)

    def test_logistic(self):
        np.testing.assert_allclose(
            LOSSES["logistic"].deriv(Y_OUT, LABELS), _sig(Y_OUT) - LABELS, rtol=RTOL, atol=1e-16
        )

    def test_neg_log_remark3(self):
        # ℓ = −ln p_i gives ℓ' = −1/p_i for y* = 1 (p_i = y) and 1/(1 − y) for y* = 0
        expected = np.where(LABELS == 1, -1.0 / P_OUT, 1.0 / (1.0 - P_OUT))
        np.testing.assert_allclose(LOSSES["neg_log"].deriv(P_OUT, LABELS), expected, rtol=RTOL)

    def test_softmax_ce(self):
        y = np.array([[1.0, -2.0, 0.5], [0.3, 0.1, -0.7]])
        onehot = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        sm = np.exp(y) / np.exp(y).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(LOSSES["softmax_ce"].deriv(y, onehot), sm - onehot, rtol=RTOL)

    @pytest.mark.parametrize("name", ["mse", "logistic", "neg_log", "softmax_ce"])
    def test_deriv_is_the_gradient_of_value(self, name):
        if name == "softmax_ce":
            y = np.array([[1.0, -2.0, 0.5], [0.3, 0.1, -0.7]])
            Y = np.array([[0.0, 0.0, 1.0], [0.2, 0.8, 0.0]])
        else:
            y, Y = (P_OUT, LABELS) if name == "neg_log" else (Y_OUT, LABELS)
        loss = LOSSES[name]
        h = 1e-6
        fd = np.zeros_like(y)
        for idx in np.ndindex(y.shape):
            e = np.zeros_like(y)
            e[idx] = h
            fd[idx] = (loss.total(y + e, Y) - loss.total(y - e, Y)) / (2 * h)
        # 1e-7: central differences, O(h²) truncation + eps/h ≈ 2e-10 rounding, ℓ'' up to ~1e2
        np.testing.assert_allclose(loss.deriv(y, Y), fd, rtol=1e-7, atol=1e-7)


class TestDomains:
    def test_logistic_rejects_label_two(self, data2d):
        X, _ = data2d
        Y = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 0.0])
        with pytest.raises(DomainError, match=r"labels in \{0, 1\}; got values such as \[2.0\]"):
            pk.train(pk.models.linear(2), X, Y, loss="logistic", steps=1)

    def test_logistic_needs_a_scalar_output(self, data2d):
        X, _ = data2d
        with pytest.raises(ShapeError, match="scalar-output model.*softmax_ce"):
            pk.train(pk.models.mlp([2, 3, 2]), X, np.zeros(6), loss="logistic", steps=1)

    def test_softmax_ce_rejects_class_id_k(self, data2d):
        X, _ = data2d
        Y = np.array([0, 1, 2, 3, 0, 1])  # k = 3 outputs: id 3 is out of range
        with pytest.raises(DomainError, match=r"integer class ids in 0\.\.2"):
            pk.train(pk.models.mlp([2, 3, 3]), X, Y, loss="softmax_ce", steps=1)

    def test_softmax_ce_rejects_fractional_ids(self, data2d):
        X, _ = data2d
        Y = np.array([0, 1, 1.5, 0, 0, 1])
        with pytest.raises(DomainError, match="integer class ids"):
            pk.train(pk.models.mlp([2, 3, 3]), X, Y, loss="softmax_ce", steps=1)

    def test_softmax_ce_needs_vector_output(self, data2d):
        X, _ = data2d
        with pytest.raises(ShapeError, match="vector-output model"):
            pk.train(pk.models.linear(2), X, np.zeros(6), loss="softmax_ce", steps=1)

    def test_softmax_ce_rejects_rows_not_summing_to_one(self, data2d):
        X, _ = data2d
        Y = np.full((6, 3), 0.5)
        with pytest.raises(DomainError, match="sum to 1"):
            pk.train(pk.models.mlp([2, 3, 3]), X, Y, loss="softmax_ce", steps=1)

    def test_softmax_ce_ids_become_one_hot(self):
        Y = LOSSES["softmax_ce"].prepare(np.array([2.0, 0.0]), np.zeros((2, 3)))
        np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0]])

    def test_neg_log_rejects_outputs_outside_unit_interval(self, labels2d):
        X, Y = labels2d
        # a linear model's raw outputs are not probabilities: w0 puts all of them at 2
        w0 = np.array([0.0, 0.0, 2.0])
        with pytest.raises(DomainError, match=r"probabilities in \(0, 1\); got \[2.0"):
            pk.train(pk.models.linear(2), X, Y, loss="neg_log", steps=1, w0=w0)

    def test_neg_log_rejects_outputs_that_leave_the_unit_interval_during_training(self, labels2d):
        X, Y = labels2d
        # outputs start in (0, 1) but a big step on the raw linear output overshoots 1
        with pytest.raises(DomainError, match=r"probabilities in \(0, 1\)"):
            pk.train(pk.models.linear(2), X, Y, loss="neg_log", lr=0.5, steps=20)

    def test_neg_log_trains_on_a_sigmoid_model(self, labels2d):
        X, Y = labels2d
        model = pk.models.custom(lambda w, X: 1 / (1 + anp.exp(-(X @ w[:2] + w[2]))), [0.1] * 3)
        traj = pk.train(model, X, Y, loss="neg_log", lr=0.05, steps=5)
        assert traj.losses[-1] < traj.losses[0]

    def test_mse_shape_mismatch(self, data2d):
        X, _ = data2d
        with pytest.raises(ShapeError, match=r"mse targets Y must have the model's output shape"):
            pk.train(pk.models.mlp([2, 3, 2]), X, np.zeros(6), steps=1)


class TestRegularizers:
    def test_l2_value_and_gradient(self):
        w = np.array([1.0, -2.0, 0.5])
        reg = l2(0.3)
        assert reg.value(w) == pytest.approx(0.15 * 5.25, rel=1e-15)
        np.testing.assert_allclose(reg.grad(w), 0.3 * w, rtol=1e-15)
        assert reg.spec == {"kind": "l2", "lam": 0.3}
        assert pk.l2 is l2

    @pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf, "big"])
    def test_l2_rejects_bad_lambda(self, bad):
        with pytest.raises(InvalidArgumentError, match="l2\\(lam\\)'s λ must be a"):
            l2(bad)

    def test_callable_regularizer_gradient(self):
        def R(w):
            return anp.sum(w**4) + anp.sin(w[0])

        reg = as_regularizer(R)
        assert isinstance(reg, Regularizer) and reg.name == "R"
        w = np.array([0.3, -1.1])
        np.testing.assert_allclose(reg.grad(w), [4 * 0.3**3 + np.cos(0.3), 4 * (-1.1) ** 3])

    def test_passthrough_and_rejection(self):
        reg = l2(1.0)
        assert as_regularizer(reg) is reg
        assert as_regularizer(None) is None
        with pytest.raises(InvalidArgumentError, match="regularizer must be None"):
            as_regularizer(3.0)


@pytest.mark.parametrize("name, scale", [("squared_error", 1.0), ("squared_error_mean", 1 / 3)])
def test_squared_errors_are_torch_mse_per_example(name, scale):
    """PyTorch's MSELoss per example: Σ_j (y_j − y*_j)² (sum) or its mean over k = 3 outputs;
    ℓ' checked against autograd's derivative of the value (another route than the formula)."""
    from autograd import elementwise_grad

    y2 = np.arange(6.0).reshape(2, 3) / 5.0
    t2 = np.array([[0.5, -1.0, 2.0], [0.0, 0.25, 1.0]])
    loss = LOSSES[name]
    np.testing.assert_allclose(loss.value(y2, t2), scale * ((y2 - t2) ** 2).sum(axis=1),
                               rtol=RTOL)
    auto = elementwise_grad(lambda y: loss.total(y, t2))(y2)
    np.testing.assert_allclose(loss.deriv(y2, t2), auto, rtol=RTOL)
    # one output: both are (y − y*)², twice pkverify's mse
    np.testing.assert_allclose(loss.value(Y_OUT, np.zeros(4)), Y_OUT ** 2, rtol=RTOL)

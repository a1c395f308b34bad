"""KernelMachine.explain per output: a k-output model is explained one class at a time."""

from __future__ import annotations

import numpy as np
import pytest

import pkverify as pk
from pkverify.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def three_outputs():
    r = np.random.default_rng(0)
    X = r.standard_normal((6, 2))
    ids = np.array([0, 1, 2, 0, 1, 2])
    traj = pk.train(pk.models.mlp([2, 5, 3]), X, ids, loss="softmax_ce", lr=0.2, steps=8)
    return traj, r.standard_normal((4, 2))


def test_ranking_uses_only_the_chosen_outputs_contributions(three_outputs):
    traj, Xq = three_outputs
    km = pk.kernel_machine(traj)
    K, a = np.asarray(km.kernel(Xq)), np.asarray(km.a(Xq))
    # Theorem 1 per output: y_c = b_c + Σ_i (K^p(x, x_i) a_i(x))_c, from the machine's parts
    per_output = np.einsum("qicb,qib->qic", K, a)
    summed_differs = False
    for c in range(3):
        for q, ranking in enumerate(km.explain(Xq, top=6, class_=c)):
            expected = per_output[q, :, c]
            order = list(np.argsort(-np.abs(expected), kind="stable"))
            assert ranking.class_ == c and [i for i, _ in ranking] == order
            # a = −K⁺·(loss-weighted): K a equals it to a few ulps × cond(K) (3×3 blocks)
            np.testing.assert_allclose([v for _, v in ranking], expected[order], rtol=1e-8,
                                       atol=1e-12 * np.abs(expected).max())
            summed = list(np.argsort(-np.abs(per_output[q].sum(axis=1)), kind="stable"))
            summed_differs |= summed != order
    assert summed_differs  # the old sum over outputs would rank differently somewhere


def test_default_class_is_the_predicted_one(three_outputs):
    traj, Xq = three_outputs
    km = pk.kernel_machine(traj)
    predicted = np.argmax(traj.predict(Xq), axis=1)  # the trained model itself
    rankings = km.explain(Xq, top=2)
    assert [r.class_ for r in rankings] == [int(c) for c in predicted]
    for q, c in enumerate(predicted):
        assert rankings[q] == km.explain(Xq, top=2, class_=int(c))[q]


@pytest.mark.parametrize("bad", [3, -1, 1.5, True, "1"])
def test_bad_class_is_refused(three_outputs, bad):
    traj, Xq = three_outputs
    with pytest.raises(InvalidArgumentError, match="output index 0 ... 2"):
        pk.kernel_machine(traj).explain(Xq, class_=bad)


def test_scalar_models_are_unchanged_and_take_no_class(data2d, queries2d):
    X, Y = data2d
    traj = pk.train(pk.models.mlp([2, 4, 1]), X, Y, lr=0.1, steps=5)
    km = pk.kernel_machine(traj)
    rankings = km.explain(queries2d, top=3)
    assert all(r.class_ is None and len(r) == 3 for r in rankings)
    contrib = np.asarray(km.a(queries2d)) * np.asarray(km.kernel(queries2d))
    for q, r in enumerate(rankings):
        # a_i K^p = −(loss-weighted kernel) up to the division's rounding
        np.testing.assert_allclose([v for _, v in r], contrib[q, [i for i, _ in r]], rtol=1e-12)
    with pytest.raises(InvalidArgumentError, match="one output"):
        km.explain(queries2d, class_=0)

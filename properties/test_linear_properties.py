"""The linear reduction (claim ``linear.reduction``; Domingos 2020 §3, Remark 1) on drawn
linear models, data and paths.

For ``f = w·φ(x) (+ b)`` the tangent kernel is ``φ(x)·φ(x') (+ 1)`` at every ``w``, so every
path-kernel rule gives ``K^p = T (φ(x)·φ(x') (+ 1))`` with ``T = Σ_s ε_s``, and the
coefficients ``a_i(x) = −Σ_s c_s ℓ'_i(s) / Σ_s c_s`` do not depend on the query ``x``.

Each test calls the claim's own check (:func:`pkverify.claims.linear.check_linear_tangent`,
:func:`pkverify.claims.linear.check_linear_path`), whose docstrings give the tolerances and
their reasons (rounding relative to Σ|terms|; the cancellation factor for a ratio; 0/0 pairs).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

import pkverify as pk
from pkverify.claims.linear import check_linear_path, check_linear_tangent, expected_a
from pkverify.strategies import datasets, linear_models, seeds, training_problems


def _examples(fraction: float, minimum: int = 3) -> settings:
    return settings(max_examples=max(minimum, round(settings.default.max_examples * fraction)))


def assert_claim(outcome) -> None:
    note(f"{outcome.message}; {outcome.metrics}")
    assert outcome.passed, outcome.message


def linear_problems(**kwargs):
    return training_problems(
        models=lambda d: linear_models(dim=d), n=(1, 16), dim=(1, 5), scale=2.0, **kwargs
    )


@given(st.data(), datasets(n=(1, 16), dim=(1, 5)), seeds())
def test_linear_tangent_kernel_is_feature_gram(data, dataset, seed):
    X, _ = dataset
    model = data.draw(linear_models(dim=X.shape[1]), label="model")
    Xq, _ = data.draw(datasets(n=(1, 6), dim=X.shape[1]), label="queries")
    assert_claim(check_linear_tangent(model, model.init(seed), Xq, X))


@_examples(0.75)
@given(
    st.data(),
    linear_problems(),
    st.sampled_from(["riemann", "trapezoid", "exact"]),
)
def test_linear_path_kernel_and_a_do_not_depend_on_x(data, problem, rule):
    """K^p = T(φφ' + b) for every rule, and Remark 1: ``a_i(x)`` is the same at every query
    (also for SGD)."""
    n = problem.X.shape[0]
    batch_size = data.draw(st.none() | st.integers(1, n), label="batch_size")
    traj = problem.train(batch_size=batch_size)
    Xq, _ = data.draw(datasets(n=(1, 6), dim=problem.X.shape[1]), label="queries")
    assert_claim(check_linear_path(traj, np.vstack([problem.X, Xq]), rules=(rule,)))


def test_linear_a_trapezoid_does_not_depend_on_x_where_kernel_is_small():
    """Regression: the minimal example the property above found. K^p(1e-20, 1) = 5e-21 is
    exact (no cancellation) but below 1e-13·max|K^p|, where KernelMachine.a falls back to a
    step average of −ℓ'; that average must use the rule's own weights (it used left-Riemann
    weights for every rule, so with the trapezoid a_0(1e-20) ≠ a_0(1))."""
    model = pk.models.linear(1, bias=False)
    X = np.array([[1.0], [1e-20]])
    traj = pk.train(model, X, np.zeros(2), lr=0.5, steps=1, seed=0)
    a = pk.kernel_machine(traj, rule="trapezoid").a(X)[:, 0]
    want, _ = expected_a(traj, "trapezoid")
    assert np.allclose(a, want[0], rtol=1e-12, atol=0)

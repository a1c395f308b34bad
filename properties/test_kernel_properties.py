"""Properties of tangent and path kernels: the claims ``kernel.psd`` and ``kernel.rules`` on
drawn models, data and paths (Def. 1 and Def. 2).

Each test calls the claim's own check (:func:`pkverify.claims.kernel.check_gram`,
:func:`pkverify.claims.kernel.check_rules`) — its tolerances, with their reasons, are written
there once: tangent-kernel Grams ``J Jᵀ`` and Riemann/trapezoid path-kernel Grams
``Σ_s c_s J_s J_sᵀ`` (``c_s ≥ 0``) are symmetric and positive semi-definite whatever the
architecture or data — including duplicate and collinear points, which make them singular —
and a path kernel equals its sum ``Σ_s c_s K^g_{w_s}`` written out by hand.
"""

from __future__ import annotations

from hypothesis import given, note, settings
from hypothesis import strategies as st

import pkverify as pk
from pkverify.claims.kernel import check_gram, check_rules
from pkverify.strategies import (
    architectures,
    datasets,
    linear_models,
    seeds,
    training_problems,
    two_layer_models,
)


def _examples(fraction: float, minimum: int = 3) -> settings:
    return settings(max_examples=max(minimum, round(settings.default.max_examples * fraction)))


def any_model(d: int) -> st.SearchStrategy[pk.models.Model]:
    """Every model family for input dimension d: MLPs (1–3 hidden layers, width 1–32, 1–2
    outputs, every activation), ntk-notes two-layer nets, and linear models."""
    return st.one_of(
        architectures(dim=d, outputs=(1, 2)),
        two_layer_models(dim=d),
        linear_models(dim=d),
    )


def assert_claim(outcome) -> None:
    note(f"{outcome.message}; {outcome.metrics}")
    assert outcome.passed, outcome.message


@given(st.data(), datasets(n=(1, 16), dim=(1, 5)), seeds())
def test_tangent_kernel_gram_is_symmetric_psd(data, dataset, seed):
    X, _ = dataset
    model = data.draw(any_model(X.shape[1]), label="model")
    assert_claim(check_gram(pk.tangent_kernel(model, model.init(seed), X), "K^g(X, X)"))


@_examples(0.75)
@given(
    training_problems(n=(1, 16), dim=(1, 5), max_width=32),
    st.sampled_from(["riemann", "trapezoid"]),
)
def test_path_kernel_gram_is_symmetric_psd(problem, rule):
    traj = problem.train()
    K = pk.path_kernel(traj, problem.X, rule=rule)
    assert_claim(check_gram(K, f"K^p(X, X), rule={rule}"))


@_examples(0.5)
@given(
    st.data(),
    training_problems(n=(1, 8), dim=(1, 3)),
    st.sampled_from(["riemann", "trapezoid"]),
)
def test_path_kernel_matches_sum_of_tangent_kernels(data, problem, rule):
    """The streamed path kernel equals ``Σ_s c_s K^g_{w_s}(X1, X2)`` with hand-written weights
    and reference-engine tangent kernels at every recorded step (claim ``kernel.rules``)."""
    traj = problem.train()
    Xq, _ = data.draw(datasets(n=(1, 4), dim=problem.X.shape[1]), label="queries")
    assert_claim(check_rules(traj, Xq, problem.X, rules=(rule,)))

"""The linear reduction (claim ``linear.reduction``; Domingos 2020 §3, Remark 1).

For ``f = w·φ(x) (+ b)`` the tangent kernel is ``φ(x)·φ(x') (+ 1)`` at every ``w``, so every
path-kernel rule gives ``K^p = T (φ(x)·φ(x') (+ 1))`` with ``T = Σ_s ε_s``, and the
coefficients ``a_i(x) = −Σ_s c_s ℓ'_i(s) / Σ_s c_s`` do not depend on the query ``x``.

Tolerances: entries are compared relative to their natural size
``Σ_p |φ_p(x) φ_p(x')| (+ 1)`` (a dot product's rounding is relative to the sum of |terms|,
not to the result, which may cancel to 0): 1e-12 for the kernels — float64 rounding of a dot
product, summed over ≤ 8 steps. For ``a_i(x)`` the error of the ratio grows with the
cancellation ``cond = (Σ_p |φ_p(x) φ_p(x_i)| + 1) / |φ(x)·φ(x_i) + 1|``, so the tolerance
is 1e-12·cond·max|ℓ'_i|; pairs with ``cond > 1e8`` are 0/0 (the kernel vanishes, a_i K^p ≈ 0
whatever a_i is) and are not compared.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

import pkverify as pk
from pkverify.strategies import datasets, linear_models, seeds, training_problems

KERNEL_RTOL = 1e-12  # rounding of a dot product (relative to Σ|terms|), ≤ 8 steps summed
A_RTOL = 1e-12  # rounding of a ratio of two such sums, times the cancellation `cond`
DEGENERATE_COND = 1e8  # beyond this the pair's kernel is 0 to rounding: a_i is 0/0 there
UNDERFLOW = 1e-290  # below float64's normal range (2.2e-308, with margin) rounding is absolute


def _examples(fraction: float, minimum: int = 3) -> settings:
    return settings(max_examples=max(minimum, round(settings.default.max_examples * fraction)))


def features(model: pk.models.Model, X: np.ndarray) -> np.ndarray:
    """``φ(X)`` of a linear model, without the bias column."""
    return np.asarray(model.phi(X), dtype=np.float64)


def feature_gram(model, X1, X2):
    """``(φ(X1) φ(X2)ᵀ (+ 1), |φ(X1)| |φ(X2)|ᵀ (+ 1))``: the expected kernel and the sum of
    the |terms| of each dot product, to which its rounding is relative (a ‖φ‖‖φ'‖ bound would
    underflow for entries like 1e-200 whose products are still representable as 0)."""
    P1, P2 = features(model, X1), features(model, X2)
    b = 1.0 if model.bias else 0.0
    gram = P1 @ P2.T + b
    scale = np.abs(P1) @ np.abs(P2).T + b
    return gram, scale


def linear_problems(**kwargs):
    return training_problems(
        models=lambda d: linear_models(dim=d), n=(1, 16), dim=(1, 5), scale=2.0, **kwargs
    )


@given(st.data(), datasets(n=(1, 16), dim=(1, 5)), seeds())
def test_linear_tangent_kernel_is_feature_gram(data, dataset, seed):
    X, _ = dataset
    model = data.draw(linear_models(dim=X.shape[1]), label="model")
    Xq, _ = data.draw(datasets(n=(1, 6), dim=X.shape[1]), label="queries")
    K = pk.tangent_kernel(model, model.init(seed), Xq, X)
    want, scale = feature_gram(model, Xq, X)
    err = np.abs(K - want)
    note(f"max |K^g − (φφ' + b)| / scale = {np.max(err / np.maximum(scale, 1e-300)):.3g}")
    assert np.all(err <= KERNEL_RTOL * scale + UNDERFLOW)


@_examples(0.75)
@given(st.data(), linear_problems(), st.sampled_from(["riemann", "trapezoid", "exact"]))
def test_linear_path_kernel_is_T_times_feature_gram(data, problem, rule):
    traj = problem.train()
    Xq, _ = data.draw(datasets(n=(1, 6), dim=problem.X.shape[1]), label="queries")
    K = pk.path_kernel(traj, Xq, problem.X, rule=rule)
    gram, scale = feature_gram(traj.model, Xq, problem.X)
    err = np.abs(K - traj.T * gram)
    note(
        f"T = {traj.T:.6g}; max |K^p − T(φφ' + b)| / (T scale) = "
        f"{np.max(err / np.maximum(traj.T * scale, 1e-300)):.3g}"
    )
    assert np.all(err <= KERNEL_RTOL * traj.T * scale + UNDERFLOW)


def expected_a(traj, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """``a_i = −Σ_s C[s, i] ℓ'_i(w_s) / Σ_s C[s, i]`` from the rule's node weights, written out
    independently of the core, and ``max_s |ℓ'_i(w_s)|``; NaN where i never entered a batch."""
    S, n = traj.batches.shape
    I = traj.batches.astype(np.float64)
    eps = traj.step_sizes[:, None]
    C = np.zeros((S + 1, n))
    if rule == "trapezoid":
        C[:S] += 0.5 * eps * I
        C[1:] += 0.5 * eps * I
    else:  # riemann, and exact (the exact kernel of a linear model is ε_s K at w_s)
        C[:S] = eps * I
    dl = np.array([traj.loss.deriv(traj.model.f(w, traj.X), traj.Y) for w in traj.ws])
    total = C.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(total > 0, -(C * dl).sum(axis=0) / total, np.nan)
    return a, np.max(np.abs(dl), axis=0)


@_examples(0.75)
@given(
    st.data(),
    linear_problems(),
    st.sampled_from(["riemann", "trapezoid", "exact"]),
)
def test_linear_a_does_not_depend_on_x(data, problem, rule):
    """Remark 1: for a linear model ``a_i(x)`` is the same at every query (also for SGD)."""
    n = problem.X.shape[0]
    batch_size = data.draw(st.none() | st.integers(1, n), label="batch_size")
    if rule == "trapezoid":
        batch_size = None  # the trapezoid of an SGD path mixes two batches per node
    traj = problem.train(batch_size=batch_size)
    Xq, _ = data.draw(datasets(n=(1, 6), dim=problem.X.shape[1]), label="queries")
    Xq = np.vstack([problem.X, Xq])
    km = pk.kernel_machine(traj, rule=rule)
    a = km.a(Xq)
    want, dl_max = expected_a(traj, rule)
    gram, scale = feature_gram(traj.model, Xq, problem.X)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = scale / np.abs(gram)
    # pairs whose kernel scale, or the numerator Σ c K ℓ' (kernel times |ℓ'|), falls below
    # the normal float range lose relative accuracy to underflow (x ~ 1e-181 gives
    # K ~ 1e-181 and ℓ' ~ 1e-181: their product is 0); like cancelled pairs, a_i K^p ≈ 0
    # there whatever a_i is
    compare = (
        (np.nan_to_num(cond, nan=np.inf) <= DEGENERATE_COND)
        & (scale > UNDERFLOW)
        & (scale * dl_max[None, :] > UNDERFLOW)
        & np.isfinite(want)[None, :]
    )
    err = np.abs(a - want[None, :])
    tol = A_RTOL * cond * dl_max[None, :]
    note(f"a_i(x) rows:\n{a}\nexpected {want}\ncond max {np.max(np.where(compare, cond, 0)):.3g}")
    assert np.all(err[compare] <= tol[compare])


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

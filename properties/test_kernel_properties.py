"""Properties of tangent and path kernels (claim ``kernel.psd``; Def. 1 and Def. 2).

Tangent-kernel Grams ``J Jᵀ`` and Riemann/trapezoid path-kernel Grams ``Σ_s c_s J_s J_sᵀ``
(``c_s ≥ 0``) are symmetric and positive semi-definite whatever the architecture or data —
including duplicate and collinear points, which make them singular.

Tolerances:
* symmetry 1e-12 relative (Frobenius): each entry is one dot product, computed the same way
  for (i, j) and (j, i) up to summation order;
* PSD: min eigenvalue ≥ −1e-10·‖K‖₂: a Gram of rank ≤ P whose zero eigenvalues come out of
  ``eigvalsh`` as ±(n·u·‖K‖₂), u = 2.2e-16, with n ≤ 48 rows here;
* a path kernel against its plain reference ``Σ_s c_s K^g_{w_s}``: 1e-12 relative (the same
  dot products, summed over ≤ 8 steps in another order).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

import pkverify as pk
from pkverify.strategies import (
    architectures,
    datasets,
    linear_models,
    seeds,
    training_problems,
    two_layer_models,
)

SYMMETRY_RTOL = 1e-12  # one dot product per entry, summed in a different order for (j, i)
PSD_RTOL = 1e-10  # eigvalsh rounding of the zero eigenvalues of a rank ≤ P Gram
REFERENCE_RTOL = 1e-12  # the same dot products summed over ≤ 8 steps in another order


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


def gram_matrix(K: np.ndarray) -> np.ndarray:
    """An ``(n, n)`` or ``(n, n, k, k)`` kernel as the ``(n k, n k)`` Gram of all outputs."""
    if K.ndim == 2:
        return K
    n, _, k, _ = K.shape
    return K.transpose(0, 2, 1, 3).reshape(n * k, n * k)


def assert_symmetric_psd(K: np.ndarray, what: str) -> None:
    G = gram_matrix(K)
    assert np.all(np.isfinite(G)), f"{what} has non-finite entries"
    asym = np.linalg.norm(G - G.T)
    size = np.linalg.norm(G)
    note(f"{what}: ‖K − Kᵀ‖_F = {asym:.3g}, ‖K‖_F = {size:.3g}")
    assert asym <= SYMMETRY_RTOL * size, f"{what} not symmetric: {asym:.3g} vs ‖K‖ {size:.3g}"
    eig = np.linalg.eigvalsh(0.5 * (G + G.T))
    norm2 = float(np.max(np.abs(eig))) if eig.size else 0.0
    note(f"{what}: eigenvalues {eig}")
    # floor: a Gram whose entries are subnormal (x ~ 1e-160 squares to ~1e-320) has
    # eigenvalues with absolute rounding of a few subnormal ulps (5e-324 each)
    assert eig[0] >= -PSD_RTOL * norm2 - 1e-300, (
        f"{what} not PSD: min eigenvalue {eig[0]:.3g} < −{PSD_RTOL:g}·‖K‖₂"
    )


@given(st.data(), datasets(n=(1, 16), dim=(1, 5)), seeds())
def test_tangent_kernel_gram_is_symmetric_psd(data, dataset, seed):
    X, _ = dataset
    model = data.draw(any_model(X.shape[1]), label="model")
    K = pk.tangent_kernel(model, model.init(seed), X)
    assert_symmetric_psd(K, "K^g(X, X)")


@_examples(0.75)
@given(
    training_problems(n=(1, 16), dim=(1, 5), max_width=32),
    st.sampled_from(["riemann", "trapezoid"]),
)
def test_path_kernel_gram_is_symmetric_psd(problem, rule):
    traj = problem.train()
    K = pk.path_kernel(traj, problem.X, rule=rule)
    assert_symmetric_psd(K, f"K^p(X, X), rule={rule}")


@_examples(0.5)
@given(
    st.data(),
    training_problems(n=(1, 8), dim=(1, 3)),
    st.sampled_from(["riemann", "trapezoid"]),
)
def test_path_kernel_matches_sum_of_tangent_kernels(data, problem, rule):
    """The streamed path kernel equals the plain ``Σ_s c_s K^g_{w_s}(X1, X2)`` built from
    :func:`pk.tangent_kernel` (the reference implementation) at every recorded step."""
    traj = problem.train()
    Xq, _ = data.draw(datasets(n=(1, 4), dim=problem.X.shape[1]), label="queries")
    got = pk.path_kernel(traj, Xq, problem.X, rule=rule)
    eps = traj.step_sizes
    c = np.zeros(traj.steps + 1)
    if rule == "riemann":
        c[:-1] = eps
    else:
        c[:-1] += eps / 2
        c[1:] += eps / 2
    want = sum(
        c[s] * pk.tangent_kernel(traj.model, traj.ws[s], Xq, problem.X) for s in range(len(c))
    )
    scale = sum(
        c[s] * np.linalg.norm(pk.tangent_kernel(traj.model, traj.ws[s], Xq, problem.X))
        for s in range(len(c))
    )
    err = np.linalg.norm(got - want)
    note(f"‖K^p − Σ c_s K^g_s‖_F = {err:.3g}, Σ c_s ‖K^g_s‖_F = {scale:.3g}")
    assert err <= REFERENCE_RTOL * scale + 1e-300

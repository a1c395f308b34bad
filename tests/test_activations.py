"""Activations σ, their derivatives, and the NTK constants c_σ = 1 / E[σ(z)²]."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
from autograd import elementwise_grad

from pkverify import activations as A
from pkverify.errors import UnknownNameError

Z = np.linspace(-4.0, 4.0, 41) + 0.0137  # offset keeps every point away from relu's kink

REFERENCE = {
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "tanh": np.tanh,
    "softplus": lambda z: np.log1p(np.exp(z)),
    "erf": scipy.special.erf,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "identity": lambda z: z,
}


def test_the_documented_activations_are_all_there():
    assert set(A.ACTIVATIONS) == set(REFERENCE)
    assert A.KINKED == {"relu"}
    assert A.SMOOTH == set(REFERENCE) - {"relu"}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_match_a_numpy_reference(name):
    # 1e-14: float64 rounding of a few elementary operations on O(1) values
    np.testing.assert_allclose(A.activation(name)(Z), REFERENCE[name](Z), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_derivatives_match_central_differences(name):
    h = 1e-6
    fd = (REFERENCE[name](Z + h) - REFERENCE[name](Z - h)) / (2 * h)
    # 1e-8: O(h²)=1e-12 truncation plus rounding eps/h ≈ 2e-10, with headroom
    np.testing.assert_allclose(elementwise_grad(A.activation(name))(Z), fd, atol=1e-8)


def test_softplus_is_finite_for_large_inputs():
    out = A.activation("softplus")(np.array([-800.0, 800.0]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [0.0, 800.0], atol=1e-300)


def _gauss_hermite_second_moment(fn, nodes: int = 200) -> float:
    # E_{z~N(0,1)}[σ(z)²] with probabilists' Gauss–Hermite: ∫ g(z) e^{-z²/2} dz / sqrt(2π)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    return float(np.sum(w * fn(x) ** 2) / math.sqrt(2 * math.pi))


@pytest.mark.parametrize("name", ["tanh", "softplus", "erf", "sigmoid", "identity"])
def test_c_sigma_matches_gauss_hermite(name):
    expected = 1.0 / _gauss_hermite_second_moment(REFERENCE[name])
    # 1e-10: 200-node Gauss–Hermite is converged far below this for these analytic σ²
    assert A.c_sigma(name) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    "name, value",
    [
        ("relu", 2.0),  # E[relu(z)²] = 1/2
        ("identity", 1.0),  # E[z²] = 1
        ("erf", math.pi / (2 * math.asin(2 / 3))),  # E[erf(z)²] = (2/π) arcsin(2/3)
    ],
)
def test_c_sigma_closed_forms(name, value):
    assert A.c_sigma(name) == pytest.approx(value, rel=1e-15)


def test_c_sigma_relu_by_monte_carlo():
    z = np.random.default_rng(0).standard_normal(400_000)
    second = np.mean(np.maximum(z, 0.0) ** 2)
    # 1e-2: Monte-Carlo standard error of the mean of relu(z)² is ~sqrt(1.25/4e5) ≈ 1.8e-3
    assert 1.0 / second == pytest.approx(A.c_sigma("relu"), rel=1e-2)


@pytest.mark.parametrize("bad", ["gelu", "Tanh", "", None, 3])
def test_unknown_activation_lists_the_known_ones(bad):
    with pytest.raises(UnknownNameError, match="unknown activation.*expected one of.*'tanh'"):
        A.activation(bad)
    with pytest.raises(UnknownNameError):
        A.c_sigma(bad) if isinstance(bad, str) else A.check_activation(bad)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_closed_form_derivatives_match_central_differences(name):
    h = 1e-6
    fd = (REFERENCE[name](Z + h) - REFERENCE[name](Z - h)) / (2 * h)
    # 1e-8: O(h²)=1e-12 truncation plus rounding eps/h ≈ 2e-10, with headroom
    np.testing.assert_allclose(A.DERIVATIVES[name](Z), fd, atol=1e-8)


def test_relu_derivative_at_the_tie_follows_autograd():
    # training differentiates with autograd and the kernels may use DERIVATIVES: if the two
    # disagreed at z = 0 exactly, the exact rule would stop reproducing training there
    z = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(
        A.DERIVATIVES["relu"](z), elementwise_grad(A.activation("relu"))(z)
    )

"""Infinite-width derivations, the derive CLI, and the symbolic claims (quick mode)."""


import numpy as np
import pytest
import sympy as sp

from pkverify import ntk
from pkverify.errors import InvalidArgumentError, UnknownNameError
from pkverify.symbolic import infinite


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_derivation_steps_verify(act):
    results = infinite.derivation(act)
    assert len(results) == 3 and all(r.ok for r in results)


def _abc(X1, X2):
    return ((X1**2).sum(1)[:, None], (X2**2).sum(1)[None, :], X1 @ X2.T)


@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_symbolic_recursion_equals_numeric(act, depth):
    rng = np.random.default_rng(depth)
    X1, X2 = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))  # off-diagonal: ρ < 1
    a, b, c = _abc(X1, X2)
    for kind in ("ntk", "nngp"):
        f = sp.lambdify((infinite.a, infinite.b, infinite.c), infinite.deep_ntk(act, depth)[kind])
        # two evaluations of the same float64 formula in different order
        np.testing.assert_allclose(f(a, b, c), ntk.mlp_limit(X1, X2, depth, act, kind),
                                   rtol=1e-11, atol=1e-13)
    f = sp.lambdify((infinite.a, infinite.b, infinite.c), infinite.h_star(act))
    np.testing.assert_allclose(f(a, b, c), ntk.two_layer_limit(X1, X2, act), rtol=1e-12,
                               atol=1e-14)


def test_infinite_bad_input():
    with pytest.raises(UnknownNameError):
        infinite.dual_kernel("tanh")
    with pytest.raises(UnknownNameError):
        infinite.deep_ntk("tanh", 1)
    with pytest.raises(InvalidArgumentError):
        infinite.deep_ntk("relu", 0)
    with pytest.raises(UnknownNameError):
        infinite.derivation("softplus")


@pytest.mark.parametrize("cid", ["symbolic.tangent_agrees", "symbolic.ntk_infinite",
                                 "symbolic.proof_steps", "symbolic.linear_path_kernel"])
def test_claims_pass_quick(cid):
    from pkverify.claims import CheckConfig, get

    result = get(cid).run(CheckConfig(seed=0, quick=True))
    assert result.status == "pass", result.message
    assert "—" in result.tolerance  # the tolerance carries its reason

"""Proof steps: all verified; a flipped sign in any step fails; the step machinery itself."""

import pytest
import sympy as sp

from pkverify.errors import UnknownNameError
from pkverify.symbolic.linear_flow import (
    linear_flow_steps,
    solve_linear_flow,
    verify_linear_flow,
)
from pkverify.symbolic.proof import LEMMA1_KEYS, THEOREM1_KEYS, verify_proof
from pkverify.symbolic.steps import Step, vanishes


@pytest.mark.parametrize("name,keys", [("theorem1", THEOREM1_KEYS), ("lemma1", LEMMA1_KEYS)])
def test_every_step_verifies(name, keys):
    results = verify_proof(name)
    assert [r.key for r in results] == list(keys)
    assert all(r.ok for r in results), [(r.key, r.detail) for r in results if not r.ok]
    assert all(r.method in ("simplify", "points") and r.sentence and r.latex for r in results)


@pytest.mark.parametrize("key", THEOREM1_KEYS)
def test_theorem1_flipped_sign_fails(key):
    results = {r.key: r for r in verify_proof("theorem1", flip=key)}
    assert not results[key].ok and results[key].mark == "✗"
    assert all(r.ok for k, r in results.items() if k != key)


@pytest.mark.parametrize("key", LEMMA1_KEYS)
def test_lemma1_flipped_sign_fails(key):
    results = {r.key: r for r in verify_proof("lemma1", flip=key)}
    assert not results[key].ok


def test_unknown_proof_and_step():
    with pytest.raises(UnknownNameError, match="proof"):
        verify_proof("theorem2")
    with pytest.raises(UnknownNameError, match="step"):
        verify_proof("theorem1", flip="nonsense")


def test_vanishes_methods():
    x, y = sp.symbols("x y", real=True)
    assert vanishes([sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1])[:2] == (True, "simplify")
    ok, method, _ = vanishes([sp.tanh(x + y) - sp.tanh(x + y) + x - x], "points")
    assert ok and method == "points"
    ok, method, detail = vanishes([(x + y) ** 2 - x**2 - y**2], "points")
    assert not ok and "not 0" in detail
    assert not vanishes([(x + y) ** 2 - x**2 - y**2], "simplify")[0]
    assert not vanishes([sp.exp(x) - 1 - x])[0]  # refuted at a rational point (50 digits)


def test_step_records_failure():
    x = sp.Symbol("x")
    r = Step("k", "s", "x = -x", (2 * x,), method="simplify").verify()
    assert not r.ok and r.method == "simplify"


def test_linear_flow_identities_and_flip():
    assert all(r.ok for r in verify_linear_flow())
    flipped = {r.key: r.ok for r in verify_linear_flow(True)}
    assert flipped == {"ode": True, "constant_kernel": True, "path_kernel": True,
                       "theorem1_exact": False}


def test_linear_flow_other_data_and_bad_data():
    from pkverify.errors import InvalidArgumentError, SymbolicError
    from pkverify.symbolic.steps import verify_steps

    fl = solve_linear_flow(((1, 0), (1, 1), (0, 1)), (1, 2, -1), False)  # A eigenvalues 3, 1
    assert all(r.ok for r in verify_steps(linear_flow_steps(fl)))
    with pytest.raises(SymbolicError, match="irrational eigenvalues"):
        solve_linear_flow(((0,), (1,)), (1, 1), True)
    with pytest.raises(SymbolicError):
        solve_linear_flow(((1, 2, 3),), (1,), True)
    with pytest.raises(InvalidArgumentError):
        solve_linear_flow(((1,), (2,)), (1,), True)
    with pytest.raises(InvalidArgumentError, match="plain numbers"):
        solve_linear_flow(((sp.Symbol("q"),),), (1,), True)

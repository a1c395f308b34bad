"""Infinite-width derivations, the derive CLI, and the symbolic claims (quick mode)."""

import argparse
import io

import numpy as np
import pytest
import sympy as sp

from pkverify import ntk
from pkverify.errors import InvalidArgumentError, PkVerifyError, UnknownNameError
from pkverify.symbolic import infinite
from pkverify.symbolic.cli import add_derive_parser, run_derive


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


def _parse(argv):
    p = argparse.ArgumentParser()
    add_derive_parser(p.add_subparsers())
    return p.parse_args(["derive", *argv])


def _run(argv):
    buf = io.StringIO()
    code = run_derive(_parse(argv), out=buf)
    return code, buf.getvalue()


def test_derive_model_text():
    code, text = _run(["--model", "two_layer", "--width", "2", "--activation", "tanh"])
    assert code == 0
    assert "∂f/∂w_11" in text and "Tangent kernel" in text and "tanh" in text


@pytest.mark.parametrize("fmt,marker", [("latex", "\\max"), ("mathml", "<m")])
def test_derive_model_formats(fmt, marker):
    code, text = _run(["--model", "mlp", "--width", "2", "--depth", "1", "--activation", "relu",
                       "--format", fmt])
    assert code == 0 and marker in text


def test_derive_linear():
    code, text = _run(["--model", "linear", "--dim", "2"])
    assert code == 0 and "[b]" in text


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_derive_ntk(act):
    code, text = _run(["--ntk", act, "--depth", "2"])
    assert code == 0 and "H*" in text and "✓" in text and "✗" not in text


@pytest.mark.parametrize("proof", ["theorem1", "lemma1"])
def test_derive_proof(proof):
    code, text = _run(["--proof", proof])
    assert code == 0 and text.count("✓") >= 4 and "All steps verified" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "cnn"],
        ["--model", "two_layer", "--activation", "gelu"],
        ["--model", "two_layer", "--width", "50"],
        ["--model", "mlp", "--depth", "3"],
        ["--model", "two_layer", "--width", "0"],
        ["--ntk", "tanh"],
        ["--proof", "theorem9"],
        ["--model", "linear", "--format", "pdf"],
    ],
)
def test_derive_bad_arguments(argv):
    with pytest.raises(PkVerifyError):
        _run(argv)


def test_run_derive_needs_exactly_one_target():
    with pytest.raises(InvalidArgumentError):
        run_derive(argparse.Namespace(model=None, ntk=None, proof=None, format="text"))


@pytest.mark.parametrize("cid", ["symbolic.tangent_agrees", "symbolic.ntk_infinite",
                                 "symbolic.proof_steps", "symbolic.linear_path_kernel"])
def test_claims_pass_quick(cid):
    from pkverify.claims import CheckConfig, get

    result = get(cid).run(CheckConfig(seed=0, quick=True))
    assert result.status == "pass", result.message
    assert "—" in result.tolerance  # the tolerance carries its reason

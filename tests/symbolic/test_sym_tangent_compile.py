"""Closed-form tangent kernels vs autograd; compile cache; CuPy path."""

import time

import numpy as np
import pytest
import sympy as sp

from pkverify.backend import cupy_available
from pkverify.errors import BackendMissingError, InvalidArgumentError, ShapeError
from pkverify.kernels.tangent import tangent_kernel as numeric_kernel
from pkverify.symbolic import models as sm
from pkverify.symbolic.compile import cache_info, compile_expr
from pkverify.symbolic.tangent import derive, tangent_kernel

# float64 evaluations of the same sums in different order: rounding only (see the claim).
TOL = 1e-12


def _rel(A, B):
    return np.linalg.norm(A - B) / np.linalg.norm(B)


@pytest.mark.parametrize("act", ["relu", "tanh", "softplus", "erf", "sigmoid", "identity"])
def test_two_layer_m4_agrees_and_is_fast(act):
    model = sm.two_layer(2, 4, act, seed=3)
    start = time.perf_counter()
    tk = tangent_kernel(model)
    # speed target of issue 3: "a few seconds" for m = 4 (measured ~0.1–0.3 s)
    assert time.perf_counter() - start < 5.0
    rng = np.random.default_rng(7)
    w = rng.standard_normal(model.n_params)
    X1, X2 = rng.standard_normal((5, 2)), rng.standard_normal((3, 2))
    K = tk(w, X1, X2)
    assert K.shape == (5, 3)
    assert _rel(K, numeric_kernel(model.numeric(), w, X1, X2)) <= TOL
    assert _rel(K, numeric_kernel(model.numeric(), w, X1, X2, implementation="reference")) <= TOL


def test_two_layer_closed_form_is_readable():
    tk = tangent_kernel(sm.two_layer(2, 2, "relu", signs=[1, -1]))
    x, xp = tk.model.x, tk.model.xp
    w = tk.model.params
    expected = sum(
        sp.Heaviside(w[2 * r] * x[0] + w[2 * r + 1] * x[1])
        * sp.Heaviside(w[2 * r] * xp[0] + w[2 * r + 1] * xp[1])
        for r in range(2)
    ) * (x[0] * xp[0] + x[1] * xp[1]) / 2
    assert sp.expand(tk.kernel - expected) == 0  # (1/m) Σ_r σ'σ' xᵀx', a_r² = 1
    assert [label for label, _ in tk.blocks] == ["w_1", "w_2"]


def test_linear_kernel_is_feature_dot_product():
    tk = tangent_kernel(sm.linear(2, bias=True, degree=2))
    x, xp = tk.model.x, tk.model.xp
    phi = tk.model.info["features"]
    phip = [f.xreplace(dict(zip(x, xp))) for f in phi]
    assert sp.expand(tk.kernel - (sum(a * b for a, b in zip(phi, phip)) + 1)) == 0
    assert not (tk.kernel.free_symbols & set(tk.model.params))  # independent of w


@pytest.mark.parametrize("sizes,act,bias", [([2, 3, 1], "tanh", True), ([2, 3, 3, 1], "relu",
                                             True), ([3, 2, 2, 1], "sigmoid", False)])
def test_mlp_agrees(sizes, act, bias):
    model = sm.mlp(sizes, act, bias=bias)
    tk = tangent_kernel(model)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(model.n_params)
    X = rng.standard_normal((4, sizes[0]))
    assert _rel(tk(w, X), numeric_kernel(model.numeric(), w, X)) <= TOL


def test_gradient_function_matches_autograd_jacobian():
    from pkverify.kernels.tangent import jacobian

    model = sm.mlp([2, 2, 1], "erf", bias=True)
    tk = tangent_kernel(model)
    rng = np.random.default_rng(2)
    w, X = rng.standard_normal(model.n_params), rng.standard_normal((3, 2))
    J = tk.gradient_function()(w, X)
    np.testing.assert_allclose(J, jacobian(model.numeric(), w, X)[:, 0, :], rtol=1e-13,
                               atol=1e-15)


def test_derivation_is_cached():
    a = derive("two_layer", dim=2, width=3, activation="tanh")
    b = derive("two_layer", dim=2, width=3, activation="tanh")
    assert a is b
    c = derive("two_layer", dim=2, width=3, activation="erf")
    assert c is not a


def test_compile_cache_hits():
    z = sp.Symbol("z")
    before = cache_info().hits
    f1 = compile_expr(sp.tanh(z) ** 2, (z,))
    f2 = compile_expr(sp.tanh(z) ** 2, (z,))
    assert f1 is f2 and cache_info().hits > before


def test_kernel_rejects_bad_input():
    tk = tangent_kernel(sm.two_layer(2, 2, "tanh"))
    with pytest.raises(ShapeError):
        tk(np.zeros(3), np.zeros((2, 2)))
    with pytest.raises(ShapeError):
        tk(np.zeros(4), np.zeros((2, 3)))
    with pytest.raises(InvalidArgumentError):
        tk(np.zeros(4), np.array([[np.nan, 1.0]]))
    with pytest.raises(InvalidArgumentError, match="SymbolicModel"):
        tangent_kernel("two_layer")
    with pytest.raises(InvalidArgumentError, match="numbers"):
        tk([sp.Symbol("a"), 1, 2, 3], np.zeros((2, 2)))
    with pytest.raises(InvalidArgumentError, match="numbers"):
        tk(np.zeros(4), [["x", "y"]])
    with pytest.raises(InvalidArgumentError, match="numbers"):
        tk.gradient_function()(np.zeros(4), [[sp.pi * sp.Symbol("q"), 1]])


@pytest.mark.skipif(cupy_available(), reason="CuPy is installed: the missing-backend error "
                    "cannot be provoked here")
def test_cupy_missing_is_a_clear_error():
    tk = tangent_kernel(sm.two_layer(2, 2, "relu"))
    with pytest.raises(BackendMissingError, match="cupy"):
        tk(np.zeros(4), np.ones((2, 2)), backend="cupy")


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="CuPy is not importable or sees no GPU")
@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_cupy_matches_numpy(act):  # pragma: no cover - needs a GPU
    import cupy

    tk = tangent_kernel(sm.two_layer(2, 3, act))
    rng = np.random.default_rng(0)
    w, X = rng.standard_normal(6), rng.standard_normal((4, 2))
    K_gpu = cupy.asnumpy(tk(w, X, backend="cupy"))
    assert _rel(K_gpu, tk(w, X)) <= TOL

"""pkverify.ntk: closed forms vs quadrature, wide networks, and input validation."""

import math

import numpy as np
import pytest

from pkverify import models, ntk
from pkverify.errors import InvalidArgumentError, NonFiniteError, ShapeError, UnknownNameError
from pkverify.kernels.tangent import tangent_kernel


def _abc(rng, n=5):
    X = rng.standard_normal((n, 3)) * rng.uniform(0.3, 2.0, (n, 1))
    Y = rng.standard_normal((n + 1, 3))
    return X, Y, (X**2).sum(1)[:, None], (Y**2).sum(1)[None, :], X @ Y.T


def test_relu_h_star_unit_inputs_formula():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    G = np.clip(X @ X.T, -1, 1)
    np.testing.assert_allclose(ntk.two_layer_limit(X, None, "relu"),
                               G * (math.pi - np.arccos(G)) / (2 * math.pi), atol=1e-15)
    np.testing.assert_allclose(np.diag(ntk.two_layer_limit(X, X, "relu")), 0.5)


def test_general_norm_scaling():
    # H* is homogeneous of degree 2 in (x, x') for relu: scale x by s, x' by t -> s t H*
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    np.testing.assert_allclose(ntk.two_layer_limit(2 * X, 3 * Y, "relu"),
                               6 * ntk.two_layer_limit(X, Y, "relu"), rtol=1e-13)


@pytest.mark.parametrize("act", ["erf", "identity"])
def test_closed_forms_vs_quadrature(act):
    from scipy import special

    rng = np.random.default_rng(2)
    _, _, a, b, c = _abc(rng)
    V, D = ntk.dual_kernels(act)
    if act == "erf":
        # erf is entire: the trapezoid rule is exact to ~1e-13 here
        s, ds = special.erf, (lambda z: 2 / math.sqrt(math.pi) * np.exp(-z * z))
        np.testing.assert_allclose(V(a, b, c), ntk.gaussian_expectation(s, s, a, b, c),
                                   rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(D(a, b, c), ntk.gaussian_expectation(ds, ds, a, b, c),
                                   rtol=1e-11, atol=1e-13)
    else:
        np.testing.assert_allclose(V(a, b, c), ntk.gaussian_expectation(
            lambda z: z, lambda z: z, a, b, c), rtol=1e-12, atol=1e-13)


def test_relu_closed_form_vs_adaptive_quadrature():
    from pkverify.claims.symbolic import _relu_quad

    rng = np.random.default_rng(7)
    _, _, a, b, c = _abc(rng, 3)
    _, D = ntk.dual_kernels("relu")
    expected = np.vectorize(_relu_quad)(a + 0 * c, b + 0 * c, c)
    np.testing.assert_allclose(D(a, b, c), expected, rtol=1e-10, atol=1e-12)  # quad accuracy


@pytest.mark.parametrize("act", ["tanh", "softplus", "sigmoid"])
def test_quadrature_activations_vs_dblquad(act):
    from scipy import integrate

    V, D = ntk.dual_kernels(act)
    from pkverify.activations import activation

    sig = activation(act)
    a, b, c = 1.3, 0.7, 0.4
    beta, gamma = c / math.sqrt(a), math.sqrt(b - c * c / a)

    def f(z2, z1):
        return (float(sig(math.sqrt(a) * z1)) * float(sig(beta * z1 + gamma * z2))
                * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi))

    ref, _ = integrate.dblquad(f, -12, 12, -12, 12, epsabs=1e-12, epsrel=1e-11)
    assert float(V(a, b, c)) == pytest.approx(ref, rel=1e-9, abs=1e-10)  # quadrature accuracy
    # a large variance (step-like σ(√a z)) must stay accurate too
    a2, c2 = 30.0, 2.0
    beta, gamma = c2 / math.sqrt(a2), math.sqrt(b - c2 * c2 / a2)

    def f2(z2, z1):
        return (float(sig(math.sqrt(a2) * z1)) * float(sig(beta * z1 + gamma * z2))
                * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi))

    ref2, _ = integrate.dblquad(f2, -12, 12, -12, 12, epsabs=1e-12, epsrel=1e-11)
    assert float(V(a2, b, c2)) == pytest.approx(ref2, rel=1e-8, abs=1e-10)


def test_relu_kernels_in_range_and_diagonal():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 3))
    for depth in (1, 2, 3):
        nngp = ntk.mlp_limit(X, X, depth, "relu", kind="nngp")
        # c_σ = 2 keeps the diagonal: Σ^(h)(x, x) = ‖x‖² (ntk-notes eq. 18)
        np.testing.assert_allclose(np.diag(nngp), (X**2).sum(1), rtol=1e-12)
        assert np.linalg.eigvalsh(ntk.mlp_limit(X, X, depth, "relu")).min() > -1e-10


def _mean_err(make, limit, X, widths, seeds):
    errs = []
    for m in widths:
        e = []
        for s in range(seeds):
            model = make(m, s)
            K = tangent_kernel(model, model.init(s), X)
            e.append(np.linalg.norm(K - limit) / np.linalg.norm(limit))
        errs.append(np.mean(e))
    return np.array(errs)


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_two_layer_wide_net_converges(act):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((4, 3))
    H = ntk.two_layer_limit(X, X, act)
    widths = [250, 4000]
    errs = _mean_err(lambda m, s: models.two_layer(3, m, act, seed=s), H, X, widths, 4)
    # Monte-Carlo rate m^{-1/2}: 16× the width should cut the error by ~4 (allow ≥ 2)
    assert errs[-1] < 0.06 and errs[0] / errs[-1] > 2.0


@pytest.mark.parametrize("act,depth", [("relu", 1), ("erf", 1), ("softplus", 1), ("relu", 2)])
def test_mlp_wide_net_converges(act, depth):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 3))
    widths = [100, 1600] if depth == 1 else [64, 1024]
    Th = ntk.mlp_limit(X, X, depth, act)
    errs = _mean_err(lambda m, s: models.mlp([3] + [m] * depth + [1], act, bias=False), Th, X,
                     widths, 4)
    # rate m^{-1/2}: 16× width ⇒ ~4× smaller error; noisy with 4 seeds, so ask for ≥ 2×
    assert errs[-1] < 0.12 and errs[0] / errs[-1] > 2.0


def test_nngp_is_output_covariance():
    # Σ^(L)(x, x') = E[f(x) f(x')] at init: average f f' over many narrow-but-many nets
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3, 2))
    target = ntk.mlp_limit(X, X, 1, "erf", kind="nngp")
    model = models.mlp([2, 2000, 1], "erf", bias=False)
    outs = np.array([model.apply(model.init(s), X) for s in range(300)])
    emp = outs.T @ outs / len(outs)
    # 300 draws: relative standard error ~ sqrt(2/300) ≈ 0.08 of the entries' scale
    assert np.abs(emp - target).max() < 0.35 * np.abs(target).max()


@pytest.mark.parametrize(
    "call,err",
    [
        (lambda: ntk.two_layer_limit(np.zeros(3), None, "relu"), ShapeError),
        (lambda: ntk.two_layer_limit(np.ones((2, 3)), np.ones((2, 2)), "relu"), ShapeError),
        (lambda: ntk.two_layer_limit(np.array([[np.nan, 1.0]]), None, "relu"), NonFiniteError),
        (lambda: ntk.two_layer_limit(np.ones((2, 2)), None, "gelu"), UnknownNameError),
        (lambda: ntk.mlp_limit(np.ones((2, 2)), None, 0, "relu"), InvalidArgumentError),
        (lambda: ntk.mlp_limit(np.ones((2, 2)), None, 1.5, "relu"), InvalidArgumentError),
        (lambda: ntk.mlp_limit(np.ones((2, 2)), None, True, "relu"), InvalidArgumentError),
        (lambda: ntk.mlp_limit(np.ones((2, 2)), None, 1, "relu", kind="cntk"), UnknownNameError),
        (lambda: ntk.mlp_limit(np.empty((0, 2)), None, 1, "relu"), InvalidArgumentError),
    ],
)
def test_bad_input(call, err):
    with pytest.raises(err):
        call()


def test_zero_input_is_finite():
    X = np.array([[0.0, 0.0], [1.0, 2.0]])
    for act in ("relu", "erf", "tanh"):
        assert np.all(np.isfinite(ntk.mlp_limit(X, X, 2, act)))
        assert np.all(np.isfinite(ntk.two_layer_limit(X, X, act)))


# ---------------------------------------------------------------------------------------
# sizes and norms that cannot finish are refused up front; long runs show progress
# ---------------------------------------------------------------------------------------


def test_raw_pixel_rows_with_a_quadrature_activation_are_refused_at_once():
    import time

    from pkverify.errors import ResourceError

    X = np.random.default_rng(0).integers(0, 256, (10, 784)).astype(float)  # raw 0–255 pixels
    for call in (lambda: ntk.mlp_limit(X, activation="tanh"),
                 lambda: ntk.two_layer_limit(X, None, "softplus")):
        start = time.perf_counter()
        with pytest.raises(ResourceError, match=r"1/‖x‖.*pkverify\.ntk\.unit_rows"):
            call()
        assert time.perf_counter() - start < 2.0  # refused before the quadrature starts
    # closed forms cost the same at any norm; normalised rows are accepted for tanh
    assert np.all(np.isfinite(ntk.mlp_limit(X, activation="relu")))
    K = ntk.mlp_limit(ntk.unit_rows(X[:3]), activation="tanh")
    assert K.shape == (3, 3) and np.all(np.isfinite(K))


def test_an_output_that_does_not_fit_is_refused_before_any_work(monkeypatch):
    import time

    from pkverify import validation
    from pkverify.errors import ResourceError

    monkeypatch.setattr(validation, "available_memory", lambda: 8 * 2**30)
    X = np.random.default_rng(1).standard_normal((60_000, 3))  # a 28.8 GB Gram
    for call in (lambda: ntk.mlp_limit(X), lambda: ntk.two_layer_limit(X)):
        start = time.perf_counter()
        with pytest.raises(ResourceError, match=r"60000 × 60000.*Use fewer points"):
            call()
        assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("act,knob", [("relu", "BLOCK_ELEMENTS"), ("tanh", "BLOCK_ELEMENTS"),
                                      ("tanh", "BLOCK_WORK")])
def test_blocks_give_the_same_kernel_and_show_progress(monkeypatch, capsys, act, knob):
    from pkverify.ntk import limits

    rng = np.random.default_rng(8)
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3))
    whole = ntk.mlp_limit(X, None, 2, act)
    cross = ntk.mlp_limit(X, Y, 2, act)
    monkeypatch.setattr(limits, knob, 1)  # one row per block (by memory, or by work)
    blocked = ntk.mlp_limit(X, None, 2, act, progress=True)
    assert "mlp_limit" in capsys.readouterr().err  # a bar over the blocks
    assert np.array_equal(blocked, blocked.T)  # mirrored: exactly symmetric
    # the same elementwise formulas on sub-blocks; only the matmul xᵀx' may round differently
    np.testing.assert_allclose(blocked, whole, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ntk.mlp_limit(X, Y, 2, act), cross, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ntk.two_layer_limit(X, None, act),
                               ntk.two_layer_limit(X, X, act), rtol=1e-13, atol=1e-15)

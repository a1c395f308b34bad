"""float32 stays float32: every array the layer-wise engine derives from float32 weights and
inputs — traces, sensitivities, products, Grams, the kernel itself — is float32, so a float32
kernel never pays for float64 temporaries (issue 12: float32 keeps its speed).

The check is an ndarray subclass that records the dtype of every array derived from it
(ufunc and matmul results, views, reshapes): one float64 temporary anywhere is seen."""

from __future__ import annotations

import numpy as np
import pytest

import pkverify as pk
import pkverify.kernels.tangent as tangent_module
from pkverify.activations import NAMES
from pkverify.kernels.engines import engine_for


class DtypeSpy(np.ndarray):
    """An ndarray whose every derived array (and view) logs its dtype and shape in ``seen``."""

    seen: list[tuple[np.dtype, tuple[int, ...]]] = []

    def __array_finalize__(self, obj):
        DtypeSpy.seen.append((self.dtype, self.shape))


def spy(a: np.ndarray) -> DtypeSpy:
    return np.asarray(a, dtype=np.float32).view(DtypeSpy)


@pytest.fixture
def seen():
    DtypeSpy.seen = []
    yield DtypeSpy.seen
    DtypeSpy.seen = []


def widened(seen) -> list:
    """The float arrays that are not float32 (relu's masks are bool: no arithmetic cost)."""
    return [(dt, shape) for dt, shape in seen if dt.kind in "fc" and dt != np.float32]


def test_the_spy_sees_an_upcast(seen):
    x = spy(np.ones(3))
    y = x + np.zeros(3)  # float64 operand: NumPy widens the result
    assert y.dtype == np.float64
    assert widened(seen) and all(shape == (3,) for _, shape in widened(seen))


MODELS = {
    **{f"mlp_{act}_k3": (lambda a=act: pk.models.mlp([3, 6, 5, 3], a, seed=1)) for act in NAMES},
    "mlp_tanh_k1_nobias": lambda: pk.models.mlp([3, 6, 5, 1], "tanh", bias=False, seed=1),
    "two_layer_relu_fixed": lambda: pk.models.two_layer(3, 6, "relu", seed=1),
    "two_layer_erf_out": lambda: pk.models.two_layer(3, 6, "erf", train_output=True, seed=1),
    "linear": lambda: pk.models.linear(3),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_engine_products_stay_float32(name, seen):
    model = MODELS[name]()
    rng = np.random.default_rng(0)
    w = spy(model.init(2) + 0.1 * rng.standard_normal(model.n_params))
    delta = spy(0.05 * rng.standard_normal(model.n_params))
    X, Q = spy(rng.standard_normal((5, 3))), spy(rng.standard_normal((4, 3)))
    tau = spy(np.linspace(0.1, 0.9, 4))
    U = spy(rng.standard_normal((2, model.n_params)))
    eng = engine_for(model, "layerwise", np)
    results = [
        eng.kernel(w, X, w, X, same=True),  # a Gram, whole
        eng.kernel(w, X, w, X, same=True, batch_size=2),  # in row chunks, mirrored
        eng.kernel(w, Q, w, X),  # a cross kernel
        eng.cross(eng.side(w, Q, along=(delta, tau)), eng.side(w, X)),  # rows along a step
        *eng.value_and_vjp(w, X, lambda y: y - 0.5),  # the training step's gradient
        *eng.jvp(w, X, U),
        *eng.jvp(w, Q, U, along=(delta, tau)),
    ]
    assert all(r.dtype == np.float32 for r in results), [r.dtype for r in results]
    assert len(seen) > 20  # the spy followed the engine's arrays
    assert widened(seen) == []


def test_public_tangent_kernel_stays_float32(monkeypatch, seen):
    """From the entry point on: the checked inputs reach the engine as float32 spies."""
    convert = tangent_module.as_array_in
    monkeypatch.setattr(tangent_module, "as_array_in",
                        lambda *args, **kw: convert(*args, **kw).view(DtypeSpy))
    model = pk.models.mlp([3, 8, 8, 1], "tanh", seed=1)
    rng = np.random.default_rng(1)
    w = model.init(0).astype(np.float32)
    X = rng.standard_normal((6, 3)).astype(np.float32)
    Q = rng.standard_normal((2, 3)).astype(np.float32)
    K, C = pk.tangent_kernel(model, w, X), pk.tangent_kernel(model, w, Q, X)
    assert K.dtype == C.dtype == np.float32
    assert len(seen) > 20 and widened(seen) == []

"""The ``backend=`` option of the kernel functions: NumPy always, CuPy where a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest

import pkverify as pk
from pkverify.backend import cupy_available
from pkverify.errors import BackendMissingError

needs_gpu = pytest.mark.skipif(
    not cupy_available(), reason="CuPy with a CUDA device is not available on this machine"
)


@pytest.fixture(scope="module")
def traj():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 2))
    return pk.train(pk.models.mlp([2, 8, 1], "tanh"), X, np.sin(X[:, 0]), lr=0.1, steps=5)


@pytest.mark.skipif(cupy_available(), reason="CuPy with a device is present: nothing is missing")
@pytest.mark.parametrize(
    "call",
    [
        lambda t: pk.tangent_kernel(t.model, t.w0, t.X, backend="cupy"),
        lambda t: pk.path_kernel(t, t.X, backend="cupy"),
        lambda t: pk.kernel_machine(t, backend="cupy"),
    ],
    ids=["tangent_kernel", "path_kernel", "kernel_machine"],
)
def test_missing_cupy_raises_before_any_work(traj, call):
    with pytest.raises(BackendMissingError, match="backend='numpy'"):
        call(traj)


def test_unknown_backend_is_named(traj):
    with pytest.raises(pk.errors.UnknownNameError, match="'numpy', 'cupy'"):
        pk.path_kernel(traj, traj.X, backend="torch")


@pytest.mark.gpu
@needs_gpu
def test_the_gpu_end_to_end_agrees_with_numpy(traj):
    import cupy

    # the same float64 forward, backward and contractions on another device: agreement to
    # summation-order rounding; results stay on the device until asked for
    for rule in ("riemann", "exact"):
        cpu = pk.path_kernel(traj, traj.X, rule=rule)
        gpu = pk.path_kernel(traj, traj.X, rule=rule, backend="cupy")
        assert isinstance(gpu, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(gpu), cpu, rtol=1e-12, atol=1e-14)
    km_gpu = pk.kernel_machine(traj, backend="cupy")
    pred = km_gpu.predict(traj.X)
    assert isinstance(pred, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(pred), traj.predict(traj.X), rtol=1e-10)
    K = pk.tangent_kernel(traj.model, cupy.asarray(traj.w0), cupy.asarray(traj.X))
    assert isinstance(K, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(K), pk.tangent_kernel(traj.model, traj.w0, traj.X),
                               rtol=1e-12)
    gpu_path = pk.train(traj.model, traj.X, traj.Y, lr=0.1, steps=5, backend="cupy")
    np.testing.assert_allclose(gpu_path.ws, traj.ws, rtol=1e-12, atol=1e-14)
    K32 = pk.tangent_kernel(traj.model, cupy.asarray(traj.w0, dtype=cupy.float32),
                            cupy.asarray(traj.X, dtype=cupy.float32))
    assert K32.dtype == cupy.float32

"""The array namespace: numpy by default, a clear error when CuPy is asked for but absent."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import pkverify as pk
from pkverify import backend
from pkverify.errors import BackendMissingError, UnknownNameError


def test_numpy_is_the_default():
    assert backend.get_namespace() is np
    assert backend.get_namespace("numpy") is np


def test_unknown_backend():
    with pytest.raises(UnknownNameError, match="unknown backend 'jax'.*'numpy', 'cupy'"):
        backend.get_namespace("jax")


@pytest.mark.skipif(
    backend.cupy_available(),
    reason="CuPy is importable and sees a CUDA device here, so the 'missing' path cannot run",
)
def test_missing_cupy_in_this_environment_raises_backend_missing():
    with pytest.raises(BackendMissingError, match="backend='numpy'"):
        backend.get_namespace("cupy")


def test_uninstalled_cupy_raises_backend_missing_with_install_hint(monkeypatch):
    # a None entry in sys.modules makes `import cupy` raise ImportError, whatever is installed
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert backend.cupy_available() is False
    with pytest.raises(BackendMissingError, match=r"not installed.*pip install 'pkverify\[cupy\]'"):
        backend.get_namespace("cupy")


def test_backend_missing_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(ImportError):
        backend.get_namespace("cupy")


def test_to_numpy_passes_numpy_arrays_through_without_copy():
    a = np.arange(3.0)
    assert backend.to_numpy(a) is a


def test_to_numpy_calls_get_on_device_arrays():
    class FakeDeviceArray:
        def get(self):
            return np.array([1.0, 2.0])

    np.testing.assert_array_equal(backend.to_numpy(FakeDeviceArray()), [1.0, 2.0])


def test_to_numpy_converts_lists():
    out = backend.to_numpy([1, 2])
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [1, 2])


class TestPublicFunctionsAskForTheBackendFirst:
    """Every function with ``backend=`` fails up front, before any work, when CuPy is missing."""

    @pytest.fixture
    def traj(self, data2d):
        X, Y = data2d
        return pk.train(pk.models.mlp([2, 3, 1]), X, Y, lr=0.1, steps=2)

    def test_tangent_kernel(self, traj, monkeypatch):
        monkeypatch.setitem(sys.modules, "cupy", None)
        with pytest.raises(BackendMissingError, match="CuPy is not installed"):
            pk.tangent_kernel(traj.model, traj.ws[0], traj.X, backend="cupy")

    def test_path_kernel(self, traj, monkeypatch):
        monkeypatch.setitem(sys.modules, "cupy", None)
        with pytest.raises(BackendMissingError, match="CuPy is not installed"):
            pk.path_kernel(traj, traj.X, backend="cupy")

    def test_kernel_machine(self, traj, monkeypatch):
        monkeypatch.setitem(sys.modules, "cupy", None)
        with pytest.raises(BackendMissingError, match="CuPy is not installed"):
            pk.kernel_machine(traj, backend="cupy")

    def test_unknown_backend_name(self, traj):
        with pytest.raises(UnknownNameError, match="unknown backend 'torch'"):
            pk.path_kernel(traj, traj.X, backend="torch")

    def test_explicit_numpy_is_the_default(self, traj):
        a = pk.path_kernel(traj, traj.X, rule="trapezoid")
        b = pk.path_kernel(traj, traj.X, rule="trapezoid", backend="numpy")
        np.testing.assert_array_equal(a, b)
        km = pk.kernel_machine(traj, backend="numpy")
        np.testing.assert_array_equal(km.predict(traj.X), pk.kernel_machine(traj).predict(traj.X))

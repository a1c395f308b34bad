"""The kernel functions' shared options (KernelOptions): the renamed chunk keyword, float-only
dtypes, and results refused up front when they cannot fit in memory (issues 12 and 17)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import pkverify as pk
import pkverify.validation
from pkverify.errors import InvalidArgumentError, ResourceError
from pkverify.kernels.options import KernelOptions

GIB = 1024**3


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 2))
    model = pk.models.mlp([2, 3, 1], "tanh")
    traj = pk.train(model, X, np.sin(X[:, 0]), lr=0.1, steps=2)
    return model, X, traj


@pytest.fixture
def memory_24gib(monkeypatch):
    """The machine of the issue: 24 GiB available, whatever this one has."""
    monkeypatch.setattr(pkverify.validation, "available_memory", lambda: 24 * GIB)


def _calls(model, X, traj):
    w = model.init(0)
    return {
        "tangent_kernel": lambda **kw: pk.tangent_kernel(model, w, X, **kw),
        "path_kernel": lambda **kw: pk.path_kernel(traj, X, **kw),
        "kernel_machine": lambda **kw: pk.kernel_machine(traj, **kw),
    }


@pytest.mark.parametrize("name", ["tangent_kernel", "path_kernel", "kernel_machine"])
def test_batch_size_on_a_kernel_function_names_its_new_name(small, name):
    call = _calls(*small)[name]
    with pytest.raises(InvalidArgumentError, match=rf"{name} got batch_size=4.*chunk_rows=4"):
        call(batch_size=4)


@pytest.mark.parametrize("name", ["tangent_kernel", "path_kernel", "kernel_machine"])
def test_chunk_rows_gives_the_same_result(small, name):
    model, X, traj = small
    call = _calls(model, X, traj)[name]
    if name == "kernel_machine":
        whole, chunked = call().kernel(X), call(chunk_rows=1).kernel(X)
    else:
        whole, chunked = call(), call(chunk_rows=1)
    # the same sums per row; BLAS may block a one-row product differently: a few ulps
    np.testing.assert_allclose(chunked, whole, rtol=1e-14, atol=1e-15)
    assert pk.kernel_machine(traj, chunk_rows=3).chunk_rows == 3


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128, "float16",
                                   "not-a-dtype"])
@pytest.mark.parametrize("name", ["tangent_kernel", "path_kernel", "kernel_machine"])
def test_only_float32_and_float64_are_accepted(small, name, dtype):
    call = _calls(*small)[name]
    with pytest.raises(InvalidArgumentError, match="float"):
        call(dtype=dtype)


def test_int32_is_refused_with_the_reason(small):
    model, X, _ = small
    with pytest.raises(InvalidArgumentError, match="float32 or float64; got int32"):
        pk.tangent_kernel(model, model.init(0), X, dtype=np.int32)


def test_float_dtypes_are_accepted_and_used(small):
    model, X, _ = small
    w = model.init(0)
    assert pk.tangent_kernel(model, w, X, dtype=np.float32).dtype == np.float32
    assert pk.tangent_kernel(model, w, X, dtype="float64").dtype == np.float64


def test_options_are_checked_once_at_construction():
    opts = KernelOptions(implementation="layerwise", chunk_rows=np.int64(5), progress=False)
    assert opts.chunk_rows == 5 and type(opts.chunk_rows) is int
    assert opts.implementation is pk.Implementation.LAYERWISE
    for bad in ({"chunk_rows": 0}, {"chunk_rows": 2.5}, {"progress": "yes"},
                {"dtype": np.int8}):
        with pytest.raises(InvalidArgumentError):
            KernelOptions(**bad)


def test_a_gram_of_60000_rows_is_refused_before_any_work(memory_24gib):
    # the case: 60,000 rows → a 60000² float64 Gram of 26.8 GiB (28.8 GB)
    model = pk.models.mlp([1, 2, 1], "tanh")
    X = np.linspace(-1.0, 1.0, 60_000)[:, None]
    start = time.perf_counter()
    with pytest.raises(ResourceError, match=r"tangent kernel of 60000 × 60000 points needs "
                       r"26\.8 GiB.*only 24\.0 GiB.*fewer rows") as info:
        pk.tangent_kernel(model, model.init(0), X)
    assert time.perf_counter() - start < 1.0  # arithmetic only: no kernel was computed
    assert "float32" in str(info.value)


def test_a_cross_kernel_that_fits_is_not_refused(memory_24gib, small):
    model, X, _ = small
    Q = np.linspace(-1.0, 1.0, 60_000 * 2).reshape(-1, 2)[:10]
    assert pk.tangent_kernel(model, model.init(0), Q, X).shape == (10, 4)


def test_path_kernel_and_machine_refuse_what_cannot_fit(memory_24gib):
    # 60,000 training points: K^p, the size of its terms and one step's kernel (and K^{lp}
    # for the machine) are each a 26.8 GiB float64 (60000, 60000)
    X = np.linspace(-1.0, 1.0, 120_000).reshape(60_000, 2)
    traj = pk.train(pk.models.mlp([2, 2, 1], "tanh"), X, np.sin(X[:, 0]), lr=1e-6, steps=1)
    start = time.perf_counter()
    with pytest.raises(ResourceError, match=r"of 60000 × 60000 points needs 80\.5 GiB"):
        pk.path_kernel(traj, X)
    km = pk.kernel_machine(traj)
    with pytest.raises(ResourceError, match=r"of 60000 × 60000 points needs 107\.3 GiB"):
        km.a(X)
    assert time.perf_counter() - start < 2.0  # refused before any pass over the path
    assert km.predict(X[:3]).shape == (3,)  # predict forms no kernel: not refused

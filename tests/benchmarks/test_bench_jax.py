"""benchmarks/bench_jax.py's correctness part: its JAX networks (``jax_nets.py``) are the
networks it claims — the digits CNN of ``examples/digits_cnn.py`` and pkverify's ``mlp`` —
with the same weights, so that its kernels compare like with like. Independent checks: the
torch module's own forward pass, pkverify's built-in mlp (no JAX, no torch), and the torch
engine against the JAX engine on the CNN. No timing is asserted.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install "
                            "'pkverify[torch]'); the benchmark's torch side needs it")
jax = pytest.importorskip("jax", reason="JAX is not installed (pip install 'pkverify[jax]'); "
                          "the benchmark's JAX networks need it")
pytest.importorskip("sklearn", reason="scikit-learn is not installed (the [test] extra); the "
                    "digits the benchmark's CNN is built for ship inside it")

import pkverify as pk  # noqa: E402
from pkverify.activations import c_sigma  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_jax  # noqa: E402
import jax_nets  # noqa: E402
import jax_peers  # noqa: E402

# float64: the same sums in another order and erf/tanh from two libraries, outputs O(1)
# after ≤ 3 layers of ≤ 64 terms: rounding is ~1e-15; 1e-12 leaves three orders of margin
RTOL = 1e-12


@pytest.fixture(autouse=True)
def x64():
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_the_jax_cnn_is_the_digits_cnn_with_its_weights():
    case = bench_jax.cnn_case(12, 4)
    net = jax_peers.torch_module("cnn", case["params"], 1.0, np.dtype(np.float64))
    X = case["X"]
    with torch.no_grad():
        want = net(torch.from_numpy(X).reshape(-1, 1, 8, 8)).numpy()
    got = jax_nets.cnn_apply(jax_nets.params_from(case["params"], np.float64), X)
    assert want.shape == (12, 10)
    assert rel(got, want) < RTOL


def test_the_jax_and_torch_mlps_are_pkverifys_mlp_with_its_weights():
    W = 8
    case = bench_jax.mlp_case(W, 10, 3)
    p = case["params"]
    assert math.isclose(case["s"], math.sqrt(c_sigma("tanh") / W))
    model = pk.models.mlp([16, W, W, 1], "tanh")
    w = np.concatenate([p[f"{k}{i}"].ravel() for i in range(3) for k in "Wb"])
    want = model.f(w, case["X"])
    got = jax_nets.mlp_apply(case["s"])(jax_nets.params_from(p, np.float64), case["X"])
    twin = jax_peers.torch_module("mlp", p, case["s"], np.dtype(np.float64))
    with torch.no_grad():
        via_torch = twin(torch.from_numpy(case["X"])).numpy()
    assert rel(np.ravel(got), want) < RTOL
    assert rel(np.ravel(via_torch), want) < RTOL


def test_the_two_engines_give_the_benchmarks_cnn_kernels_alike():
    case = bench_jax.cnn_case(6, 3)
    jm = pk.jax.model(jax_nets.cnn_apply, jax_nets.params_from(case["params"], np.float64),
                      input_shape=(64,))
    tm = pk.torch.model(jax_peers.torch_module("cnn", case["params"], 1.0,
                                               np.dtype(np.float64)), input_shape=(1, 8, 8))
    for A, B in ((case["X"], None), (case["Q"], case["X"])):
        Kj = pk.tangent_kernel(jm, jm.init(0), A, B, implementation="jax", progress=False)
        Kt = pk.tangent_kernel(tm, tm.init(0), A, B, implementation="torch", progress=False)
        assert Kj.shape == (A.shape[0], (A if B is None else B).shape[0], 10, 10)
        assert rel(Kj, Kt) < RTOL


def test_the_difference_figure_is_relative_to_the_larger_kernel(tmp_path):
    a = np.ones((70, 3, 1, 1))
    b = a.copy()
    b[65, 1] = 1.5  # in the second row block: both blocks are read
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    assert bench_jax.max_rel_diff(tmp_path / "a.npy", tmp_path / "b.npy") == pytest.approx(
        0.5 / 1.5, rel=1e-15)  # 1e-15: one float64 division
    assert bench_jax.max_rel_diff(tmp_path / "a.npy", tmp_path / "a.npy") == 0.0

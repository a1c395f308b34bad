"""The same networks in PyTorch and in JAX (tests/extra/twins.py: same weights, same inputs,
same batches, same optimizer): the two adapters' forward passes, tangent kernels, training
paths, path kernels and exact kernel machines agree to rounding, and each framework's exact
machine rebuilds its own smooth float64 network to ≤ 1e-12."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (pip install 'pkverify[torch]'); the "
    "cross-framework tests build each network in both")
jax = pytest.importorskip(
    "jax", reason="JAX is not installed (pip install 'pkverify[jax]'); the cross-framework "
    "tests build each network in both")
jax.config.update("jax_enable_x64", True)  # float64, as pkverify computes by default

import pkverify as pk  # noqa: E402

from .twins import ARCHITECTURES  # noqa: E402

# float64: the same products summed in another order by two frameworks (and, for a path,
# 6 steps that each round once): a few hundred ulps at most, far below 1e-12 relative
RTOL64 = 1e-12


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def build(arch: str, framework: str):
    twin = ARCHITECTURES[arch]()
    if framework == "torch":
        return pk.torch.model(twin.torch(), input_shape=twin.input_shape), twin
    apply, params = twin.jax()
    return pk.jax.model(apply, params, input_shape=twin.input_shape), twin


def problem(d: int, n: int = 8, k: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k)), rng.standard_normal((3, d))


def run(M, X, Y):
    """Momentum SGD in mini-batches of 4 (the same batches for both: seeded by pk.train)."""
    return pk.train(M, X, Y, loss="mse", optimizer=pk.optim.sgd(0.05, momentum=0.9),
                    steps=5, batch_size=4, seed=3)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_torch_and_jax_twins_agree_on_kernels_paths_and_machines(arch):
    Mt, twin = build(arch, "torch")
    Mj, _ = build(arch, "jax")
    assert Mt.n_params == Mj.n_params and Mt.input_dim == Mj.input_dim == twin.d
    assert Mt.smooth and Mj.smooth
    X, Y, Xq = problem(twin.d)
    # the flat vectors order the parameters differently (module order against the
    # pytree's sorted keys); outputs and kernels do not depend on that order
    assert rel(Mj.apply(Mj.init(), Xq), Mt.apply(Mt.init(), Xq)) <= RTOL64
    assert rel(pk.tangent_kernel(Mj, Mj.init(), Xq, X),
               pk.tangent_kernel(Mt, Mt.init(), Xq, X)) <= RTOL64
    tt, tj = run(Mt, X, Y), run(Mj, X, Y)
    for s in range(0, 6, 5):  # the two paths' outputs at the first and the last weights
        assert rel(Mj.apply(tj.ws[s], Xq), Mt.apply(tt.ws[s], Xq)) <= RTOL64
    assert rel(tj.predict(Xq), tt.predict(Xq)) <= RTOL64
    assert rel(pk.path_kernel(tj, Xq, X, rule="trapezoid"),
               pk.path_kernel(tt, Xq, X, rule="trapezoid")) <= RTOL64
    km_t, km_j = pk.kernel_machine(tt, rule="exact"), pk.kernel_machine(tj, rule="exact")
    assert rel(km_j.predict(Xq), km_t.predict(Xq)) <= RTOL64
    assert rel(km_j.contributions(Xq), km_t.contributions(Xq)) <= 1e-10  # a difference of
    # per-point terms of both signs: its rounding is relative to the terms, not their sum


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_exact_machine_rebuilds_each_frameworks_smooth_float64_network(arch, framework):
    M, twin = build(arch, framework)
    X, Y, Xq = problem(twin.d, seed=1)
    traj = run(M, X, Y)
    km = pk.kernel_machine(traj, rule="exact")
    assert rel(km.predict(Xq), traj.predict(Xq)) <= RTOL64
    assert rel(km.predict(X), traj.predict(X)) <= RTOL64

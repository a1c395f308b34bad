"""Peers of the kernel engine, each run in its own process (called by ``bench_engine.py``).

    python benchmarks/peers.py PEER CASE.npz [wall|cpu]   # PEER: neural-tangents or torch.func

A peer never shares a process with another: TensorFlow (loaded by neural-tangents through
tf2jax) and torch's ``import triton`` crash together. ``CASE.npz`` holds the weights as
``W0, b0, W1, b1, W2, b2``, the inputs ``X1`` (and ``X2`` for a cross kernel), the input scale
``s`` and the engine's kernel ``ours``. The peer and the plain NumPy formula of ``plain.py``
are timed interleaved here, in the peer's process and environment (it may be another
interpreter, e.g. a venv holding only the ``[bench]`` peers), so their ratio is measured in
one run. One JSON object goes to stdout: ``versions``, ``peer_s`` and ``plain_s`` (medians),
``agrees`` (max relative difference to ``ours``), or ``skipped`` with the reason.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
from plain import plain_kernel
from timing import CLOCKS, interleaved
from timing import versions as package_versions

PEERS = ("neural-tangents", "torch.func")
PACKAGES = {"neural-tangents": ("neural-tangents", "jax", "jaxlib", "tensorflow", "numpy"),
            "torch.func": ("torch", "numpy")}


def versions(peer: str) -> dict[str, str]:
    return package_versions(PACKAGES[peer])


def neural_tangents_kernel(params, X1, X2, s, dtype):
    """neural-tangents' structured-derivatives empirical NTK of the same net, same weights."""
    import jax

    jax.config.update("jax_enable_x64", dtype == np.float64)
    import jax.numpy as jnp
    import neural_tangents as nt
    from neural_tangents import stax

    d = X1.shape[1]
    W = params[0][0].shape[0]
    cs = s * s * W  # s = sqrt(c_σ / W)
    # stax Dense in the NTK parameterisation is W_std/sqrt(fan_in) x·W + b_std b: W_std = √d
    # for the unscaled first layer, √c_σ after it; b_std = 1
    _, apply_fn, _ = stax.serial(
        stax.Dense(W, W_std=math.sqrt(d), b_std=1.0), stax.Elementwise(fn=jnp.tanh),
        stax.Dense(W, W_std=math.sqrt(cs), b_std=1.0), stax.Elementwise(fn=jnp.tanh),
        stax.Dense(1, W_std=math.sqrt(cs), b_std=1.0),
    )
    jparams = [(jnp.asarray(Wm.T), jnp.asarray(b)) for Wm, b in params]
    jparams = [jparams[0], (), jparams[1], (), jparams[2]]
    kfn = jax.jit(nt.empirical_ntk_fn(
        apply_fn, trace_axes=(), vmap_axes=0,
        implementation=nt.NtkImplementation.STRUCTURED_DERIVATIVES))
    A, B = jnp.asarray(X1), jnp.asarray(X2) if X2 is not None else None

    def run():
        K = kfn(A, B, jparams).block_until_ready()
        return np.asarray(K).reshape(X1.shape[0], -1)

    return run


def torch_func_kernel(params, X1, X2, s, dtype):
    """torch.func vmap(jacrev) Jacobians of the same net, contracted."""
    import torch
    from torch.func import jacrev, vmap

    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    P = {f"W{i}": torch.tensor(Wm, dtype=tdtype) for i, (Wm, _) in enumerate(params)}
    P.update({f"b{i}": torch.tensor(b, dtype=tdtype) for i, (_, b) in enumerate(params)})
    A = torch.tensor(X1, dtype=tdtype)
    B = A if X2 is None else torch.tensor(X2, dtype=tdtype)

    def f(p, x):
        h = torch.tanh(x @ p["W0"].T + p["b0"])
        h = torch.tanh((s * h) @ p["W1"].T + p["b1"])
        return ((s * h) @ p["W2"].T + p["b2"])[0]

    jac = vmap(jacrev(f), in_dims=(None, 0))

    def run():
        with torch.no_grad():
            Ja = jac(P, A)
            Jb = Ja if X2 is None else jac(P, B)
            K = sum(Ja[k].reshape(Ja[k].shape[0], -1) @ Jb[k].reshape(Jb[k].shape[0], -1).T
                    for k in Ja)
        return K.numpy()

    return run


BUILDERS = {"neural-tangents": neural_tangents_kernel, "torch.func": torch_func_kernel}


def run_peer(peer: str, path: str, clock_name: str = "wall", repeat: int = 5) -> dict:
    clock = CLOCKS[clock_name]
    case = np.load(path)
    params = [(case[f"W{i}"], case[f"b{i}"]) for i in range(3)]
    X1 = case["X1"]
    X2 = case["X2"] if "X2" in case else None
    s, ours = float(case["s"]), case["ours"]
    result: dict = {"peer": peer, "versions": versions(peer)}
    try:
        run = BUILDERS[peer](params, X1, X2, s, X1.dtype.type)
        K = run()
    except ImportError as exc:
        result["skipped"] = f"not importable ({type(exc).__name__}: {exc})"[:300]
        return result
    result["agrees"] = float(np.max(np.abs(np.asarray(K).reshape(ours.shape) - ours))
                             / np.max(np.abs(ours)))

    def plain():
        return plain_kernel(params, X1, X2, s)

    plain()  # both warm now (the peer ran above)
    times = interleaved({"peer": run, "plain": plain}, repeat, clock=clock, warm=False)
    result["peer_s"], result["plain_s"] = times["peer"], times["plain"]
    return result


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] not in PEERS or argv[2:] not in ([], ["wall"], ["cpu"]):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        result = run_peer(argv[0], argv[1], *argv[2:])
    except Exception as exc:  # a peer's own failure is a result, not a crash of the benchmark
        result = {"peer": argv[0], "versions": versions(argv[0]),
                  "failed": f"{type(exc).__name__}: {exc}"[:300]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

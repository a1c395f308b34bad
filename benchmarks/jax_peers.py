"""One contender of ``bench_jax.py`` on one case, in a process of its own.

    python benchmarks/jax_peers.py ROLE CASE_DIR [wall|cpu] [REPEAT] [MAX_CALL_S]

ROLE is ``jax-engine`` (pkverify's JAX engine on ``jax_nets``' apply function), ``torch-engine``
(pkverify's torch engine on the torch module: ``jax_nets``' twin, the digits CNN of
``examples/digits_cnn.py``), ``layerwise-engine`` (the MLP as pkverify's built-in ``mlp``) or
``neural-tangents`` (its ``empirical_ntk_fn``, jitted, in its
three implementations, on the same apply function; run with the interpreter of the venv that
holds neural-tangents and its older JAX). ``CASE_DIR/case.npz`` holds the net's name, its
parameters (``p:NAME``, torch's names and layouts), the MLP's scale ``s``, the inputs ``X``
and queries ``Q``, the Gram sizes ``sizes`` and the dtype. Each kernel — the Gram of the
first n rows of X for each n in sizes, and the cross kernel of Q against all of X — is
written to ``CASE_DIR/LABEL-KIND.npy`` as ``(n1, n2, k, k)`` for ``bench_jax.py`` to compare,
and timed: the first call (tracing and compilation included), one call whose peak RSS above
its start is taken (``rss_peak.measure_phase``), then ``REPEAT`` calls interleaved with the other
implementations of the process and a NumPy yardstick (``plain.py``'s layer-wise kernel of
a fixed MLP) whose time lets ``bench_jax.py`` compare processes. An implementation whose first
call takes over ``MAX_CALL_S`` seconds is not repeated, and one whose time per kernel entry
at the previous size predicts a call over ``MAX_CALL_S`` is skipped. One JSON object goes to
stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from plain import plain_kernel
from rss_peak import measure_phase
from timing import CLOCKS, interleaved, versions

ROLES = ("jax-engine", "torch-engine", "layerwise-engine", "neural-tangents")
PACKAGES = {"jax-engine": ("pkverify", "jax", "jaxlib", "numpy"),
            "torch-engine": ("pkverify", "torch", "numpy"),
            "layerwise-engine": ("pkverify", "numpy"),
            "neural-tangents": ("neural-tangents", "jax", "jaxlib", "numpy")}
NT_IMPLEMENTATIONS = {"nt-jacobian": "JACOBIAN_CONTRACTION", "nt-ntvp": "NTK_VECTOR_PRODUCTS",
                      "nt-structured": "STRUCTURED_DERIVATIVES"}
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def yardstick() -> Any:
    """A fixed NumPy workload (float64, single-threaded BLAS) timed beside every contender."""
    rng = np.random.default_rng(0)
    sizes = ((16, 256), (256, 256), (256, 1))
    params = [(rng.standard_normal((o, i)), rng.standard_normal(o)) for i, o in sizes]
    X = rng.standard_normal((128, 16))
    return lambda: plain_kernel(params, X, None, 0.1)


def load_case(case_dir: str) -> dict:
    case = dict(np.load(Path(case_dir) / "case.npz"))
    out = {k: case[k] for k in ("X", "Q", "sizes")}
    out["net"], out["dtype"] = str(case["net"]), np.dtype(str(case["dtype"]))
    out["s"] = float(case["s"])
    out["params"] = {k[2:]: v for k, v in case.items() if k.startswith("p:")}
    return out


def torch_module(net: str, params: dict, s: float, dtype: Any) -> Any:
    """The torch module of ``net`` holding ``params`` (torch's names), in ``dtype``."""
    import torch

    if net == "cnn":
        sys.path.insert(0, str(EXAMPLES))
        from digits_cnn import build_cnn

        module = build_cnn()
    else:
        W, d = params["W0"].shape
        module = scaled_mlp(d, W, s)
    module = module.to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():  # after the dtype change: float64 weights copied exactly
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(params[_torch_to_case(net, name)]))
    return module.eval()


def _torch_to_case(net: str, name: str) -> str:
    if net == "cnn":
        return name
    _, layer, kind = name.split(".")  # lins.0.weight
    return ("W" if kind == "weight" else "b") + layer


def scaled_mlp(d: int, W: int, s: float) -> Any:
    """pkverify's ``mlp([d, W, W, 1], "tanh")`` in torch: the inputs of layers 2 and 3
    scaled by ``s`` (``jax_nets.mlp_apply``'s twin)."""
    import torch

    class ScaledMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lins = torch.nn.ModuleList([torch.nn.Linear(d, W), torch.nn.Linear(W, W),
                                             torch.nn.Linear(W, 1)])

        def forward(self, x):
            h = torch.tanh(self.lins[0](x))
            h = torch.tanh(self.lins[1](s * h))
            return self.lins[2](s * h)

    return ScaledMLP()


def as_blocks(K: Any, n1: int, n2: int) -> np.ndarray:
    """A kernel as ``(n1, n2, k, k)`` (pkverify gives ``(n1, n2)`` for one output)."""
    K = np.asarray(K)
    k = int(round(np.sqrt(K.size // (n1 * n2))))
    return K.reshape(n1, n2, k, k)


def contenders(role: str, case: dict) -> dict[str, Any]:
    """``label → kernel(A, B)`` (NumPy in, ``(n1, n2, k, k)`` NumPy out; B None: the Gram)."""
    dtype, net, params, s = case["dtype"], case["net"], case["params"], case["s"]
    if role == "layerwise-engine":  # the built-in mlp, the MLP case only
        import pkverify as pk

        W, d = params["W0"].shape
        model = pk.models.mlp([d, W, W, 1], "tanh")
        w = np.concatenate([a.ravel() for i in range(3)
                            for a in (params[f"W{i}"], params[f"b{i}"])]).astype(dtype)
        return {"layerwise-engine": lambda A, B: pk.tangent_kernel(
            model, w, A, B, implementation="layerwise", progress=False)}
    if role == "torch-engine":
        import torch

        import pkverify as pk

        torch.set_num_threads(1)
        shape = (1, 8, 8) if net == "cnn" else None
        model = pk.torch.model(torch_module(net, params, s, dtype), input_shape=shape)
        w = model.init(0)
        return {"torch-engine": lambda A, B: pk.tangent_kernel(
            model, w, A, B, implementation="torch", progress=False)}
    import jax

    jax.config.update("jax_enable_x64", dtype == np.float64)
    from jax_nets import apply_for, params_from

    apply_fn, jparams = apply_for(net, s), params_from(params, dtype)
    if role == "jax-engine":
        import pkverify as pk

        model = pk.jax.model(apply_fn, jparams, input_shape=(case["X"].shape[1],))
        w = model.init(0)
        return {"jax-engine": lambda A, B: pk.tangent_kernel(
            model, w, A, B, implementation="jax", progress=False)}
    import neural_tangents as nt

    def nt_kernel(impl: str) -> Any:
        kfn = jax.jit(nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0,
                                          implementation=getattr(nt.NtkImplementation, impl)))
        return lambda A, B: np.asarray(kfn(A, B, jparams).block_until_ready())

    return {label: nt_kernel(impl) for label, impl in NT_IMPLEMENTATIONS.items()}


def kernels_of(case: dict) -> list[tuple[str, Any, Any]]:
    """``(kind, A, B)``: the Gram of the first n rows for each size, then the cross kernel."""
    X, Q = case["X"].astype(case["dtype"]), case["Q"].astype(case["dtype"])
    out: list[tuple[str, Any, Any]] = [(f"gram{n}", X[:n], None) for n in case["sizes"]]
    return out + [(f"cross{len(X)}", Q, X)]


def run(role: str, case_dir: str, clock_name: str = "cpu", repeat: int = 3,
        max_call_s: float = 60.0) -> dict:
    clock = CLOCKS[clock_name]
    case = load_case(case_dir)
    result: dict = {"role": role, "versions": versions(PACKAGES[role]), "kernels": {}}
    try:
        fns = contenders(role, case)
    except ImportError as exc:
        result["skipped"] = f"not importable ({type(exc).__name__}: {exc})"[:300]
        return result
    yard = yardstick()
    yard()
    per_pair: dict[str, float] = {}  # seconds per kernel entry at the last size
    for kind, A, B in kernels_of(case):
        print(f"  {role}: {kind}", file=sys.stderr, flush=True)
        n1, n2 = A.shape[0], (A if B is None else B).shape[0]
        rows: dict[str, dict] = {}
        timed = {}
        for label, fn in fns.items():
            guess = per_pair.get(label, 0.0) * n1 * n2
            if guess > max_call_s:
                rows[label] = {"skipped": f"one call would take ~{guess:.2g} s (from the "
                               f"last size) > {max_call_s:g} s"}
                continue
            start = clock()
            K = fn(A, B)
            first = clock() - start
            np.save(Path(case_dir) / f"{label}-{kind}.npy", as_blocks(K, n1, n2))
            del K
            if first > max_call_s:
                rows[label] = {"first_s": first, "median_s": first, "peak_mb": None,
                               "note": f"first call over {max_call_s:g} s: not repeated"}
                per_pair[label] = first / (n1 * n2)
                continue
            _, _, peak, exact = measure_phase(lambda fn=fn: fn(A, B))  # also the warm-up
            rows[label] = {"first_s": first, "peak_mb": peak, "peak_exact": exact}
            timed[label] = lambda fn=fn: fn(A, B)
        times = interleaved({**timed, "yardstick": yard}, repeat, clock=clock, warm=False)
        for label in timed:
            rows[label]["median_s"] = times[label]
            per_pair[label] = times[label] / (n1 * n2)
        for label in rows:
            rows[label]["yardstick_s"] = times["yardstick"]
        result["kernels"][kind] = rows
    return result


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ROLES or argv[2:3] not in ([], ["wall"], ["cpu"]):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        result = run(argv[0], argv[1], *argv[2:3], *(int(a) for a in argv[3:4]),
                     *(float(a) for a in argv[4:5]))
    except Exception as exc:  # a contender's own failure is a result, not a crash
        result = {"role": argv[0], "versions": versions(PACKAGES[argv[0]]),
                  "failed": f"{type(exc).__name__}: {exc}"[:400]}
    result["wall_s"] = time.perf_counter() - START
    result["process_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


START = time.perf_counter()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Symbolic-engine timings: derivation cost per architecture, and closed form vs autograd.

Run: ``python benchmarks/bench_symbolic.py``. Prints, for each architecture, the time to
derive ∇f and K^g (cold cache), the time to lambdify, and the time to evaluate the kernel
on an n × n grid with the closed form, with ``pkverify.tangent_kernel`` (its layer-wise
fast path) and with its plain autograd reference (``implementation="reference"``), with the ratios
measured in the same run.
"""

from __future__ import annotations

import time

import numpy as np

from pkverify.kernels.tangent import tangent_kernel as numeric_kernel
from pkverify.symbolic import models as sm
from pkverify.symbolic.compile import clear_cache, compile_expr
from pkverify.symbolic.tangent import clear_cache as clear_derivations
from pkverify.symbolic.tangent import tangent_kernel


def _best(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench(model: sm.SymbolicModel, n: int = 200, label: str = "") -> None:
    clear_derivations()
    clear_cache()
    t = time.perf_counter()
    tk = tangent_kernel(model)
    t_derive = time.perf_counter() - t
    t = time.perf_counter()
    compile_expr(tk.kernel, tk.args)
    t_compile = time.perf_counter() - t
    rng = np.random.default_rng(0)
    w = rng.standard_normal(model.n_params)
    X = rng.standard_normal((n, model.dim))
    numeric = model.numeric()
    t_sym = _best(lambda: tk(w, X))
    t_num = _best(lambda: numeric_kernel(numeric, w, X))
    t_ref = _best(lambda: numeric_kernel(numeric, w, X, implementation="reference"), repeat=2)
    print(f"{label:<24} P={model.n_params:>3}  derive {t_derive:5.2f} s  lambdify "
          f"{t_compile:4.2f} s | K({n}×{n}) ms: closed {t_sym * 1e3:6.1f}, fast path "
          f"{t_num * 1e3:6.1f}, autograd reference {t_ref * 1e3:7.1f} | reference/closed "
          f"{t_ref / t_sym:6.1f}×, fast/closed {t_num / t_sym:4.2f}×")


def main() -> None:
    print("two_layer, d = 2, m = 4 (issue 3 speed target: a few seconds)")
    for act in ["relu", "tanh", "softplus", "erf", "sigmoid", "identity"]:
        bench(sm.two_layer(2, 4, act), label=f"two_layer m=4 {act}")
    print("\ntwo_layer, largest allowed (d = 4, m = 8)")
    for act in ["relu", "tanh"]:
        bench(sm.two_layer(4, 8, act), label=f"two_layer d=4 m=8 {act}")
    print("\nmlp (NTK parameterisation, with biases)")
    for sizes in ([2, 3, 1], [2, 3, 3, 1], [3, 3, 3, 1]):
        for act in ["relu", "tanh", "erf"]:
            bench(sm.mlp(sizes, act, bias=True), label=f"mlp {sizes} {act}")


if __name__ == "__main__":
    main()

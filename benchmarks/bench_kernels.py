"""Speed of the layer-wise Jacobian fast path against the autograd reference, same run.

    python benchmarks/bench_kernels.py

Prints, for a few MLP sizes, the time of one (n, k, P) Jacobian by each method, their ratio,
and the agreement between them; then the time of an exact kernel machine over a GD path with
the fast path and with the reference forced. Ratios, not absolute times, are the result.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

import pkverify as pk
from pkverify.kernels import tangent


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"{'model':<28} {'P':>6} {'n':>4} {'autograd':>10} {'layer-wise':>11} {'ratio':>7} {'max|diff|':>10}"
    )
    for sizes, act in (
        ([3, 16, 1], "tanh"),
        ([3, 32, 32, 1], "tanh"),
        ([8, 64, 64, 3], "relu"),
        ([8, 128, 128, 1], "softplus"),
    ):
        model = pk.models.mlp(sizes, act)
        w = model.init(0)
        X = rng.standard_normal((32, sizes[0]))
        slow = best_of(lambda: tangent.reference_jacobian(model, w, X), 3)
        fast = best_of(lambda: tangent.jacobian(model, w, X))
        diff = np.max(
            np.abs(tangent.reference_jacobian(model, w, X) - tangent.jacobian(model, w, X))
        )
        name = f"mlp{sizes} {act}"
        print(
            f"{name:<28} {model.n_params:>6} {X.shape[0]:>4} {slow:>9.4f}s {fast:>10.5f}s "
            f"{slow / fast:>6.0f}x {diff:>10.1e}"
        )

    X = rng.standard_normal((8, 3))
    Y = np.sin(X[:, 0])
    model = pk.models.mlp([3, 16, 16, 1], "tanh")
    traj = pk.train(model, X, Y, lr=0.1, steps=30)
    fast = best_of(lambda: pk.kernel_machine(traj).predict(X), 3)
    # the same path with the model's fast path removed: every Jacobian goes through autograd
    plain = dataclasses.replace(traj, model=dataclasses.replace(model, jac=None))
    slow = best_of(lambda: pk.kernel_machine(plain).predict(X), 1)
    print(
        f"\nexact kernel machine, mlp[3,16,16,1], 30 steps, 8 points: reference {slow:.3f}s, "
        f"fast {fast:.4f}s, ratio {slow / fast:.0f}x"
    )


if __name__ == "__main__":
    main()

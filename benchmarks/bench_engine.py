"""The kernel engine against baselines measured in the same run (issue: the kernel engine).

    python benchmarks/bench_engine.py                 # W = 512 and 2048, float64 and float32
    python benchmarks/bench_engine.py --quick         # small sizes, a smoke run
    python benchmarks/bench_engine.py --big           # also the n = 16384 Gram at W = 512

Model: ``mlp([16, W, W, 1], "tanh")``, n = 256 training points, q = 64 queries, the same weights
everywhere. For each width and dtype it prints medians (and tracemalloc peaks for NumPy code)
of: pkverify's Gram and cross kernel; the autograd reference (W = 512, float64); a plain NumPy
layer-wise formula written here; one plain NumPy GD step written here; ``pk.train`` per step;
and, when installed (``pip install 'pkverify[bench]'``), neural-tangents' structured
derivatives (jit) and torch.func ``vmap(jacrev)``. Then the kernel machine over S = 100 GD
steps at W = 512 against the training run, and the exact rule's gradient evaluations per step.
Ratios are the result; benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import tracemalloc

import numpy as np

import pkverify as pk
from pkverify.activations import c_sigma


def measure(fn, repeat: int = 5, memory: bool = True) -> tuple[float, float | None]:
    """Median seconds over ``repeat`` calls (after one warm-up) and the tracemalloc peak (MB)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    peak = None
    if memory:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return statistics.median(times), peak


# ----- plain NumPy baselines (written independently of pkverify) ---------------------------


def unpack(w: np.ndarray, d: int, W: int, dtype) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W1, b1), (W2, b2), (W3, b3)] from pkverify's flat layout (row-major, bias after)."""
    out, o = [], 0
    for fan_in, fan_out in ((d, W), (W, W), (W, 1)):
        Wm = w[o : o + fan_in * fan_out].reshape(fan_out, fan_in)
        o += fan_in * fan_out
        out.append((Wm.astype(dtype), w[o : o + fan_out].astype(dtype)))
        o += fan_out
    return out


def plain_pass(params, X, s):
    """Inputs a^h, pre-activations and δ^h of the scalar tanh net (NTK parameterisation)."""
    (W1, b1), (W2, b2), (W3, b3) = params
    a1 = X
    g1 = np.tanh(a1 @ W1.T + b1)
    a2 = s * g1
    g2 = np.tanh(a2 @ W2.T + b2)
    a3 = s * g2
    d2 = (s * W3[0]) * (1.0 - g2 * g2)
    d1 = (d2 @ (s * W2)) * (1.0 - g1 * g1)
    return (a1, a2, a3), (d1, d2), a3 @ W3.T + b3


def plain_kernel(params, X1, X2, s):
    (a1, a2, a3), (d1, d2), _ = plain_pass(params, X1, s)
    if X2 is X1:
        (c1, c2, c3), (e1, e2) = (a1, a2, a3), (d1, d2)
    else:
        (c1, c2, c3), (e1, e2), _ = plain_pass(params, X2, s)
    return (a1 @ c1.T + 1.0) * (d1 @ e1.T) + (a2 @ c2.T + 1.0) * (d2 @ e2.T) + a3 @ c3.T + 1.0


def plain_gd_step(params, X, Y, s, lr):
    """One full-batch GD step on ½Σ(f − y)²: a forward and a backward pass."""
    (W1, b1), (W2, b2), (W3, b3) = params
    g1 = np.tanh(X @ W1.T + b1)
    a2 = s * g1
    g2 = np.tanh(a2 @ W2.T + b2)
    a3 = s * g2
    r = (a3 @ W3.T + b3)[:, 0] - Y
    gW3, gb3 = r @ a3, r.sum()
    d2 = np.outer(r, s * W3[0]) * (1.0 - g2 * g2)
    gW2, gb2 = d2.T @ a2, d2.sum(0)
    d1 = (d2 @ (s * W2)) * (1.0 - g1 * g1)
    gW1, gb1 = d1.T @ X, d1.sum(0)
    return [(W1 - lr * gW1, b1 - lr * gb1), (W2 - lr * gW2, b2 - lr * gb2),
            (W3 - lr * gW3[None, :], b3 - lr * gb3)]


# ----- optional peers ---------------------------------------------------------------------------


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
    from torch.func import functional_call, jacrev, vmap  # noqa: F401

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


# ----- the run ----------------------------------------------------------------------------------


def row(name, t, peak, base_t, step_t):
    mem = f"{peak:9.1f}" if peak is not None else "      n/a"
    print(f"  {name:<44} {t * 1e3:10.2f} ms {mem} MB  {t / base_t:7.2f}x plain  "
          f"{t / step_t:7.2f}x GD step")


def kernels_section(W: int, dtype, n: int, q: int, reference: bool) -> None:
    rng = np.random.default_rng(0)
    d = 16
    model = pk.models.mlp([d, W, W, 1], "tanh")
    w = model.init(0) + 0.05 * rng.standard_normal(model.n_params)  # generic biases
    X = rng.standard_normal((n, d)).astype(dtype)
    Q = rng.standard_normal((q, d)).astype(dtype)
    Y = np.sin(X[:, 0]).astype(dtype)
    wd = w.astype(dtype)
    s = math.sqrt(c_sigma("tanh") / W)
    params = unpack(w, d, W, dtype)
    name = np.dtype(dtype).name
    print(f"\nW = {W}, {name}, n = {n}, q = {q}, P = {model.n_params}")
    step_t, step_m = measure(lambda: plain_gd_step(params, X, Y, s, 0.01))
    for kind, A, B in (("Gram", X, None), ("cross", Q, X)):
        base_t, base_m = measure(lambda: plain_kernel(params, A, A if B is None else B, s))
        ours = pk.tangent_kernel(model, wd, A, B)
        plain = plain_kernel(params, A, A if B is None else B, s)
        agree = float(np.max(np.abs(ours - plain)) / np.max(np.abs(plain)))
        print(f" {kind} (pkverify vs plain formula: max rel diff {agree:.1e})")
        row("plain NumPy layer-wise formula", base_t, base_m, base_t, step_t)
        t, m = measure(lambda: pk.tangent_kernel(model, wd, A, B))
        row("pkverify engine (layerwise)", t, m, base_t, step_t)
        if reference and W <= 512 and dtype == np.float64:
            t, m = measure(lambda: pk.tangent_kernel(model, wd, A, B,
                                                      implementation="reference"), repeat=1)
            row("pkverify autograd reference", t, m, base_t, step_t)
        for peer, build in (("neural-tangents structured (jit)", neural_tangents_kernel),
                            ("torch.func vmap(jacrev)", torch_func_kernel)):
            if peer.startswith("torch") and W > 512:
                print(f"  {peer:<44} skipped: its n×P Jacobians need "
                      f"{(A.shape[0] + (0 if B is None else B.shape[0])) * model.n_params * 8 / 2**30:.0f}"
                      " GB on a CPU (measured on a GPU in the issue)")
                continue
            try:
                run = build(params, A, B, s, dtype)
                K = run()
                diff = float(np.max(np.abs(np.asarray(K).reshape(ours.shape) - ours))
                             / np.max(np.abs(ours)))
                t, _ = measure(run, memory=False)
                row(f"{peer} [agrees {diff:.0e}]", t, None, base_t, step_t)
            except ImportError:
                print(f"  {peer:<44} not installed (pip install 'pkverify[bench]')")
            except Exception as exc:  # a peer's own failure must not end the benchmark
                print(f"  {peer:<44} failed: {type(exc).__name__}: {str(exc)[:80]}")
    print(" training")
    row("one plain NumPy GD step", step_t, step_m, step_t, step_t)
    if dtype != np.float64:
        print("  (pk.train records a float64 path: see the float64 rows)")
        return
    runs = {}
    for steps in (10, 40):
        runs[steps] = measure(lambda s=steps: pk.train(
            model, X, Y, lr=1e-4, steps=s, w0=w, progress=False), repeat=3)
    t, m = runs[10]
    row("pk.train, per step (10 steps, set-up included)", t / 11, m, step_t, step_t)
    marginal = (runs[40][0] - runs[10][0]) / 30
    row("pk.train, marginal cost of a step (40 − 10)", marginal, None, step_t, step_t)


def machine_section(W: int, n: int, q: int, S: int) -> None:
    rng = np.random.default_rng(1)
    d = 16
    model = pk.models.mlp([d, W, W, 1], "tanh")
    X = rng.standard_normal((n, d))
    Q = rng.standard_normal((q, d))
    Y = np.sin(X[:, 0])
    print(f"\nkernel machine over S = {S} GD steps, W = {W}, n = {n}, q = {q} (float64)")
    start = time.perf_counter()
    traj = pk.train(model, X, Y, lr=2e-4, steps=S, progress=False)
    t_train = time.perf_counter() - start
    print(f"  {'training run (pk.train)':<44} {t_train:8.2f} s      1.00x training")
    for label, fn in (
        ("predict, Riemann rule", lambda: pk.kernel_machine(traj, "riemann").predict(Q)),
        ("predict, exact rule", lambda: pk.kernel_machine(traj, "exact").predict(Q)),
        ("a_i(x) and K^p, Riemann rule", lambda: pk.kernel_machine(traj, "riemann").a(Q)),
        ("a_i(x) and K^p, exact rule", lambda: pk.kernel_machine(traj, "exact").a(Q)),
    ):
        start = time.perf_counter()
        fn()
        t = time.perf_counter() - start
        print(f"  {label:<44} {t:8.2f} s  {t / t_train:7.2f}x training")
    km = pk.kernel_machine(traj, "exact")
    y, y0 = traj.predict(Q), traj.predict_initial(Q)
    err = float(np.max(np.abs(km.predict(Q) - y)) / np.max(np.abs(y - y0)))
    diag = km.diagnostics(Q)
    print(f"  exact rule: {diag.mean_evaluations:.1f} gradient evaluations per step on average "
          f"(min {diag.evaluations.min():.0f}, max {diag.evaluations.max():.0f}); max step "
          f"residual {diag.max_residual:.1e}; machine vs trained model {err:.1e}")


def big_gram(W: int, n: int) -> None:
    rng = np.random.default_rng(2)
    model = pk.models.mlp([16, W, W, 1], "tanh")
    X = rng.standard_normal((n, 16))
    tracemalloc.start()
    start = time.perf_counter()
    K = pk.tangent_kernel(model, model.init(0), X)
    t = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    out = K.nbytes / 2**30
    print(f"\nGram n = {n}, W = {W}: {t:.1f} s, peak {peak:.2f} GB for a {out:.2f} GB output "
          f"({peak / out:.2f}x; an n×P Jacobian would be {n * model.n_params * 8 / 2**30:.1f} GB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--big", action="store_true", help="also the n = 16384 Gram")
    parser.add_argument("--no-reference", action="store_true", help="skip autograd rows")
    args = parser.parse_args(argv)
    pk.progress.set_enabled(False) if hasattr(pk, "progress") else None
    widths = (64,) if args.quick else (512, 2048)
    n, q = (64, 16) if args.quick else (256, 64)
    print(f"pkverify {pk.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    for W in widths:
        for dtype in (np.float64, np.float32):
            kernels_section(W, dtype, n, q, reference=not args.no_reference)
    machine_section(64 if args.quick else 512, n, q, 20 if args.quick else 100)
    if args.big:
        big_gram(512, 16384)
    return 0


if __name__ == "__main__":
    sys.exit(main())

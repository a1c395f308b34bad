"""The kernel engine against baselines measured in the same run (issue: the kernel engine).

    python benchmarks/bench_engine.py                 # W = 512 and 2048, float64 and float32
    python benchmarks/bench_engine.py --quick         # small sizes, a smoke run
    python benchmarks/bench_engine.py --kernels-only  # the kernel rows and the ratio table only
    python benchmarks/bench_engine.py --big           # also the n = 16384 Gram at W = 512
    python benchmarks/bench_engine.py --peer-python /tmp/peers/bin/python  # peers' own venv

Model: ``mlp([16, W, W, 1], "tanh")``, n = 256 training points, q = 64 queries, the same weights
everywhere. For each width and dtype it prints medians (and tracemalloc peaks for NumPy code)
of: pkverify's Gram and cross kernel against a plain NumPy layer-wise formula (``plain.py``),
timed interleaved so that load on the machine hits both alike (``--clock cpu`` counts CPU
time instead of wall time: steadier on a shared machine, fair with single-threaded BLAS,
``OPENBLAS_NUM_THREADS=1``); the autograd reference
(W = 512, float64); one plain NumPy GD step; ``pk.train`` per step; and the peers
(``pip install 'pkverify[bench]'``): neural-tangents' structured derivatives (jit) and
torch.func ``vmap(jacrev)``, each in its own process (``peers.py``) beside the plain formula
timed there, with the versions it ran. Then the kernel machine over S = 100 GD steps at
W = 512 against the training run, and the exact rule's gradient evaluations per step. It ends
with the table of engine time / plain formula time for both dtypes, Gram and cross.

For a figure comparable across machines, run it on an otherwise idle machine and name the BLAS
kernel it ran (printed first, from threadpoolctl when installed). Where OPENBLAS_CORETYPE is set
(some machines pin an older kernel), unset it and OPENBLAS_L2_SIZE in that command alone:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_engine.py``.
Ratios are the result; benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from plain import plain_gd_step, plain_kernel, unpack
from timing import CLOCKS, MALLOC_TRIM, run_json_process
from timing import interleaved as timing_interleaved

import pkverify as pk
from pkverify.activations import c_sigma

PEERS = Path(__file__).with_name("peers.py")
clock = time.perf_counter  # set from --clock


def measure(fn, repeat: int = 5, memory: bool = True) -> tuple[float, float | None]:
    """Median seconds over ``repeat`` calls (after one warm-up) and the tracemalloc peak (MB)."""
    fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    peak = None
    if memory:
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return statistics.median(times), peak


trim_heap = MALLOC_TRIM  # set to None by --no-trim


def interleaved(fns: dict, repeat: int = 5) -> dict[str, float]:
    """timing.interleaved on this run's clock and heap setting."""
    return timing_interleaved(fns, repeat, clock=clock, trim=trim_heap)


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def blas_line() -> str:
    """The BLAS numpy calls and its kernel (threadpoolctl), and the OpenBLAS pins in force."""
    pins = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                      "OPENBLAS_NUM_THREADS")
                     if k in os.environ) or "no OPENBLAS_* pins"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"BLAS: unknown (pip install threadpoolctl to name it); {pins}"
    libs = [f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')}, "
            f"{i.get('num_threads')} threads" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    return f"BLAS: {'; '.join(libs) or 'none found'}; {pins}"


def run_peer(peer: str, python: str, params, A, B, s, ours) -> dict:
    """Run one peer in its own process on this case; its JSON answer (see peers.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case.npz"
        arrays = {f"W{i}": Wm for i, (Wm, _) in enumerate(params)}
        arrays.update({f"b{i}": b for i, (_, b) in enumerate(params)})
        if B is not None:
            arrays["X2"] = B
        np.savez(case, X1=A, s=np.float64(s), ours=np.asarray(ours), **arrays)
        return run_json_process([python, str(PEERS), peer, str(case), clock_name()])


def clock_name() -> str:
    return next(name for name, fn in CLOCKS.items() if fn is clock)


def row(name, t, peak, base_t, step_t):
    mem = f"{peak:9.1f}" if peak is not None else "      n/a"
    print(f"  {name:<44} {t * 1e3:10.2f} ms {mem} MB  {t / base_t:7.2f}x plain  "
          f"{t / step_t:7.2f}x GD step")


def kernels_section(W: int, dtype, n: int, q: int, reference: bool, peers: bool,
                    peer_python: str, table: dict, training: bool, repeat: int) -> None:
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
        times = interleaved({
            "plain": lambda: plain_kernel(params, A, B, s),
            "engine": lambda: pk.tangent_kernel(model, wd, A, B),
        }, repeat)
        base_t, t = times["plain"], times["engine"]
        ours = pk.tangent_kernel(model, wd, A, B)
        plain = plain_kernel(params, A, B, s)
        agree = float(np.max(np.abs(ours - plain)) / np.max(np.abs(plain)))
        print(f" {kind} (pkverify vs plain formula: max rel diff {agree:.1e}; "
              f"dtype {ours.dtype})")
        row("plain NumPy layer-wise formula", base_t, peak_mb(
            lambda: plain_kernel(params, A, B, s)), base_t, step_t)
        row("pkverify engine (layerwise)", t, peak_mb(
            lambda: pk.tangent_kernel(model, wd, A, B)), base_t, step_t)
        table[("engine", kind, W, name)] = t / base_t
        if reference and W <= 512 and dtype == np.float64:
            t, m = measure(lambda: pk.tangent_kernel(model, wd, A, B,
                                                      implementation="reference"), repeat=1)
            row("pkverify autograd reference", t, m, base_t, step_t)
        for peer in ("neural-tangents", "torch.func") if peers else ():
            label = {"neural-tangents": "neural-tangents structured (jit)",
                     "torch.func": "torch.func vmap(jacrev)"}[peer]
            if peer == "torch.func" and W > 512:
                print(f"  {label:<44} skipped: its n×P Jacobians need "
                      f"{(A.shape[0] + (0 if B is None else B.shape[0])) * model.n_params * 8 / 2**30:.0f}"
                      " GB on a CPU")
                continue
            res = run_peer(peer, peer_python, params, A, B, s, ours)
            if "peer_s" not in res:
                why = res.get("skipped") or res.get("failed")
                print(f"  {label:<44} skipped: {why} (pip install 'pkverify[bench]')")
                continue
            vs = ", ".join(f"{k} {v}" for k, v in res["versions"].items())
            # peer/plain comes from the peer's own process; engine/peer = engine/plain ÷ that
            ratio = res["peer_s"] / res["plain_s"]
            table[(peer, kind, W, name)] = ratio
            row(f"{label} [agrees {res['agrees']:.0e}]", ratio * base_t, None, base_t, step_t)
            print(f"  {'':<44} ({res['peer_s'] * 1e3:.2f} ms against the plain formula's "
                  f"{res['plain_s'] * 1e3:.2f} ms in its own process; {vs})")
    if not training:
        return
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


def ratio_table(table: dict, widths) -> None:
    """Engine (and peers) time / plain formula time, one line per dtype and implementation."""
    print("\ntime / plain NumPy formula's time, measured in the same run (≤ 1 is faster; peers:"
          " in their own process, beside the plain formula timed there)")
    cols = [(kind, W) for kind in ("Gram", "cross") for W in widths]
    print(f"  {'':<28}" + "".join(f"{kind + ' W=' + str(W):>14}" for kind, W in cols))
    for who in ("engine", "neural-tangents", "torch.func"):
        for name in ("float64", "float32"):
            cells = [table.get((who, kind, W, name)) for kind, W in cols]
            if all(c is None for c in cells):
                continue
            print(f"  {who + ' ' + name:<28}" + "".join(
                f"{c:>14.2f}" if c is not None else f"{'—':>14}" for c in cells))


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
    parser.add_argument("--no-peers", action="store_true", help="skip neural-tangents, torch")
    parser.add_argument("--kernels-only", action="store_true",
                        help="only the kernel rows and the ratio table (no training, machine)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="interleaved calls per kernel (median; more on a loaded machine)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time, or this process's CPU time (steadier on a loaded "
                             "machine; equal to wall time only with single-threaded BLAS)")
    parser.add_argument("--no-trim", action="store_true",
                        help="time on the heap as the previous call left it (no malloc_trim)")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="the interpreter that runs the peers (default: this one)")
    args = parser.parse_args(argv)
    global clock, trim_heap
    clock = CLOCKS[args.clock]
    if args.no_trim:
        trim_heap = None
    pk.progress.set_enabled(False) if hasattr(pk, "progress") else None
    widths = (64,) if args.quick else (512, 2048)
    n, q = (64, 16) if args.quick else (256, 64)
    print(f"pkverify {pk.__version__} ({Path(pk.__file__).parent}), numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    print(blas_line())
    print(f"clock: {args.clock} ({'time.perf_counter' if args.clock == 'wall' else 'time.process_time'}), "
          f"medians of {args.repeat} interleaved calls, "
          f"{'each from a trimmed heap' if trim_heap is not None else 'heap as left'}")
    table: dict = {}
    for W in widths:
        for dtype in (np.float64, np.float32):
            kernels_section(W, dtype, n, q, reference=not args.no_reference,
                            peers=not args.no_peers, peer_python=args.peer_python,
                            table=table, training=not args.kernels_only,
                            repeat=args.repeat)
    ratio_table(table, widths)
    if args.kernels_only:
        return 0
    machine_section(64 if args.quick else 512, n, q, 20 if args.quick else 100)
    if args.big:
        big_gram(512, 16384)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every optimizer's exact kernel machine against its training run and against ExPLAIND's
method rebuilt as a peer (issue: every optimizer researchers use).

    python benchmarks/bench_optim.py                  # the issue's sizes (long on one core)
    python benchmarks/bench_optim.py --steps 20       # fewer steps (everything scales with S)
    python benchmarks/bench_optim.py --quick          # small sizes, a smoke run

Model: ``mlp([64, 256, 256, 10], "tanh")`` trained by Adam (lr 1e-3, PyTorch's defaults) with
cross-entropy on n = 1024 seeded points of a 10-class teacher, mini-batches of 128 averaged
(``reduction="mean"``), S = 200 steps; q = 16 queries. Printed, each against the training
run measured here: ``km.predict``, ``km.contributions`` for all q queries and for one query,
and tracemalloc peaks. The peer is ExPLAIND's method [explaind2025] as its public code runs
it (``explaind/optimizer_paths.py``, ``explaind/epk_model.py`` in mainlp/explaind), written
here: per-example Adam first moments carried forward (n × P), and each step's feature map
``∫_0^1 ∇f(w_s + τΔ_s, x) dτ`` by a 100-point midpoint rule. For both: time, peak memory and
``max |b + Σ_i contributions − f(w_S, x)| / max |f(w_S, x) − f(w_0, x)|``. Ratios are the
result; benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

import numpy as np
from peer_explaind import explaind_peer

import pkverify as pk


def timed(fn, memory: bool = True):
    """(result, seconds, tracemalloc peak in MB) of one call."""
    if memory:
        tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    t = time.perf_counter() - start
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out, t, peak


def problem(n: int, q: int, d: int = 64, k: int = 10, seed: int = 0):
    """Seeded inputs and class ids from a random two-layer teacher (every class present)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + q, d))
    T1 = rng.standard_normal((d, 32)) / np.sqrt(d)
    T2 = rng.standard_normal((32, k))
    labels = np.argmax(np.tanh(X @ T1) @ T2, axis=1).astype(float)
    return X[:n], labels[:n], X[n:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--steps", type=int, default=None, help="S (default 200; quick 10)")
    parser.add_argument("--no-peer", action="store_true", help="skip ExPLAIND's method")
    args = parser.parse_args(argv)
    pk.progress.set_enabled(False)
    width, n, q = (32, 128, 4) if args.quick else (256, 1024, 16)
    S = args.steps or (10 if args.quick else 200)
    batch = 32 if args.quick else 128
    X, Y, Xq = problem(n, q)
    model = pk.models.mlp([64, width, width, 10], "tanh")
    opt = pk.optim.adam(1e-3)
    print(f"pkverify {pk.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}")
    print(f"Adam mlp([64, {width}, {width}, 10]) tanh, P = {model.n_params}, n = {n}, "
          f"batch {batch} (mean), S = {S}, q = {q}; cross-entropy")
    traj, t_train, m_train = timed(lambda: pk.train(model, X, Y, loss="softmax_ce",
                                                    optimizer=opt, steps=S, batch_size=batch,
                                                    reduction="mean", progress=False))
    print(f"  {'training run (pk.train)':<46} {t_train:8.2f} s  {1.0:6.2f}x  "
          f"peak {m_train:8.1f} MB")
    y, y0 = traj.predict(Xq), traj.predict_initial(Xq)
    change = float(np.max(np.abs(y - y0)))

    def row(label, t, peak, err=None):
        tail = "" if err is None else f"  |b + Σ contrib − f| {err:.1e}"
        print(f"  {label:<46} {t:8.2f} s  {t / t_train:6.2f}x  peak {peak:8.1f} MB{tail}")

    pred, t, peak = timed(lambda: pk.kernel_machine(traj).predict(Xq))
    row("km.predict (q queries)", t, peak, float(np.max(np.abs(pred - y))) / change)

    def contributions(Q):
        km = pk.kernel_machine(traj)
        return km.b(Q), km.contributions(Q)

    (b, C), t_c, m_c = timed(lambda: contributions(Xq))
    err = float(np.max(np.abs(b + C.sum(axis=1) - y))) / change
    row("km.contributions (q queries)", t_c, m_c, err)
    (b1, C1), t1, m1 = timed(lambda: contributions(Xq[:1]))
    row("km.contributions (one query)", t1, m1,
        float(np.max(np.abs(b1 + C1.sum(axis=1) - y[:1]))) / change)
    print(f"  buffers a per-example method carries: n·P = {n * model.n_params * 8 / 2**20:.0f} "
          f"MB; the recursion's u_r: q·k·P = {q * 10 * model.n_params * 8 / 2**20:.0f} MB")
    if not args.no_peer:
        (bp, Cp), t_p, m_p = timed(lambda: explaind_peer(traj, opt, "mean", Xq))
        err_p = float(np.max(np.abs(bp + Cp.sum(axis=1) - y))) / change
        row("ExPLAIND's method (buffers, 100 midpoints)", t_p, m_p, err_p)
        print(f"  pkverify against the peer: {t_p / t_c:.1f}x faster, {m_p / m_c:.1f}x less "
              f"memory; contributions differ by "
              f"{float(np.max(np.abs(C - Cp))) / change:.1e} (the peer's midpoint error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

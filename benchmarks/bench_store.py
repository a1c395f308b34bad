"""Paths bigger than memory (issue 15): train into a disk store, predict from it, read it back.

Run: ``python benchmarks/bench_store.py [--params P] [--steps S] [--n N] [--dir FOLDER]``.
The issue's full size is ``--params 1000000 --steps 2000 --n 10000`` (a 16 GB float64 path);
the defaults (P ≈ 100k, S = 200, n = 256: a 160 MB path) run in about a minute here. Each
phase runs in its own interpreter and reports its own peak RSS (``ru_maxrss``):

* train:   ``pk.train(mlp, X, Y, steps=S, store=FOLDER)`` (float64 store, written while it
           trains).
* predict: ``pk.kernel_machine(Trajectory.load(FOLDER)).predict(Xq)`` for q = 16 queries,
           the exact rule (one pass over the stored path, chunk by chunk, with read-ahead).
* read:    one pass of ``store.iter_chunks()`` with and without SHA-256 checks, against
           ``dd if=CHUNK of=/dev/null bs=16M`` over the same files, run in the same state of
           the page cache (just after; the files were just written or read, so they are
           likely cached: the figures compare like with like, not disk against disk).

Targets (issue 15): peak RSS ≤ 2 GB in every phase; predict ≤ 1.5× the training time; the
store's read rate reported against dd's. This is a benchmark, not a test: it prints figures
and never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def widths(params: int, d: int = 32) -> list[int]:
    """An MLP [d, h, h, 1] with about ``params`` parameters (h² + (d + 4) h ≈ P)."""
    h = int((-(d + 4) + ((d + 4) ** 2 + 4 * params) ** 0.5) / 2)
    return [d, max(h, 1), max(h, 1), 1]


def data(n: int, d: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / d ** 0.5
    return X, np.sin(X @ rng.standard_normal(d)), rng.standard_normal((16, d)) / d ** 0.5


def phase(args: argparse.Namespace) -> dict:
    """One phase, in this (child) interpreter; returns its figures."""
    import numpy as np

    import pkverify as pk

    sizes = widths(args.params)
    X, Y, Xq = data(args.n, sizes[0])
    store = Path(args.dir) / "run.store"
    start = time.perf_counter()
    if args.phase == "train":
        model = pk.models.mlp(sizes, activation="tanh")
        traj = pk.train(model, X, Y, lr=0.5 / args.n, steps=args.steps, store=store)
        out = {"P": model.n_params, "rows": traj.steps + 1}
    elif args.phase == "predict":
        traj = pk.Trajectory.load(store)
        out = {"max |predict − f(w_S)|": float(np.max(np.abs(
            pk.kernel_machine(traj).predict(Xq) - traj.predict(Xq))))}
    else:
        from pkverify.stores import DiskStore

        rates = {}
        for verify in (True, False):
            s = DiskStore.open(store, verify=verify)
            t = time.perf_counter()
            for _, chunk in s.iter_chunks():
                del chunk
            rates[f"store read, verify={verify} (MB/s)"] = s.nbytes / 1e6 / (
                time.perf_counter() - t)
        files = sorted(store.glob("rows-*.npy"))
        t = time.perf_counter()
        for f in files:
            subprocess.run(["dd", f"if={f}", "of=/dev/null", "bs=16M"], check=True,
                           capture_output=True)
        rates["dd (MB/s)"] = sum(f.stat().st_size for f in files) / 1e6 / (
            time.perf_counter() - t)
        out = rates
    out["seconds"] = time.perf_counter() - start
    out["peak RSS (MB)"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this child
    return out


def run_phase(name: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--params", str(args.params),
           "--steps", str(args.steps), "--n", str(args.n), "--dir", args.dir]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--dir", default=None, help="folder for the store (default: a temp)")
    parser.add_argument("--phase", choices=("train", "predict", "read"), default=None)
    args = parser.parse_args()
    if args.phase is not None:
        print(json.dumps(phase(args)))
        return
    own = args.dir is None
    args.dir = tempfile.mkdtemp(prefix="pkverify-bench-store-") if own else args.dir
    try:
        train = run_phase("train", args)
        read = run_phase("read", args)
        predict = run_phase("predict", args)
    finally:
        if own:
            shutil.rmtree(args.dir, ignore_errors=True)
    gb = train["rows"] * train["P"] * 8 / 1e9
    print(f"MLP {widths(args.params)}: P = {train['P']:,}, S = {args.steps}, n = {args.n}: "
          f"a {gb:.2f} GB float64 path on disk")
    print(f"  train   {train['seconds']:8.1f} s   peak RSS {train['peak RSS (MB)']:8.0f} MB")
    print(f"  predict {predict['seconds']:8.1f} s   peak RSS {predict['peak RSS (MB)']:8.0f} MB"
          f"   predict/train = {predict['seconds'] / train['seconds']:.2f} (target ≤ 1.5)")
    print(f"          max |predict − f(w_S)| = {predict['max |predict − f(w_S)|']:.2e}")
    for k, v in read.items():
        if k.endswith("(MB/s)"):
            print(f"  {k:34s} {v:8.0f}")
    print(f"  read    peak RSS {read['peak RSS (MB)']:8.0f} MB")


if __name__ == "__main__":
    main()

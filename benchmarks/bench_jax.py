"""pkverify's JAX engine against neural-tangents and pkverify's torch engine (issue 16, item 6).

    python benchmarks/bench_jax.py --peer-python /work/nt-venv/bin/python   # NT's own venv
    python benchmarks/bench_jax.py --quick                                  # a smoke run
    python benchmarks/bench_jax.py --dtypes float64,float32 --json out.json

Networks (``jax_nets.py``), one set of weights each, copied between frameworks:

* ``mlp``: pkverify's ``mlp([16, W, W, 1], "tanh")`` (W = 512; bench_engine.py's network),
  the weights ``init(0)`` plus 0.05·N(0, 1) (generic biases), inputs N(0, 1);
* ``cnn``: ``examples/digits_cnn.py``'s GELU CNN (``build_cnn(0)``, P = 666, 10 outputs) on
  scikit-learn's 8×8 digits.

Kernels: the Gram matrix of the first n inputs for each n in ``--sizes`` and the cross kernel
of q = 64 queries against all of them, full ``(n1, n2, k, k)`` blocks, float64 (float32 with
``--dtypes``). Contenders, each in a process of its own (``jax_peers.py``): pkverify's JAX
engine (``pk.jax.model(apply_fn, params)``, ``implementation="jax"``), its torch engine on the
torch module (``implementation="torch"``), its layer-wise engine on the built-in mlp, and
neural-tangents' ``empirical_ntk_fn`` (jitted) in its three implementations —
JACOBIAN_CONTRACTION, NTK_VECTOR_PRODUCTS, STRUCTURED_DERIVATIVES — on the same apply
function, run by ``--peer-python`` (neural-tangents 0.6.5 needs jax < 0.4.26 and NumPy 1:
see pyproject's ``bench`` extra). Every process is single-threaded (BLAS, XLA, torch).

Measured per kernel and contender: the first call (tracing, compilation, first-touch: the
figure minus the median is the start-up cost), the median of ``--repeat`` calls, the peak RSS
of one call above the RSS it started from (every library's buffers), the process's lifetime
peak RSS. Ratios are given two ways: raw (t_a / t_b; with ``--clock cpu``, the default, each
process's CPU time, all processes single-threaded) and through a NumPy yardstick timed
interleaved with the contenders in each process, (t_a / yardstick_a) / (t_b / yardstick_b),
the yardstick being the median over the process's kernels, so that a process slowed as a
whole by load on a shared machine is not charged for it; where the two disagree, the machine
was too busy for either to be trusted. Every pair of contenders' kernels is compared:
max |K_a − K_b| / max(|K_a|, |K_b|), which must be rounding.
Results, 2026-12-02 (jax 0.10.2, torch 2.13 CPU, one thread each, a shared 2-core machine:
CPU seconds of one warm call, n = 256 Gram and q = 64 × 256 cross kernel, float64, W = 512;
"before" is main at e74df84, "after" the jax-perf branch, measured in the same session;
peak = the process's max RSS, libraries included):

    kernel              JAX before   JAX after    torch before  torch after
    cnn gram256         3.67 s       0.43 s       0.24-0.25 s   0.25-0.28 s  (min of 7)
    cnn cross           3.07 s       0.11 s       0.10 s        0.09-0.10 s  (min of 7)
    mlp gram256         7.64 s       4.68 s       19.20 s       14.05 s
    mlp cross           2.92 s       2.55 s       10.06 s       9.66 s
    peak cnn            1594 MB      698 MB       500-565 MB    540-580 MB
    peak mlp            653 MB       929 MB       1099 MB       973 MB

The CNN's float64 Jacobians were the cost: ``vmap(jacrev)`` turns the convolutions' weight
gradients into grouped convolutions, which XLA:CPU runs ~80× slower in float64 than a
``lax.map`` of per-row ``jacrev`` (2.5 s against 0.03 s for 256 rows; float32 0.017 s
against 0.026 s); the engine now loops. The MLP's float64 Jacobian at n = 256 (557 MB) is
over the 512 MB budget, so its blocks are still recomputed (now each pair once: 15 block
Jacobians for 5 blocks); ``chunk_rows=256`` holds it whole. Its JAX peak rose (blocks of
61 rows at 2 Jacobian copies while building, measured 1.4, instead of 41 rows at 3): 929 MB
is ~630 MB above the libraries' ~300 MB, over the 512 MB budget by ~120 MB that the budget
does not count (not yet traced; the contraction's operand copies are a suspect). So the
engine was set back to 3 copies (blocks of 41 rows), the torch engine's figure, after this
table; the CNN's speed-up is the loop's, not the block size's. Earlier full runs of this script
(issue 16) had neural-tangents at 0.90 s (structured derivatives, CNN Gram 256) and 0.52 s
(Jacobian contraction, MLP Gram 256 at a 144 MB Jacobian); the rerun of the whole table did
not finish within this session's time.

Writes nothing unless ``--json PATH`` (a new file) is given. Ratios are the result;
benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from plain import unpack
from timing import run_json_process, script

WORKER = script("jax_peers.py")
LABELS = {"jax-engine": "pkverify JAX engine", "torch-engine": "pkverify torch engine",
          "layerwise-engine": "pkverify layer-wise engine",
          "nt-jacobian": "NT jacobian contraction", "nt-ntvp": "NT NTK-vector products",
          "nt-structured": "NT structured derivatives"}
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
           "TF_CPP_MIN_LOG_LEVEL": "3"}


def mlp_case(W: int, n: int, q: int) -> dict[str, Any]:
    """bench_engine.py's network and data: weights as ``W0, b0, ...`` (torch layout)."""
    import pkverify as pk
    from pkverify.activations import c_sigma

    rng = np.random.default_rng(0)
    d = 16
    model = pk.models.mlp([d, W, W, 1], "tanh")
    w = model.init(0) + 0.05 * rng.standard_normal(model.n_params)
    params = {}
    for i, (Wm, b) in enumerate(unpack(w, d, W, np.float64)):
        params[f"W{i}"], params[f"b{i}"] = Wm, b
    return {"params": params, "s": math.sqrt(c_sigma("tanh") / W),
            "X": rng.standard_normal((n, d)), "Q": rng.standard_normal((q, d))}


def cnn_case(n: int, q: int) -> dict[str, Any]:
    """The digits CNN of ``examples/digits_cnn.py`` (seed 0) and its digits (n + q rows)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from digits_cnn import build_cnn, digits

    net = build_cnn(0)
    params = {k: v.detach().numpy().copy() for k, v in net.named_parameters()}
    X, _, Q, _ = digits(n, q, 0)
    return {"params": params, "s": 1.0, "X": X.numpy().reshape(n, -1),
            "Q": Q.numpy().reshape(q, -1)}


def write_case(path: Path, net: str, case: dict, sizes: list[int], dtype: str) -> None:
    arrays = {f"p:{k}": v for k, v in case["params"].items()}
    np.savez(path / "case.npz", net=np.array(net), dtype=np.array(dtype),
             s=np.float64(case["s"]), X=case["X"], Q=case["Q"], sizes=np.array(sizes),
             **arrays)


def max_rel_diff(a_path: Path, b_path: Path) -> float:
    """max |K_a − K_b| / max(max |K_a|, max |K_b|), read row block by row block."""
    a, b = np.load(a_path, mmap_mode="r"), np.load(b_path, mmap_mode="r")
    diff = scale = 0.0
    for lo in range(0, a.shape[0], 64):
        A = np.asarray(a[lo:lo + 64], dtype=np.float64)
        B = np.asarray(b[lo:lo + 64], dtype=np.float64)
        diff = max(diff, float(np.max(np.abs(A - B))))
        scale = max(scale, float(np.max(np.abs(A))), float(np.max(np.abs(B))))
    return diff / scale if scale > 0 else diff


def run_case(net: str, dtype: str, case: dict, sizes: list[int], args) -> dict:
    """Every contender on one case, in its own process; their figures and differences."""
    roles = ["jax-engine", "torch-engine"] + (["layerwise-engine"] if net == "mlp" else [])
    env = {**os.environ, **THREADS}
    out: dict = {"net": net, "dtype": dtype, "P": int(sum(v.size for v in case["params"]
                                                            .values())),
                 "processes": {}, "kernels": {}, "diffs": {}}
    with tempfile.TemporaryDirectory(prefix="bench_jax_") as tmp:
        write_case(Path(tmp), net, case, sizes, dtype)
        jobs = [(role, sys.executable) for role in roles]
        if not args.no_peers:
            jobs.append(("neural-tangents", args.peer_python))
        for role, python in jobs:
            start = time.perf_counter()
            print(f"  {net} {dtype}: {role} ...", end="", flush=True)
            res = run_json_process([python, WORKER, role, tmp, args.clock, str(args.repeat),
                                    str(args.max_call_s)], env=env)
            print(f" {time.perf_counter() - start:.0f} s"
                  + (f" ({res.get('skipped') or res.get('failed')})"
                     if "kernels" not in res or "failed" in res else ""), flush=True)
            out["processes"][role] = {k: v for k, v in res.items() if k != "kernels"}
            for kind, rows in res.get("kernels", {}).items():
                out["kernels"].setdefault(kind, {}).update(rows)
        for kind, rows in out["kernels"].items():
            done = [lab for lab in rows if (Path(tmp) / f"{lab}-{kind}.npy").exists()]
            for a, b in itertools.combinations(done, 2):
                out["diffs"].setdefault(kind, {})[f"{a} | {b}"] = max_rel_diff(
                    Path(tmp) / f"{a}-{kind}.npy", Path(tmp) / f"{b}-{kind}.npy")
    return out


def normalised(row: dict) -> float:
    """The median ÷ its process's yardstick (the median over all the process's kernels: one
    kernel's three yardstick calls of a few ms are at the mercy of a burst of load)."""
    return row["median_s"] / row["process_yardstick_s"]


def pool_yardsticks(res: dict) -> None:
    """Set each row's ``process_yardstick_s``: a contender's rows all come from its process."""
    labels = {label for rows in res["kernels"].values() for label in rows}
    for label in labels:
        rows = [r[label] for r in res["kernels"].values() if "yardstick_s" in r.get(label, {})]
        pooled = statistics.median(r["yardstick_s"] for r in rows) if rows else None
        for r in rows:
            r["process_yardstick_s"] = pooled


def timed(row: dict | None) -> bool:
    return row is not None and "median_s" in row


def print_case(res: dict) -> None:
    pool_yardsticks(res)
    print(f"\n{res['net']}, {res['dtype']}, P = {res['P']}")
    for role, proc in res["processes"].items():
        vs = ", ".join(f"{k} {v}" for k, v in proc.get("versions", {}).items())
        extra = proc.get("skipped") or proc.get("failed") or ""
        print(f"  process {role}: peak RSS {proc.get('process_peak_mb', float('nan')):.0f} MB, "
              f"{proc.get('wall_s', float('nan')):.0f} s; {vs} {extra}")
    for kind, rows in res["kernels"].items():
        ref = rows.get("jax-engine")
        diffs = res["diffs"].get(kind, {})
        pair = max(diffs, key=diffs.get) if diffs else None
        worst = f"{diffs[pair]:.1e} ({pair})" if pair else "—"
        print(f" {kind} (max relative difference over all {len(diffs)} pairs: {worst})")
        print(f"  {'':<30} {'median':>10} {'first call':>11} {'yardstick':>10} "
              f"{'÷ yardstick':>12} {'÷ JAX engine':>13} {'(raw)':>7} {'call peak':>10}")
        for label, row in rows.items():
            if "median_s" not in row:
                print(f"  {LABELS.get(label, label):<30} skipped: {row.get('skipped')}")
                continue
            rel = (f"{normalised(row) / normalised(ref):>13.2f} "
                   f"{row['median_s'] / ref['median_s']:>7.2f}" if timed(ref)
                   else f"{'—':>13} {'—':>7}")
            peak = row.get("peak_mb")
            print(f"  {LABELS.get(label, label):<30} {row['median_s'] * 1e3:>8.1f}ms "
                  f"{row['first_s']:>10.2f}s {row['yardstick_s'] * 1e3:>8.2f}ms "
                  f"{normalised(row):>12.2f} {rel} "
                  f"{'n/a' if peak is None else f'{peak:.0f} MB':>10}"
                  + (f"  ({row['note']})" if "note" in row else ""))


def print_ratios(results: list[dict]) -> None:
    """Each engine's time ÷ each peer's (yardstick-normalised; < 1: the engine is faster)."""
    cols = [(r["net"], r["dtype"], kind, rows) for r in results
            for kind, rows in r["kernels"].items()]
    for base in ("jax-engine", "torch-engine"):
        lines = []
        for peer in (lab for lab in LABELS if lab != base):
            cells = [f"{normalised(rows[base]) / normalised(rows[peer]):>12.2f} "
                     f"({rows[base]['median_s'] / rows[peer]['median_s']:.2f})".ljust(22)
                     if timed(rows.get(base)) and timed(rows.get(peer)) else f"{'—':>12}".ljust(22)
                     for *_, rows in cols]
            if any(c.strip() != "—" for c in cells):
                lines.append(f"  {LABELS[peer]:<30}" + "".join(cells))
        if lines:
            print(f"\n{LABELS[base]} time ÷ peer's time, each ÷ its process's yardstick "
                  "(in brackets: the raw ratio); < 1: the engine is faster")
            print(f"  {'':<30}" + "".join(f"{f'{n} {d} {k}':>20}  " for n, d, k, _ in cols))
            print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (MLP W = 64; n = 64, q = 16): a smoke run")
    parser.add_argument("--nets", default="mlp,cnn", help="comma-separated: mlp, cnn")
    parser.add_argument("--dtypes", default="float64", help="float64 and/or float32")
    parser.add_argument("--sizes", default=None,
                        help="Gram sizes n (comma-separated; default 256,1024 for the CNN "
                             "and 256 for the MLP, whose Jacobian contraction at n = 1024 "
                             "takes minutes)")
    parser.add_argument("--width", type=int, default=None, help="the MLP's W (default 512)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls (median)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="process CPU time (default: steadier on a shared machine; all "
                             "processes are single-threaded) or wall time")
    parser.add_argument("--max-call-s", type=float, default=60.0,
                        help="an implementation whose first call takes longer is not repeated")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="the interpreter of neural-tangents' venv (default: this one)")
    parser.add_argument("--no-peers", action="store_true", help="skip neural-tangents")
    parser.add_argument("--json", default=None, help="write the figures to this new file")
    parser.add_argument("--from-json", default=None, nargs="+", metavar="PATH",
                        help="print the tables of earlier --json runs (nothing is run)")
    args = parser.parse_args(argv)
    if args.from_json:
        results = [r for path in args.from_json for r in json.loads(Path(path).read_text())]
        for res in results:
            print_case(res)
        print_ratios(results)
        return 0
    if args.json is not None and Path(args.json).exists():
        parser.error(f"{args.json} exists; choose another --json path (nothing is "
                     "overwritten)")
    nets = [n for n in args.nets.split(",") if n]
    dtypes = [d for d in args.dtypes.split(",") if d]
    if not set(nets) <= {"mlp", "cnn"} or not set(dtypes) <= {"float64", "float32"}:
        parser.error("--nets takes mlp and/or cnn, --dtypes float64 and/or float32")
    q = 16 if args.quick else 64
    W = args.width or (64 if args.quick else 512)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; peers run by "
          f"{args.peer_python}; clock {args.clock}, median of {args.repeat}")
    results = []
    for net in nets:
        sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes else
                 [64] if args.quick else [256, 1024] if net == "cnn" else [256])
        n = max(sizes)
        case = mlp_case(W, n, q) if net == "mlp" else cnn_case(n, q)
        for dtype in dtypes:
            results.append(run_case(net, dtype, case, sizes, args))
            print_case(results[-1])
    print_ratios(results)
    if args.json is not None:
        with open(args.json, "x", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

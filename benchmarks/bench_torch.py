"""pk.torch on the digits CNN against torch.func and the peers (issue 14, item 8).

    python benchmarks/bench_torch.py                  # Gram n = 256 and 1024 (a few minutes)
    python benchmarks/bench_torch.py --quick          # small sizes, a smoke run (~1 min)
    python benchmarks/bench_torch.py --json out.json --markdown out.md   # also write these

Model and training: ``examples/digits_cnn.py``'s GELU CNN (P = 666, float64) trained by its
own loop (``train()``: AdamW lr 3e-2, weight decay 1e-2, cosine schedule, batches of 32,
recorded by ``pk.torch.Recorder``), on 300 digits for 8 epochs (80 steps), as the example
does; ``--quick`` trains 120 digits for 2 epochs. Every figure below is on that module at its
trained weights w_S (float32: the same weights rounded, in a ``.float()`` copy).

1. Kernels: the Gram ``(n, n, 10, 10)`` on n digits and the cross kernel ``(64, n, 10, 10)``
   by pkverify's torch engine (``pk.tangent_kernel``), by the torch.func tutorial's
   ``vmap(jacrev)`` Jacobian contraction and by its NTK-vector products (``torch_peers.py``),
   float64 and float32: medians of interleaved calls (``bench_engine.interleaved``), the max
   relative difference of each to pkverify's, time ratios against ``vmap(jacrev)`` measured
   in the same run.
2. The exact kernel machine: ``km.predict`` and ``km.b + km.contributions`` for q = 16 test
   digits against the training run (the recorded loop, and the same loop unrecorded; median
   of ``--repeat`` runs in this process).
3. Peers on the same trained model and queries: Captum's ``TracInCP`` (checkpoints: the
   recorded weights at the start of each epoch, and at every step; see :func:`tracin`) and
   ExPLAIND's method (``peer_explaind.py``, 100 midpoints). Each one's error is
   ``max_q |base_q + Σ_i a_qi − f_c(w_S, x_q)| / max_q |f_c(w_S, x_q) − f_c(w_0, x_q)|`` for
   the predicted class c of each query: base = ``km.b`` for pkverify, the peer's ``b`` for
   ExPLAIND, and ``f_c(w_0, x_q)`` for TracIn (which has no base term of its own).

Memory: every peak is the resident-memory peak of the phase above the RSS it started from
(``rss_peak.py``: the kernel's VmHWM reset by ``/proc/self/clear_refs``; torch's allocations
included, which tracemalloc cannot see), each phase of 2. and 3. in a fresh interpreter of its
own, each kernel implementation in one interpreter of its own (its cases in turn, heap
trimmed between them). Times in 2. and 3. come from those interpreters (one run each).
Ratios are the result; benchmarks are not tests. Set ``OMP_NUM_THREADS=1`` (and the BLAS
equivalents) on a shared machine; the thread count in force is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from rss_peak import measure_phase

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits_cnn.py"
IMPLS = ("pkverify", "vmap(jacrev)", "ntk-vps")
MACHINE = ("train", "train-unrecorded", "predict", "contributions")
PEERS = ("tracin-epoch", "tracin-step", "explaind")


def example():
    """examples/digits_cnn.py as a module (it is not a package)."""
    spec = importlib.util.spec_from_file_location("digits_cnn_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def config(args: argparse.Namespace) -> dict:
    quick = args.quick
    return {
        "n_train": 120 if quick else 300, "epochs": 2 if quick else 8, "batch_size": 32,
        "sizes": [int(s) for s in args.sizes.split(",")] if args.sizes else (
            [64] if quick else [256, 1024]),
        "cross_q": 16 if quick else 64, "q": 16, "repeat": args.repeat or (1 if quick else 2),
        "vps_max_n": args.vps_max_n, "midpoints": args.midpoints, "seed": 0,
        "peers": not args.no_peers,
    }


# ----- the trained model, shared by every phase ----------------------------------------------


def prepare(cfg: dict, folder: Path) -> dict:
    """Train once (the example's loop), save the path and the inputs; the outputs every error
    is measured against."""
    ex = example()
    trained = ex.train(cfg["n_train"], 200, cfg["epochs"], cfg["batch_size"], seed=cfg["seed"])
    traj = trained.traj
    traj.save(folder / "traj.npz")
    n_kernel = max(cfg["sizes"])
    Xk, _, Xc, _ = ex.digits(n_kernel, cfg["cross_q"], seed=cfg["seed"])
    _, _, Xte, _ = trained.data
    Xq = Xte.numpy().reshape(len(Xte), -1)[: cfg["q"]]
    fS, f0 = traj.predict(Xq), traj.predict_initial(Xq)
    np.savez(folder / "case.npz", Xq=Xq, Xk=Xk.numpy().reshape(n_kernel, -1),
             Xc=Xc.numpy().reshape(len(Xc), -1), fS=fS, f0=f0, classes=fS.argmax(axis=1))
    return {"steps": traj.steps, "P": traj.model.n_params, "n": traj.X.shape[0]}


def load(folder: Path):
    """(example module, trajectory, case arrays) in a child interpreter."""
    import pkverify as pk

    ex = example()
    model = pk.torch.model(ex.build_cnn(), input_shape=(1, 8, 8))
    traj = pk.Trajectory.load(folder / "traj.npz", model)
    return ex, traj, dict(np.load(folder / "case.npz"))


def module_at(ex, traj, s: int, dtype=None):
    """A fresh CNN holding the recorded weights w_s (optionally cast to ``dtype``)."""
    import torch

    net = ex.build_cnn()
    torch.nn.utils.vector_to_parameters(torch.from_numpy(np.asarray(traj.ws[s])),
                                        net.parameters())
    return net if dtype is None else net.to(dtype)


def error(base, attributions, case) -> float:
    """The module docstring's error, at each query's predicted class (attributions (q, n))."""
    rows = np.arange(len(case["classes"]))
    target = case["fS"][rows, case["classes"]]
    change = np.max(np.abs(target - case["f0"][rows, case["classes"]]))
    return float(np.max(np.abs(base + attributions.sum(axis=1) - target)) / change)


def best_scale(base, attributions, case) -> tuple[float, float]:
    """``(α, error)`` with the attributions scaled by the least-squares α: how far the
    attributions' *pattern* is from explaining the change, whatever their scale."""
    rows = np.arange(len(case["classes"]))
    target = case["fS"][rows, case["classes"]] - base
    total = attributions.sum(axis=1)
    alpha = float(total @ target / (total @ total))
    return alpha, error(base, alpha * attributions, case)


def at_class(a, case):
    """``a[q, ..., c_q]``: the last axis taken at each query's predicted class."""
    return np.take_along_axis(a, case["classes"].reshape((-1,) + (1,) * (a.ndim - 1)),
                              axis=-1)[..., 0]


# ----- 1. kernels ------------------------------------------------------------------------------


def kernel_functions(ex, traj, case, dtype_name: str, n: int, kind: str, cfg: dict) -> dict:
    """``{implementation: () -> (A rows, B rows, 10, 10) NumPy}`` for one case."""
    import torch
    from torch_peers import jacobian_contraction, ntk_vps, single

    import pkverify as pk

    tdtype = getattr(torch, dtype_name)
    net = module_at(ex, traj, traj.steps, tdtype)
    model = pk.torch.model(net, input_shape=(1, 8, 8))
    w = np.asarray(traj.ws[-1]).astype(dtype_name)
    B = case["Xk"][:n].astype(dtype_name)
    A = B if kind == "Gram" else case["Xc"].astype(dtype_name)
    fnet, params = single(net)
    At, Bt = (torch.from_numpy(a).reshape(-1, 1, 8, 8) for a in (A, B))
    if kind == "Gram":
        At = Bt
    fns = {
        "pkverify": lambda: pk.tangent_kernel(model, w, A, None if kind == "Gram" else B,
                                              progress=False),
        "vmap(jacrev)": lambda: jacobian_contraction(fnet, params, At, Bt).numpy(),
    }
    if n <= cfg["vps_max_n"]:
        fns["ntk-vps"] = lambda: ntk_vps(fnet, params, At, Bt).numpy()
    return fns


def warm_up(ex, traj, case, dtype_name: str, cfg: dict, impls) -> None:
    """One call of each implementation on a 2-row Gram: first-call costs (lazy imports,
    torch's dispatch caches) are paid before anything is timed or measured."""
    fns = kernel_functions(ex, traj, case, dtype_name, 2, "Gram", cfg)
    for impl in impls:
        fns[impl]()


def kernel_times(ex, traj, case, cfg: dict) -> list[dict]:
    """Section 1's times and agreement for pkverify and vmap(jacrev), interleaved in this
    process (the NTK-vector products are timed in their memory interpreter, one call each:
    they cost n1·n2·k passes)."""
    from bench_engine import interleaved

    rows = []
    for dtype_name in ("float64", "float32"):
        warm_up(ex, traj, case, dtype_name, cfg, ("pkverify", "vmap(jacrev)"))
        for n in cfg["sizes"]:
            for kind in ("Gram", "cross"):
                fns = kernel_functions(ex, traj, case, dtype_name, n, kind, cfg)
                fns.pop("ntk-vps", None)
                out: dict = {}
                wrapped = {k: (lambda k=k, f=f: out.__setitem__(k, f())) for k, f in fns.items()}
                print(f"  {kind} {dtype_name} n = {n}: timing {', '.join(fns)} ...", flush=True)
                times = interleaved(wrapped, cfg["repeat"])
                ours = out["pkverify"]
                for impl in fns:
                    diff = float(np.max(np.abs(out[impl] - ours)) / np.max(np.abs(ours)))
                    rows.append({"kind": kind, "dtype": dtype_name, "n": n, "impl": impl,
                                 "seconds": times[impl], "vs_pkverify": diff,
                                 "shape": list(out[impl].shape)})
                out.clear()
    return rows


def kernel_memory(folder: Path, impl: str, cfg: dict) -> list[dict]:
    """Child: the peak (and the time) of one call of each kernel case of one implementation,
    after a warm-up; its difference to pkverify's kernel, computed after the measurement."""
    ex, traj, case = load(folder)
    rows = []
    for dtype_name in ("float64", "float32"):
        warm_up(ex, traj, case, dtype_name, cfg, (impl,))
        for n in cfg["sizes"]:
            for kind in ("Gram", "cross"):
                fns = kernel_functions(ex, traj, case, dtype_name, n, kind, cfg)
                if impl not in fns:
                    continue
                K, seconds, peak, exact = measure_phase(fns[impl])
                row = {"kind": kind, "dtype": dtype_name, "n": n, "impl": impl,
                       "peak_mb": peak, "output_mb": K.nbytes / 2**20, "exact": exact,
                       "seconds": seconds, "shape": list(K.shape)}
                if impl != "pkverify":
                    ours = fns["pkverify"]()
                    row["vs_pkverify"] = float(np.max(np.abs(K - ours)) / np.max(np.abs(ours)))
                    del ours
                rows.append(row)
                del K
    return rows


# ----- 2. and 3. the machine and the peers -------------------------------------------------------


def tracin(ex, traj, case, every: int) -> tuple[np.ndarray, np.ndarray]:
    """Captum's TracInCP on the recorded path: ``(f_c(w_0, x_q) (q,), attributions (q, n))``.

    Checkpoints: w_s for s = 0, every, 2·every, …; checkpoint s's weight ("learning rate",
    returned by the load function) is ``Σ_{s ≤ r < s + every} η_r / n``: a mean-reduced
    step r moves example i by ``−η_r/|B_r| ∇ℓ_i`` when i is in its batch, which it is with
    probability ``|B_r|/n``. The test "loss" is the logit of each query's predicted class
    (Captum's documented use of ``test_loss_fn``), so the score is
    ``Σ_s weight_s ∇f_c(w_s, x_q)·∇ℓ_i(w_s)`` and the attribution (first-order change of
    f_c) is its negative. The checkpoints are loaded from memory (no disk reads).
    """
    import torch
    from captum.influence import TracInCP

    net = module_at(ex, traj, 0)
    n, S = traj.X.shape[0], traj.steps
    eta = np.asarray(traj.step_sizes, dtype=float)
    starts = list(range(0, S, every))
    weights = {s: float(eta[s:s + every].sum()) / n for s in starts}

    def load_checkpoint(model, name):
        s = int(name.split("-")[1])
        torch.nn.utils.vector_to_parameters(torch.from_numpy(np.asarray(traj.ws[s])),
                                            model.parameters())
        return weights[s]

    X = torch.from_numpy(np.asarray(traj.X)).reshape(-1, 1, 8, 8)
    labels = torch.from_numpy(np.asarray(traj.Y).argmax(axis=1))
    dataset = torch.utils.data.TensorDataset(X, labels)

    def logit_of_class(outputs, targets):
        return outputs.gather(1, targets[:, None]).sum()

    logit_of_class.reduction = "sum"  # type: ignore[attr-defined]  # read by Captum

    tr = TracInCP(net, dataset, [f"step-{s:06d}" for s in starts], load_checkpoint,
                  loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), batch_size=n,
                  test_loss_fn=logit_of_class, sample_wise_grads_per_batch=True)
    Xq = torch.from_numpy(case["Xq"]).reshape(-1, 1, 8, 8)
    with warnings.catch_warnings():  # Captum's note that it sets requires_grad on inputs
        warnings.filterwarnings("ignore", "Input Tensor 0 did not already require gradients")
        scores = tr.influence((Xq, torch.from_numpy(case["classes"])))
    rows = np.arange(len(case["classes"]))
    return case["f0"][rows, case["classes"]], -scores.detach().numpy()


def machine_phase(folder: Path, phase: str, cfg: dict) -> dict:
    """Child: one phase of sections 2 and 3, its time, peak and error."""
    import pkverify as pk

    ex, traj, case = load(folder)
    Xq = case["Xq"]
    if phase in ("train", "train-unrecorded"):
        def train(epochs=cfg["epochs"]):
            return ex.train(cfg["n_train"], 200, epochs, cfg["batch_size"],
                            seed=cfg["seed"], record=phase == "train")
        train(1)  # warm-up: one epoch
        trained, seconds, peak, exact = measure_phase(train)
        diff = None
        if trained.traj is not None:  # the same run as prepare()'s: the same weights
            diff = float(np.max(np.abs(trained.traj.ws[-1] - traj.ws[-1])))
        return {"seconds": seconds, "peak_mb": peak, "exact": exact, "same_weights": diff}
    if phase == "predict":
        pk.kernel_machine(traj, rule="exact", progress=False).predict(Xq[:1])  # warm-up
        pred, seconds, peak, exact = measure_phase(
            lambda: pk.kernel_machine(traj, rule="exact", progress=False).predict(Xq))
        err = float(np.max(np.abs(pred - case["fS"])) / np.max(np.abs(case["fS"] - case["f0"])))
        return {"seconds": seconds, "peak_mb": peak, "exact": exact, "error_all": err}
    if phase == "contributions":
        def run(Q=Xq):
            km = pk.kernel_machine(traj, rule="exact", progress=False)
            return km.b(Q), km.contributions(Q)
        run(Xq[:1])  # warm-up
        (b, C), seconds, peak, exact = measure_phase(run)
        err_all = float(np.max(np.abs(b + C.sum(axis=1) - case["fS"]))
                        / np.max(np.abs(case["fS"] - case["f0"])))
        rows = np.arange(len(case["classes"]))
        change = np.max(np.abs(case["fS"] - case["f0"])[rows, case["classes"]])
        return {"seconds": seconds, "peak_mb": peak, "exact": exact, "error_all": err_all,
                "error": error(at_class(b, case), at_class(C, case), case),
                "base_share": float(np.max(np.abs(at_class(b - case["f0"], case))) / change),
                "contributions": at_class(C, case).tolist()}
    if phase.startswith("tracin"):
        every = traj.steps // cfg["epochs"] if phase == "tracin-epoch" else 1
        tracin(ex, traj, case, traj.steps)  # warm-up: one checkpoint
        (base, A), seconds, peak, exact = measure_phase(lambda: tracin(ex, traj, case, every))
        alpha, err_scaled = best_scale(base, A, case)
        return {"seconds": seconds, "peak_mb": peak, "exact": exact, "every": every,
                "error": error(base, A, case), "alpha": alpha, "error_scaled": err_scaled,
                "contributions": A.tolist()}
    if phase == "explaind":
        from peer_explaind import explaind_peer

        explaind_peer(traj, traj.optimizer, traj.reduction, Xq[:1], 1,
                      implementation="auto")  # warm-up: one midpoint, one query
        (b, C), seconds, peak, exact = measure_phase(lambda: explaind_peer(
            traj, traj.optimizer, traj.reduction, Xq, cfg["midpoints"], implementation="auto"))
        return {"seconds": seconds, "peak_mb": peak, "exact": exact,
                "error": error(at_class(b, case), at_class(C, case), case),
                "contributions": at_class(C, case).tolist()}
    raise ValueError(phase)


def child(folder: Path, what: str, cfg: dict) -> dict | list:
    """Run one phase in a fresh interpreter; its JSON answer (or {"failed": why})."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "benchmarks"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, __file__, "--child", what, "--dir", str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(("{", "["))]
    if done.returncode != 0 or not lines:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])[:400]
        return {"failed": f"exit code {done.returncode}: {tail}"}
    return json.loads(lines[-1])


# ----- the parent: run, print, write ---------------------------------------------------------


def training_times(cfg: dict) -> dict[str, float]:
    """Median seconds of the recorded and the unrecorded loop, alternated in this process."""
    ex = example()
    times: dict[str, list[float]] = {"train": [], "train-unrecorded": []}
    for _ in range(cfg["repeat"]):
        for phase in times:
            times[phase].append(ex.train(cfg["n_train"], 200, cfg["epochs"], cfg["batch_size"],
                                         seed=cfg["seed"], record=phase == "train").seconds)
    return {k: statistics.median(v) for k, v in times.items()}


def peers_available() -> dict[str, str | None]:
    """Why each optional peer cannot run here (None: it can)."""
    try:
        import captum  # noqa: F401
        why = None
    except ImportError as exc:
        why = f"captum is not importable ({exc}); pip install captum"
    return {"tracin-epoch": why, "tracin-step": why, "explaind": None}


def run(cfg: dict, folder: Path, correctness_only: bool = False) -> dict:
    import torch

    import pkverify as pk

    pk.progress.set_enabled(False)
    print(f"pkverify {pk.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), numpy {np.__version__}, python {sys.version.split()[0]}", flush=True)
    info = prepare(cfg, folder)
    print(f"digits CNN (examples/digits_cnn.py): P = {info['P']}, n = {info['n']}, "
          f"{cfg['epochs']} epochs of batches of {cfg['batch_size']} = {info['steps']} AdamW "
          f"steps, cosine schedule; q = {cfg['q']} test digits", flush=True)
    ex, traj, case = load(folder)
    result: dict = {"config": cfg, "model": info}
    print("1. kernels (medians of interleaved calls, this process)", flush=True)
    result["kernels"] = kernel_times(ex, traj, case, cfg)
    if correctness_only:
        return result
    print("   memory: one interpreter per implementation ...", flush=True)
    memory = []
    for impl in IMPLS:
        got = child(folder, f"kernel-memory:{impl}", cfg)
        memory += got if isinstance(got, list) else [dict(got, impl=impl)]
    result["kernel_memory"] = memory
    result["kernels"] += [dict(r, one_call=True) for r in memory
                          if r.get("impl") == "ntk-vps" and "seconds" in r]
    print("2. training run and the kernel machine; 3. peers (one interpreter each)", flush=True)
    result["training_median"] = training_times(cfg)
    unavailable = peers_available()
    phases: dict = {}
    for phase in MACHINE + (PEERS if cfg["peers"] else ()):
        if unavailable.get(phase):
            phases[phase] = {"skipped": unavailable[phase]}
            continue
        print(f"   {phase} ...", flush=True)
        phases[phase] = child(folder, phase, cfg)
    result["phases"] = phases
    return result


def print_tables(result: dict) -> str:
    """The figures as markdown tables (also printed)."""
    lines = []
    mem = {(r["kind"], r["dtype"], r["n"], r["impl"]): r for r in result.get("kernel_memory", [])
           if "peak_mb" in r}
    lines += ["", "| kernel | dtype | n | implementation | median s | ×vmap(jacrev) | "
              "max rel diff to pkverify | peak MB (output MB) |", "|" + "---|" * 8]
    base = {(r["kind"], r["dtype"], r["n"]): r["seconds"] for r in result["kernels"]
            if r["impl"] == "vmap(jacrev)"}
    for r in result["kernels"]:
        key = (r["kind"], r["dtype"], r["n"], r["impl"])
        m = mem.get(key)
        peak = f"{m['peak_mb']:.0f} ({m['output_mb']:.0f})" if m else "—"
        shape = "×".join(str(s) for s in r["shape"])
        impl = r["impl"] + (" †" if r.get("one_call") else "")
        lines.append(f"| {r['kind']} {shape} | {r['dtype']} | {r['n']} | {impl} | "
                     f"{r['seconds']:.3f} | {r['seconds'] / base[key[:3]]:.2f} | "
                     f"{r['vs_pkverify']:.1e} | {peak} |")
    lines.append("\n† one call, timed in its own interpreter (after a warm-up); the other "
                 f"times: medians of {result['config']['repeat']} interleaved calls here. "
                 "Peak: RSS above the phase's start, one interpreter per implementation.")
    failed = [r for r in result.get("kernel_memory", []) if "failed" in r]
    for r in failed:
        lines.append(f"\n(memory of {r['impl']} failed: {r['failed']})")
    phases = result.get("phases")
    if phases:
        t_train = phases.get("train", {}).get("seconds", result["training_median"]["train"])
        lines += ["", f"training run in this process (median of {result['config']['repeat']}"
                  f", alternated): recorded {result['training_median']['train']:.2f} s, "
                  f"unrecorded {result['training_median']['train-unrecorded']:.2f} s", "",
                  "| phase | s (own interpreter, warm) | × recorded training run (row 1) | "
                  "peak MB | error |", "|---|---|---|---|---|"]
        for name, r in phases.items():
            if "seconds" not in r:
                lines.append(f"| {name} | {r.get('skipped') or r.get('failed')} | | | |")
                continue
            err = r.get("error", r.get("error_all"))
            label = name if "every" not in r else f"{name} (every {r['every']} steps)"
            lines.append(f"| {label} | {r['seconds']:.2f} | {r['seconds'] / t_train:.2f} | "
                         f"{r['peak_mb']:.0f} | {'' if err is None else f'{err:.1e}'} |")
        if "base_share" in phases.get("contributions", {}):
            lines.append(f"\npkverify's base term moves f_c by up to "
                         f"{phases['contributions']['base_share']:.2f} of the change "
                         "f_c(w_S) − f_c(w_0) (AdamW's decoupled weight decay: no training "
                         "example's doing, so no attribution carries it)")
        ours = phases.get("contributions", {}).get("contributions")
        if ours is not None:
            ours = np.asarray(ours)
            for name in PEERS:
                theirs = phases.get(name, {}).get("contributions")
                if theirs is None:
                    continue
                theirs = np.asarray(theirs)
                rel = float(np.max(np.abs(theirs - ours)) / np.max(np.abs(ours)))
                corr = float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(ours, theirs)]))
                lines.append(f"\n{name} against pkverify's contributions: max |diff| / max "
                             f"|ours| = {rel:.1e}, mean per-query correlation {corr:.3f}")
                if "alpha" in phases[name]:
                    lines.append(f"  (its attributions scaled by the best single factor "
                                 f"α = {phases[name]['alpha']:.3g}: error "
                                 f"{phases[name]['error_scaled']:.1e})")
    text = "\n".join(lines)
    print(text)
    return text


def write_new(path: str | None, text: str) -> None:
    if path is None:
        return
    p = Path(path)
    if p.exists():
        raise SystemExit(f"{p} exists; choose another path (nothing is overwritten)")
    p.write_text(text, encoding="utf-8")
    print(f"wrote {p}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--sizes", default=None, help="Gram sizes n, comma-separated "
                        "(default 256,1024; quick 64)")
    parser.add_argument("--repeat", type=int, default=None, help="interleaved calls per "
                        "kernel and training runs (median; default 2, quick 1)")
    parser.add_argument("--vps-max-n", type=int, default=256, help="NTK-vector products only "
                        "up to this n (they cost n1·n2·k passes)")
    parser.add_argument("--midpoints", type=int, default=100, help="ExPLAIND's midpoints")
    parser.add_argument("--no-peers", action="store_true", help="skip TracInCP and ExPLAIND")
    parser.add_argument("--json", default=None, help="also write the figures here (new file)")
    parser.add_argument("--markdown", default=None, help="also write the tables here (new file)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for path in (args.json, args.markdown):
        if path is not None and Path(path).exists():
            parser.error(f"{path} exists; choose another path (nothing is overwritten)")
    if args.child is not None:
        folder = Path(args.dir)
        cfg = json.loads((folder / "config.json").read_text())
        import pkverify as pk

        pk.progress.set_enabled(False)
        if args.child.startswith("kernel-memory:"):
            out = kernel_memory(folder, args.child.split(":", 1)[1], cfg)
        else:
            out = machine_phase(folder, args.child, cfg)
        print(json.dumps(out))
        return 0
    cfg = config(args)
    with tempfile.TemporaryDirectory(prefix="pkverify-bench-torch-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(cfg))
        result = run(cfg, folder)
    text = print_tables(result)
    write_new(args.markdown, text + "\n")
    write_new(args.json, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

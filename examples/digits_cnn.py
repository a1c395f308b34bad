"""A small CNN trained in PyTorch on scikit-learn's 8×8 digits, recorded, rebuilt exactly by
Theorem 1's kernel machine, and explained: which training digits pushed each test digit
toward its predicted class, drawn as images.

    python examples/digits_cnn.py --out digits.html          (about a minute on one core)

Steps: (1) your usual loop — AdamW with a cosine schedule, mini-batches from
``pk.torch.indexed_loader`` — with ``pk.torch.Recorder`` recording every optimizer step;
(2) ``pk.kernel_machine(traj, rule="exact")`` rebuilds the trained network: its prediction
``b(x) + Σ_i contributions_i(x)`` equals ``net(x)`` to float64 rounding; (3) one test digit
per class explained (its predicted class's output), written as a self-contained HTML page
with the query and its top proponents and opponents as images.

The digits (1797 images, 16 grey levels) ship inside scikit-learn: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def build_cnn(seed: int = 0) -> Any:
    """Conv(1→4) → GELU → avg-pool → Conv(4→8) → GELU → avg-pool → Linear(32→10), float64.

    GELU and average pooling are smooth, so the exact rule needs no kink location and stays
    cheap; ReLU and max-pooling are rebuilt exactly too (each query's steps split at its own
    kinks, pkverify.kernels.switches), at a few times the gradient evaluations per step.
    float64 makes the check reach 1e-12.
    """
    import torch

    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.GELU(), nn.AvgPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.GELU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 10),
    ).double()


def digits(n_train: int, n_test: int, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """Train and test images ``(n, 1, 8, 8)`` scaled to [0, 1] and their labels (tensors)."""
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    X = torch.from_numpy(d.images[order].reshape(-1, 1, 8, 8) / 16.0)
    y = torch.from_numpy(d.target[order]).long()
    return X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test]


@dataclass
class DigitsRun:
    """What the example measured (printed by :func:`main`)."""

    traj: Any
    net: Any
    test_accuracy: float
    rel_error: float          # max |machine − net| / max |net| on the test queries
    contribution_error: float  # the same for b + Σ contributions
    queries: np.ndarray       # one test digit per class present (flattened rows)
    query_labels: np.ndarray
    html: str
    seconds: float


@dataclass
class Trained:
    """The user's loop's outcome: the trained module, its recorded path (None when not
    recorded), the data and the loop's wall time."""

    net: Any
    traj: Any
    data: tuple[Any, Any, Any, Any]  # Xtr, ytr, Xte, yte
    seconds: float


def train(n_train: int = 300, n_test: int = 200, epochs: int = 8, batch_size: int = 32,
          lr: float = 3e-2, seed: int = 0, record: bool = True) -> Trained:
    """Step (1): the user's loop, AdamW with a cosine schedule, recorded by
    ``pk.torch.Recorder`` (``record=False``: the same loop unrecorded, for timing it)."""
    import torch

    import pkverify as pk

    Xtr, ytr, Xte, yte = digits(n_train, n_test, seed)
    start = time.perf_counter()
    net = build_cnn(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = pk.torch.indexed_loader(Xtr, ytr, batch_size, shuffle=True,
                                     generator=torch.Generator().manual_seed(seed))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    rec = pk.torch.Recorder(net, opt, Xtr, ytr, loss_fn) if record else None  # before step 1
    for _ in range(epochs):                                 # the user's own loop
        for idx, xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
            if rec is not None:
                rec.step(idx)                               # after every optimizer.step()
            sched.step()
    traj = None
    if rec is not None:
        rec.close()
        traj = rec.trajectory()
    return Trained(net, traj, (Xtr, ytr, Xte, yte), time.perf_counter() - start)


def run(n_train: int = 300, n_test: int = 200, epochs: int = 8, batch_size: int = 32,
        lr: float = 3e-2, seed: int = 0, top: int = 4, progress: bool = False) -> DigitsRun:
    """Train, record, rebuild and explain (module docstring); sizes for the test suite's
    reduced run are passed in."""
    import torch

    import pkverify as pk
    from pkverify.report.explain import explain_page

    t0 = time.perf_counter()
    trained = train(n_train, n_test, epochs, batch_size, lr, seed)
    net, traj = trained.net, trained.traj
    _, _, Xte, yte = trained.data

    with torch.no_grad():
        test_out = net(Xte).numpy()
    accuracy = float((test_out.argmax(axis=1) == yte.numpy()).mean())
    firsts = [int(np.flatnonzero(yte.numpy() == c)[0]) for c in range(10)
              if np.any(yte.numpy() == c)]
    queries = Xte.numpy().reshape(len(Xte), -1)[firsts]
    km = pk.kernel_machine(traj, rule="exact", progress=progress)
    f = test_out[firsts]
    scale = float(np.max(np.abs(f)))
    rel = float(np.max(np.abs(km.predict(queries) - f))) / scale
    total = km.b(queries) + km.contributions(queries).sum(axis=1)
    rel_c = float(np.max(np.abs(total - f))) / scale
    _, html = explain_page(traj, queries, top=top, image_shape=(8, 8),
                           title=f"pkverify explain: a digits CNN (AdamW, cosine, {traj.steps} "
                           f"steps, n = {n_train})")
    return DigitsRun(traj, net, accuracy, rel, rel_c, queries, yte.numpy()[firsts], html,
                     time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="digits_explain.html", help="the HTML page to write")
    args = p.parse_args(argv)
    r = run(n_train=args.n_train, epochs=args.epochs, seed=args.seed, progress=True)
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; choose another --out (nothing is overwritten)")
    out.write_text(r.html, encoding="utf-8")
    print(f"{r.traj.steps} AdamW steps on {r.traj.X.shape[0]} digits, P = "
          f"{r.traj.model.n_params}; test accuracy {r.test_accuracy:.3f}")
    print(f"kernel machine vs the network on {len(r.queries)} test digits: predict "
          f"{r.rel_error:.1e}, b + Σ contributions {r.contribution_error:.1e} (relative)")
    print(f"wrote {out} ({r.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

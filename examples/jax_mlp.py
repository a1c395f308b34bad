"""Your own JAX/optax training loop, recorded, rebuilt exactly as Theorem 1's kernel machine,
and one prediction explained by the training points that made it.

    python examples/jax_mlp.py                    (a few seconds on one core)

Steps: (1) a plain functional loop — ``jax.grad`` of the batch loss, ``tx.update``,
``optax.apply_updates`` — with AdamW and a warmup-cosine schedule, and ``rec.step(params,
rows, opt_state)`` after each update; (2) ``pk.kernel_machine(traj, rule="exact")`` rebuilds
the trained network: ``b(x) + Σ_i contributions_i(x)`` equals ``apply_fn(params, x)`` to
float64 rounding; (3) one query explained for its predicted class: the training points whose
terms pushed that output up (proponents) and down (opponents), with their labels.

The data are two interleaved half-moons drawn with NumPy (seeded): nothing is downloaded.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np


def moons(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two noisy half-moons in R² and their classes 0/1."""
    rng = np.random.default_rng(seed)
    c = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    X = np.stack([np.cos(t) + c * 1.0, np.sin(t) * (1 - 2 * c) + c * 0.4], axis=1)
    return X + 0.1 * rng.standard_normal((n, 2)), c


def init_params(sizes: tuple[int, ...], seed: int = 0) -> list[tuple[Any, Any]]:
    """``[(W, b), ...]`` float64 (W of shape (out, in), N(0, 1/fan_in)), as JAX arrays."""
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    return [(jnp.asarray(rng.standard_normal((o, i)) / np.sqrt(i)), jnp.zeros(o))
            for i, o in zip(sizes[:-1], sizes[1:])]


def apply_fn(params: list[tuple[Any, Any]], x: Any) -> Any:
    """A tanh MLP: the smooth activation lets the exact rule reach float64 rounding."""
    import jax.numpy as jnp

    for W, b in params[:-1]:
        x = jnp.tanh(x @ W.T + b)
    W, b = params[-1]
    return x @ W.T + b


@dataclass
class Run:
    exactness: float                 # max |machine − network| / max |network| on the queries
    accuracy: float                  # on held-out points
    query: np.ndarray                # the explained point
    predicted: int                   # its predicted class
    output: float                    # the network's output for that class
    base: float                      # b(x): the output at w_0 plus the decay term
    total: float                     # Σ_i contributions_i(x), every training point
    proponents: list[tuple[int, float, int]]  # (training index, contribution, label)
    opponents: list[tuple[int, float, int]]
    step_sizes: np.ndarray           # the schedule's values, as used


def run(n_train: int = 128, steps: int = 60, batch_size: int = 16, top: int = 3,
        seed: int = 0) -> Run:
    import jax

    jax.config.update("jax_enable_x64", True)  # before any array: float64 throughout
    import optax

    import pkverify as pk

    X, Y = moons(n_train + 200, seed)
    Xtr, Ytr, Xte, Yte = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]
    params = init_params((2, 16, 16, 2), seed)
    schedule = optax.warmup_cosine_decay_schedule(0.005, 0.05, warmup_steps=steps // 6,
                                                  decay_steps=steps, end_value=0.005)
    tx = optax.adamw(schedule, weight_decay=1e-3)
    opt_state = tx.init(params)

    def batch_loss(p: Any, xb: Any, yb: Any) -> Any:
        return optax.softmax_cross_entropy_with_integer_labels(apply_fn(p, xb), yb).mean()

    grad = jax.jit(jax.grad(batch_loss))
    rec = pk.jax.Recorder(apply_fn, params, Xtr, Ytr, loss="softmax_ce", reduction="mean",
                          optimizer=tx)
    rng = np.random.default_rng(seed)
    for _ in range(steps):                               # the user's loop, unchanged ...
        rows = rng.choice(n_train, size=batch_size, replace=False)
        g = grad(params, Xtr[rows], Ytr[rows])
        updates, opt_state = tx.update(g, opt_state, params)
        params = optax.apply_updates(params, updates)
        rec.step(params, rows, opt_state)                # ... plus this line
    traj = rec.trajectory()

    km = pk.kernel_machine(traj, rule="exact")
    queries = Xte[:8]
    out = np.asarray(apply_fn(params, queries))
    exactness = float(np.max(np.abs(km.predict(queries) - out)) / np.max(np.abs(out)))
    accuracy = float(np.mean(np.argmax(np.asarray(apply_fn(params, Xte)), axis=1) == Yte))

    q = queries[:1]
    ranking = km.explain(q, top=n_train)[0]              # every point, largest |term| first
    c = int(ranking.class_)
    by_value = sorted(ranking, key=lambda pair: pair[1])
    labelled = [(i, float(v), int(Ytr[i])) for i, v in by_value]
    return Run(exactness, accuracy, q[0], c, float(out[0, c]), float(km.b(q)[0, c]),
               float(sum(v for _, v in ranking)), labelled[::-1][:top], labelled[:top],
               traj.step_sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--n-train", type=int, default=128)
    args = parser.parse_args()
    r = run(n_train=args.n_train, steps=args.steps)
    print(f"step sizes used: {r.step_sizes[0]:.4f} → {r.step_sizes.max():.4f} → "
          f"{r.step_sizes[-1]:.4f} (warmup, cosine)")
    print(f"kernel machine = network to {r.exactness:.1e} (relative); test accuracy "
          f"{r.accuracy:.2f}")
    print(f"query {np.round(r.query, 2)}: class {r.predicted}, output {r.output:+.4f} = "
          f"b(x) {r.base:+.4f} + Σ_i contributions {r.total:+.4f}")
    print("  proponents (index, contribution, label):", [(i, round(v, 4), y)
                                                         for i, v, y in r.proponents])
    print("  opponents  (index, contribution, label):", [(i, round(v, 4), y)
                                                         for i, v, y in r.opponents])
    print("  each contribution is −Σ_s I_i(s) ρ_s ℓ'_{i,s} u_s(x)·∇f(w_s, x_i): how much the "
          "steps that used point i moved this output.")


if __name__ == "__main__":
    main()

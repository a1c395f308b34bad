"""Paths trained by every optimizer, for the optimizer tests (small and seeded)."""

from __future__ import annotations

import numpy as np

import pkverify as pk
from pkverify import optim


def optimizer_cases():
    """(id, optimizer, batch_size, reduction, regulariser) covering every rule and option."""
    sched = tuple(0.05 * (1.0 + 0.5 * np.cos(np.arange(6))))
    return [
        ("gd", optim.gd(0.1), None, "sum", None),
        ("sgd-batches", optim.sgd(0.1), 3, "sum", None),
        ("gd-mean-batches", optim.gd(0.3), 3, "mean", None),
        ("momentum", optim.sgd(0.05, momentum=0.9), None, "sum", None),
        ("momentum-batches-damp", optim.sgd(0.05, momentum=0.8, dampening=0.3), 3, "mean",
         None),
        ("nesterov-wd", optim.sgd(0.05, momentum=0.9, nesterov=True, weight_decay=0.1), 4,
         "sum", None),
        ("adam", optim.adam(0.05), None, "sum", None),
        ("adam-schedule-batches", optim.adam(sched, weight_decay=0.05), 3, "mean", None),
        ("adamw-l2", optim.adamw(0.05, weight_decay=0.1), 4, "sum", pk.l2(0.01)),
    ]


def hand_path(model, X, Y, opt, steps=6, batch_size=None, reduction="sum", reg=None,
              seed=0, loss="mse"):
    """A path stepped by ``opt.advance`` with autograd gradients on the batch rows — written
    apart from pk.train, which the tests compare against it — as a Trajectory."""
    from autograd import grad

    loss_o = pk.losses.get_loss(loss)
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    eta = opt.step_sizes(steps)
    ws = [model.init(seed)]
    batches = np.zeros((steps, n), dtype=bool)
    state = optim.OptimizerState()
    for s in range(steps):
        rows = np.arange(n) if batch_size is None else np.sort(
            rng.choice(n, size=batch_size, replace=False))
        batches[s, rows] = True
        rho = 1.0 / rows.size if reduction == "mean" else 1.0
        w = ws[-1]

        def L(v, rows=rows, rho=rho):
            return rho * loss_o.total(model.f(v, X[rows]), Y[rows])

        g = grad(L)(w)
        if reg is not None:
            g = g + reg.grad(w)
        g = opt.gradient(g, w)
        parts, dec, _, state = opt.advance(state, g[None, :], w, opt.rate(s, float(eta[s])), s,
                                           total=g)
        ws.append(w + (parts[0] + dec))
    ws = np.array(ws)
    losses = np.array([float(loss_o.total(model.f(v, X), Y)) for v in ws])
    times = np.concatenate([[0.0], np.cumsum(eta)])
    kind = "gd" if batches.all() else "sgd"
    return pk.Trajectory(model, X, np.asarray(Y, float), loss_o, ws, eta, batches, losses,
                         times, reg, kind, optimizer=opt, reduction=reduction)


def recipe_groups(sizes) -> np.ndarray:
    """Each weight's group in ``pk.models.mlp(sizes)`` (each layer's W then b) for the common
    recipe: 0 the hidden layers' weights, 1 every bias (no weight decay), 2 the last layer's
    weights (a larger lr)."""
    index = []
    for h, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        index += [2 if h == len(sizes) - 2 else 0] * (fan_in * fan_out) + [1] * fan_out
    return np.array(index)


def grouped_cases(sizes):
    """(id, optimizer with the recipe's groups, batch_size, reduction, regulariser)."""
    sched = tuple(0.05 * (1.0 + 0.5 * np.cos(np.arange(6))))
    idx = recipe_groups(sizes)
    ten = tuple(10 * e for e in sched)

    def g(base, lr, wd):
        return optim.grouped(base, idx, lr=lr, weight_decay=wd)

    return [
        ("gd-rates", g(optim.gd(0.05), [0.05, 0.02, 0.2], [0.0] * 3), 3, "sum", None),
        ("nesterov-recipe", g(optim.sgd(0.05, momentum=0.9, nesterov=True), [0.05, 0.05, 0.2],
                              [0.1, 0.0, 0.1]), None, "sum", None),
        ("adam-schedules", g(optim.adam(0.05), [sched, sched, ten], [0.05, 0.0, 0.05]), 3,
         "mean", None),
        ("adamw-l2", g(optim.adamw(0.05), [0.05, 0.01, 0.1], [0.1, 0.0, 0.2]), 4, "sum",
         pk.l2(0.01)),
    ]

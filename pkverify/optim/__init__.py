"""Optimizers as data, with PyTorch's names and defaults.

import pkverify as pk
traj = pk.train(model, X, Y, optimizer=pk.optim.adam(1e-3), steps=200, batch_size=64)
km = pk.kernel_machine(traj)          # exact for every optimizer here
km.contributions(Xq)                  # per training point; b(x) + Σ_i = predict(x)

``gd(lr)``, ``sgd(lr, momentum, dampening, nesterov, weight_decay)``,
``adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)`` and
``adamw(..., weight_decay=1e-2)``; ``lr`` may be a schedule (one step size per step).
``grouped(opt, groups, lr=[...], weight_decay=[...])`` gives each group of weights its own
step size (or schedule) and weight decay, as PyTorch's ``param_groups`` do. The
rule itself — buffers, preconditioner, decay — is written once, in :mod:`.rule`.
"""

from .groups import ParamGroups, grouped
from .reduction import REDUCTIONS, batch_weights, parse_reduction
from .rule import (
    NAMES,
    Optimizer,
    OptimizerState,
    adam,
    adamw,
    as_optimizer,
    from_spec,
    gd,
    sgd,
)

__all__ = [
    "Optimizer",
    "OptimizerState",
    "NAMES",
    "gd",
    "sgd",
    "adam",
    "adamw",
    "as_optimizer",
    "from_spec",
    "grouped",
    "ParamGroups",
    "REDUCTIONS",
    "parse_reduction",
    "batch_weights",
]

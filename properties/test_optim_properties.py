"""Every optimizer's kernel machine on drawn problems (claims ``optim.*``).

Momentum SGD (with dampening or Nesterov, coupled weight decay), Adam and AdamW with drawn
hyperparameters, full batches or drawn mini-batches, the loss summed or averaged: the exact
machine reproduces the trained model (:func:`pkverify.claims.theorem1.check_reconstruction`,
its tolerance written once) and ``b(x) + Σ_i contributions`` is the prediction.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_theorem_properties import queries, train_or_skip  # (properties/ is on sys.path)

import pkverify as pk
from pkverify.claims.theorem1 import check_reconstruction
from pkverify.strategies import SMOOTH_ACTIVATIONS, training_problems


@st.composite
def optimizers(draw, lr: float) -> pk.optim.Optimizer:
    """A drawn rule; SGD's step is the problem's stable lr scaled by 1 − μ."""
    kind = draw(st.sampled_from(["momentum", "nesterov", "adam", "adamw"]))
    decay = draw(st.sampled_from([0.0, 0.01, 0.1]))
    if kind in ("momentum", "nesterov"):
        mu = draw(st.floats(0.0 if kind == "momentum" else 0.1, 0.95))
        damp = draw(st.floats(0.0, 0.9)) if kind == "momentum" else 0.0
        return pk.optim.sgd(lr * (1.0 - mu), momentum=mu, dampening=damp,
                            nesterov=kind == "nesterov", weight_decay=decay)
    betas = (draw(st.floats(0.0, 0.95)), draw(st.floats(0.5, 0.999)))
    rate = draw(st.floats(1e-3, 5e-2))
    make = pk.optim.adam if kind == "adam" else pk.optim.adamw
    return make(rate, betas=betas, eps=draw(st.sampled_from([1e-8, 1e-3])), weight_decay=decay)


@settings(max_examples=max(3, round(settings.default.max_examples * 0.5)))
@given(st.data(), training_problems(activations=SMOOTH_ACTIVATIONS))
def test_every_optimizer_is_rebuilt_exactly(data, problem):
    opt = data.draw(optimizers(problem.lr), label="optimizer")
    n = problem.X.shape[0]
    batch_size = data.draw(st.none() | st.integers(1, n), label="batch_size")
    reduction = data.draw(st.sampled_from(["sum", "mean"]), label="reduction")
    traj = train_or_skip(problem, lr=None, optimizer=opt, batch_size=batch_size,
                         reduction=reduction, progress=False)
    Xq = np.vstack([problem.X, queries(data, problem.X.shape[1])])
    outcome = check_reconstruction(traj, Xq)
    note(outcome.message)
    assert outcome.passed, outcome.message
    km = pk.kernel_machine(traj, progress=False)
    y = traj.predict(Xq)
    total = km.b(Xq) + km.contributions(Xq).sum(axis=1)
    assert np.max(np.abs(total - km.predict(Xq))) <= 1e-12 * max(1.0, np.max(np.abs(y)))

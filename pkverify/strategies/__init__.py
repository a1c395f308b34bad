"""Hypothesis strategies for testing the path-kernel theorem on your own models and data.

Every strategy here draws small problems — a property example trains and rebuilds a model in
tens of milliseconds — and takes all of its randomness from Hypothesis draws (seeds for
``model.init`` and SGD batches are drawn too), so a failing example shrinks and replays::

    from hypothesis import given
    import pkverify as pk
    from pkverify.strategies import training_problems

    @given(training_problems(activations=["tanh", "softplus"]))
    def test_exact_reconstruction(problem):
        traj = problem.train()
        km = pk.kernel_machine(traj, rule="exact")
        change = abs(traj.predict(problem.X) - traj.predict_initial(problem.X)).max()
        assert abs(km.predict(problem.X) - traj.predict(problem.X)).max() <= 1e-10 * change + 1e-12

=========================  ==================================================================
strategy                   draws
=========================  ==================================================================
:func:`activations`        an activation name (relu, tanh, softplus, erf, sigmoid, identity)
:func:`architectures`      a built :func:`pkverify.models.mlp` (1–3 hidden layers, width 1–32)
:func:`two_layer_models`   a built :func:`pkverify.models.two_layer` (ntk-notes' net)
:func:`linear_models`      a built :func:`pkverify.models.linear`, with or without bias/features
:func:`datasets`           ``(X (n, d), Y)`` finite float64, bounded, with duplicate and
                           collinear points
:func:`step_sizes`         a step size, log-uniform on ``[min_value, max_value]``
:func:`seeds`              an integer seed for ``numpy.random.default_rng``
:func:`training_problems`  a :class:`TrainingProblem` ``(model, X, Y, lr, steps, seed)``
:func:`torch_runs`         a :class:`TorchRun` of *your* torch module and optimizer (seed, lr,
                           batch size, steps); ``run.trajectory()`` records it (pk.torch)
=========================  ==================================================================

Models are drawn with :func:`hypothesis.strategies.builds`, so a falsifying example prints the
constructor call (``mlp([2, 3, 1], activation='tanh')``), ready to paste. Bad strategy
arguments raise :class:`pkverify.errors.InvalidArgumentError` when the strategy is built,
before anything is drawn.

The strategies live in submodules by what they draw — :mod:`.scalars` (names, seeds, step
sizes), :mod:`.models`, :mod:`.data`, :mod:`.problems` — and are all re-exported here.
"""

from __future__ import annotations

from ._arguments import ACTIVATION_NAMES, SMOOTH_ACTIVATIONS
from .data import datasets
from .models import (
    FEATURE_MAPS,
    architectures,
    fourier_features,
    linear_models,
    model_call,
    quadratic_features,
    two_layer_models,
)
from .problems import TrainingProblem, training_problems
from .scalars import activations, seeds, step_sizes
from .torch_runs import TorchRun, torch_runs

__all__ = [
    "ACTIVATION_NAMES",
    "SMOOTH_ACTIVATIONS",
    "FEATURE_MAPS",
    "TrainingProblem",
    "activations",
    "architectures",
    "two_layer_models",
    "linear_models",
    "datasets",
    "step_sizes",
    "seeds",
    "training_problems",
    "quadratic_features",
    "fourier_features",
    "model_call",
    "TorchRun",
    "torch_runs",
]

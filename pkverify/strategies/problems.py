"""Strategies that draw whole training problems: data, a model and a stable step size."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..errors import InvalidArgumentError
from ..kernels.tangent import tangent_kernel
from ..models import Model
from ..validation import positive_float
from ._arguments import ACTIVATION_NAMES, ActivationChoice, Range, activation_strategy, as_range
from .data import _datasets
from .models import architectures, model_call
from .scalars import seeds, step_sizes


class TrainingProblem(NamedTuple):
    """A drawn training problem; unpack it as ``model, X, Y, lr, steps, seed = problem``.

    model: a built :class:`pkverify.models.Model`; X ``(n, d)``, Y ``(n,)``; lr the step size
    ε; steps the number of GD steps S; seed for ``model.init`` and SGD batches.
    """

    model: Model
    X: np.ndarray
    Y: np.ndarray
    lr: float
    steps: int
    seed: int

    def train(self, **kwargs: Any):
        """``pkverify.train(model, X, Y, lr=lr, steps=steps, seed=seed, **kwargs)``."""
        from ..train import train

        kwargs.setdefault("lr", self.lr)
        kwargs.setdefault("steps", self.steps)
        kwargs.setdefault("seed", self.seed)
        return train(self.model, self.X, self.Y, **kwargs)

    def __repr__(self) -> str:
        with np.printoptions(precision=17, threshold=10_000):
            return (
                f"TrainingProblem(model={model_call(self.model)}, X=np.{self.X!r}, "
                f"Y=np.{self.Y!r}, lr={self.lr!r}, steps={self.steps}, seed={self.seed})"
            )


def _gram_scale(model: Model, w0: np.ndarray, X: np.ndarray) -> float:
    """λ_max of the tangent-kernel Gram ``K^g_{w0}(X, X)`` over all (point, output) pairs:
    ``‖J‖₂²`` without forming the Jacobian J (JJᵀ and JᵀJ share their nonzero eigenvalues)."""
    K = np.asarray(tangent_kernel(model, w0, X))
    n = X.shape[0]
    k = 1 if K.ndim == 2 else K.shape[2]
    G = K.reshape(n, n) if K.ndim == 2 else K.transpose(0, 2, 1, 3).reshape(n * k, n * k)
    return float(np.linalg.eigvalsh(0.5 * (G + G.T))[-1]) if G.size else 0.0


@st.composite
def _training_problems(
    draw: st.DrawFn,
    model_strategy: SearchStrategy[Model] | None,
    n: tuple[int, int],
    dim: tuple[int, int],
    steps: tuple[int, int],
    relative_lr: tuple[float, float],
    max_lr: float,
    max_depth: int,
    max_width: int,
    activations: ActivationChoice,
    duplicates: bool,
    collinear: bool,
    scale: float,
    targets: str,
) -> TrainingProblem:
    X, Y = draw(_datasets(n, dim, duplicates, collinear, scale, targets))
    d = X.shape[1]
    if model_strategy is None:
        model = draw(
            architectures(dim=d, max_depth=max_depth, max_width=max_width, activations=activations)
        )
    else:
        model = draw(model_strategy)
        if model.input_dim is not None and model.input_dim != d:
            raise InvalidArgumentError(
                f"the models strategy drew a model with input_dim {model.input_dim}, but the "
                f"data has d = {d}; pass a models strategy taking the dimension, e.g. "
                "models=lambda d: architectures(dim=d)."
            )
    seed = draw(seeds())
    r = draw(step_sizes(*relative_lr))
    lam = _gram_scale(model, model.init(seed), X)
    lr = min(r / lam, max_lr) if lam > 1e-12 else min(r, max_lr)
    return TrainingProblem(model, X, Y, float(lr), draw(st.integers(*steps)), seed)


def training_problems(
    models: SearchStrategy[Model] | Any | None = None,
    n: Range = (1, 8),
    dim: Range = (1, 3),
    steps: Range = (1, 8),
    relative_lr: tuple[float, float] = (0.01, 1.0),
    max_lr: float = 1.0,
    max_depth: int = 3,
    max_width: int = 16,
    activations: ActivationChoice = None,
    duplicates: bool = True,
    collinear: bool = True,
    scale: float = 1.0,
    targets: str = "real",
) -> SearchStrategy[TrainingProblem]:
    """A :class:`TrainingProblem` ``(model, X, Y, lr, steps, seed)`` that trains stably.

    The data come from :func:`datasets` (``n``, ``dim``, ``duplicates``, ``collinear``,
    ``scale``, ``targets``); the model from :func:`architectures` (``max_depth``,
    ``max_width``, ``activations``) unless ``models`` is given — a strategy, or a callable
    ``d -> strategy`` that builds models for the drawn input dimension ``d``.

    The step size is set relative to the problem: ``lr = r / λ_max(K^g_{w0}(X, X))`` with
    ``r`` log-uniform in ``relative_lr``. For the mse loss near ``w0``, gradient descent is
    stable for ``r < 2`` (the step times the top eigenvalue of the tangent-kernel Gram, seed
    003 Lemma 1), so the default ``(0.01, 1.0)`` keeps runs stable without hiding the
    nonlinearity. ``lr`` is capped at ``max_lr``: a deep, narrow net can start with a tiny
    kernel that grows along the path. A draw may still diverge (the bound holds at ``w0``
    only); tests should treat ``DivergenceError`` as a property of the draw.

    Defaults are small (n ≤ 8, d ≤ 3, width ≤ 16, ≤ 8 steps) so that training and an exact
    kernel-machine rebuild take tens of milliseconds.
    """
    lo, hi = relative_lr
    max_lr = positive_float(max_lr, "max_lr")
    positive_float(lo, "relative_lr min")
    positive_float(hi, "relative_lr max")
    if hi < lo:
        raise InvalidArgumentError(
            f"relative_lr must be (min, max) with min ≤ max; got {relative_lr}."
        )
    n_range, d_range = as_range(n, "n"), as_range(dim, "dim")
    steps_range = as_range(steps, "steps")
    scale = positive_float(scale, "scale")
    if targets not in ("real", "binary"):
        raise InvalidArgumentError(f"targets must be 'real' or 'binary'; got {targets!r}.")
    if models is None:
        as_range((1, max_depth), "max_depth")
        as_range((1, max_width), "max_width")
        activation_strategy(activations, ACTIVATION_NAMES)  # validate now
        model_strategy = None
    elif isinstance(models, SearchStrategy):
        model_strategy = models
    elif callable(models):
        return st.integers(*d_range).flatmap(
            lambda d: _training_problems(
                models(d),
                n_range,
                (d, d),
                steps_range,
                (lo, hi),
                max_lr,
                max_depth,
                max_width,
                activations,
                duplicates,
                collinear,
                scale,
                targets,
            )
        )
    else:
        raise InvalidArgumentError(
            "models must be None, a strategy of Models, or a callable d -> strategy; "
            f"got {type(models).__name__}."
        )
    return _training_problems(
        model_strategy,
        n_range,
        d_range,
        steps_range,
        (lo, hi),
        max_lr,
        max_depth,
        max_width,
        activations,
        bool(duplicates),
        bool(collinear),
        scale,
        targets,
    )

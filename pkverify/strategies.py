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
=========================  ==================================================================

Models are drawn with :func:`hypothesis.strategies.builds`, so a falsifying example prints the
constructor call (``mlp([2, 3, 1], activation='tanh')``), ready to paste. Bad strategy
arguments raise :class:`pkverify.errors.InvalidArgumentError` when the strategy is built,
before anything is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from . import models
from .activations import ACTIVATIONS, KINKED
from .errors import InvalidArgumentError
from .kernels.tangent import tangent_kernel
from .models import Model
from .validation import positive_float

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
]

ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)
"""Every activation the numeric models accept."""

SMOOTH_ACTIVATIONS: tuple[str, ...] = tuple(a for a in ACTIVATIONS if a not in KINKED)
"""Activations with a continuous derivative (every one but relu): the exact rule needs no
kink splitting on them, at any depth."""

Range = int | tuple[int, int]
ActivationChoice = str | Sequence[str] | SearchStrategy[str] | None


# ---------------------------------------------------------------------------------------
# feature maps for linear models (module-level so that examples print by name)
# ---------------------------------------------------------------------------------------


def quadratic_features(X: np.ndarray) -> np.ndarray:
    """``φ(x) = (x, x²)`` elementwise: ``(n, d) -> (n, 2d)``."""
    X = np.asarray(X)
    return np.concatenate([X, X * X], axis=1)


def fourier_features(X: np.ndarray) -> np.ndarray:
    """``φ(x) = (sin x, cos x)`` elementwise: ``(n, d) -> (n, 2d)``."""
    X = np.asarray(X)
    return np.concatenate([np.sin(X), np.cos(X)], axis=1)


FEATURE_MAPS: dict[str, Any] = {
    "identity": None,
    "quadratic": quadratic_features,
    "fourier": fourier_features,
}
"""Feature maps φ that :func:`linear_models` draws from (None is the identity)."""


# ---------------------------------------------------------------------------------------
# argument checks (raised when the strategy is built, before any draw)
# ---------------------------------------------------------------------------------------


def _range(value: Range, name: str, lowest: int = 1) -> tuple[int, int]:
    """An int or an inclusive ``(lo, hi)`` pair of ints ≥ ``lowest``."""
    lo, hi = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if (
        isinstance(lo, bool)
        or isinstance(hi, bool)
        or not all(isinstance(v, (int, np.integer)) for v in (lo, hi))
    ):
        raise InvalidArgumentError(
            f"{name} must be an int or a (min, max) pair of ints; got {value!r}."
        )
    if lo < lowest or hi < lo:
        raise InvalidArgumentError(
            f"{name} must satisfy {lowest} ≤ min ≤ max; got {value!r}. "
            f"For example {name}=({lowest}, {max(lowest, 4)})."
        )
    return int(lo), int(hi)


def _int_strategy(value: Range, name: str, lowest: int = 1) -> SearchStrategy[int]:
    lo, hi = _range(value, name, lowest)
    return st.just(lo) if lo == hi else st.integers(lo, hi)


def _activation_strategy(choice: ActivationChoice, default: Sequence[str]) -> SearchStrategy[str]:
    if isinstance(choice, SearchStrategy):
        return choice
    names = default if choice is None else [choice] if isinstance(choice, str) else list(choice)
    if not names:
        raise InvalidArgumentError(
            "activations must name at least one activation; got an empty list. "
            f"Known: {', '.join(ACTIVATION_NAMES)}."
        )
    unknown = [a for a in names if a not in ACTIVATIONS]
    if unknown:
        raise InvalidArgumentError(
            f"unknown activation(s) {unknown}; expected names from {list(ACTIVATION_NAMES)}."
        )
    return st.sampled_from(list(names))


# ---------------------------------------------------------------------------------------
# small strategies
# ---------------------------------------------------------------------------------------


def activations(names: Sequence[str] | None = None) -> SearchStrategy[str]:
    """An activation name, from ``names`` (default: all of :data:`ACTIVATION_NAMES`)."""
    return _activation_strategy(names, ACTIVATION_NAMES)


def seeds() -> SearchStrategy[int]:
    """An integer seed in ``[0, 2³² − 1]`` for ``numpy.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


def step_sizes(min_value: float = 1e-3, max_value: float = 1e-1) -> SearchStrategy[float]:
    """A step size ε, log-uniform on ``[min_value, max_value]`` (``log ε`` uniform).

    Step sizes matter by their order of magnitude, so each decade is drawn equally often.
    """
    lo = positive_float(min_value, "min_value")
    hi = positive_float(max_value, "max_value")
    if hi < lo:
        raise InvalidArgumentError(
            f"step_sizes needs min_value ≤ max_value; got {min_value!r} > {max_value!r}."
        )
    if lo == hi:
        return st.just(lo)
    log_lo, log_hi = math.log(lo), math.log(hi)
    return st.floats(log_lo, log_hi).map(lambda u: min(max(math.exp(u), lo), hi))


# ---------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------


def architectures(
    dim: Range = (1, 5),
    max_depth: int = 3,
    max_width: int = 32,
    activations: ActivationChoice = None,
    min_depth: int = 1,
    min_width: int = 1,
    outputs: Range = 1,
    bias: bool | None = None,
) -> SearchStrategy[Model]:
    """A built NTK-parameterised MLP, :func:`pkverify.models.mlp`.

    ``sizes = [dim, d_1, ..., d_L, k]`` with ``L`` hidden layers in ``[min_depth, max_depth]``,
    each width drawn independently in ``[min_width, max_width]``, and ``k`` outputs
    (``outputs=1``: scalar model). ``activations``: a name, a list of names, or a strategy
    (default: every activation). ``bias``: None draws it. ``dim`` may be an int (to match a
    dataset) or a ``(min, max)`` pair.
    """
    _range((min_depth, max_depth), "depth (min_depth, max_depth)")
    _range((min_width, max_width), "width (min_width, max_width)")
    dims = _int_strategy(dim, "dim")
    outs = _int_strategy(outputs, "outputs")
    hidden = st.lists(st.integers(min_width, max_width), min_size=min_depth, max_size=max_depth)
    sizes = st.tuples(dims, hidden, outs).map(lambda t: [t[0], *t[1], t[2]])
    biases = st.booleans() if bias is None else st.just(bool(bias))
    return st.builds(
        models.mlp,
        sizes,
        activation=_activation_strategy(activations, ACTIVATION_NAMES),
        bias=biases,
    )


def two_layer_models(
    dim: Range = (1, 5),
    max_width: int = 32,
    activations: ActivationChoice = None,
    min_width: int = 1,
    train_output: bool | None = None,
) -> SearchStrategy[Model]:
    """A built seed-003 two-layer net, :func:`pkverify.models.two_layer`.

    ``f(x) = m^{-1/2} Σ_r a_r σ(w_rᵀx)`` with width ``m`` in ``[min_width, max_width]``, the
    signs ``a_r`` from a drawn seed, trained or fixed (``train_output=None`` draws it).
    """
    _range((min_width, max_width), "width (min_width, max_width)")
    outs = st.booleans() if train_output is None else st.just(bool(train_output))
    return st.builds(
        models.two_layer,
        _int_strategy(dim, "dim"),
        st.integers(min_width, max_width),
        activation=_activation_strategy(activations, ACTIVATION_NAMES),
        train_output=outs,
        seed=seeds(),
    )


def linear_models(
    dim: Range = (1, 5),
    bias: bool | None = None,
    features: Sequence[str] | None = None,
) -> SearchStrategy[Model]:
    """A built linear model ``f = w·φ(x) (+ b)``, :func:`pkverify.models.linear`.

    ``features``: names from :data:`FEATURE_MAPS` to draw φ from (default: all of them,
    including the identity). ``bias=None`` draws it.
    """
    names = list(FEATURE_MAPS) if features is None else list(features)
    unknown = [f for f in names if f not in FEATURE_MAPS]
    if not names or unknown:
        raise InvalidArgumentError(
            f"features must be a non-empty list of names from {list(FEATURE_MAPS)}; "
            f"got {features!r}."
        )
    biases = st.booleans() if bias is None else st.just(bool(bias))
    return st.builds(
        models.linear,
        _int_strategy(dim, "dim"),
        bias=biases,
        features=st.sampled_from([FEATURE_MAPS[f] for f in names]),
    )


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def _coordinates(scale: float) -> SearchStrategy[float]:
    return st.floats(-scale, scale, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def _rows(
    draw: st.DrawFn, n: int, d: int, scale: float, duplicates: bool, collinear: bool
) -> np.ndarray:
    """n rows in ``[-scale, scale]^d``; each later row may copy an earlier one (duplicate) or
    lie on the line through earlier ones (collinear: on the segment between two rows, or on
    the line through one row and the origin)."""
    X = np.empty((n, d))
    kinds = ["fresh"]
    if duplicates:
        kinds.append("duplicate")
    if collinear:
        kinds += ["segment", "through_origin"]
    for i in range(n):
        kind = draw(st.sampled_from(kinds)) if i > 0 else "fresh"
        if kind == "fresh" or (kind == "segment" and i < 2):
            X[i] = draw(st.lists(_coordinates(scale), min_size=d, max_size=d))
        elif kind == "duplicate":
            X[i] = X[draw(st.integers(0, i - 1))]
        elif kind == "segment":  # x_j + t (x_k − x_j), t ∈ [0, 1]: stays inside the box
            j, k = draw(st.lists(st.integers(0, i - 1), min_size=2, max_size=2, unique=True))
            t = draw(st.floats(0.0, 1.0))
            X[i] = X[j] + t * (X[k] - X[j])
        else:  # t x_j, t ∈ [−1, 1]: collinear with x_j and the origin
            X[i] = draw(st.floats(-1.0, 1.0)) * X[draw(st.integers(0, i - 1))]
    return X


@st.composite
def _datasets(
    draw: st.DrawFn,
    n: tuple[int, int],
    dim: tuple[int, int],
    duplicates: bool,
    collinear: bool,
    scale: float,
    targets: str,
) -> tuple[np.ndarray, np.ndarray]:
    rows = draw(st.integers(*n))
    d = draw(st.integers(*dim))
    X = draw(_rows(rows, d, scale, duplicates, collinear))
    if targets == "binary":
        values = st.sampled_from([0.0, 1.0])
    else:
        values = _coordinates(scale)
    Y = np.array(draw(st.lists(values, min_size=rows, max_size=rows)), dtype=np.float64)
    return X, Y


def datasets(
    n: Range = (1, 16),
    dim: Range = (1, 5),
    duplicates: bool = True,
    collinear: bool = True,
    scale: float = 2.0,
    targets: str = "real",
) -> SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """A training set ``(X (n, d), Y (n,))`` of finite float64 values in ``[-scale, scale]``.

    ``n`` and ``dim`` are ints or inclusive ``(min, max)`` pairs. With ``duplicates`` some
    rows repeat earlier rows exactly (possibly with different targets); with ``collinear``
    some rows lie on a segment between two earlier rows or on the line through an earlier
    row and the origin (so Gram matrices are singular). ``targets``: ``"real"`` (values in
    ``[-scale, scale]``, for mse) or ``"binary"`` (0/1, for the logistic loss). Magnitudes
    are bounded so that training at a moderate step stays stable.
    """
    n_range = _range(n, "n")
    d_range = _range(dim, "dim")
    scale = positive_float(scale, "scale")
    if targets not in ("real", "binary"):
        raise InvalidArgumentError(f"targets must be 'real' or 'binary'; got {targets!r}.")
    return _datasets(n_range, d_range, bool(duplicates), bool(collinear), scale, targets)


# ---------------------------------------------------------------------------------------
# training problems
# ---------------------------------------------------------------------------------------


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
        from .train import train

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


def model_call(model: Model) -> str:
    """The constructor call that rebuilds a built-in model, e.g. ``mlp([2, 3, 1], ...)``."""
    if model.spec is None:
        phi = model.info.get("phi")
        if model.name == "linear":
            return (
                f"linear({model.input_dim}, bias={model.info.get('bias')}, "
                f"features={getattr(phi, '__name__', phi)})"
            )
        return repr(model)
    spec = dict(model.spec)
    kind = spec.pop("kind")
    first = spec.pop("sizes" if kind == "mlp" else "dim")
    rest = "".join(f", {k}={v!r}" for k, v in spec.items())
    return f"{kind}({first!r}{rest})"


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
    n_range, d_range = _range(n, "n"), _range(dim, "dim")
    steps_range = _range(steps, "steps")
    scale = positive_float(scale, "scale")
    if targets not in ("real", "binary"):
        raise InvalidArgumentError(f"targets must be 'real' or 'binary'; got {targets!r}.")
    if models is None:
        _range((1, max_depth), "max_depth")
        _range((1, max_width), "max_width")
        _activation_strategy(activations, ACTIVATION_NAMES)  # validate now
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

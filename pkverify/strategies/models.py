"""Strategies that draw built models: MLPs, ntk-notes two-layer nets, linear models; the
feature maps linear models draw from (module-level so that examples print by name), and the
constructor call that rebuilds a drawn model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .. import models
from ..errors import InvalidArgumentError
from ..models import Model
from ._arguments import (
    ACTIVATION_NAMES,
    ActivationChoice,
    Range,
    activation_strategy,
    as_range,
    int_strategy,
)
from .scalars import seeds


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
    as_range((min_depth, max_depth), "depth (min_depth, max_depth)")
    as_range((min_width, max_width), "width (min_width, max_width)")
    dims = int_strategy(dim, "dim")
    outs = int_strategy(outputs, "outputs")
    hidden = st.lists(st.integers(min_width, max_width), min_size=min_depth, max_size=max_depth)
    sizes = st.tuples(dims, hidden, outs).map(lambda t: [t[0], *t[1], t[2]])
    biases = st.booleans() if bias is None else st.just(bool(bias))
    return st.builds(
        models.mlp,
        sizes,
        activation=activation_strategy(activations, ACTIVATION_NAMES),
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
    as_range((min_width, max_width), "width (min_width, max_width)")
    outs = st.booleans() if train_output is None else st.just(bool(train_output))
    return st.builds(
        models.two_layer,
        int_strategy(dim, "dim"),
        st.integers(min_width, max_width),
        activation=activation_strategy(activations, ACTIVATION_NAMES),
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
        int_strategy(dim, "dim"),
        bias=biases,
        features=st.sampled_from([FEATURE_MAPS[f] for f in names]),
    )


def model_call(model: Model) -> str:
    """The constructor call that rebuilds a built-in model, e.g. ``mlp([2, 3, 1], ...)``."""
    if model.spec is None:
        phi = model.phi
        if model.name == "linear":
            return (
                f"linear({model.input_dim}, bias={model.bias}, "
                f"features={getattr(phi, '__name__', phi)})"
            )
        return repr(model)
    spec = dict(model.spec)
    kind = spec.pop("kind")
    first = spec.pop("sizes" if kind == "mlp" else "dim")
    rest = "".join(f", {k}={v!r}" for k, v in spec.items())
    return f"{kind}({first!r}{rest})"

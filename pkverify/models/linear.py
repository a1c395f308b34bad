"""The linear model ``f(w, x) = w·φ(x) + b`` (Domingos 2020 §3 [domingos2020])."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import autograd.numpy as anp
import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..validation import as_flag
from .base import Model, positive_size
from .layers import Dense, Network, forward

__all__ = ["linear"]


def linear(
    dim: int, bias: bool = True, features: Callable[[np.ndarray], np.ndarray] | None = None
) -> Model:
    """Linear model ``f(w, x) = w·φ(x) + b`` (``b`` only with ``bias=True``).

    ``features`` maps ``X (n, d)`` to ``Φ (n, p)``; identity when None. Parameters are
    ``[w (p), b]``. The tangent kernel is ``φ(x)·φ(x') + 1`` (``+1`` from the bias) at every
    w, so the path kernel over flow time T is ``T (φ(x)·φ(x') + 1)``. As layers: one
    :class:`Dense` ``p → 1`` on the features.
    """
    dim = positive_size(dim, "dim")
    bias = as_flag(bias, "bias")
    if features is not None and not callable(features):
        raise InvalidArgumentError(
            f"features must be a function φ(X) -> (n, p) array (or None for φ(x) = x); "
            f"got {type(features).__name__}."
        )
    phi = features if features is not None else (lambda X: X)
    probe = np.asarray(phi(np.zeros((2, dim))))
    if probe.ndim != 2 or probe.shape[0] != 2:
        raise ShapeError(
            "features φ must map X (n, d) to an (n, p) array; for a 2-row input it returned "
            f"shape {probe.shape}. Return one feature row per input row."
        )
    p = probe.shape[1]
    n_params = p + (1 if bias else 0)
    net = Network(
        (Dense(p, 1, weight=0, bias=p if bias else None),),
        n_params,
        dim,
        scalar=True,
        features=features,
    )

    def init(seed: int) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal(n_params)

    spec = None if features is not None else {"kind": "linear", "dim": dim, "bias": bias}
    return Model(
        "linear",
        partial(forward, net, xp=anp),
        n_params,
        dim,
        None,
        init,
        spec=spec,
        network=net,
        bias=bias,
        phi=phi,
        n_features=p,
    )

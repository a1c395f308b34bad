"""The two-layer net of the NTK notes, eq. 9 [ntk-notes]: ``f = m^{-1/2} Σ_r a_r σ(w_rᵀx)``."""

from __future__ import annotations

import math
from functools import partial

import autograd.numpy as anp
import numpy as np

from ..activations import KINKED, check_activation
from ..validation import as_flag, as_seed
from .base import Model, positive_size
from .layers import Dense, Network, forward

__all__ = ["two_layer"]


def two_layer(
    dim: int,
    width: int,
    activation: str = "relu",
    train_output: bool = False,
    seed: int = 0,
) -> Model:
    """The NTK notes' two-layer net ``f(x) = m^{-1/2} Σ_{r=1}^m a_r σ(w_rᵀx)``.

    ``a_r ∈ {±1}`` are drawn uniformly from ``seed`` and held fixed (the notes' setting, in
    which ``H(0) → H*``); with ``train_output=True`` they join the parameters, initialised
    at the same signs. Parameters: ``W`` row-major ``(m, d)``, then ``a (m)`` if trained.
    ``init(seed)`` draws ``W ~ N(0, I)``. As layers: ``Dense(d → m, σ)`` then
    ``Dense(m → 1, scale m^{-1/2})`` whose weight is ``a`` (fixed or trained).
    """
    dim = positive_size(dim, "dim")
    width = positive_size(width, "width")
    act_name = check_activation(activation)
    seed = as_seed(seed)
    train_output = as_flag(train_output, "train_output")
    signs = np.where(np.random.default_rng(seed).random(width) < 0.5, -1.0, 1.0)
    m, d = width, dim
    n_w = m * d
    n_params = n_w + (m if train_output else 0)
    hidden = Dense(d, m, weight=0, activation=act_name)
    output = Dense(
        m,
        1,
        scale=1.0 / math.sqrt(m),
        weight=n_w if train_output else None,
        fixed=None if train_output else signs[None, :].copy(),
    )
    net = Network((hidden, output), n_params, d, scalar=True)

    def init(s: int) -> np.ndarray:
        W0 = np.random.default_rng(s).standard_normal(n_w)
        return np.concatenate([W0, signs]) if train_output else W0

    return Model(
        "two_layer",
        partial(forward, net, xp=anp),
        n_params,
        dim,
        None,
        init,
        spec={
            "kind": "two_layer",
            "dim": dim,
            "width": width,
            "activation": act_name,
            "train_output": train_output,
            "seed": seed,
        },
        network=net,
        smooth=act_name not in KINKED,
        activation=act_name,
        signs=signs,
    )

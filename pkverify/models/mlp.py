"""Fully-connected nets in the NTK parameterisation (NTK notes eqs. 16–17 [ntk-notes])."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import autograd.numpy as anp
import numpy as np

from ..activations import KINKED, c_sigma, check_activation
from ..validation import as_flag, as_seed
from .base import Model, check_sizes
from .layers import Dense, Network, forward

__all__ = ["mlp"]


def mlp(sizes: Sequence[int], activation: str = "tanh", bias: bool = True, seed: int = 0) -> Model:
    """Fully-connected net in the NTK parameterisation of the NTK notes' eqs. 16–17.

    ``sizes = [d, d_1, ..., d_L, k]``. With ``g^0 = x``::

        f^h = W^h g^{h-1} (+ b^h),   g^h = sqrt(c_σ / d_h) σ(f^h)   (h = 1..L)
        f(w, x) = W^{L+1} g^L (+ b^{L+1})

    with ``c_σ = 1/E[σ(z)²]`` and all weights standard normal at init; the first layer is
    unscaled. With ``bias=False`` this is exactly eqs. 16–17, whose width→∞ kernel is the
    recursion of eqs. 22–23. Biases start at 0. ``k = 1`` gives a scalar output ``(n,)``;
    ``k > 1`` gives ``(n, k)``. Parameters are ``W^1, b^1, W^2, b^2, ...`` flattened
    row-major. As layers, the factor ``sqrt(c_σ/d_h)`` is the input scale of layer h + 1.
    """
    sizes = check_sizes(sizes)
    act_name = check_activation(activation)
    seed = as_seed(seed)
    bias = as_flag(bias, "bias")
    cs = c_sigma(act_name)
    layers: list[Dense] = []
    offset = 0
    n_layers = len(sizes) - 1
    for h in range(n_layers):
        fan_in, fan_out = sizes[h], sizes[h + 1]
        w_off = offset
        offset += fan_in * fan_out
        b_off = None
        if bias:
            b_off = offset
            offset += fan_out
        layers.append(
            Dense(
                fan_in,
                fan_out,
                scale=1.0 if h == 0 else math.sqrt(cs / fan_in),
                weight=w_off,
                bias=b_off,
                activation=act_name if h < n_layers - 1 else None,
            )
        )
    n_params = offset
    k = sizes[-1]
    net = Network(tuple(layers), n_params, sizes[0], scalar=k == 1)

    def init(s: int) -> np.ndarray:
        rng = np.random.default_rng(s)
        w0 = np.zeros(n_params)
        for layer in layers:
            o = layer.weight
            assert o is not None
            w0[o : o + layer.n_weights] = rng.standard_normal(layer.n_weights)
        return w0

    return Model(
        "mlp",
        partial(forward, net, xp=anp),
        n_params,
        sizes[0],
        None if k == 1 else k,
        init,
        spec={
            "kind": "mlp",
            "sizes": list(sizes),
            "activation": act_name,
            "bias": bias,
            "seed": seed,
        },
        network=net,
        smooth=act_name not in KINKED,
        activation=act_name,
        bias=bias,
        sizes=tuple(sizes),
        c_sigma=cs,
    )

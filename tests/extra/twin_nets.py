"""The same network built in PyTorch and in JAX from the same weights, for tests that run one
check over both frameworks (the two recorded paths and kernel machines must agree).

Weights are drawn once with NumPy as ``[(W1, b1), (W2, b2), ...]`` with PyTorch's
``Linear`` layout (``W`` of shape (out, in), ``y = x Wᵀ + b``). The torch module holds them in
``module.parameters()`` order; the JAX params are that very list of ``(W, b)`` pairs, whose
``ravel_pytree`` order is the same (W1, b1, W2, b2, ...), so the flat w of the two frameworks
are equal entry by entry.
"""

from __future__ import annotations

import numpy as np


def mlp_weights(sizes, seed=0):
    """``[(W, b), ...]`` float64 for layer sizes ``(d, h, ..., k)``, N(0, 1/fan_in) weights and
    N(0, 0.1²) biases (NumPy, seeded)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((o, i)) / np.sqrt(i), 0.1 * rng.standard_normal(o))
            for i, o in zip(sizes[:-1], sizes[1:])]


def torch_mlp(weights, dtype=None):
    """A torch ``Sequential`` of Linear layers with tanh between them, holding ``weights``."""
    import torch

    layers = []
    for j, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype or torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.asarray(W)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b)))
        layers.append(lin)
        if j < len(weights) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def jax_apply(params, x):
    """The same network as a pure function over ``[(W, b), ...]``."""
    import jax.numpy as jnp

    h = x
    for j, (W, b) in enumerate(params):
        h = h @ W.T + b
        if j < len(params) - 1:
            h = jnp.tanh(h)
    return h


def jax_params(weights, dtype="float64"):
    """``weights`` as JAX arrays (float64 needs ``jax_enable_x64``)."""
    import jax.numpy as jnp

    return [(jnp.asarray(W, dtype=dtype), jnp.asarray(b, dtype=dtype)) for W, b in weights]

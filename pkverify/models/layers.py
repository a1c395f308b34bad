"""Networks described as typed layers, and their one forward pass.

A built-in model is a stack of :class:`Dense` layers (NTK notes eqs. 16–17 [ntk-notes])::

    a^h   = scale_h · g^{h−1}                 (g^0 = φ(x), the features; x itself by default)
    f^h   = a^h W_hᵀ (+ b_h)                  (pre-activation, (n, d_h))
    g^h   = σ(f^h)                            (hidden layers; the output layer has no σ)
    f(x)  = f^{L+1}

:func:`forward` is the only place this recursion is written. Called with ``xp =
autograd.numpy`` it is the model's differentiable ``f(w, X)`` (the autograd reference
differentiates it); called with NumPy, CuPy or any Array-API namespace and ``keep=True`` it
returns the :class:`Trace` — every ``a^h`` and ``f^h`` — from which the layer-wise engine
builds gradients, forward-mode products and kernels without a per-example Jacobian.

``along=(Δ, τ)`` evaluates each row r at its own weights ``w + τ_r Δ`` (the exact path-kernel
rule integrates along a step with nodes placed per row); every layer then costs two products,
``a W_hᵀ + τ_r (a ΔW_hᵀ)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..activations import KINKED, derivative_from_output, elementwise

__all__ = ["Dense", "Network", "Trace", "forward", "layer_weight", "layer_bias"]


@dataclass(frozen=True)
class Dense:
    """One affine layer ``f^h = (scale · g^{h−1}) W_hᵀ + b_h``, then ``σ`` (None at the output).

    fan_in, fan_out: W_h is ``(fan_out, fan_in)``.
    scale:       multiplies the layer's input: 1 for the first layer, ``sqrt(c_σ/d_{h−1})`` in
                 the NTK parameterisation, ``m^{−1/2}`` for the two-layer net's output.
    weight:      offset of W_h (row-major) in the flat parameters w; None when W_h is fixed.
    bias:        offset of b_h in w; None for no bias.
    fixed:       the fixed W_h when ``weight`` is None (the two-layer net's signs a_r = ±1).
    activation:  name of σ applied after this layer; None for the output layer.
    """

    fan_in: int
    fan_out: int
    scale: float = 1.0
    weight: int | None = None
    bias: int | None = None
    fixed: np.ndarray | None = field(default=None, repr=False)
    activation: str | None = None

    @property
    def n_weights(self) -> int:
        return self.fan_in * self.fan_out


@dataclass(frozen=True)
class Network:
    """A model as layers: ``layers`` in order, ``n_params`` = P, ``features`` φ (None: x).

    scalar:  True when f returns ``(n,)`` (one output, squeezed); the trace keeps ``(n, 1)``.
    """

    layers: tuple[Dense, ...]
    n_params: int
    input_dim: int
    scalar: bool
    features: Callable[[Any], Any] | None = None

    @property
    def output_dim(self) -> int:
        return self.layers[-1].fan_out

    @property
    def kinked(self) -> bool:
        """True when some hidden activation has a jump in its derivative (relu)."""
        return any(layer.activation in KINKED for layer in self.layers)

    @property
    def hidden(self) -> int:
        """L, the number of hidden (activated) layers."""
        return sum(layer.activation is not None for layer in self.layers)


@dataclass
class Trace:
    """Everything one forward pass saw: ``inputs[h] = a^h (n, fan_in)``, ``pres[h] = f^h
    (n, fan_out)``; ``out = f^{L+1} (n, k)``. ``along`` is the per-row weight path, if any."""

    inputs: list[Any]
    pres: list[Any]
    along: tuple[Any, Any] | None = None
    outs: list[Any] | None = None  # g^h = σ(f^h) of hidden layers (None at the output)

    def dsigma(self, net: Network, h: int, xp: Any) -> Any:
        """σ'(f^h) of hidden layer h, from the stored f^h and g^h."""
        name = net.layers[h].activation
        assert name is not None
        z = self.pres[h]
        g = None if self.outs is None else self.outs[h]
        if g is None:
            return elementwise(name, xp)[1](z)
        return derivative_from_output(name, xp)(z, g)

    @property
    def out(self) -> Any:
        return self.pres[-1]


def layer_weight(layer: Dense, w: Any, xp: Any) -> Any:
    """W_h as ``(fan_out, fan_in)`` from the flat vector w (or the fixed matrix)."""
    if layer.weight is None:
        return xp.asarray(layer.fixed, dtype=_dtype_of(w, xp))
    o = layer.weight
    return xp.reshape(w[o : o + layer.n_weights], (layer.fan_out, layer.fan_in))


def layer_bias(layer: Dense, w: Any) -> Any:
    """b_h from the flat vector w (the caller checks ``layer.bias is not None``)."""
    o = layer.bias
    assert o is not None
    return w[o : o + layer.fan_out]


def _dtype_of(w: Any, xp: Any) -> Any:
    dt = getattr(w, "dtype", None)
    return dt if dt is not None else xp.float64


def forward(
    net: Network,
    w: Any,
    X: Any,
    xp: Any,
    *,
    keep: bool = False,
    along: tuple[Any, Any] | None = None,
) -> Any:
    """``f(w, X)`` through the layers; with ``keep=True`` the :class:`Trace` instead.

    ``along = (Δ, τ)`` with τ of shape ``(n,)`` evaluates row r at ``w + τ_r Δ``.
    Shapes: output ``(n,)`` for scalar networks (``(n, k)`` otherwise); the trace keeps
    ``(n, k)``.
    """
    g = X if net.features is None else net.features(X)
    inputs: list[Any] = []
    pres: list[Any] = []
    outs: list[Any] = []
    tau = None if along is None else along[1][:, None]
    for layer in net.layers:
        a = g if layer.scale == 1.0 else layer.scale * g
        W = layer_weight(layer, w, xp)
        pre = a @ W.T
        if along is not None and layer.weight is not None:
            pre = pre + tau * (a @ layer_weight(layer, along[0], xp).T)
        if layer.bias is not None:
            pre = pre + layer_bias(layer, w)
            if along is not None:
                pre = pre + tau * layer_bias(layer, along[0])
        if keep:
            inputs.append(a)
            pres.append(pre)
        g = pre if layer.activation is None else elementwise(layer.activation, xp)[0](pre)
        if keep:
            outs.append(None if layer.activation is None else g)
    if keep:
        return Trace(inputs, pres, along, outs)
    return g[:, 0] if net.scalar else g

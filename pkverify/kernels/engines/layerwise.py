"""Layer-wise gradients, forward-mode products and kernels of a :class:`Network`.

From one forward trace (``a^h``, ``f^h``; see :mod:`pkverify.models.layers`) and one backward
sweep of the output's sensitivities ``δ^h_c = ∂f_c/∂f^h`` (NTK notes eqs. 19–20 [ntk-notes])::

    δ^{L+1}_c = e_c,        δ^{h−1}_c = σ'(f^{h−1}) ⊙ (scale_h W_hᵀ δ^h_c)
    ∂f_c/∂W_h = δ^h_c (a^h)ᵀ,   ∂f_c/∂b_h = δ^h_c

every product the theorem needs follows without an ``(n, P)`` Jacobian:

* kernel (eq. 22)::

      K_cd(x, x') = Σ_h (⟨a^h(x), a^h(x')⟩ [W_h trained] + [b_h]) · ⟨δ^h_c(x), δ^h_d(x')⟩

  — O(n₁ n₂ Σ_h (d_{h−1} + k² d_h)) beyond the two passes; the sides may sit at different
  weights (the exact rule pairs ``w_s + τΔ_s`` with ``w_s``);
* vector–Jacobian product ``Σ_i v_i·∇f(x_i)``: one backward pass with cotangent v (training's
  own gradient);
* forward-mode product ``∇f(x)·u`` for t tangents at once: one pass carrying ``(t, n, d_h)``
  tangents beside the activations.

Everything is written with ``xp.*`` calls from the Array API, so it runs on NumPy, CuPy or any
conforming namespace, in float32 or float64 (the dtype of w and X).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...models.layers import Network, Trace, forward, layer_weight

__all__ = [
    "Side",
    "side",
    "backprop",
    "vjp_from_trace",
    "jvp",
    "cross_kernel",
    "side_rows",
    "row_bytes",
]


@dataclass
class Side:
    """One side of a kernel: the trace and ``deltas[h] = δ^h`` of shape ``(n, k, d_h)`` for
    every layer below the output (the output layer's δ is the identity and is not stored).
    The trace keeps each layer's input ``a^h`` and the output f; the hidden ``f^h`` and
    ``g^h`` are released once their σ' has entered δ (a kernel needs only ``a^h`` and δ)."""

    trace: Trace
    deltas: list[Any]

    @property
    def n(self) -> int:
        return int(self.trace.out.shape[0])


def permute(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``permute_dims`` (Array API) or ``transpose`` (older NumPy/CuPy)."""
    fn = getattr(xp, "permute_dims", None)
    return fn(x, axes) if fn is not None else xp.transpose(x, axes)


def _weight_and_step(layer, w: Any, along: tuple[Any, Any] | None, xp: Any):
    """``(W_h, ΔW_h)``: the layer's weight and, on a per-row path ``w + τΔ``, its step ΔW_h
    (None at shared weights or for a fixed W_h)."""
    weight = layer_weight(layer, w, xp)
    weight_step = None
    if along is not None and layer.weight is not None:
        weight_step = layer_weight(layer, along[0], xp)
    return weight, weight_step


def backprop(net: Network, trace: Trace, w: Any, xp: Any, release: bool = False) -> list[Any]:
    """``δ^h`` for every layer below the output, shape ``(n, k, d_h)`` (eq. 20)::

        δ^{h−1} = (δ^h W_h) ⊙ scale_h σ'(f^{h−1})       (δ^{L+1} = I_k)

    The layer's input scale is folded into the smallest array it can ride on: the ``(k, d)``
    output weight at the top, else the fresh ``δ^h W_h`` product, which is scaled in place
    (every temporary stays in the dtype of w and the trace). ``release=True`` drops each hidden
    layer's ``f^h`` and ``g^h`` from the trace as soon as its σ' is taken, so that the pass
    never holds the whole forward trace and every δ at once."""
    layers = net.layers
    top = len(layers) - 1
    deltas: list[Any] = [None] * top
    along = trace.along
    tau = None if along is None else along[1][:, None, None]
    delta = None  # δ^h, (n, k, d_h); the output's is the identity
    for h in range(top, 0, -1):
        layer = layers[h]
        weight, weight_step = _weight_and_step(layer, w, along, xp)
        dsigma = trace.dsigma(net, h - 1, xp)[:, None, :]
        if release:
            trace.pres[h - 1] = None
            if trace.outs is not None:
                trace.outs[h - 1] = None
        if delta is None:  # δ^{L+1} = I: δ W is W itself, broadcast over rows
            if weight_step is None:  # scale the (k, d) weight, not an (n, k, d) array
                delta = (layer.scale * weight)[None, :, :] * dsigma
            else:
                upstream = weight[None, :, :] + tau * weight_step[None, :, :]
                upstream *= layer.scale
                delta = upstream * dsigma
        else:  # one (n·k, d) product, not n batched (k, d) ones
            n, k, d = delta.shape
            rows = xp.reshape(delta, (n * k, d))
            upstream = xp.reshape(rows @ weight, (n, k, weight.shape[1]))
            if weight_step is not None:
                upstream = upstream + tau * xp.reshape(rows @ weight_step,
                                                       (n, k, weight.shape[1]))
            if layer.scale != 1.0:
                upstream *= layer.scale
            upstream *= dsigma  # a fresh product: scaled in place, no (n, k, d) temporary
            delta = upstream
        deltas[h - 1] = delta
    return deltas


def side(net: Network, w: Any, X: Any, xp: Any, along: tuple[Any, Any] | None = None) -> Side:
    """Forward trace and sensitivities of ``X`` at ``w`` (row r at ``w + τ_r Δ`` with along)."""
    trace = forward(net, w, X, xp, keep=True, along=along)
    return Side(trace, backprop(net, trace, w, xp, release=True))


def side_rows(s: Side, lo: int, hi: int) -> Side:
    """Rows ``lo:hi`` of a side (no recomputation)."""
    t = s.trace
    return Side(
        Trace([a[lo:hi] for a in t.inputs], [None if p is None else p[lo:hi] for p in t.pres],
              None,
              None if t.outs is None else [None if g is None else g[lo:hi] for g in t.outs]),
        [d[lo:hi] for d in s.deltas],
    )


def vjp_from_trace(net: Network, trace: Trace, w: Any, v: Any, xp: Any) -> Any:
    """``Σ_i Σ_c v_ic ∇f_c(w, x_i)``, shape ``(P,)``, for a cotangent ``v (n, k)``."""
    grad = xp.zeros((net.n_params,), dtype=v.dtype)
    in_place = isinstance(grad, np.ndarray) and isinstance(v, np.ndarray)
    cotangent = v  # Σ_c v_ic δ^h_c(x_i): the cotangent of f^h, (n, d_h)
    layers = net.layers
    for h in range(len(layers) - 1, -1, -1):
        layer = layers[h]
        if layer.weight is not None:
            offset = layer.weight
            if in_place:  # NumPy: the product lands in the flat gradient, no copy
                np.matmul(cotangent.T, trace.inputs[h],
                          out=grad[offset : offset + layer.n_weights].reshape(layer.fan_out,
                                                                              layer.fan_in))
            else:
                weight_grad = cotangent.T @ trace.inputs[h]
                grad[offset : offset + layer.n_weights] = xp.reshape(weight_grad,
                                                                     (layer.n_weights,))
        if layer.bias is not None:
            offset = layer.bias
            grad[offset : offset + layer.fan_out] = xp.sum(cotangent, axis=0)
        if h > 0:
            weight = layer_weight(layer, w, xp)
            cotangent = (cotangent @ weight) * (layer.scale * trace.dsigma(net, h - 1, xp))
    return grad


def jvp(
    net: Network, w: Any, X: Any, U: Any, xp: Any, along: tuple[Any, Any] | None = None
) -> tuple[Any, Any]:
    """``(f(w, X), ∇f(w, X)·U)`` for t tangents ``U (t, P)``: shapes ``(n, k)``, ``(t, n, k)``.

    One forward pass carries the tangents of the pre-activations beside them::

        ḟ^h = ȧ^h W_hᵀ + a^h U_{W_h}ᵀ + U_{b_h},   ȧ^{h+1} = scale_{h+1} σ'(f^h) ⊙ ḟ^h
    """
    trace = forward(net, w, X, xp, keep=True, along=along)
    t = U.shape[0]
    n = trace.out.shape[0]
    tau = None if along is None else along[1][None, :, None]
    d_out = None  # ġ^{h−1}, the tangent of the previous layer's output, (t, n, d)
    d_pre = None  # ḟ^h, the tangent of this layer's pre-activation, (t, n, d_h)
    for h, layer in enumerate(net.layers):
        a = trace.inputs[h]
        d_pre = None
        if d_out is not None:
            weight, weight_step = _weight_and_step(layer, w, along, xp)
            d_in = d_out if layer.scale == 1.0 else layer.scale * d_out  # ȧ^h
            d_pre = d_in @ weight.T
            if weight_step is not None:
                d_pre = d_pre + tau * (d_in @ weight_step.T)
        if layer.weight is not None:
            offset = layer.weight
            U_weight = xp.reshape(U[:, offset : offset + layer.n_weights],
                                  (t, layer.fan_out, layer.fan_in))
            term = a @ permute(xp, U_weight, (0, 2, 1))
            d_pre = term if d_pre is None else d_pre + term
        if layer.bias is not None:
            offset = layer.bias
            U_bias = U[:, None, offset : offset + layer.fan_out]
            d_pre = U_bias + xp.zeros((t, n, layer.fan_out), dtype=U.dtype) if d_pre is None \
                else d_pre + U_bias
        if d_pre is None:
            d_pre = xp.zeros((t, n, layer.fan_out), dtype=U.dtype)
        if layer.activation is not None:
            d_out = trace.dsigma(net, h, xp)[None, :, :] * d_pre
    assert d_pre is not None  # a network has at least one layer
    return trace.out, d_pre


def cross_kernel(net: Network, A: Side, B: Side, xp: Any) -> Any:
    """``K[i, j, c, d] = ∇f_c(x_i)·∇f_d(x'_j)`` between two sides: ``(n1, n2, k, k)`` (eq. 22)::

        K_cd = Σ_h input_gram_h · delta_gram_h,cd
        input_gram_h  = ⟨a^h(x), a^h(x')⟩ [W_h trained] + 1 [b_h]      (n1, n2)
        delta_gram_h  = ⟨δ^h_c(x), δ^h_d(x')⟩                           (n1, n2, k, k)

    The output layer's δ is the identity, so its term is ``input_gram ⊗ I_k``; for one output
    (k = 1) every term is an ``(n1, n2)`` product, accumulated in place.
    """
    k = net.output_dim
    n1, n2 = A.n, B.n
    last = len(net.layers) - 1
    dtype = A.trace.out.dtype
    identity_part = None  # Σ over the terms that are ⊗ I_k, (n1, n2)
    block_part = None  # Σ over the other terms, (n1, n2, k, k)
    for h, layer in enumerate(net.layers):
        if layer.weight is None and layer.bias is None:
            continue
        input_gram: Any = None
        if layer.weight is not None:
            input_gram = A.trace.inputs[h] @ B.trace.inputs[h].T  # a fresh product
            if layer.bias is not None:
                input_gram += 1.0
        else:
            input_gram = xp.ones((n1, n2), dtype=dtype)
        if h != last and k == 1:
            input_gram *= A.deltas[h][:, 0, :] @ B.deltas[h][:, 0, :].T
        if h == last or k == 1:
            if identity_part is None:
                identity_part = input_gram
            else:
                identity_part += input_gram
            continue
        delta_a, delta_b = A.deltas[h], B.deltas[h]
        d = delta_a.shape[2]
        delta_gram = xp.reshape(delta_a, (n1 * k, d)) @ xp.reshape(delta_b, (n2 * k, d)).T
        delta_gram = permute(xp, xp.reshape(delta_gram, (n1, k, n2, k)), (0, 2, 1, 3))
        term = input_gram[:, :, None, None] * delta_gram
        if block_part is None:
            block_part = term
        else:
            block_part += term
    if identity_part is None:  # no trained output layer: every term is a block
        identity_part = xp.zeros((n1, n2), dtype=dtype)
    if k == 1:  # K = identity_part ⊗ I_1: a view, no copy
        return xp.reshape(identity_part, (n1, n2, 1, 1))
    K = identity_part[:, :, None, None] * xp.eye(k, dtype=dtype)
    if block_part is not None:
        K += block_part
    return K


def row_bytes(net: Network, n2: int, itemsize: int) -> int:
    """Bytes one row of side A costs in :func:`cross_kernel` against ``n2`` rows: its trace
    and δ, plus its share of the ``(n2, k, k)`` temporaries (input and δ Grams, the sum)."""
    k = net.output_dim
    act = sum(layer.fan_in + layer.fan_out + k * layer.fan_out for layer in net.layers)
    return itemsize * (2 * act + 4 * n2 * k * k)

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
    every layer below the output (the output layer's δ is the identity and is not stored)."""

    trace: Trace
    deltas: list[Any]

    @property
    def n(self) -> int:
        return int(self.trace.out.shape[0])


def permute(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``permute_dims`` (Array API) or ``transpose`` (older NumPy/CuPy)."""
    fn = getattr(xp, "permute_dims", None)
    return fn(x, axes) if fn is not None else xp.transpose(x, axes)


def _weight_path(layer, w: Any, along: tuple[Any, Any] | None, xp: Any):
    """``(W, ΔW)``: the layer's weight and, on a per-row path, its direction (else None)."""
    W = layer_weight(layer, w, xp)
    dW = None
    if along is not None and layer.weight is not None:
        dW = layer_weight(layer, along[0], xp)
    return W, dW


def backprop(net: Network, trace: Trace, w: Any, xp: Any) -> list[Any]:
    """``δ^h`` for every layer below the output, shape ``(n, k, d_h)`` (eq. 20)."""
    layers = net.layers
    L = len(layers) - 1
    deltas: list[Any] = [None] * L
    along = trace.along
    tau = None if along is None else along[1][:, None, None]
    D = None  # δ^{h} with shape (n, k, d_h); the output's is the identity
    for h in range(L, 0, -1):
        layer = layers[h]
        W, dW = _weight_path(layer, w, along, xp)
        if D is None:  # δ^{L+1} = I: the product is W itself, broadcast over rows
            back = W[None, :, :]
            if dW is not None:
                back = back + tau * dW[None, :, :]
        else:  # one (n·k, d) product, not n batched (k, d) ones
            n, k, d = D.shape
            flat = xp.reshape(D, (n * k, d))
            back = xp.reshape(flat @ W, (n, k, W.shape[1]))
            if dW is not None:
                back = back + tau * xp.reshape(flat @ dW, (n, k, W.shape[1]))
        # the layer's input scale joins σ' (an (n, d) product, not a (d_out, d) one)
        D = back * (layer.scale * trace.dsigma(net, h - 1, xp))[:, None, :]
        deltas[h - 1] = D
    return deltas


def side(net: Network, w: Any, X: Any, xp: Any, along: tuple[Any, Any] | None = None) -> Side:
    """Forward trace and sensitivities of ``X`` at ``w`` (row r at ``w + τ_r Δ`` with along)."""
    trace = forward(net, w, X, xp, keep=True, along=along)
    return Side(trace, backprop(net, trace, w, xp))


def side_rows(s: Side, lo: int, hi: int) -> Side:
    """Rows ``lo:hi`` of a side (no recomputation)."""
    t = s.trace
    return Side(
        Trace([a[lo:hi] for a in t.inputs], [p[lo:hi] for p in t.pres], None,
              None if t.outs is None else [None if g is None else g[lo:hi] for g in t.outs]),
        [d[lo:hi] for d in s.deltas],
    )


def vjp_from_trace(net: Network, trace: Trace, w: Any, v: Any, xp: Any) -> Any:
    """``Σ_i Σ_c v_ic ∇f_c(w, x_i)``, shape ``(P,)``, for a cotangent ``v (n, k)``."""
    grad = xp.zeros((net.n_params,), dtype=v.dtype)
    in_place = isinstance(grad, np.ndarray) and isinstance(v, np.ndarray)
    D = v
    layers = net.layers
    for h in range(len(layers) - 1, -1, -1):
        layer = layers[h]
        if layer.weight is not None:
            o = layer.weight
            if in_place:  # NumPy: the product lands in the flat gradient, no copy
                np.matmul(D.T, trace.inputs[h],
                          out=grad[o : o + layer.n_weights].reshape(layer.fan_out, layer.fan_in))
            else:
                gW = D.T @ trace.inputs[h]
                grad[o : o + layer.n_weights] = xp.reshape(gW, (layer.n_weights,))
        if layer.bias is not None:
            o = layer.bias
            grad[o : o + layer.fan_out] = xp.sum(D, axis=0)
        if h > 0:
            W = layer_weight(layer, w, xp)
            D = (D @ W) * (layer.scale * trace.dsigma(net, h - 1, xp))
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
    dg = None  # tangent of g^{h-1}, (t, n, d)
    dpre = None
    for h, layer in enumerate(net.layers):
        a = trace.inputs[h]
        dpre = None
        if dg is not None:
            W, dW = _weight_path(layer, w, along, xp)
            da = dg if layer.scale == 1.0 else layer.scale * dg
            dpre = da @ W.T
            if dW is not None:
                dpre = dpre + tau * (da @ dW.T)
        if layer.weight is not None:
            o = layer.weight
            Uw = xp.reshape(U[:, o : o + layer.n_weights], (t, layer.fan_out, layer.fan_in))
            term = a @ permute(xp, Uw, (0, 2, 1))
            dpre = term if dpre is None else dpre + term
        if layer.bias is not None:
            o = layer.bias
            ub = U[:, None, o : o + layer.fan_out]
            dpre = ub + xp.zeros((t, n, layer.fan_out), dtype=U.dtype) if dpre is None \
                else dpre + ub
        if dpre is None:
            dpre = xp.zeros((t, n, layer.fan_out), dtype=U.dtype)
        if layer.activation is not None:
            dg = trace.dsigma(net, h, xp)[None, :, :] * dpre
    assert dpre is not None  # a network has at least one layer
    return trace.out, dpre


def cross_kernel(net: Network, A: Side, B: Side, xp: Any) -> Any:
    """``K[i, j, c, d] = ∇f_c(x_i)·∇f_d(x'_j)`` between two sides: ``(n1, n2, k, k)`` (eq. 22).

    The output layer's δ is the identity, so its term is ``⟨a, a'⟩ (+1) ⊗ I_k``.
    """
    k = net.output_dim
    n1, n2 = A.n, B.n
    last = len(net.layers) - 1
    dtype = A.trace.out.dtype
    scalar_acc = xp.zeros((n1, n2), dtype=dtype)  # Σ over layers whose δ term is ⊗ I_k
    blocks = None  # Σ over the other layers, (n1, n2, k, k); None while nothing was added
    for h, layer in enumerate(net.layers):
        if layer.weight is None and layer.bias is None:
            continue
        F: Any = None
        if layer.weight is not None:
            F = A.trace.inputs[h] @ B.trace.inputs[h].T
        if layer.bias is not None:
            F = F + 1.0 if F is not None else xp.ones((n1, n2), dtype=dtype)
        if h == last:
            scalar_acc = scalar_acc + F
            continue
        Da, Db = A.deltas[h], B.deltas[h]
        if k == 1:
            scalar_acc = scalar_acc + F * (Da[:, 0, :] @ Db[:, 0, :].T)
            continue
        d = Da.shape[2]
        DD = xp.reshape(Da, (n1 * k, d)) @ xp.reshape(Db, (n2 * k, d)).T
        DD = permute(xp, xp.reshape(DD, (n1, k, n2, k)), (0, 2, 1, 3))
        term = F[:, :, None, None] * DD
        blocks = term if blocks is None else blocks + term
    eye = xp.eye(k, dtype=dtype)
    K = scalar_acc[:, :, None, None] * eye
    return K if blocks is None else K + blocks


def row_bytes(net: Network, n2: int, itemsize: int) -> int:
    """Bytes one row of side A costs in :func:`cross_kernel` against ``n2`` rows: its trace
    and δ, plus its share of the ``(n2, k, k)`` temporaries (F, δδ, the sum)."""
    k = net.output_dim
    act = sum(layer.fan_in + layer.fan_out + k * layer.fan_out for layer in net.layers)
    return itemsize * (2 * act + 4 * n2 * k * k)


def jacobian_from_side(net: Network, s: Side, xp: Any) -> Any:
    """The dense Jacobian ``J[i, c, p] = ∂f_c(x_i)/∂w_p``, ``(n, k, P)``, from a side:
    ``∂f_c/∂W_h = δ^h_c (a^h)ᵀ`` and ``∂f_c/∂b_h = δ^h_c`` (the output layer's δ is e_c).
    Only for the few query rows whose P-vectors a computation needs (the optimizer's
    reverse recursion); kernels never form it."""
    k = net.output_dim
    n = s.n
    dtype = s.trace.out.dtype
    J = xp.zeros((n, k, net.n_params), dtype=dtype)
    last = len(net.layers) - 1
    eye = xp.eye(k, dtype=dtype)
    for h, layer in enumerate(net.layers):
        D = eye[None, :, :] + xp.zeros((n, k, k), dtype=dtype) if h == last else s.deltas[h]
        if layer.weight is not None:
            o = layer.weight
            a = s.trace.inputs[h]  # (n, fan_in)
            block = D[:, :, :, None] * a[:, None, None, :]
            J[:, :, o : o + layer.n_weights] = xp.reshape(block, (n, k, layer.n_weights))
        if layer.bias is not None:
            o = layer.bias
            J[:, :, o : o + layer.fan_out] = D
    return J

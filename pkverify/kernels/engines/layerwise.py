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


def jacobian_from_side(net: Network, s: Side, xp: Any) -> Any:
    """The dense Jacobian ``J[i, c, p] = ∂f_c(x_i)/∂w_p``, ``(n, k, P)``, from a side:
    ``∂f_c/∂W_h = δ^h_c (a^h)ᵀ`` and ``∂f_c/∂b_h = δ^h_c`` (the output layer's δ is e_c).
    Only for the few query rows whose P-vectors a computation needs (the optimizer's
    reverse recursion); kernels never form it."""
    n = s.n
    return jacobian_sum(net, s, np.arange(n), np.ones(n), n, xp)


def jacobian_sum(net: Network, s: Side, rows: np.ndarray, weights: np.ndarray, q: int,
                 xp: Any) -> Any:
    """``J[r] = Σ_{e: rows[e] = r} weights[e] ∇f(x_e)``, ``(q, k, P)``: a weighted sum of the
    side's per-row Jacobians into q rows (the exact rule's ∫_0^1 ∇f(w + τΔ, x) dτ, its nodes
    as the side's rows), one matrix product per layer and query over that query's nodes."""
    k = net.output_dim
    dtype = s.trace.out.dtype
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=q)
    even = bool(np.all(counts == counts[0]))  # the same node count per query: batched
    J = xp.zeros((q, k, net.n_params), dtype=dtype)
    wts = xp.asarray(weights[order], dtype=dtype)
    idx = order if isinstance(J, np.ndarray) else xp.asarray(order)
    last = len(net.layers) - 1
    starts = np.concatenate([[0], np.cumsum(counts)])
    for h, layer in enumerate(net.layers):
        R = rows.size
        if h == last:
            D = xp.zeros((R, k, k), dtype=dtype) + xp.eye(k, dtype=dtype)[None]
        else:
            D = s.deltas[h][idx]
        d_out = D.shape[2]
        Dw = D * wts[:, None, None]  # (R, k, d_out), sorted by query
        if layer.weight is not None:
            o = layer.weight
            a = s.trace.inputs[h][idx]  # (R, fan_in)
            if even:
                m = int(counts[0])
                Dq = permute(xp, xp.reshape(Dw, (q, m, k * d_out)), (0, 2, 1))
                block = Dq @ xp.reshape(a, (q, m, layer.fan_in))  # (q, k·d_out, fan_in)
                J[:, :, o : o + layer.n_weights] = xp.reshape(block, (q, k, layer.n_weights))
            else:
                for r in range(q):
                    lo, hi = int(starts[r]), int(starts[r + 1])
                    if hi > lo:
                        block = xp.reshape(Dw[lo:hi], (hi - lo, k * d_out)).T @ a[lo:hi]
                        J[r, :, o : o + layer.n_weights] = xp.reshape(block, (k, -1))
        if layer.bias is not None:
            o = layer.bias
            if even:
                J[:, :, o : o + layer.fan_out] = xp.sum(
                    xp.reshape(Dw, (q, int(counts[0]), k, d_out)), axis=1)
            else:
                for r in range(q):
                    lo, hi = int(starts[r]), int(starts[r + 1])
                    if hi > lo:
                        J[r, :, o : o + layer.fan_out] = xp.sum(Dw[lo:hi], axis=0)
    return J


def side_products(net: Network, s: Side, U: Any, xp: Any) -> Any:
    """``∇f(x_i)·u_t`` for the rows of a side and t tangents ``U (t, P)``: ``(t, n, k)``.

    Layer by layer, ``Σ_h δ^h_c(x_i)ᵀ (U_{W_h} a^h(x_i) + U_{b_h})``: one product of the
    layer's inputs with the tangents and one contraction with the side's sensitivities — no
    tangent carried through the later layers (about half a forward-mode pass's work when
    t ≫ k)."""
    t = int(U.shape[0])
    n, k = s.n, net.output_dim
    out = None
    last = len(net.layers) - 1
    for h, layer in enumerate(net.layers):
        T = None  # (t, n, d_out)
        if layer.weight is not None:
            o = layer.weight
            Uw = xp.reshape(U[:, o : o + layer.n_weights], (t, layer.fan_out, layer.fan_in))
            T = s.trace.inputs[h] @ permute(xp, Uw, (0, 2, 1))
        if layer.bias is not None:
            ub = U[:, None, layer.bias : layer.bias + layer.fan_out]
            T = ub + xp.zeros((t, n, layer.fan_out), dtype=U.dtype) if T is None else T + ub
        if T is None:
            continue
        if h == last:  # δ is the identity: the output's own tangent
            term = T
        else:  # Σ_d T[t, i, d] δ[i, c, d] as n products (t, d) @ (d, k)
            D = s.deltas[h]  # (n, k, d_out)
            term = permute(xp, permute(xp, T, (1, 0, 2)) @ permute(xp, D, (0, 2, 1)),
                           (1, 0, 2))
        out = term if out is None else out + term
    if out is None:
        out = xp.zeros((t, n, k), dtype=U.dtype)
    return out


def weighted_products(net: Network, w: Any, X: Any, cotangent: Any, U: Any,
                      xp: Any) -> tuple[Any, Any]:
    """``(f (n, k), Σ_c v_ic ∇f_c(x_i)·u_t (t, n))`` with ``v = cotangent(f)``: the per-row
    products of the tangents with each row's own vector–Jacobian product, from one forward
    and one backward pass of the single sensitivity v (the rows' loss gradients, never
    formed): ``Σ_h δ^h_v(x_i)ᵀ (U_{W_h} a^h(x_i) + U_{b_h})``."""
    trace = forward(net, w, X, xp, keep=True)
    v = cotangent(trace.out)
    t = int(U.shape[0])
    out = None
    D = v  # (n, d_h): the sensitivity of Σ_c v_c f_c to f^h
    for h in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[h]
        T = None
        if layer.weight is not None:
            o = layer.weight
            Uw = xp.reshape(U[:, o : o + layer.n_weights], (t, layer.fan_out, layer.fan_in))
            T = trace.inputs[h] @ permute(xp, Uw, (0, 2, 1))  # (t, n, d_h)
        if layer.bias is not None:
            ub = U[:, None, layer.bias : layer.bias + layer.fan_out]
            T = ub + xp.zeros((t, int(D.shape[0]), layer.fan_out), dtype=U.dtype) \
                if T is None else T + ub
        if T is not None:
            term = xp.sum(T * D[None, :, :], axis=2)
            out = term if out is None else out + term
        if h > 0:
            W = layer_weight(layer, w, xp)
            D = (D @ W) * (layer.scale * trace.dsigma(net, h - 1, xp))
    if out is None:
        out = xp.zeros((t, int(X.shape[0])), dtype=U.dtype)
    return trace.out, out

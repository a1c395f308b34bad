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

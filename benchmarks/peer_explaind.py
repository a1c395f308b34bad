"""ExPLAIND's method [explaind2025], rebuilt as a peer of the exact kernel machine (ExPLAIND
itself does not install here). Used by ``bench_optim.py`` (a pkverify MLP) and
``bench_torch.py`` (a ``pk.torch`` CNN).

As its public code runs it (``explaind/optimizer_paths.py``, ``explaind/epk_model.py`` in
mainlp/explaind): per-example Adam first moments carried forward (n × P), and each step's
feature map ``∫_0^1 ∇f(w_s + τΔ_s, x) dτ`` by a midpoint rule (100 points by default).
"""

from __future__ import annotations

import numpy as np

from pkverify.kernels.engines import engine_for
from pkverify.kernels.engines.layerwise import side


def per_example_loss_gradients(engine, traj, w, rows, rho):
    """``ρ ℓ'_i ∇f(w, x_i)`` for the batch rows, ``(m, P)``: one forward and one backward
    pass (layer-wise δ), then the outer products per example — the per-example gradients the
    buffers are fed with. Engines without layer-wise δ (the torch engine): ``ℓ'_i`` contracted
    with the rows' Jacobian ``(m, k, P)``."""
    net = getattr(engine, "net", None)
    if net is None:
        y = engine.forward(w, traj.X[rows])
        d = np.asarray(traj.loss.deriv(y, traj.Y[rows])).reshape(y.shape) * rho
        return np.einsum("mc,mcp->mp", d, engine.jacobian(w, traj.X[rows]))
    Xb = traj.X[rows]
    s = side(net, w, Xb, np)
    y = s.trace.out
    d = np.asarray(traj.loss.deriv(y, traj.Y[rows])) * rho  # (m, k)
    H = np.zeros((rows.size, net.n_params))
    last = len(net.layers) - 1
    for h, layer in enumerate(net.layers):
        D = d if h == last else np.einsum("mc,mcd->md", d, s.deltas[h])
        if layer.weight is not None:
            o = layer.weight
            a = s.trace.inputs[h]
            H[:, o : o + layer.n_weights] = (D[:, :, None] * a[:, None, :]).reshape(rows.size, -1)
        if layer.bias is not None:
            H[:, layer.bias : layer.bias + layer.fan_out] = D
    return H


def explaind_peer(traj, opt, reduction, Xq, midpoints: int = 100,
                  implementation: str = "layerwise"):
    """``(b (q, k), contributions (q, n, k))`` by per-example buffers carried forward and a
    midpoint rule in τ (Adam and AdamW only, PyTorch's conventions)."""
    engine = engine_for(traj.model, implementation)
    n, P = traj.X.shape[0], traj.model.n_params
    b1, b2 = opt.betas
    m = np.zeros((n, P))  # per-example first moments: the n × P buffers
    v = np.zeros(P)
    b = engine.forward(traj.ws[0], Xq).copy()
    q, k = b.shape
    contrib = np.zeros((q, n, k))
    taus = (np.arange(midpoints) + 0.5) / midpoints
    for s in range(traj.steps):
        w = traj.ws[s]
        delta = traj.ws[s + 1] - w
        eta = float(traj.step_sizes[s])
        rows = np.flatnonzero(traj.batches[s])
        rho = 1.0 / rows.size if reduction == "mean" else 1.0
        H = per_example_loss_gradients(engine, traj, w, rows, rho)
        g = H.sum(axis=0)
        reg = opt.weight_decay * w if opt.name == "adam" else np.zeros(P)
        m *= b1
        m[rows] += (1 - b1) * H
        v = b2 * v + (1 - b2) * (g + reg) ** 2
        Pm = 1.0 / (np.sqrt(v) / np.sqrt(1 - b2 ** (s + 1)) + opt.eps)
        scale = -eta / (1 - b1 ** (s + 1)) * Pm
        phi = sum(engine.jacobian(w + t * delta, Xq) for t in taus) / midpoints  # (q, k, P)
        contrib += np.einsum("qcp,ip->qic", phi, m * scale)
        if opt.name == "adamw":
            b += phi @ (-eta * opt.weight_decay * w)
        # (coupled decay would need its own buffer; the benchmark trains without it)
    return b, contrib

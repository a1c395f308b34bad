"""The deep NTK's identities on a finite MLP, read from the kernel engine's own passes.

For ``pkverify.models.mlp(sizes, activation, bias=False)`` (NTK parameterisation, eqs.
16–17): eq. 22 layer by layer, ``⟨∂f/∂W^h(x), ∂f/∂W^h(x')⟩ = ⟨g^{h−1}(x), g^{h−1}(x')⟩ ·
⟨b^h(x), b^h(x')⟩``, from the layer inputs and back-propagated sensitivities of the
layer-wise engine's side; and eq. 18's layer norms ``‖g^h(x)‖²`` from its forward trace.
Their sum over layers is what ``pk.tangent_kernel`` returns.
"""

from __future__ import annotations

import numpy as np

from ..kernels.engines import engine_for
from ..models.base import Model
from ..models.layers import forward

__all__ = ["layer_kernels", "hidden_norms"]


def layer_kernels(model: Model, w: np.ndarray, X: np.ndarray) -> list[np.ndarray]:
    """Eq. 22 per weight layer of a scalar, bias-free built-in net: ``[K_1, ..., K_{L+1}]``,
    each ``(n, n)``, with ``K_h = (a^h a^hᵀ) ⊙ (δ^h δ^hᵀ)`` (``δ^{L+1} = 1``)."""
    side = engine_for(model, "layerwise").side(w, X)
    inputs, deltas = side.trace.inputs, side.deltas
    out = []
    for h, a in enumerate(inputs):
        gram = a @ a.T
        if h < len(deltas):
            d = deltas[h][:, 0, :]
            gram = gram * (d @ d.T)
        out.append(gram)
    return out


def hidden_norms(model: Model, w: np.ndarray, X: np.ndarray) -> list[np.ndarray]:
    """``‖g^h(x)‖²`` for each hidden layer h = 1..L and row x (eq. 18): ``g^h`` is the next
    layer's input ``sqrt(c_σ/d_h) σ(f^h)`` in the engine's trace."""
    assert model.network is not None
    trace = forward(model.network, w, X, np, keep=True)
    return [np.sum(a * a, axis=1) for a in trace.inputs[1:]]

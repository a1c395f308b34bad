"""Models ``y = f(w, x)`` over a flat parameter vector ``w ∈ R^P``.

Every model is a :class:`Model`: ``model.apply(w, X)`` maps ``X (n, d)`` to ``(n,)`` for a
scalar output or ``(n, k)`` for a vector output; ``model.init(seed)`` draws ``w0``.
Built-in models are described as typed layers (:mod:`pkverify.models.layers`) whose one
forward pass serves f, its gradients and its kernels.

Constructors:

* :func:`linear` — ``f = w·φ(x) (+ b)``; its tangent kernel is ``φ(x)·φ(x') (+1)`` at every w.
* :func:`two_layer` — the NTK notes' eq. 9: ``f = m^{-1/2} Σ_r a_r σ(w_rᵀx)``, ``a_r = ±1``.
* :func:`mlp` — the NTK parameterisation of the NTK notes' eqs. 16–17.
* :func:`custom` — any user ``f(w, X)`` written with ``autograd.numpy``.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from .base import Model, check_output, check_sizes
from .custom import custom
from .layers import Dense, Network
from .linear import linear
from .mlp import mlp
from .two_layer import two_layer

__all__ = [
    "Model",
    "Network",
    "Dense",
    "linear",
    "two_layer",
    "mlp",
    "custom",
    "from_spec",
    "check_output",
    "check_sizes",
]


def from_spec(spec: dict[str, Any]) -> Model:
    """Rebuild a built-in model from its ``Model.spec`` (used by ``Trajectory.load``)."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    builders = {"linear": linear, "two_layer": two_layer, "mlp": mlp}
    if kind not in builders:
        raise InvalidArgumentError(f"cannot rebuild a model of kind {kind!r} from its spec.")
    return builders[kind](**spec)

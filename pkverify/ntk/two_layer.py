"""The ntk-notes' two-layer net and its gradient flow, through pkverify's kernel engine.

The net is ``pkverify.models.two_layer``: ``f(x) = m^{-1/2} Σ_r a_r σ(w_rᵀx)`` with fixed
``a_r = ±1``, first layer trained, MSE ``½‖u − y‖²``. Its tangent kernel ``H(w)`` is the
engine's Gram (NTK notes eq. 22 for one trained layer: ``H = (X Xᵀ) ⊙ (S Sᵀ)/m`` with
``S = σ'(W Xᵀ)``), the flow's velocity ``dw/dt = −∇_w ½‖u − y‖²`` (eq. 4) the engine's
vector–Jacobian product with cotangent ``u − y``; nothing here re-derives either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..activations import check_activation
from ..errors import InvalidArgumentError, ShapeError, unknown_name
from ..kernels.engines import Engine, engine_for
from ..models import two_layer
from ..models.base import Model
from ..validation import as_targets, positive_float, positive_int
from .assumptions import check_unit_norm, check_width
from .limits import two_layer_limit

__all__ = ["TwoLayerNet", "Flow", "two_layer_flow", "rk4_steps", "lemma2_error",
           "bound_width", "SUP_DERIV"]


@dataclass(frozen=True)
class TwoLayerNet:
    """``pkverify.models.two_layer(dim, width, activation, seed)`` bound to its layer-wise
    engine. Weights are the model's flat ``w (m·d,)`` (row-major ``W (m, d)``)."""

    model: Model
    engine: Engine

    @classmethod
    def build(cls, dim: int, width: int, activation: str, seed: int) -> TwoLayerNet:
        model = two_layer(dim, width, activation, seed=seed)
        return cls(model, engine_for(model, "layerwise"))

    @property
    def width(self) -> int:
        return int(self.model.spec["width"]) if self.model.spec else 0

    def init(self, seed: int) -> np.ndarray:
        """``w0 ~ N(0, I)`` from ``seed`` (the model's own init)."""
        return self.model.init(seed)

    def units(self, w: np.ndarray) -> np.ndarray:
        """``W (m, d)``: unit r's weights ``w_r`` in row r."""
        return w.reshape(self.width, -1)

    def kernel(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``H_ij(w) = ∇_w f(x_i)·∇_w f(x_j)``, ``(n, n)``."""
        return self.engine.kernel(w, X, w, X, same=True)[:, :, 0, 0]

    def outputs(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``u = f(w, X)``, ``(n,)``."""
        return self.engine.forward(w, X)[:, 0]

    def velocity(self, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``dw/dt = −∇_w ½‖u − y‖² = −Σ_i (u_i − y_i) ∇_w f(x_i)`` (ntk-notes eq. 4)."""
        _, _, grad = self.engine.value_and_vjp(w, X, lambda u: u - y[:, None])
        return -grad


@dataclass(frozen=True)
class Flow:
    """A sampled gradient flow of the ntk-notes' net.

    net: the net;  times: (k,) sample times;  ws: (k, m·d) weights;  u: (k, n) outputs u(t);
    y: (n,) labels.
    """

    net: TwoLayerNet
    times: np.ndarray
    ws: np.ndarray
    u: np.ndarray
    y: np.ndarray


def rk4_steps(net: TwoLayerNet, w: np.ndarray, X: np.ndarray, y: np.ndarray, step: float,
              steps: int) -> np.ndarray:
    """``steps`` classical RK4 steps of ``dw/dt = net.velocity(w)`` from ``w``."""
    for _ in range(steps):
        k1 = net.velocity(w, X, y)
        k2 = net.velocity(w + 0.5 * step * k1, X, y)
        k3 = net.velocity(w + 0.5 * step * k2, X, y)
        k4 = net.velocity(w + step * k3, X, y)
        w = w + (step / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return w


def two_layer_flow(
    X: Any, y: Any, width: int, activation: str = "softplus", seed: int = 0,
    times: Any = (1.0,), step: float = 0.02,
) -> Flow:
    """Gradient flow ``dw/dt = −∇_w ½‖u − y‖²`` from ``two_layer(d, width, activation,
    seed).init(seed)``, by fixed-step RK4.

    Fixed steps (not an adaptive solver) because relu's right-hand side jumps where a
    pre-activation crosses 0, which makes adaptive step control crawl; for smooth σ the RK4
    error is O(step⁴). ``times`` are rounded to whole steps. Validates unit-norm inputs and
    ``n ≤ m·d`` before any work.
    """
    X = check_unit_norm(X, "the ntk-notes' gradient-flow lemmas")
    n, d = X.shape
    y = as_targets(y, n, "y")
    if y.ndim != 1:
        raise ShapeError(f"y must be one label per point, shape ({n},); got {y.shape}.")
    width = positive_int(width, "width")
    check_width(n, width, d)
    act = check_activation(activation)
    step = positive_float(step, "step")
    ts = np.atleast_1d(np.asarray(times, dtype=float))
    if ts.ndim != 1 or np.any(ts < 0) or np.any(np.diff(ts) < 0):
        raise InvalidArgumentError(f"times must be non-negative and increasing; got {ts}.")
    net = TwoLayerNet.build(d, width, act, seed)
    w = net.init(seed)
    marks = np.rint(ts / step).astype(int)
    ws = np.empty((len(ts), w.size))
    done = 0
    for k, mark in enumerate(marks):
        w = rk4_steps(net, w, X, y, step, int(mark) - done)
        done = int(mark)
        ws[k] = w
    u = np.array([net.outputs(wk, X) for wk in ws])
    return Flow(net, marks * step, ws, u, y)


def lemma2_error(X: Any, width: int, activation: str = "relu", seed: int = 0) -> float:
    """``‖H(0) − H*‖₂`` (spectral norm) for ``models.two_layer(d, width, activation, seed)``
    at ``init(seed)`` on unit-norm X."""
    X = check_unit_norm(X, "Lemma 2")
    width = positive_int(width, "width")
    check_width(X.shape[0], width, X.shape[1])
    net = TwoLayerNet.build(X.shape[1], width, check_activation(activation), seed)
    H0 = net.kernel(net.init(seed), X)
    return float(np.linalg.norm(H0 - two_layer_limit(X, None, activation), 2))


SUP_DERIV = {"relu": 1.0, "softplus": 1.0, "tanh": 1.0, "erf": 2.0 / math.sqrt(math.pi),
             "sigmoid": 0.25, "identity": 1.0}
"""``B = sup|σ'|`` of each activation (erf' = (2/√π) e^{−z²})."""


def bound_width(n: int, eps: float, delta: float, activation: str) -> float:
    """The width Lemma 2's proof asks for: ``m ≥ 2 B⁴ n⁴ log(2n²/δ) / ε²``.

    Each summand ``x_iᵀx_j σ'(w_rᵀx_i) σ'(w_rᵀx_j)`` lies in ``[−B², B²]`` (unit inputs,
    ``B = sup|σ'|``); Hoeffding gives ``P(|H_ij(0) − H*_ij| ≥ ε/n²) ≤ 2 exp(−2mε²/(4B⁴n⁴))``,
    a union bound over the n² entries makes all of them hold with probability ≥ 1 − δ, and
    then ``‖H(0) − H*‖₂ ≤ Σ_ij |·| ≤ ε``. (The seed writes ``n⁴ log(n/δ)/ε²``, dropping the
    constants.)
    """
    if activation not in SUP_DERIV:
        raise unknown_name("activation", activation, tuple(SUP_DERIV))
    B = SUP_DERIV[activation]
    return 2.0 * B**4 * n**4 * math.log(2.0 * n * n / delta) / eps**2

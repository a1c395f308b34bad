"""Models ``y = f(w, x)`` over a flat parameter vector ``w ∈ R^P``.

Every model is a :class:`Model`: ``model.apply(w, X)`` maps ``X (n, d)`` to ``(n,)`` for a
scalar output or ``(n, k)`` for a vector output; ``model.init(seed)`` draws ``w0``. The
function inside is written with ``autograd.numpy`` so that tangent kernels can be taken by
reverse-mode differentiation.

Constructors:

* :func:`linear` — ``f = w·φ(x) (+ b)``; its tangent kernel is ``φ(x)·φ(x') (+1)`` at every w.
* :func:`two_layer` — seed 003 eq. 9: ``f = m^{-1/2} Σ_r a_r σ(w_rᵀx)``, ``a_r = ±1`` fixed.
* :func:`mlp` — NTK parameterisation of seed 003 eqs. 16–17.
* :func:`custom` — any user ``f(w, X)`` written with ``autograd.numpy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import autograd.numpy as anp
import numpy as np

from .activations import DERIVATIVES, KINKED, activation, c_sigma, check_activation
from .errors import InvalidArgumentError, NonFiniteError, ShapeError
from .validation import (
    as_data,
    as_flag,
    as_flat_weights,
    as_seed,
    as_weights,
    positive_int,
    trial_differentiation,
)

__all__ = ["Model", "linear", "two_layer", "mlp", "custom", "from_spec"]

KinkFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class Model:
    """A differentiable model over a flat parameter vector.

    name:        short name ("linear", "two_layer", "mlp", "custom").
    f:           the raw function ``f(w, X)`` (autograd.numpy); prefer :meth:`apply`.
    n_params:    P, the length of ``w``.
    input_dim:   d, the columns of ``X`` (None when the model does not fix it).
    output_dim:  None for a scalar output ``(n,)``; k for a vector output ``(n, k)``.
    init_fn:     ``seed -> w0`` of shape ``(P,)``.
    spec:        constructor arguments, so a saved trajectory can rebuild the model
                 (None for custom models, which must be passed back on load).
    kinks:       for models with piecewise-smooth gradients whose non-smooth points along a
                 straight segment ``w + τΔ`` can be located: ``kinks(w, Δ, X) -> τ values in
                 (0, 1)``; the exact path-kernel rule splits each step there.
    smooth:      False when the gradient jumps (relu); exactness is then only reported.
    jac:         optional closed-form per-example Jacobian ``(w, X) -> (n, k, P)`` (the
                 layer-wise fast path of the built-in models); tested against autograd.
    """

    name: str
    f: Callable[[Any, np.ndarray], Any]
    n_params: int
    input_dim: int | None
    output_dim: int | None
    init_fn: Callable[[int], np.ndarray]
    spec: dict[str, Any] | None = None
    kinks: KinkFn | None = None
    smooth: bool = True
    jac: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def init(self, seed: int | None = None) -> np.ndarray:
        """Draw initial weights ``w0 (P,)`` from ``numpy.random.default_rng(seed)``.

        ``seed=None`` uses the seed the model was built with (0 when it has none).
        """
        if seed is None:
            seed = (self.spec or {}).get("seed", 0)
        w0 = np.asarray(self.init_fn(as_seed(seed)), dtype=np.float64)
        return as_weights(w0, self.n_params, what="initial weights")

    def apply(self, w: Any, X: Any) -> np.ndarray:
        """``f(w, X)``: ``(n,)`` for a scalar model, ``(n, k)`` for a vector model.

        Validates ``w`` (length P, finite) and ``X`` (2-D, d columns, finite, non-empty) and
        the shape and finiteness of the output.
        """
        w = as_weights(w, self.n_params)
        X = as_data(X, self.input_dim)
        out = self.f(w, X)
        return check_output(out, X.shape[0], self.name)

    def __call__(self, w: Any, X: Any) -> np.ndarray:
        return self.apply(w, X)

    def __repr__(self) -> str:
        shape = "scalar" if self.output_dim is None else f"k={self.output_dim}"
        return f"Model({self.name}, P={self.n_params}, d={self.input_dim}, {shape})"


def check_output(out: Any, n: int, name: str = "model") -> np.ndarray:
    """Check that a model returned ``(n,)`` or ``(n, k)`` finite float values."""
    arr = np.asarray(out)
    if arr.ndim not in (1, 2) or arr.shape[0] != n:
        raise ShapeError(
            f"{name} f(w, X) must return shape (n,) or (n, k) with n = {n} rows of X; "
            f"it returned shape {arr.shape}. Make f map each row of X to one output "
            "(or one k-vector), e.g. return X @ w rather than a scalar sum."
        )
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(
            f"{name} f(w, X) returned NaN or inf; check the weights and inputs "
            "(a diverged training run, or inputs far outside the model's range)."
        )
    return arr.astype(np.float64, copy=False)


# ---------------------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------------------


def linear(
    dim: int, bias: bool = True, features: Callable[[np.ndarray], np.ndarray] | None = None
) -> Model:
    """Linear model ``f(w, x) = w·φ(x) + b`` (``b`` only with ``bias=True``).

    ``features`` maps ``X (n, d)`` to ``Φ (n, p)``; identity when None. Parameters are
    ``[w (p), b]``. The tangent kernel is ``φ(x)·φ(x') + 1`` (``+1`` from the bias) at every
    w, so the path kernel over flow time T is ``T (φ(x)·φ(x') + 1)``.
    """
    dim = _positive_int(dim, "dim")
    bias = as_flag(bias, "bias")
    if features is not None and not callable(features):
        raise InvalidArgumentError(
            f"features must be a function φ(X) -> (n, p) array (or None for φ(x) = x); "
            f"got {type(features).__name__}."
        )
    phi = features if features is not None else (lambda X: X)
    probe = np.asarray(phi(np.zeros((2, dim))))
    if probe.ndim != 2 or probe.shape[0] != 2:
        raise ShapeError(
            "features φ must map X (n, d) to an (n, p) array; for a 2-row input it returned "
            f"shape {probe.shape}. Return one feature row per input row."
        )
    p = probe.shape[1]
    n_params = p + (1 if bias else 0)

    def f(w, X):
        Phi = phi(X)
        out = anp.dot(Phi, w[:p])
        return out + w[p] if bias else out

    def init(seed: int) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal(n_params)

    def jac(w: np.ndarray, X: np.ndarray) -> np.ndarray:
        Phi = np.asarray(phi(X), dtype=np.float64)
        J = np.concatenate([Phi, np.ones((X.shape[0], 1))], axis=1) if bias else Phi
        return J[:, None, :]

    spec = None if features is not None else {"kind": "linear", "dim": dim, "bias": bias}
    return Model(
        "linear",
        f,
        n_params,
        dim,
        None,
        init,
        spec=spec,
        jac=jac,
        info={"features": p, "bias": bias, "phi": phi},
    )


# ---------------------------------------------------------------------------------------
# two-layer (seed 003 eq. 9)
# ---------------------------------------------------------------------------------------


def two_layer(
    dim: int,
    width: int,
    activation: str = "relu",
    train_output: bool = False,
    seed: int = 0,
) -> Model:
    """Seed 003's two-layer net ``f(x) = m^{-1/2} Σ_{r=1}^m a_r σ(w_rᵀx)``.

    ``a_r ∈ {±1}`` are drawn uniformly from ``seed`` and held fixed (the seed's setting, in
    which ``H(0) → H*``); with ``train_output=True`` they join the parameters, initialised
    at the same signs. Parameters: ``W`` row-major ``(m, d)``, then ``a (m)`` if trained.
    ``init(seed)`` draws ``W ~ N(0, I)``.

    The pre-activations ``w_rᵀx`` are linear along a straight step, so for relu the kinks of
    the gradient along ``w + τΔ`` are at ``τ = −w_rᵀx / Δ_rᵀx`` and the exact path-kernel
    rule splits each step there.
    """
    dim = _positive_int(dim, "dim")
    width = _positive_int(width, "width")
    seed = as_seed(seed)
    train_output = as_flag(train_output, "train_output")
    act_name = check_activation(activation)
    sigma = _activation(act_name)
    signs = np.where(np.random.default_rng(seed).random(width) < 0.5, -1.0, 1.0)
    m, d = width, dim
    scale = 1.0 / math.sqrt(m)
    n_w = m * d
    n_params = n_w + (m if train_output else 0)

    def f(w, X):
        W = anp.reshape(w[:n_w], (m, d))
        a = w[n_w:] if train_output else signs
        return scale * anp.dot(sigma(anp.dot(X, W.T)), a)

    def init(s: int) -> np.ndarray:
        W0 = np.random.default_rng(s).standard_normal(n_w)
        return np.concatenate([W0, signs]) if train_output else W0

    def kinks(w: np.ndarray, delta: np.ndarray, X: np.ndarray) -> np.ndarray:
        Z0 = X @ w[:n_w].reshape(m, d).T
        dZ = X @ delta[:n_w].reshape(m, d).T
        return _linear_zero_crossings(Z0, dZ)

    dsigma = DERIVATIVES[act_name]

    def jac(w: np.ndarray, X: np.ndarray) -> np.ndarray:
        # ∂f/∂w_r = m^{-1/2} a_r σ'(w_rᵀx) x   and   ∂f/∂a_r = m^{-1/2} σ(w_rᵀx)   (seed 003)
        Z = X @ w[:n_w].reshape(m, d).T
        a = w[n_w:] if train_output else signs
        JW = (scale * a * dsigma(Z))[:, :, None] * X[:, None, :]
        parts = [JW.reshape(X.shape[0], n_w)]
        if train_output:
            parts.append(scale * np.asarray(sigma(Z)))
        return np.concatenate(parts, axis=1)[:, None, :]

    return Model(
        "two_layer",
        f,
        n_params,
        dim,
        None,
        init,
        spec={
            "kind": "two_layer",
            "dim": dim,
            "width": width,
            "activation": act_name,
            "train_output": train_output,
            "seed": seed,
        },
        kinks=kinks if act_name in KINKED else None,
        smooth=act_name not in KINKED,
        jac=jac,
        # between kinks ∇_W f is constant in τ and ∇_a f linear: degree ≤ 1
        info={"signs": signs, "activation": act_name, "piece_degree": 1},
    )


# ---------------------------------------------------------------------------------------
# MLP, NTK parameterisation (seed 003 eqs. 16-17)
# ---------------------------------------------------------------------------------------


def mlp(sizes: Sequence[int], activation: str = "tanh", bias: bool = True, seed: int = 0) -> Model:
    """Fully-connected net in the NTK parameterisation of seed 003 eqs. 16–17.

    ``sizes = [d, d_1, ..., d_L, k]``. With ``g^0 = x``::

        f^h = W^h g^{h-1} (+ b^h),   g^h = sqrt(c_σ / d_h) σ(f^h)   (h = 1..L)
        f(w, x) = W^{L+1} g^L (+ b^{L+1})

    with ``c_σ = 1/E[σ(z)²]`` and all weights standard normal at init; the first layer is
    unscaled. With ``bias=False`` this is exactly eqs. 16–17, whose width→∞ kernel is the
    recursion of eqs. 22–23. Biases start at 0. ``k = 1`` gives a scalar output ``(n,)``;
    ``k > 1`` gives ``(n, k)``. Parameters are ``W^1, b^1, W^2, b^2, ...`` flattened
    row-major.
    """
    sizes = check_sizes(sizes)
    seed = as_seed(seed)
    bias = as_flag(bias, "bias")
    act_name = check_activation(activation)
    sigma = _activation(act_name)
    cs = c_sigma(act_name)
    layers: list[tuple[int, int, int, int]] = []  # (offset, rows, cols, bias offset or -1)
    offset = 0
    for h in range(1, len(sizes)):
        rows, cols = sizes[h], sizes[h - 1]
        w_off = offset
        offset += rows * cols
        b_off = -1
        if bias:
            b_off = offset
            offset += rows
        layers.append((w_off, rows, cols, b_off))
    n_params = offset
    k = sizes[-1]
    n_layers = len(layers)

    def f(w, X):
        g = X
        for h, (w_off, rows, cols, b_off) in enumerate(layers):
            W = anp.reshape(w[w_off : w_off + rows * cols], (rows, cols))
            pre = anp.dot(g, W.T)
            if b_off >= 0:
                pre = pre + w[b_off : b_off + rows]
            if h < n_layers - 1:
                g = math.sqrt(cs / rows) * sigma(pre)
            else:
                g = pre
        return g[:, 0] if k == 1 else g

    def init(s: int) -> np.ndarray:
        rng = np.random.default_rng(s)
        w0 = np.zeros(n_params)
        for w_off, rows, cols, _ in layers:
            w0[w_off : w_off + rows * cols] = rng.standard_normal(rows * cols)
        return w0

    dsigma = DERIVATIVES[act_name]

    def jac(w: np.ndarray, X: np.ndarray) -> np.ndarray:
        # Layer-wise backpropagation, seed 003 eqs. 19-20: ∂f_a/∂W^h = b^h_a (g^{h-1})ᵀ with
        # b^{L+1} = e_a and b^h = sqrt(c_σ/d_h) σ'(f^h) ⊙ (W^{h+1})ᵀ b^{h+1}.
        n = X.shape[0]
        gs, pres, Ws = [X], [], []
        g = X
        for h, (w_off, rows, cols, b_off) in enumerate(layers):
            W = w[w_off : w_off + rows * cols].reshape(rows, cols)
            pre = g @ W.T
            if b_off >= 0:
                pre = pre + w[b_off : b_off + rows]
            Ws.append(W)
            pres.append(pre)
            if h < n_layers - 1:
                g = math.sqrt(cs / rows) * np.asarray(sigma(pre))
                gs.append(g)
        J = np.empty((n, k, n_params))
        B = np.broadcast_to(np.eye(k), (n, k, k))  # b^{L+1}: (n, outputs, units)
        for h in range(n_layers - 1, -1, -1):
            w_off, rows, cols, b_off = layers[h]
            J[:, :, w_off : w_off + rows * cols] = (
                B[:, :, :, None] * gs[h][:, None, None, :]
            ).reshape(n, k, rows * cols)
            if b_off >= 0:
                J[:, :, b_off : b_off + rows] = B
            if h > 0:
                scale_h = math.sqrt(cs / cols) * dsigma(pres[h - 1])
                B = (B @ Ws[h]) * scale_h[:, None, :]
        return J

    kinks = None
    if act_name in KINKED and n_layers == 2:
        # one hidden layer: pre-activations are linear in τ along a step (when no bias
        # enters them nonlinearly, which it does not), so the kinks can be located exactly.
        w_off, rows, cols, b_off = layers[0]

        def kinks(w: np.ndarray, delta: np.ndarray, X: np.ndarray) -> np.ndarray:
            W, dW = (v[w_off : w_off + rows * cols].reshape(rows, cols) for v in (w, delta))
            Z0, dZ = X @ W.T, X @ dW.T
            if b_off >= 0:
                Z0 = Z0 + w[b_off : b_off + rows]
                dZ = dZ + delta[b_off : b_off + rows]
            return _linear_zero_crossings(Z0, dZ)

    return Model(
        "mlp",
        f,
        n_params,
        sizes[0],
        None if k == 1 else k,
        init,
        spec={
            "kind": "mlp",
            "sizes": list(sizes),
            "activation": act_name,
            "bias": bias,
            "seed": seed,
        },
        kinks=kinks,
        smooth=act_name not in KINKED,
        jac=jac,
        info={
            "c_sigma": cs,
            "activation": act_name,
            "sizes": list(sizes),
            "bias": bias,
            # one relu hidden layer: between kinks every gradient entry is linear in τ
            **({"piece_degree": 1} if kinks is not None else {}),
        },
    )


# ---------------------------------------------------------------------------------------
# custom
# ---------------------------------------------------------------------------------------


def custom(
    f: Callable[[Any, np.ndarray], Any],
    w0: Any,
    input_dim: int | None = None,
    name: str = "custom",
) -> Model:
    """Wrap any ``f(w, X)`` written with ``autograd.numpy`` as a Model.

    ``w0`` is the initial weight vector (any shape; it is flattened, and ``f`` receives
    the flat vector). ``f`` must return ``(n,)`` or ``(n, k)``; this is checked on every
    :meth:`Model.apply`. ``init(seed)`` returns ``w0`` whatever the seed.
    """
    if not callable(f):
        raise InvalidArgumentError(
            f"custom(f, w0) needs a callable f(w, X); got {type(f).__name__}."
        )
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"custom(..., name=...) needs a non-empty str; got {name!r}.")
    w0 = as_flat_weights(w0, "custom(f, w0): w0")
    if input_dim is not None:
        input_dim = _positive_int(input_dim, "input_dim")
        trial_differentiation(f, w0, input_dim, name)
    frozen = w0.copy()
    frozen.setflags(write=False)
    return Model(name, f, w0.size, input_dim, None, lambda seed: frozen.copy(), spec=None)


def from_spec(spec: dict[str, Any]) -> Model:
    """Rebuild a built-in model from its ``Model.spec`` (used by ``Trajectory.load``)."""
    spec = dict(spec)
    kind = spec.pop("kind", None)
    builders: dict[str, Callable[..., Model]] = {
        "linear": linear, "two_layer": two_layer, "mlp": mlp
    }
    if kind not in builders:
        raise InvalidArgumentError(f"cannot rebuild a model of kind {kind!r} from its spec.")
    return builders[kind](**spec)


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _activation(name: str) -> Callable:
    return activation(name)


def _linear_zero_crossings(Z0: np.ndarray, dZ: np.ndarray) -> np.ndarray:
    """τ ∈ (0, 1) where ``Z0 + τ dZ`` crosses zero, for every entry; sorted and unique."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tau = -Z0 / dZ  # inf/nan where dZ is 0 or subnormal: filtered out below
    tau = tau[np.isfinite(tau)]
    tau = tau[(tau > 0.0) & (tau < 1.0)]
    return np.unique(tau)


def _positive_int(value: Any, name: str) -> int:
    unit = "unit" if name == "width" else "dimension"
    return positive_int(value, name, f" A model needs at least one {unit}.")


def check_sizes(sizes: Sequence[int]) -> list[int]:
    """``sizes`` as a list of positive ints ``[d, d_1, ..., k]`` (at least input and output)."""
    try:
        sizes = list(sizes)
    except TypeError as exc:
        raise InvalidArgumentError(
            f"sizes must be a list like [d, width, ..., k]; got {sizes!r}."
        ) from exc
    if len(sizes) < 2:
        raise InvalidArgumentError(
            f"sizes must list at least input and output sizes [d, ..., k]; got {sizes}."
        )
    return [
        _positive_int(s, "width" if 0 < i < len(sizes) - 1 else "size") for i, s in enumerate(sizes)
    ]

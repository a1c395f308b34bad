"""The Model every part of pkverify consumes: ``y = f(w, x)`` over a flat ``w ∈ R^P``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, NonFiniteError, ShapeError
from ..validation import as_data, as_seed, as_weights, check_memory, positive_int
from .layers import Network

__all__ = [
    "Model", "ForeignModel", "KinkFn", "check_output", "check_sizes", "positive_size",
    "require_model",
]

KinkFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class ForeignModel:
    """The framework side of a model written in another framework (``pk.torch.model``,
    ``pk.jax.model``).

    framework:   "torch" or "jax".
    module:      the framework's module (its architecture; never pickled or saved); for JAX
                 the function ``apply_fn(params, x)``.
    names:       the trainable parameters' names, in the order they are raveled into w.
    shapes:      their shapes (w is their row-major concatenation).
    input_shape: the shape of one input; rows of X (length prod(input_shape)) are reshaped.
    device:      where the module's parameters live ("cpu", "cuda:0", ...).
    dtype:       the module's float dtype name ("float64" or "float32"); its engine
                 computes in it.
    call:        ``call(w, X) -> (n, k)``: the forward pass in the framework's own tensors
                 (w flat, X rows flattened), differentiable by the framework.
    kinked:      the layers whose gradient jumps (named with their type), which made the
                 model non-smooth; empty for a smooth module. For JAX the JVP's operations
                 that jump, with their source lines.
    unlocated:   the kinked ops whose kinks the adapter's switch values do not locate
                 (:mod:`pkverify.kernels.switches`); empty when every kink is located.
    unravel:     JAX: ``w ↦ params`` pytree (``jax.flatten_util.ravel_pytree``'s inverse).
    treedef:     JAX: the params pytree's structure (``jax.tree_util.tree_structure``).
    """

    framework: str
    module: Any
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    input_shape: tuple[int, ...]
    device: str
    dtype: str
    call: Callable[[Any, Any], Any]
    kinked: tuple[str, ...] = ()
    unlocated: tuple[str, ...] = ()
    unravel: Callable[[Any], Any] | None = None
    treedef: Any = None


@dataclass(frozen=True, eq=False)
class Model:
    """A differentiable model over a flat parameter vector.

    name:        short name ("linear", "two_layer", "mlp", or a custom model's name).
    f:           the raw function ``f(w, X)`` (autograd.numpy); prefer :meth:`apply`.
    n_params:    P, the length of ``w``.
    input_dim:   d, the columns of ``X`` (None when the model does not fix it).
    output_dim:  None for a scalar output ``(n,)``; k for a vector output ``(n, k)``.
    init_fn:     ``seed -> w0`` of shape ``(P,)``.
    spec:        constructor arguments, so a saved trajectory can rebuild the model
                 (None for custom models, which must be passed back on load).
    network:     the layers of a built-in model (:class:`~pkverify.models.layers.Network`);
                 f is its forward pass, and the layer-wise engine computes gradients and
                 kernels from it. None for custom models.
    smooth:      False when the gradient jumps along a straight step (relu); the exact
                 path-kernel rule must then split steps at the jumps.
    kinks:       for a non-smooth custom model, an optional locator ``kinks(w, Δ, X) -> τ in
                 (0, 1)`` of the gradient's jumps along ``w + τΔ`` (built-in networks locate
                 their own, layer by layer).
    piece_degree: optional: between kinks every entry of ∇f(w + τΔ, x) is a polynomial in τ of
                 at most this degree, so ``ceil((degree + 1)/2)`` Gauss nodes per piece are exact.

    What a built-in model is (None where it does not apply):

    activation:  the hidden layers' activation name (mlp, two_layer).
    bias:        whether the layers (mlp) or the features (linear) carry a bias.
    sizes:       the layer sizes ``(d, d_1, ..., k)`` of an mlp.
    c_sigma:     the mlp's NTK normalisation constant ``c_σ`` of its activation.
    signs:       the two-layer net's output signs ``a_r ∈ {−1, +1}``, shape ``(width,)``.
    phi:         the linear model's feature map ``φ: (n, d) → (n, p)``.
    n_features:  p, the linear model's number of features.
    foreign:     for a model from another framework (``pk.torch.model``), its module and
                 functional forward; its engine differentiates with that framework, and
                 autograd is never asked to differentiate ``f``. None for pkverify's models.
    """

    name: str
    f: Callable[[Any, Any], Any]
    n_params: int
    input_dim: int | None
    output_dim: int | None
    init_fn: Callable[[int], np.ndarray]
    spec: dict[str, Any] | None = None
    network: Network | None = None
    smooth: bool = True
    kinks: KinkFn | None = None
    piece_degree: int | None = None
    activation: str | None = None
    bias: bool | None = None
    sizes: tuple[int, ...] | None = None
    c_sigma: float | None = None
    signs: np.ndarray | None = None
    phi: Callable[[Any], Any] | None = None
    n_features: int | None = None
    foreign: ForeignModel | None = None

    @property
    def info(self) -> dict[str, Any]:
        """The typed fields above as the dict of earlier versions (read-only, derived):
        ``signs``, ``activation``, ``phi``, ``features`` (= n_features), ``bias``,
        ``sizes``, ``c_sigma`` — those that apply. Prefer the fields."""
        named = {
            "signs": self.signs, "activation": self.activation, "phi": self.phi,
            "features": self.n_features, "bias": self.bias,
            "sizes": None if self.sizes is None else list(self.sizes), "c_sigma": self.c_sigma,
        }
        return {key: value for key, value in named.items() if value is not None}

    def init(self, seed: int | None = None) -> np.ndarray:
        """Draw initial weights ``w0 (P,)`` from ``numpy.random.default_rng(seed)``.

        ``seed=None`` uses the seed the model was built with (0 when it has none).
        """
        if seed is None:
            seed = (self.spec or {}).get("seed", 0)
        seed = as_seed(seed)
        # the layers' draws and their concatenation: two float64 copies of w0 at the peak
        check_memory(
            2.0 * 8 * self.n_params,
            f"model.init of {self.name} with P = {self.n_params:,} weights",
            "Use a smaller model (fewer or narrower layers): its weights alone must fit in "
            "memory, and kernels and training need several copies of them.",
        )
        w0 = np.asarray(self.init_fn(seed), dtype=np.float64)
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


def positive_size(value: Any, name: str) -> int:
    """A layer size ≥ 1, with a model-specific hint."""
    unit = "unit" if name == "width" else "dimension"
    return positive_int(value, name, f" A model needs at least one {unit}.")


def check_sizes(sizes: Any) -> list[int]:
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
        positive_size(s, "width" if 0 < i < len(sizes) - 1 else "size") for i, s in enumerate(sizes)
    ]


def require_model(model: Any, where: str = "this function") -> Model:
    """``model`` itself if it is a pkverify Model; otherwise an error naming the constructors."""
    if not isinstance(model, Model):
        raise InvalidArgumentError(
            f"{where} needs a pkverify Model (pk.models.mlp(...), pk.models.linear(...), "
            f"pk.models.custom(f, w0), ...); got {type(model).__name__} {model!r:.60}."
        )
    return model

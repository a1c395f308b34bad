"""Small models ``f(w, x)`` as SymPy expressions, parameter-for-parameter the numeric ones.

Each constructor returns a :class:`SymbolicModel` whose ``params`` are listed in exactly
the order of the flat vector ``w`` of the matching :mod:`pkverify.models` model, so a
closed form lambdified at ``w`` can be compared with autograd at the same ``w``:

* :func:`linear` — ``f = w·φ(x) (+ b)``, φ the identity, polynomial monomials, or any
  map of the input symbols; params ``[w_1..w_p, b]``.
* :func:`two_layer` — ntk-notes eq. 9, ``f = m^{-1/2} Σ_r a_r σ(w_rᵀx)`` with fixed signs
  ``a_r = ±1`` drawn from ``seed`` exactly as :func:`pkverify.models.two_layer` draws them;
  params ``W`` row-major ``(m, d)`` (then ``a`` when ``train_output``).
* :func:`mlp` — ntk-notes eqs. 16–17 (NTK parameterisation, first layer unscaled),
  ``f^h = W^h g^{h-1} (+ b^h)``, ``g^h = sqrt(c_σ/d_h) σ(f^h)``, output ``W^{L+1} g^L (+ b)``;
  params ``W^1, b^1, W^2, b^2, ...`` row-major. Depth ≤ 2, width ≤ 3, one output.

Sizes are capped (:data:`LIMITS`) because SymPy cost grows quickly with the number of
parameters; asking for more raises :class:`~pkverify.errors.SymbolicError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InvalidArgumentError, SymbolicError
from ..models import check_sizes
from ..validation import positive_int
from .activations import sym_activation
from .features import (
    _lambdified_features,
    _poly_numeric,
    _user_features,
    polynomial_features,
)

__all__ = [
    "SymbolicModel",
    "LIMITS",
    "input_symbols",
    "linear",
    "polynomial_features",
    "two_layer",
    "mlp",
    "build",
]

LIMITS: dict[str, int] = {
    "linear_dim": 6,
    "poly_degree": 3,
    "two_layer_dim": 4,
    "two_layer_width": 8,
    "mlp_dim": 3,
    "mlp_width": 3,
    "mlp_depth": 2,
}
"""The largest sizes the symbolic engine accepts (beyond them SymPy gets slow)."""


@dataclass(frozen=True, eq=False)
class SymbolicModel:
    """``f(w, x)`` as a SymPy expression.

    name:        "linear", "two_layer" or "mlp".
    expr:        f(w, x) over ``params`` and ``x``.
    params:      the parameter symbols, in the numeric model's flat order (length P).
    x:           input symbols ``x_1..x_d``; ``xp`` are ``x'_1..x'_d`` for the second kernel
                 argument.
    blocks:      ``(label, start, stop)`` parameter groups (a neuron, a layer's W or b);
                 kernels are simplified block by block.
    spec:        constructor arguments (the cache key and the numeric twin's recipe).
    activation:  the activation name (None for linear).
    """

    name: str
    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    x: tuple[sp.Symbol, ...]
    xp: tuple[sp.Symbol, ...]
    blocks: tuple[tuple[str, int, int], ...]
    spec: tuple[tuple[str, Any], ...]
    activation: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        """P, the number of parameters."""
        return len(self.params)

    @property
    def dim(self) -> int:
        """d, the input dimension."""
        return len(self.x)

    def at(self, point: Sequence[Any]) -> sp.Expr:
        """``f(w, point)``: the expression with ``x`` replaced by ``point`` (length d)."""
        point = list(point)
        if len(point) != self.dim:
            raise InvalidArgumentError(
                f"a point for this model needs d = {self.dim} coordinates; got {len(point)}."
            )
        return self.expr.xreplace(dict(zip(self.x, map(sp.sympify, point))))

    def at_prime(self) -> sp.Expr:
        """``f(w, x')`` over the primed input symbols."""
        return self.expr.xreplace(dict(zip(self.x, self.xp)))

    def numeric(self):
        """The matching :class:`pkverify.models.Model` (same parameter order)."""
        from .. import models as nm

        kw = dict(self.spec)
        if self.name == "linear":
            feats = kw.pop("features_fn")
            return nm.linear(kw["dim"], bias=kw["bias"], features=feats)
        if self.activation == "square":
            raise SymbolicError(
                "activation 'square' exists only symbolically; pkverify.models has no numeric "
                "twin for it. Use one of relu, tanh, softplus, erf, sigmoid, identity."
            )
        if self.name == "two_layer":
            return nm.two_layer(**kw)
        return nm.mlp(**kw)

    def __repr__(self) -> str:
        return f"SymbolicModel({self.name}, P={self.n_params}, d={self.dim}, {self.activation})"


def input_symbols(dim: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """``(x_1..x_d)`` and ``(x'_1..x'_d)``, real symbols."""
    x = tuple(sp.Symbol(f"x_{j}", real=True) for j in range(1, dim + 1))
    xp = tuple(sp.Symbol(f"x'_{j}", real=True) for j in range(1, dim + 1))
    return x, xp


def _size(value: Any, name: str, limit: int | None = None, key: str = "") -> int:
    value = positive_int(value, name)
    if limit is not None and value > limit:
        raise SymbolicError(
            f"{name} = {value} is too large for the symbolic engine (at most {limit}; "
            f"LIMITS[{key!r}]). SymPy cost grows fast with size: use the numeric "
            "pkverify.tangent_kernel for bigger models."
        )
    return value


# ---------------------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------------------


def linear(
    dim: int,
    bias: bool = True,
    degree: int = 1,
    features: Callable[[tuple[sp.Symbol, ...]], Sequence[sp.Expr]] | None = None,
) -> SymbolicModel:
    """``f(w, x) = w·φ(x) (+ b)`` with φ the monomials of degree 1..``degree``, or ``features``.

    ``degree = 1`` is the identity feature map (plain linear regression). ``features`` maps
    the input symbols ``(x_1, ..., x_d)`` to a list of SymPy expressions, e.g.
    ``lambda x: [sp.sin(x[0]), x[0] * x[1]]``; the numeric twin lambdifies it. The tangent
    kernel is ``φ(x)·φ(x') (+ 1)`` at every w (domingos2020 §3, linear models).
    """
    dim = _size(dim, "dim", LIMITS["linear_dim"], "linear_dim")
    degree = _size(degree, "degree", LIMITS["poly_degree"], "poly_degree")
    x, xp = input_symbols(dim)
    if features is None:
        feats = polynomial_features(x, degree)
    else:
        feats = _user_features(features, x)
    p = len(feats)
    w = tuple(sp.Symbol(f"w_{j}", real=True) for j in range(1, p + 1))
    params = w + ((sp.Symbol("b", real=True),) if bias else ())
    expr = sum((wi * fi for wi, fi in zip(w, feats)), sp.S.Zero)
    if bias:
        expr = expr + params[-1]
    blocks = [("w", 0, p)] + ([("b", p, p + 1)] if bias else [])
    if features is not None:
        features_fn = _lambdified_features(feats, x)
    else:
        features_fn = None if degree == 1 else _poly_numeric(dim, degree)
    spec = (("dim", dim), ("bias", bool(bias)), ("degree", degree), ("features_fn", features_fn))
    return SymbolicModel(
        "linear", expr, params, x, xp, tuple(blocks), spec, None, {"features": feats}
    )


# ---------------------------------------------------------------------------------------
# two-layer, ntk-notes eq. 9
# ---------------------------------------------------------------------------------------


def two_layer_signs(width: int, seed: int = 0) -> np.ndarray:
    """The fixed signs ``a_r ∈ {±1}`` exactly as :func:`pkverify.models.two_layer` draws them."""
    return np.where(np.random.default_rng(seed).random(width) < 0.5, -1.0, 1.0)


def two_layer(
    dim: int,
    width: int,
    activation: str = "relu",
    train_output: bool = False,
    seed: int = 0,
    signs: Sequence[int] | None = None,
) -> SymbolicModel:
    """Seed 003 eq. 9: ``f(x) = m^{-1/2} Σ_{r=1}^m a_r σ(w_rᵀx)``.

    Parameters ``w_{rj}`` row-major (then ``a_r`` when ``train_output``). The fixed signs come
    from ``seed`` as in the numeric model, or from ``signs`` (each ±1) when given.
    """
    dim = _size(dim, "dim", LIMITS["two_layer_dim"], "two_layer_dim")
    width = _size(width, "width", LIMITS["two_layer_width"], "two_layer_width")
    act = sym_activation(activation)
    if signs is None:
        a_fixed = [int(s) for s in two_layer_signs(width, seed)]
    else:
        a_fixed = [int(s) for s in signs]
        if len(a_fixed) != width or any(s not in (-1, 1) for s in a_fixed):
            raise InvalidArgumentError(
                f"signs must be {width} values, each +1 or -1; got {list(signs)!r}."
            )
    x, xp = input_symbols(dim)
    W = [[sp.Symbol(f"w_{r}{j}", real=True) for j in range(1, dim + 1)]
         for r in range(1, width + 1)]
    params: list[sp.Symbol] = [s for row in W for s in row]
    if train_output:
        a: list[sp.Expr] = [sp.Symbol(f"a_{r}", real=True) for r in range(1, width + 1)]
        params += a
    else:
        a = [sp.Integer(s) for s in a_fixed]
    scale = 1 / sp.sqrt(width)
    pre = [sum((wi * xi for wi, xi in zip(row, x)), sp.S.Zero) for row in W]
    expr = scale * sum((ar * act.sigma(z) for ar, z in zip(a, pre)), sp.S.Zero)
    blocks = [(f"w_{r + 1}", r * dim, (r + 1) * dim) for r in range(width)]
    if train_output:
        blocks.append(("a", width * dim, width * dim + width))
    spec = (
        ("dim", dim),
        ("width", width),
        ("activation", activation),
        ("train_output", bool(train_output)),
        ("seed", seed),
    )
    return SymbolicModel(
        "two_layer", expr, tuple(params), x, xp, tuple(blocks), spec, activation,
        {"signs": a_fixed, "pre": pre},
    )


# ---------------------------------------------------------------------------------------
# MLP, ntk-notes eqs. 16-17
# ---------------------------------------------------------------------------------------


def mlp(sizes: Sequence[int], activation: str = "tanh", bias: bool = True) -> SymbolicModel:
    """NTK-parameterised MLP ``sizes = [d, d_1, (d_2,) 1]`` (ntk-notes eqs. 16–17).

    ``g^0 = x``; ``f^h = W^h g^{h-1} (+ b^h)``; ``g^h = sqrt(c_σ/d_h) σ(f^h)``;
    ``f = W^{L+1} g^L (+ b^{L+1})``. Parameters ``W^1, b^1, W^2, b^2, ...`` row-major, as in
    :func:`pkverify.models.mlp`. ``c_σ`` is exact for relu, erf, identity and square.
    """
    sizes = check_sizes(sizes)  # the numeric model's checks: a list of positive ints
    if len(sizes) < 3:
        raise InvalidArgumentError(
            f"sizes must be [d, d_1, (d_2,) 1] with at least one hidden layer; got {sizes}."
        )
    depth = len(sizes) - 2
    if depth > LIMITS["mlp_depth"]:
        raise SymbolicError(
            f"depth {depth} is too deep for the symbolic engine (at most "
            f"{LIMITS['mlp_depth']} hidden layers). Use pkverify.tangent_kernel numerically."
        )
    dim = _size(sizes[0], "d", LIMITS["mlp_dim"], "mlp_dim")
    hidden = [_size(s, "width", LIMITS["mlp_width"], "mlp_width") for s in sizes[1:-1]]
    if sizes[-1] != 1:
        raise SymbolicError(
            f"the symbolic MLP has one output; got k = {sizes[-1]}. Vector outputs are "
            "handled numerically (pkverify.tangent_kernel returns k × k blocks)."
        )
    act = sym_activation(activation)
    x, xp = input_symbols(dim)
    params: list[sp.Symbol] = []
    blocks: list[tuple[str, int, int]] = []
    g: list[sp.Expr] = list(x)
    all_sizes = [dim] + hidden + [1]
    n_layers = len(all_sizes) - 1
    for h in range(1, n_layers + 1):
        rows, cols = all_sizes[h], all_sizes[h - 1]
        W = [[sp.Symbol(f"W^{h}_{i}{j}", real=True) for j in range(1, cols + 1)]
             for i in range(1, rows + 1)]
        start = len(params)
        params += [s for row in W for s in row]
        blocks.append((f"W^{h}", start, len(params)))
        pre = [sum((wij * gj for wij, gj in zip(row, g)), sp.S.Zero) for row in W]
        if bias:
            b = [sp.Symbol(f"b^{h}_{i}", real=True) for i in range(1, rows + 1)]
            start = len(params)
            params += b
            blocks.append((f"b^{h}", start, len(params)))
            pre = [p + bi for p, bi in zip(pre, b)]
        if h < n_layers:
            scale = sp.sqrt(act.c_sigma / rows)
            g = [scale * act.sigma(z) for z in pre]
        else:
            g = pre
    spec = (("sizes", tuple(all_sizes)), ("activation", activation), ("bias", bool(bias)))
    return SymbolicModel(
        "mlp", g[0], tuple(params), x, xp, tuple(blocks), spec, activation,
        {"c_sigma": act.c_sigma, "depth": len(hidden)},
    )


def build(
    kind: str,
    dim: int = 2,
    width: int = 2,
    depth: int = 1,
    activation: str = "relu",
    bias: bool = False,
    degree: int = 1,
    seed: int = 0,
) -> SymbolicModel:
    """One entry point for the CLI and the properties: ``kind`` ∈ {linear, two_layer, mlp}.

    For ``mlp`` the sizes are ``[dim] + [width]*depth + [1]``.
    """
    if kind == "linear":
        return linear(dim, bias=bias, degree=degree)
    if kind == "two_layer":
        return two_layer(dim, width, activation, seed=seed)
    if kind == "mlp":
        depth = _size(depth, "depth")
        return mlp([dim] + [width] * depth + [1], activation, bias=bias)
    from ..errors import unknown_name

    raise unknown_name("model", kind, ("linear", "two_layer", "mlp"))

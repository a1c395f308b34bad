"""Any user model ``f(w, X)`` written with autograd.numpy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, NonFiniteError
from .base import KinkFn, Model, positive_size

__all__ = ["custom"]


def custom(
    f: Callable[[Any, np.ndarray], Any],
    w0: Any,
    input_dim: int | None = None,
    name: str = "custom",
    smooth: bool = True,
    kinks: KinkFn | None = None,
    piece_degree: int | None = None,
) -> Model:
    """Wrap any ``f(w, X)`` written with ``autograd.numpy`` as a Model.

    ``w0`` is the initial weight vector (any shape; it is flattened, and ``f`` receives
    the flat vector). ``f`` must return ``(n,)`` or ``(n, k)``; this is checked on every
    :meth:`Model.apply`. ``init(seed)`` returns ``w0`` whatever the seed.

    ``smooth=False`` declares that ∇f jumps along straight steps (relu inside, abs, max…).
    The exact path-kernel rule then splits each step at the τ returned by ``kinks(w, Δ, X)``
    when given (with ``piece_degree``: the polynomial degree of ∇f between kinks, if known);
    without a locator it cannot promise rounding error, warns once with the measured step
    residual, and the kernel machine records it. Gradients, forward-mode products and kernels
    come from autograd (the reference engine): kernel matrices build per-example Jacobians,
    predictions do not.
    """
    if not callable(f):
        raise InvalidArgumentError(
            f"custom(f, w0) needs a callable f(w, X); got {type(f).__name__}."
        )
    w0 = np.asarray(w0, dtype=np.float64).ravel()
    if w0.size == 0:
        raise InvalidArgumentError("custom(f, w0) needs at least one parameter; w0 is empty.")
    if not np.all(np.isfinite(w0)):
        raise NonFiniteError("custom(f, w0): w0 contains NaN or inf; pass finite weights.")
    if input_dim is not None:
        input_dim = positive_size(input_dim, "input_dim")
    if kinks is not None and not callable(kinks):
        raise InvalidArgumentError(
            f"kinks must be a callable kinks(w, delta, X) -> taus in (0, 1); got {kinks!r}."
        )
    if kinks is not None and smooth:
        raise InvalidArgumentError(
            "a kink locator was given for a model declared smooth; pass smooth=False with "
            "kinks=..., or drop kinks."
        )
    if piece_degree is not None:
        if isinstance(piece_degree, bool) or not isinstance(piece_degree, (int, np.integer)) \
                or piece_degree < 0:
            raise InvalidArgumentError(
                f"piece_degree must be an integer ≥ 0 (the degree of ∇f in τ between kinks); "
                f"got {piece_degree!r}."
            )
        piece_degree = int(piece_degree)
    frozen = w0.copy()
    frozen.setflags(write=False)
    return Model(
        name,
        f,
        w0.size,
        input_dim,
        None,
        lambda seed: frozen.copy(),
        spec=None,
        smooth=bool(smooth),
        kinks=kinks,
        piece_degree=piece_degree,
    )

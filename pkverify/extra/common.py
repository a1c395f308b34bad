"""What the framework adapters (``pk.torch``, ``pk.jax``) share, framework-free: checking
the shape of one input, the shape a forward pass returns on a probe batch, and refusing
autograd's boxes in ``f(w, X)`` (a foreign model is differentiated by its own framework)."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError, ShapeError

__all__ = ["check_input_shape", "check_probe_output", "refuse_autograd"]


def check_input_shape(input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints (the shape of one input)."""
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = len(shape) >= 1 and all(s >= 1 and s == t for s, t in zip(shape, input_shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidArgumentError(
            f"input_shape must be a tuple of positive ints, the shape of one input such "
            f"as (1, 8, 8) for 8×8 grey images; got {input_shape!r}."
        )
    return shape


def check_probe_output(shape: tuple[int, ...] | None, got: str, what: str, fix: str) -> int:
    """k, the outputs per input, from the shape ``(2, k)`` a forward pass returned on 2
    inputs (a ``(2,)`` output is already ``(2, 1)`` here); ShapeError otherwise. ``got``
    names what it returned, ``what`` the model ("the module"), ``fix`` how to mend it."""
    if shape is None or len(shape) != 2 or shape[0] != 2:
        raise ShapeError(
            f"{what} must map a batch of n inputs to (n,) or (n, k) outputs; on 2 inputs "
            f"it returned {got}. {fix}"
        )
    return int(shape[1])


def refuse_autograd(w: Any, framework: str) -> None:
    """A foreign model's ``f(w, X)`` is NumPy in, NumPy out: autograd cannot trace it."""
    if type(w).__module__.startswith("autograd"):
        raise InvalidArgumentError(
            f"a {framework} model's f(w, X) is differentiated by {framework}, not autograd; "
            f"use its engine (implementation='auto' or '{framework}')."
        )

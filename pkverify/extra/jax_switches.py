"""The switch values of a JAX function's piecewise-linear operations, read from the jaxpr of
its JVP (for the kink locator, :mod:`pkverify.kernels.switches`).

:mod:`.jax_smooth` finds the equations of the JVP's jaxpr whose value jumps with the weights.
Each is mapped to a **switch value**, a smooth function of the weights whose sign changes
exactly where the equation's value jumps:

* ``gt``/``ge``/``lt``/``le``/``ne`` on operands ``a, b`` (``jax.nn.relu``'s JVP tests
  ``x > 0``; ``jnp.where(x > 0, ...)``, ``abs``, leaky relu): ``a − b``;
* ``eq`` whose operand is the result of a binary ``max``/``min`` (JAX's JVP of
  ``jnp.maximum(x, 0)``, ``clip``, ``minimum``: it asks which operand won): the difference
  of that ``max``/``min``'s two operands, once per ``max``/``min``.

Every other jumping equation is **unlocated** (``reduce_max`` over an axis and max-pooling's
``select_and_gather_add``, ``argmax``, ``sort``, ``sign``/``floor``/``round``, conversions to
integers, comparisons inside ``cond``/``while``/``scan``): the model is then not smooth and
the exact rule warns with its residual. The values are computed by interpreting the jaxpr
(``primitive.bind`` equation by equation, descending into ``jit`` and ``custom_jvp``/
``custom_vjp`` calls) at the weights with a zero tangent, one row at a time under ``vmap``
with per-row weights ``w + τ_r Δ``.
"""

from __future__ import annotations

import functools
from typing import Any

from .jax_smooth import sub_jaxprs, trace_jvp, where

__all__ = ["switch_plan", "switch_program"]

_ORDER = frozenset({"gt", "ge", "lt", "le", "ne"})
_CALLS = frozenset({"pjit", "jit", "closed_call", "core_call", "custom_jvp_call",
                    "custom_vjp_call", "custom_vjp_call_jaxpr", "remat", "checkpoint"})
"""Equations whose one sub-jaxpr takes their inputs one to one: interpreted inside."""


def _inner(eqn: Any) -> Any | None:
    """The sub-jaxpr the interpreter descends into (ClosedJaxpr or Jaxpr), or None."""
    if eqn.primitive.name not in _CALLS:
        return None
    subs = [v for v in eqn.params.values() if hasattr(getattr(v, "jaxpr", v), "eqns")]
    if len(subs) != 1:
        return None
    j = getattr(subs[0], "jaxpr", subs[0])
    return subs[0] if len(j.invars) == len(eqn.invars) and len(j.outvars) == len(
        eqn.outvars) else None


def _walk(jaxpr: Any, producer: dict[Any, Any], reach: set[int]) -> None:
    for eqn in jaxpr.eqns:
        reach.add(id(eqn))
        for v in eqn.outvars:
            producer[v] = eqn
        inner = _inner(eqn)
        if inner is not None:
            _walk(getattr(inner, "jaxpr", inner), producer, reach)
        else:  # equations the interpreter does not enter stay unreachable
            for sub in sub_jaxprs(eqn):
                for e in sub.eqns:
                    for v in e.outvars:
                        producer[v] = e


def switch_plan(closed: Any, found: list[Any]) -> tuple[set[int], tuple[str, ...]]:
    """``(ids of the equations whose operands' difference is a switch value, the names of
    the jumping equations that have none)`` (module docstring)."""
    producer: dict[Any, Any] = {}
    reach: set[int] = set()
    _walk(closed.jaxpr, producer, reach)
    switches: set[int] = set()
    unlocated = []
    for eqn in found:
        name = eqn.primitive.name
        target = eqn if name in _ORDER else None
        if name == "eq":
            for v in eqn.invars:
                m = None if hasattr(v, "val") else producer.get(v)
                if m is not None and m.primitive.name in ("max", "min") and len(m.invars) == 2:
                    target = m
        if target is None or id(target) not in reach:
            unlocated.append(where(eqn))
        else:
            switches.add(id(target))
    return switches, tuple(dict.fromkeys(unlocated))


def _interpret(jaxpr: Any, consts: list[Any], args: list[Any], switches: set[int],
               out: list[Any]) -> list[Any]:
    import jax.numpy as jnp

    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        return v.val if hasattr(v, "val") else env[v]

    for v, val in zip(jaxpr.constvars, consts):
        env[v] = val
    for v, val in zip(jaxpr.invars, args):
        env[v] = val
    for eqn in jaxpr.eqns:
        vals = [read(v) for v in eqn.invars]
        if id(eqn) in switches:
            a, b = jnp.broadcast_arrays(vals[0], vals[1])
            out.append(jnp.ravel(a - b))
        inner = _inner(eqn)
        if inner is not None:
            j = getattr(inner, "jaxpr", inner)
            res = _interpret(j, list(getattr(inner, "consts", [])), vals, switches, out)
        else:
            res = eqn.primitive.bind(*vals, **eqn.params)
            res = res if eqn.primitive.multiple_results else [res]
        for v, val in zip(eqn.outvars, res):
            if type(v).__name__ != "DropVar":
                env[v] = val
    return [read(v) for v in jaxpr.outvars]


@functools.lru_cache(maxsize=16)
def switch_program(call: Any, n_params: int, row_shape: tuple[int, ...], dtype: str) -> Any:
    """``values(w, Δ, τ (E,), X (E, d)) -> [(E, units_h) per switch]``, jitted: row e at
    ``w + τ_e Δ`` (module docstring); cached per model (its ``call``)."""
    import jax
    import jax.numpy as jnp

    w0 = jnp.zeros((n_params,), dtype=dtype)
    x0 = jnp.zeros((1, *row_shape), dtype=dtype)
    closed, found = trace_jvp(call, w0, x0)
    switches, _ = switch_plan(closed, found)

    def row(p: Any, x: Any) -> list[Any]:
        out: list[Any] = []
        _interpret(closed.jaxpr, list(closed.consts), [p, jnp.zeros_like(p), x[None]],
                   switches, out)
        return out

    return jax.jit(lambda w, d, taus, X: jax.vmap(lambda t, x: row(w + t * d, x))(taus, X))

"""The switch values of a JAX function's piecewise-linear operations, read from the jaxpr of
its JVP (for the kink locator, :mod:`pkverify.kernels.switches`).

:mod:`.jax_smooth` finds the equations of the JVP's jaxpr whose value jumps with the weights.
Each is mapped to a **switch value**, a smooth function of the weights whose sign changes
exactly where the equation's value jumps:

* ``gt``/``ge``/``lt``/``le``/``ne`` on operands ``a, b`` (``jax.nn.relu``'s JVP tests
  ``x > 0``; ``jnp.where(x > 0, ...)``, ``abs``, leaky relu): ``a − b``;
* ``eq`` whose operand is the result of a binary ``max``/``min`` (JAX's JVP of
  ``jnp.maximum(x, 0)``, ``clip``, ``minimum``: it asks which operand won): the difference
  of that ``max``/``min``'s two operands, once per ``max``/``min``;
* max-pooling, ``reduce_window`` with ``lax.max``/``lax.min`` (``flax.linen.max_pool``;
  any window, strides, padding, base and window dilation), whose JVP is
  ``select_and_gather_add``: for every window, the differences of all pairs of its elements
  (padding and dilation holes never win: pairs with one are held at 1);
* ``eq`` whose operand is, through reshapes and broadcasts, the result of ``reduce_max``/
  ``reduce_min`` (``jnp.max``/``jnp.min`` over any axes), and ``argmax``/``argmin``: the
  differences of all pairs along the reduced axes, once per reduction.

An integer or bool equation whose inputs are all integers or bools computed without the
weights or by located equations (the index arithmetic after an ``argmax`` in
``take_along_axis``, ``(x > 0) & (x < 1)``) jumps only where they do: no switch value of its
own.

These are the conventions of torch's max-pool capture (:mod:`.torch_switches`), with the same
pairs (:mod:`pkverify.extra.window_pairs`): every change of a window's winner is a sign
change of the difference of the old and the new winner; crossings between two non-winners
split the step too, which costs nodes but never exactness.

Every other jumping equation is **unlocated** (``sort``, ``sign``/``floor``/``round``,
conversions of floats to integers, comparisons inside ``cond``/``while``/``scan``, a
``reduce_window`` max whose initial value is not −inf, e.g. 0): the model is then not
smooth and
the exact rule warns with its residual. The values are computed by interpreting the jaxpr
(``primitive.bind`` equation by equation, descending into ``jit`` and ``custom_jvp``/
``custom_vjp`` calls) at the weights with a zero tangent, one row at a time under ``vmap``
with per-row weights ``w + τ_r Δ``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .jax_smooth import JUMPING, sub_jaxprs, trace_jvp, where
from .window_pairs import reduction_pairs, window_pairs

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
            j = getattr(inner, "jaxpr", inner)
            for iv, ov in zip(j.invars, eqn.invars):  # a call's input: its outer producer
                if not hasattr(ov, "val") and ov in producer:
                    producer[iv] = producer[ov]
            _walk(j, producer, reach)
        else:  # equations the interpreter does not enter stay unreachable
            for sub in sub_jaxprs(eqn):
                for e in sub.eqns:
                    for v in e.outvars:
                        producer[v] = e


_THROUGH = frozenset({"reshape", "broadcast_in_dim", "expand_dims", "squeeze",
                      "convert_element_type", "copy"})
"""Equations that pass a reduce_max's result on to its JVP's ``eq`` unchanged in value."""
_REDUCE = frozenset({"reduce_max", "reduce_min", "argmax", "argmin"})


def _source(v: Any, producer: dict[Any, Any]) -> Any | None:
    """The equation producing v, looking through reshapes and broadcasts."""
    m = None if hasattr(v, "val") else producer.get(v)
    while m is not None and m.primitive.name in _THROUGH and len(m.invars) == 1:
        v = m.invars[0]
        m = None if hasattr(v, "val") else producer.get(v)
    return m


def _target(eqn: Any, producer: dict[Any, Any]) -> Any | None:
    """The equation whose inputs give a jumping equation's switch values, or None."""
    name = eqn.primitive.name
    if name in _ORDER or name in ("argmax", "argmin"):
        return eqn
    if name == "select_and_gather_add":  # reduce_window_max/min's derivative
        return eqn
    if name != "eq":
        return None
    for v in eqn.invars:  # eq(x, max(x, y)) or eq(x, reshape(reduce_max(x)))
        m = _source(v, producer)
        if m is not None and (m.primitive.name in ("max", "min") and len(m.invars) == 2
                              or m.primitive.name in ("reduce_max", "reduce_min")):
            return m
    return None


def switch_plan(closed: Any, found: list[Any]) -> tuple[set[int], tuple[str, ...]]:
    """``(ids of the equations whose inputs give switch values, the names of the jumping
    equations that have none)`` (module docstring)."""
    producer: dict[Any, Any] = {}
    reach: set[int] = set()
    _walk(closed.jaxpr, producer, reach)
    switches: set[int] = set()
    unlocated = []
    jumping = {id(e) for e in found}
    covered: set[int] = set()
    for eqn in found:
        if _follows(eqn, producer, jumping, covered):
            covered.add(id(eqn))
            continue
        target = _target(eqn, producer)
        if target is None or id(target) not in reach:
            unlocated.append(where(eqn))
        else:
            switches.add(id(target))
            covered.add(id(eqn))
    return switches, tuple(dict.fromkeys(unlocated))


def _follows(eqn: Any, producer: dict[Any, Any], jumping: set[int], covered: set[int]
             ) -> bool:
    """Whether an integer/bool equation only passes on located jumps: each of its inputs
    is an integer or bool computed without the weights or by a located or covered equation
    (the index arithmetic after an ``argmax``, ``&`` of two located comparisons)."""
    ins = [v for v in eqn.invars if not hasattr(v, "val")]
    for v in ins:
        dtype = np.dtype(v.aval.dtype)
        if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
            return False
        m = producer.get(v)
        if m is not None and id(m) in jumping and id(m) not in covered:
            return False
    return bool(ins) and eqn.primitive.name not in JUMPING


def _switch(eqn: Any, vals: list[Any]) -> Any:
    """The switch values of one located equation, flat (module docstring)."""
    import jax.numpy as jnp

    name, prm = eqn.primitive.name, eqn.params
    if name == "select_and_gather_add":  # (tangent, operand)
        x = vals[1]
        pairs = window_pairs(tuple(x.shape), tuple(prm["window_dimensions"]),
                             tuple(prm["window_strides"]),
                             tuple(tuple(int(a) for a in p) for p in prm["padding"]),
                             tuple(prm["base_dilation"]), tuple(prm["window_dilation"]))
    elif name in _REDUCE:
        x = vals[0]
        pairs = reduction_pairs(tuple(x.shape), tuple(prm["axes"]))
    else:
        a, b = jnp.broadcast_arrays(vals[0], vals[1])
        return jnp.ravel(a - b)
    I, J, valid = pairs
    flat = jnp.ravel(x)
    diff = flat[I] - flat[J]
    return jnp.ravel(diff if valid.all() else jnp.where(valid, diff, jnp.ones_like(diff)))


def _interpret(jaxpr: Any, consts: list[Any], args: list[Any], switches: set[int],
               out: list[Any]) -> list[Any]:

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
            out.append(_switch(eqn, vals))
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

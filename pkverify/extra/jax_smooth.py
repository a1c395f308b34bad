"""Whether a JAX function's gradient jumps, read from its JVP's jaxpr.

A JAX function has no list of layers to look at, but its derivative is a program:
``jax.make_jaxpr`` of ``(p, t) ↦ jax.jvp(apply_fn(·, x), (p,), (t,))`` is the forward pass
with, beside it, the tangent ``∇f·t``, a linear function of t whose coefficients are computed
from the primal values. ∇f jumps along a weight step exactly where one of these coefficients
is a discontinuous function of the weights (a kink of the unit); JAX's differentiation rules
produce such coefficients through a handful of operations, which this module looks for:

* a result of integer or bool type computed from the weights: comparisons (``gt``, ``ge``,
  ``lt``, ``le``, ``eq``, ``ne``: the ``select_n`` predicates of ``max(x, 0)`` = relu,
  ``jnp.where(x > 0, ...)`` = leaky relu, ``abs``, ``clip``/``clamp``, ``min``/``max``,
  ``reduce_max`` (its JVP compares each entry with the maximum)), ``argmax``/``argmin``,
  ``sort``'s permutation, a conversion to an integer;
* the discontinuous float functions ``sign``, ``floor``, ``ceil``, ``round``, ``rem``,
  ``nextafter``, and ``select_and_gather_add``/``select_and_scatter_add`` (max-pooling's
  derivative, from ``reduce_window`` with ``lax.max``).

Not counted, because they do not jump at finite values: a comparison of a value with itself
(``x != x``, the NaN test inside ``logaddexp`` = softplus) or with a literal ±inf/NaN (the
infinity guards of ``logaddexp``'s JVP); a comparison with 0 of a value known to be positive
(built from ``exp``/``logistic`` by sums, products, quotients, reshapes: ``abs(Σ exp)`` in
``logsumexp``); ``is_finite``; anything that does not depend on the weights (masks from
``iota``, comparisons on the inputs alone); anything whose result does not reach the tangent
(``reduce_max`` under ``stop_gradient`` in a stable softmax, whose derivative JAX computes
and drops). A ``custom_jvp`` function is judged by its JVP rule (``jax.nn.relu``: kinked;
``jax.nn.softplus``, ``jax.nn.gelu``, ``jax.nn.silu``, softmax, attention, logsumexp:
smooth; ``jax.nn.elu`` is written with ``where`` and counts as kinked although its gradient
is continuous at α = 1: pass ``smooth=True`` for it). Sub-jaxprs (``jit``,
``custom_jvp_call``, ``cond``, ``scan``, ``while``, ``remat``) are read recursively; where
their inputs cannot be matched one to one, every input counts as depending on the weights
(the safe side: ``smooth=False``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["gradient_jumps", "trace_jvp", "where", "sub_jaxprs", "JUMPING"]

JUMPING = frozenset({"sign", "floor", "ceil", "round", "rem", "nextafter",
                     "select_and_gather_add", "select_and_scatter_add"})
"""Float-valued primitives that are discontinuous themselves (or are max-pool's derivative)."""

_COMPARISONS = frozenset({"gt", "ge", "lt", "le", "eq", "ne"})
_IGNORED = frozenset({"is_finite"})
_POSITIVE = frozenset({"exp", "logistic"})
"""Primitives whose value is > 0 (in floating point too, barring underflow)."""
_KEEPS_POSITIVE = frozenset({"add", "mul", "div", "reduce_sum", "broadcast_in_dim", "reshape",
                             "squeeze", "transpose", "expand_dims", "convert_element_type",
                             "stop_gradient", "concatenate", "reduce_max", "copy", "max"})
"""Primitives whose value is > 0 when all their inputs are (``max``: when any is)."""


def _is_var(v: Any) -> bool:
    return hasattr(v, "aval") and not hasattr(v, "val") and type(v).__name__ != "DropVar"


def _non_finite_literal(v: Any) -> bool:
    if not hasattr(v, "val"):
        return False
    try:
        return bool(np.all(~np.isfinite(np.asarray(v.val))))
    except TypeError:
        return False


def _discrete(aval: Any) -> bool:
    dtype = getattr(aval, "dtype", None)
    return dtype is not None and (np.issubdtype(dtype, np.integer) or dtype == np.bool_)


def _positive(v: Any, pos: set[Any]) -> bool:
    if hasattr(v, "val"):
        try:
            return bool(np.all(np.asarray(v.val) > 0))
        except TypeError:
            return False
    return v in pos


def _zero(v: Any) -> bool:
    return hasattr(v, "val") and np.ndim(v.val) == 0 and float(v.val) == 0.0


def _jumps(eqn: Any, pos: set[Any]) -> bool:
    name = eqn.primitive.name
    if name in _IGNORED:
        return False
    if name in _COMPARISONS:
        a, b = eqn.invars
        signed = (_zero(b) and _positive(a, pos)) or (_zero(a) and _positive(b, pos))
        return not (a is b or signed or _non_finite_literal(a) or _non_finite_literal(b))
    return name in JUMPING or any(_discrete(v.aval) for v in eqn.outvars)


def sub_jaxprs(eqn: Any) -> list[Any]:
    out = []
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            inner = getattr(item, "jaxpr", item)  # a ClosedJaxpr holds its Jaxpr
            if hasattr(inner, "eqns") and hasattr(inner, "invars"):
                out.append(inner)
    return out


def _scan(jaxpr: Any, dep_in: list[bool], need_out: list[bool], found: list[Any]) -> None:
    """Append to ``found`` the equations of ``jaxpr`` (and its sub-jaxprs) that jump, depend
    on the weights (``dep_in`` marks the inputs that do) and reach a needed output."""
    dep = {v for v, d in zip(jaxpr.invars, dep_in) if d}
    dep_eqn = []
    pos: set[Any] = set()  # values known to be > 0 (abs(Σ exp) in logsumexp never switches)
    for eqn in jaxpr.eqns:
        d = any(_is_var(v) and v in dep for v in eqn.invars)
        dep_eqn.append(d)
        if d:
            dep.update(eqn.outvars)
        name = eqn.primitive.name
        ins = [_positive(v, pos) for v in eqn.invars]
        if name in _POSITIVE or (name in _KEEPS_POSITIVE and ins and (
                any(ins) if name == "max" else all(ins))):
            pos.update(eqn.outvars)
    need = {v for v, n in zip(jaxpr.outvars, need_out) if n and _is_var(v)}
    live = [False] * len(jaxpr.eqns)
    for i in range(len(jaxpr.eqns) - 1, -1, -1):
        eqn = jaxpr.eqns[i]
        if any(_is_var(v) and v in need for v in eqn.outvars):
            live[i] = True
            need.update(v for v in eqn.invars if _is_var(v))
    for eqn, d, lv in zip(jaxpr.eqns, dep_eqn, live):
        if not (d and lv):
            continue
        if _jumps(eqn, pos):
            found.append(eqn)
        for inner in sub_jaxprs(eqn):
            ins = [_is_var(v) and v in dep for v in eqn.invars]
            if len(inner.invars) != len(ins):  # cond: the branch index first; else unknown
                ins = ins[1:] if len(inner.invars) == len(ins) - 1 else [True] * len(
                    inner.invars)
            outs = ([_is_var(v) and v in need for v in eqn.outvars]
                    if len(inner.outvars) == len(eqn.outvars) else [True] * len(inner.outvars))
            _scan(inner, ins, outs, found)


def where(eqn: Any) -> str:
    """An equation's primitive and the user's source line that produced it."""
    try:
        from jax._src import source_info_util

        where = source_info_util.summarize(eqn.source_info)
        return f"{eqn.primitive.name} at {where}" if where else eqn.primitive.name
    except Exception:  # pragma: no cover - a private helper; the name alone suffices
        return eqn.primitive.name


def trace_jvp(fn: Any, params: Any, x: Any) -> tuple[Any, list[Any]]:
    """``(closed jaxpr of (p, t, x) ↦ jax.jvp(fn(·, x), (p,), (t,)), the equations that
    jump)``, traced at ``params`` on inputs ``x`` (x an input of the jaxpr, not a constant)."""
    import jax

    closed = jax.make_jaxpr(
        lambda p, t, xx: jax.jvp(lambda q: fn(q, xx), (p,), (t,))
    )(params, params, x)
    jaxpr = closed.jaxpr
    n_p = len(jax.tree_util.tree_leaves(params))
    n_x = len(jaxpr.invars) - 2 * n_p
    n_out = len(jaxpr.outvars) // 2  # (primal outputs, tangent outputs)
    found: list[Any] = []
    _scan(jaxpr, [True] * n_p + [False] * (n_p + n_x), [False] * n_out + [True] * n_out,
          found)
    return closed, found


def gradient_jumps(apply_fn: Any, params: Any, x: Any) -> tuple[str, ...]:
    """The operations (name and the user's source line) at which ``∇_p apply_fn(p, x)`` may
    jump, traced at ``params`` on inputs ``x``; empty when the function is smooth in p."""
    return tuple(dict.fromkeys(where(e) for e in trace_jvp(apply_fn, params, x)[1]))

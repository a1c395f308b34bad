"""optax gradient transformations mapped onto :mod:`pkverify.optim`, or refused with the reason
(used by ``pk.jax.Recorder``).

=========================================================  =====================================
optax                                                      pkverify
=========================================================  =====================================
``sgd(lr)``, ``sgd(lr, momentum=0)``                       ``pk.optim.gd(lr)``
``sgd(lr, momentum=μ, nesterov=n)``                        ``pk.optim.sgd(lr, momentum=μ,
                                                           nesterov=n)`` (dampening 0)
``chain(add_decayed_weights(λ), sgd(lr, ...))``            ``sgd(..., weight_decay=λ)`` (coupled)
``adam(lr, b1, b2, eps)``                                  ``pk.optim.adam(lr, (b1, b2), eps)``
``chain(add_decayed_weights(λ), adam(lr, ...))``           ``adam(..., weight_decay=λ)``
``adamw(lr, b1, b2, eps, weight_decay=λ)``                 ``pk.optim.adamw(..., weight_decay=λ)``
``learning_rate=schedule`` (any callable)                  the schedule's value at each step
=========================================================  =====================================

The conventions agree term by term: optax's ``trace`` is ``t_s = g_s + μ t_{s−1}`` from
``t_{−1} = 0``, PyTorch's undampened buffer (κ = 1, ``buf_0 = g_0``), and its Nesterov update
``g_s + μ t_s`` is PyTorch's; ``scale_by_adam`` divides the bias-corrected moments as
``m̂/(√v̂ + eps)``, PyTorch's ``m̂/(√v/√(1−β₂^t) + eps)`` up to rounding; ``adamw`` is
``−η (m̂/(√v̂+eps) + λ w)``, i.e. PyTorch's decoupled ``w ← w(1 − ηλ)`` before the step
([pytorch-optim]; optax's ``_src/alias.py``, ``transforms/_accumulation.py``).

How a transformation is recognised. A ``GradientTransformation`` is a NamedTuple of two plain
functions, so its type says nothing; its *state* types do not suffice either (``scale``,
``add_decayed_weights``, ``clip_by_global_norm`` and ``scale_by_trust_ratio`` all keep an
``EmptyState``), and probing a black box with test gradients cannot tell ``clip_by_global_norm
(1e6)`` from ``identity`` until a large gradient comes. Instead the mapping reads how optax
built the ``update`` function: each optax transformation is a closure
``<factory>.<locals>.update_fn`` defined in an ``optax.*`` module, whose free variables are
the factory's arguments (``trace``: ``decay``, ``nesterov``; ``scale_by_adam``: ``b1``, ``b2``,
``eps``, ``eps_root``, ``nesterov``; ``add_decayed_weights``: ``weight_decay``; ``scale``:
``step_size``; ``scale_by_schedule``: ``step_size_fn``), and ``chain``, ``named_chain`` and
``with_extra_args_support`` hold their parts the same way. The chain is flattened into these
parts, every part must be one of them (anything else, in optax or the user's own, is refused by
the name of its factory), and the parts must form one of the rules above. Then the reading is
*confirmed by behaviour*: the user's transformation and the pk.optim rule take three steps
side by side on random probe gradients at the user's parameters (:func:`confirm`), and any
difference beyond rounding refuses the transformation — so a future optax that changes a
formula under an old name is refused, not silently mis-rebuilt. What only shows at run time
(a gradient clipped outside the optimizer, a wrong batch) the recorder's step check catches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..optim import Optimizer, OptimizerState, adam, adamw, gd, sgd

__all__ = ["OptaxRule", "optimizer_rule", "confirm", "transformation_parts", "SUPPORTED"]

SUPPORTED = ("optax.sgd (momentum, nesterov), optax.adam, optax.adamw, "
             "optax.add_decayed_weights placed before sgd or adam (coupled weight decay), "
             "optax.chain of these, with a learning rate that is a number or a schedule")

_KNOWN = ("identity", "trace", "scale_by_adam", "add_decayed_weights", "scale",
          "scale_by_schedule")
_ADVICE = {
    "clip": "clipping changes the gradient by its size",
    "clip_by_global_norm": "clipping changes the gradient by its size",
    "clip_by_block_rms": "clipping changes the gradient by its size",
    "scale_by_trust_ratio": "LAMB/LARS scale each layer by its weight-to-update ratio",
    "masked": "a mask applies the transformation (e.g. weight decay) to some leaves only; "
              "pk.optim applies one rule to every weight",
    "inject_hyperparams": "pass the schedule as learning_rate= to optax.sgd/adam/adamw "
                          "instead (the recorder evaluates it at each step)",
    "partition": "multi_transform/partition gives leaves different optimizers",
    "MultiSteps": "gradient accumulation takes one update per several batches",
    "lookahead": "lookahead keeps slow weights outside the update rule",
}


def _cells(fn: Any) -> dict[str, Any]:
    """The free variables of a closure, by name (an empty cell is left out)."""
    out = {}
    for name, cell in zip(getattr(getattr(fn, "__code__", None), "co_freevars", ()),
                          getattr(fn, "__closure__", None) or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            continue
    return out


def _factory(fn: Any) -> str:
    """The optax factory that built ``fn`` (``trace`` for ``trace.<locals>.update_fn``), or
    the function's own name when it is not optax's."""
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", "") or ""
    head = qual.split(".")[0]
    return head if module.split(".")[0] == "optax" else f"{module}.{qual}"


def transformation_parts(update: Any) -> list[tuple[str, dict[str, Any]]]:
    """The flattened chain of ``(factory name, its arguments)`` behind an ``update`` function
    (wrappers and ``identity`` removed)."""
    name = _factory(update)
    cells = _cells(update)
    if name == "chain" and "update_fns" in cells:
        return [p for fn in cells["update_fns"] for p in transformation_parts(fn)]
    if name == "named_chain" and "transforms" in cells:
        return [p for _, tx in cells["transforms"] for p in transformation_parts(tx.update)]
    if name == "with_extra_args_support" and "tx" in cells:
        return transformation_parts(cells["tx"].update)
    if name == "identity":
        return []
    if name == "masked" and "inner" in cells:
        inner = ", ".join(n for n, _ in transformation_parts(cells["inner"].update))
        return [(f"masked({inner})", cells)]
    return [(name, cells)]


@dataclass(frozen=True)
class OptaxRule:
    """An optax transformation read as a pk.optim rule.

    rule:       the :class:`~pkverify.optim.Optimizer` (its lr the step size at step 0).
    scale:      the product of the chain's constant ``scale`` factors (−lr for a fixed lr).
    schedules:  the chain's ``scale_by_schedule`` functions of the step count (optax's
                ``scale_by_learning_rate(schedule)`` is ``count ↦ −schedule(count)``).
    parts:      the factory names read from the chain, in order (for messages).
    """

    rule: Optimizer
    scale: float
    schedules: tuple[Callable[[Any], Any], ...]
    parts: tuple[str, ...]

    def lr(self, s: int) -> float:
        """η_s, the step size optax applies at its ``s``-th update (count s, from 0): minus
        the product of the scales and of the schedules evaluated at the count, as optax's
        ``ScaleByScheduleState.count`` holds it. Evaluated as optax does (an int32 count), it
        is the number optax applied, bit for bit — also where a schedule computes in float32
        under x64 (``warmup_cosine_decay_schedule`` does: 0.00800000037997961 for 0.008)."""
        value = -self.scale
        if self.schedules:
            import jax.numpy as jnp

            count = jnp.asarray(s, dtype=jnp.int32)
            for fn in self.schedules:
                value *= float(np.asarray(fn(count)))
        return value


def _refuse(names: list[str]) -> InvalidArgumentError:
    what = "; ".join(f"{n!r} ({_ADVICE.get(n.split('(')[0], 'pk.optim has no rule for it')})"
                     for n in dict.fromkeys(names))
    return InvalidArgumentError(
        f"pk.jax.Recorder cannot rebuild the optax transformation {what}; it "
        f"rebuilds {SUPPORTED}. Train with one of these, or record a plain-gradient path with "
        "pk.train."
    )


def _number(value: Any, what: str) -> float:
    if callable(value):
        raise InvalidArgumentError(
            f"{what} is a schedule; pk.optim takes one number for it (only the learning rate "
            "may follow a schedule). Pass a number."
        )
    return float(np.asarray(value))


def _split(parts: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """``(head, tail)``: the tail is the trailing run of scale/scale_by_schedule (the lr)."""
    cut = len(parts)
    while cut > 0 and parts[cut - 1][0] in ("scale", "scale_by_schedule"):
        cut -= 1
    head, tail = parts[:cut], parts[cut:]
    if not tail:
        raise InvalidArgumentError(
            "the optax chain does not end in a learning rate (scale_by_learning_rate, as "
            f"optax.sgd/adam/adamw do), so its updates are not descent steps; use {SUPPORTED}."
        )
    for name, _ in head:
        if name in ("scale", "scale_by_schedule"):
            raise InvalidArgumentError(
                f"the optax chain scales the gradient ({name}) before its other "
                f"transformations ({', '.join(n for n, _ in head)}); pk.optim applies the "
                "learning rate last, as optax.sgd/adam/adamw do. Put the scale last."
            )
    return head, tail


def _core(head: list[tuple[str, dict[str, Any]]]) -> tuple[Any, float, float]:
    """``(trace or scale_by_adam part or None, λ before it, λ after it)``."""
    cores = [i for i, (name, _) in enumerate(head) if name in ("trace", "scale_by_adam")]
    if len(cores) > 1:
        raise InvalidArgumentError(
            f"the optax chain holds {len(cores)} momentum/Adam transformations "
            f"({', '.join(head[i][0] for i in cores)}); pk.optim rebuilds one optimizer. Use "
            "a single optax.sgd or optax.adam(w)."
        )
    at = cores[0] if cores else len(head)
    pre = head[:at]
    post = head[at + 1:] if cores else []
    for side in (pre, post):
        if len(side) > 1:
            raise InvalidArgumentError(
                "the optax chain adds decayed weights twice on one side of the optimizer; use "
                "one add_decayed_weights with the sum of the rates."
            )
    lam = [_number(p[1].get("weight_decay", 0.0), "add_decayed_weights' weight_decay")
           if p else 0.0 for p in (pre[0] if pre else None, post[0] if post else None)]
    return (head[at] if cores else None), lam[0], lam[1]


def optimizer_rule(tx: Any) -> OptaxRule:
    """The pk.optim rule of an optax ``GradientTransformation`` (module docstring), or
    InvalidArgumentError naming the part it cannot rebuild."""
    update: Any = getattr(tx, "update", None)
    if not (isinstance(tx, tuple) and callable(getattr(tx, "init", None)) and callable(update)):
        raise InvalidArgumentError(
            f"optimizer= must be the optax GradientTransformation your loop uses (e.g. "
            f"optax.adam(1e-3)); got {type(tx).__name__}. pk.jax.Recorder rebuilds {SUPPORTED}."
        )
    parts = transformation_parts(update)
    unknown = [name for name, _ in parts if name not in _KNOWN]
    if unknown:
        raise _refuse(unknown)
    head, tail = _split(parts)
    core, pre, post = _core(head)
    scale, schedules = 1.0, []
    for name, args in tail:
        if name == "scale":
            scale *= _number(args["step_size"], "scale's step_size")
        else:
            schedules.append(args["step_size_fn"])
    names = tuple(name for name, _ in parts)
    probe = OptaxRule(gd(1.0), scale, tuple(schedules), names)
    lr0 = probe.lr(0)
    if not lr0 > 0.0:
        raise InvalidArgumentError(
            f"the optax learning rate at step 0 is {lr0:g}; pkverify needs a step size > 0 at "
            "every step (a warmup from 0 takes a zero step). Start the schedule at a small "
            "positive value (e.g. init_value=peak/10)."
        )
    try:
        rule = _rule(core, pre, post, lr0)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"the optax transformation maps onto no pk.optim rule: "
                                   f"{exc}") from exc
    return OptaxRule(rule, scale, tuple(schedules), names)


def _rule(core: Any, pre: float, post: float, lr0: float) -> Optimizer:
    if core is None:
        lam = pre + post  # no buffer: decay before or after the lr scale is the same term
        return gd(lr0) if lam == 0.0 else sgd(lr0, weight_decay=lam)
    name, args = core
    if name == "trace":
        if post:
            raise InvalidArgumentError(
                "add_decayed_weights after optax.trace (momentum) decays the weights outside "
                "the buffer, a decoupled SGD decay pk.optim does not rebuild; put "
                "add_decayed_weights before sgd (coupled, PyTorch's SGD weight_decay) or use "
                "optax.adamw."
            )
        if args.get("accumulator_dtype") is not None:
            raise InvalidArgumentError("optax.trace with accumulator_dtype set rounds the "
                                       "buffer to another dtype; leave it None.")
        mu = _number(args["decay"], "the momentum")
        if mu == 0.0:
            return gd(lr0) if pre == 0.0 else sgd(lr0, weight_decay=pre)
        return sgd(lr0, momentum=mu, nesterov=bool(args.get("nesterov", False)),
                   weight_decay=pre)
    if float(np.asarray(args.get("eps_root", 0.0))) != 0.0:
        raise InvalidArgumentError("scale_by_adam with eps_root ≠ 0 puts eps inside the "
                                   "square root; pk.optim's Adam (PyTorch's) has eps_root = 0.")
    if args.get("nesterov"):
        raise InvalidArgumentError("optax.nadam / adam(nesterov=True) is not rebuilt: pk.optim "
                                   "has Adam with PyTorch's (non-Nesterov) moments.")
    if args.get("mu_dtype") is not None:
        raise InvalidArgumentError("scale_by_adam with mu_dtype set rounds the first moment "
                                   "to another dtype; leave it None.")
    if pre and post:
        raise InvalidArgumentError(
            "the optax chain adds decayed weights both before Adam (coupled) and after it "
            "(decoupled, adamw); pk.optim's Adam has one of them. Keep one."
        )
    betas = (_number(args["b1"], "b1"), _number(args["b2"], "b2"))
    eps = _number(args["eps"], "eps")
    if post:
        return adamw(lr0, betas=betas, eps=eps, weight_decay=post)
    return adam(lr0, betas=betas, eps=eps, weight_decay=pre)


def confirm(tx: Any, mapped: OptaxRule, params: Any, rtol: float, steps: int = 3) -> None:
    """Run ``tx`` and the mapped rule side by side for ``steps`` updates on random probe
    gradients (seeded) at ``params`` and refuse the mapping if any update differs by more
    than ``rtol`` relative (the recorder's step tolerance): the reading of the closures is
    confirmed by what the transformation does."""
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(params)
    w = np.asarray(flat, dtype=np.float64)
    rng = np.random.default_rng(20260101)
    state, pk_state = tx.init(params), OptimizerState()
    rule = mapped.rule
    for s in range(steps):
        g = rng.standard_normal(w.size)
        tree_w = unravel(jnp.asarray(w, dtype=flat.dtype))
        try:
            upd, state = tx.update(unravel(jnp.asarray(g, dtype=flat.dtype)), state, tree_w)
        except Exception as exc:  # the user's transformation, on the user's params
            raise InvalidArgumentError(
                f"the optax transformation failed on a probe update at the initial params "
                f"({type(exc).__name__}: {exc}); check that tx.init/tx.update accept this "
                "params pytree."
            ) from exc
        u = np.asarray(ravel_pytree(upd)[0], dtype=np.float64)
        w_used = np.asarray(ravel_pytree(tree_w)[0], dtype=np.float64)
        g_used = np.asarray(g.astype(flat.dtype), dtype=np.float64)
        gg = rule.gradient(g_used, w_used)
        parts, decay, _, pk_state = rule.advance(pk_state, gg[None, :], w_used,
                                                 mapped.lr(s), s, total=gg)
        rebuilt = parts[0] + decay
        gap = float(np.linalg.norm(u - rebuilt)) / max(float(np.linalg.norm(u)), 1e-300)
        if not gap <= rtol:
            raise InvalidArgumentError(
                f"the optax transformation ({' → '.join(mapped.parts)}) was read as "
                f"{rule.describe()}, but on a probe gradient its update {s} differs from that "
                f"rule's by {gap:.2e} (relative): this optax does not compute what pkverify "
                f"expects of these transformations. Use {SUPPORTED} from a released optax, or "
                "record a plain-gradient path with pk.train."
            )
        w = w_used + u

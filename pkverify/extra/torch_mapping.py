"""torch.optim optimizers and torch.nn losses mapped onto :mod:`pkverify.optim` and
:mod:`pkverify.losses`, or refused with the reason (used by ``pk.torch.Recorder``).

=================================================  ==========================================
PyTorch                                            pkverify
=================================================  ==========================================
``SGD(lr, momentum, dampening, nesterov,           ``pk.optim.sgd(...)`` (plain ``gd`` when
weight_decay)``                                    momentum and weight decay are 0)
``Adam(lr, betas, eps, weight_decay)``             ``pk.optim.adam(...)``
``AdamW(...)``, ``Adam(decoupled_weight_decay=     ``pk.optim.adamw(...)``
True)``
``MSELoss(reduction="sum")``                       ``"squared_error"``, ``"sum"``
``MSELoss(reduction="mean")``                      ``"squared_error_mean"``, ``"mean"``
``CrossEntropyLoss(reduction=r)``                  ``"softmax_ce"``, r
``BCEWithLogitsLoss(reduction=r)``                 ``"logistic"``, r (one logit per input)
=================================================  ==========================================

PyTorch's MSELoss is ``(y − y*)²`` per output, without pkverify's ``½`` in ``"mse"``, and its
mean divides by the batch size times the k outputs: ``squared_error_mean`` is
``(1/k) Σ_j (y_j − y*_j)²`` per example, so that pkverify's mean over the batch gives PyTorch's
number exactly. Parameter groups with their own ``lr`` and ``weight_decay`` map onto
:func:`pkverify.optim.grouped` (runs of the flat weight vector in ``module.parameters()``
order, one run per tensor); groups that differ in momentum, dampening, Nesterov, betas or eps
are refused (pk.optim shares those across groups). Options whose update pkverify does not
rebuild (amsgrad, maximize, capturable, differentiable), losses with class weights,
``pos_weight`` or label smoothing, and optimizers other than these are refused before any step.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgumentError
from ..optim import Optimizer, adam, adamw, gd, grouped, sgd

__all__ = ["optimizer_rule", "loss_mapping", "group_rates", "group_decays", "group_segments",
           "SUPPORTED_OPTIMIZERS", "SUPPORTED_LOSSES"]

SUPPORTED_OPTIMIZERS = ("torch.optim.SGD (momentum, dampening, Nesterov, weight decay), Adam, "
                        "AdamW")
SUPPORTED_LOSSES = ("torch.nn.MSELoss, CrossEntropyLoss, BCEWithLogitsLoss (reduction 'mean' "
                    "or 'sum')")

_OFF_OPTIONS = ("amsgrad", "maximize", "capturable", "differentiable")
"""Options that change the update away from pk.optim's rule (refused when set)."""

_SHARED = {"SGD": ("momentum", "dampening", "nesterov"),
           "Adam": ("betas", "eps", "decoupled_weight_decay"),
           "AdamW": ("betas", "eps")}
"""Hyperparameters every group must share (lr and weight_decay may differ per group)."""


def _number(value: Any) -> Any:
    """A hyperparameter as a Python number (PyTorch accepts 0-d tensors for lr and betas)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    if isinstance(value, (tuple, list)):
        return tuple(_number(v) for v in value)
    return value


def _canonical(value: Any) -> Any:
    """A hyperparameter comparable across groups (0 and 0.0 alike, tensors as numbers)."""
    v = _number(value)
    if isinstance(v, tuple):
        return tuple(_canonical(x) for x in v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def _kind(optimizer: Any) -> str:
    import torch

    for name in ("AdamW", "Adam", "SGD"):  # AdamW first: it may subclass Adam
        if isinstance(optimizer, getattr(torch.optim, name)):
            return name
    raise InvalidArgumentError(
        f"pk.torch.Recorder does not know the optimizer {type(optimizer).__name__}: it rebuilds "
        f"{SUPPORTED_OPTIMIZERS} (pk.optim's rules). Train with one of these, or record a "
        "plain-gradient path with pk.train."
    )


def group_rates(optimizer: Any) -> tuple[float, ...]:
    """The step size each parameter group uses now (a scheduler's current values)."""
    return tuple(float(_number(g["lr"])) for g in optimizer.param_groups)


def group_decays(optimizer: Any) -> list[float]:
    """Each parameter group's weight decay."""
    return [float(_number(g.get("weight_decay", 0.0))) for g in optimizer.param_groups]


def group_segments(optimizer: Any, trainable: list[Any]) -> list[tuple[int, int, int]]:
    """Runs ``(start, stop, group)`` of the flat weight vector (the ``trainable`` tensors
    raveled in order) held by each of the optimizer's parameter groups."""
    of = {id(p): i for i, g in enumerate(optimizer.param_groups) for p in g["params"]}
    runs, at = [], 0
    for p in trainable:
        runs.append((at, at + int(p.numel()), of[id(p)]))
        at += int(p.numel())
    return runs


def optimizer_rule(optimizer: Any, trainable: list[Any]) -> Optimizer:
    """The pk.optim rule of a fresh torch optimizer over exactly the ``trainable`` tensors
    (with its current lr; the recorder replaces lr by the schedule actually used)."""
    kind = _kind(optimizer)
    groups = optimizer.param_groups
    for g in groups:
        on = [o for o in _OFF_OPTIONS if g.get(o)]
        if on:
            raise InvalidArgumentError(
                f"torch.optim.{kind} with {', '.join(f'{o}=True' for o in on)}: pk.optim does "
                f"not rebuild that update (it rebuilds {SUPPORTED_OPTIMIZERS} with PyTorch's "
                "defaults for these options). Set them to False."
            )
    for key in _SHARED[kind]:
        values = {repr(_canonical(g.get(key))) for g in groups}
        if len(values) > 1:
            raise InvalidArgumentError(
                f"the optimizer's {len(groups)} parameter groups differ in {key} "
                f"({', '.join(sorted(values))}); pk.optim applies one rule, with one {key}, to "
                "every parameter (groups may differ in lr and weight_decay only). Use the "
                f"same {key} in every group."
            )
    held = [p for g in groups for p in g["params"]]
    ids = {id(p) for p in trainable}
    if len(held) != len({id(p) for p in held}) or {id(p) for p in held} != ids:
        extra = sum(id(p) not in ids for p in held)
        missing = sum(id(p) not in {id(q) for q in held} for p in trainable)
        raise InvalidArgumentError(
            f"the optimizer must hold exactly the module's trainable parameters, each once; "
            f"{missing} trainable parameter(s) are not in it and it holds {extra} that are not "
            "the module's trainable ones. Build it from module.parameters(), and set "
            "requires_grad=False on parameters it should not train."
        )
    if optimizer.state and any(len(s) for s in optimizer.state.values()):
        raise InvalidArgumentError(
            "the optimizer has already taken steps (its state holds momentum buffers or "
            "moments); create the Recorder before the first optimizer.step()."
        )
    rates = group_rates(optimizer)
    decays = group_decays(optimizer)
    rule = _rule(kind, groups[0], rates[0], decays[0], any(decays))
    if len(groups) == 1:
        return rule
    # one rule per group, the same except lr and weight decay: merged when those agree too
    return grouped(rule, group_segments(optimizer, trainable), list(rates), decays)


def _rule(kind: str, g: dict[str, Any], lr: float, wd: float, decays: bool) -> Optimizer:
    """The rule of one group (``decays``: some group has weight decay, so SGD is not gd)."""
    if kind == "SGD":
        mom = float(_number(g.get("momentum", 0.0)))
        if mom == 0.0 and not decays:
            return gd(lr)
        return sgd(lr, momentum=mom, dampening=float(_number(g.get("dampening", 0.0))),
                   nesterov=bool(g.get("nesterov", False)), weight_decay=wd)
    betas = _number(g.get("betas", (0.9, 0.999)))
    eps = float(_number(g.get("eps", 1e-8)))
    if kind == "AdamW" or g.get("decoupled_weight_decay"):
        return adamw(lr, betas=betas, eps=eps, weight_decay=wd)
    return adam(lr, betas=betas, eps=eps, weight_decay=wd)


def loss_mapping(loss_fn: Any) -> tuple[str, str]:
    """``(pkverify loss name, reduction)`` for a torch loss module (module docstring)."""
    import torch

    name = type(loss_fn).__name__
    known = (torch.nn.MSELoss, torch.nn.CrossEntropyLoss, torch.nn.BCEWithLogitsLoss)
    if not isinstance(loss_fn, known):
        raise InvalidArgumentError(
            f"pk.torch.Recorder does not know the loss {name}; it maps {SUPPORTED_LOSSES} onto "
            "pkverify's losses. Pass one of these modules as loss_fn."
        )
    reduction = getattr(loss_fn, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise InvalidArgumentError(
            f"{name}(reduction={reduction!r}): the recorder needs the batch's loss reduced by "
            "'mean' or 'sum' (the value your loop differentiates)."
        )
    if getattr(loss_fn, "weight", None) is not None or \
            getattr(loss_fn, "pos_weight", None) is not None:
        raise InvalidArgumentError(
            f"{name} with class weights (weight= or pos_weight=) is not supported: pkverify's "
            "losses weigh every example and class alike. Drop the weights (or resample the "
            "data instead)."
        )
    if float(getattr(loss_fn, "label_smoothing", 0.0)) != 0.0:
        raise InvalidArgumentError(
            f"{name}(label_smoothing={loss_fn.label_smoothing}) is not supported: pkverify's "
            "softmax_ce takes the targets as given. Set label_smoothing=0, or pass smoothed "
            "probability rows as Y instead."
        )
    if isinstance(loss_fn, torch.nn.MSELoss):
        return ("squared_error_mean" if reduction == "mean" else "squared_error"), reduction
    if isinstance(loss_fn, torch.nn.CrossEntropyLoss):
        return "softmax_ce", reduction
    return "logistic", reduction

"""Parameter groups: one update rule, a step size and a weight decay per group of weights.

PyTorch's optimizers take ``param_groups``, each with its own ``lr`` and ``weight_decay``
[pytorch-optim] (the common recipe: no decay on biases, a larger lr on the last layer). The rule
of :mod:`pkverify.optim.rule` stays one rule; only its two per-weight scalars become diagonal:
with ``γ(j)`` the group of weight j,

    Δ_{s,j} = −η_{s,γ(j)} (P_s d_s)_j − η_{s,γ(j)} λ_dec,γ(j) w_{s,j},
    g_{s,j} = (loss's gradient)_j + λ_L2,γ(j) w_{s,j},

i.e. ``η_s`` is the diagonal matrix ``E_s = diag(η_{s,γ(j)})`` and λ the diagonal
``diag(λ_γ(j))``. Everything linear in the step (the exact rule's ``φ_s·Δ_s``, the reverse
recursion's ``e_s = η_s α_s P_s φ_s``) takes ``E_s`` where it took the scalar: ``E_s P_s`` is
still diagonal, so the machine of :mod:`pkverify.kernels.optimizer_path` is unchanged in form.

The groups are data: ``segments``, runs ``(start, stop, group)`` that tile the flat weight
vector in order (a torch module's ``parameters()`` ravel tensor by tensor, so each tensor is
one run; adjacent runs of one group merge). Momentum, dampening, Nesterov, betas and eps are
the rule's and shared by every group (groups that differ there are refused by the torch
recorder, with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..validation import as_step_sizes, nonnegative_float

__all__ = ["ParamGroups", "as_segments", "grouped"]


def as_segments(groups: Any) -> tuple[tuple[int, int, int], ...]:
    """Runs ``(start, stop, group)`` from a per-weight group index ``(P,)`` (integers
    0..G−1) or from runs themselves; adjacent runs of one group merged."""
    if isinstance(groups, np.ndarray) or (isinstance(groups, Sequence) and groups
                                          and np.ndim(groups[0]) == 0):
        index = np.asarray(groups)
        if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
            raise InvalidArgumentError(
                f"groups must be one group number per weight, a 1-d array of integers "
                f"0..G−1, or runs (start, stop, group); got an array of shape {index.shape}, "
                f"dtype {index.dtype}."
            )
        cut = np.flatnonzero(np.diff(index)) + 1
        starts = np.concatenate([[0], cut])
        stops = np.concatenate([cut, [index.size]])
        runs = [(int(a), int(b), int(index[a])) for a, b in zip(starts, stops)]
    else:
        try:
            runs = [(int(a), int(b), int(g)) for a, b, g in groups]
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"groups must be one group number per weight or runs (start, stop, group); "
                f"got {groups!r:.80}."
            ) from exc
    merged: list[tuple[int, int, int]] = []
    at = 0
    for a, b, g in runs:
        if a != at or b <= a or g < 0:
            raise InvalidArgumentError(
                f"group runs must tile the weights in order from 0, each (start, stop, group) "
                f"with start = the previous stop < stop and group ≥ 0; got ({a}, {b}, {g}) "
                f"after stop {at}."
            )
        if merged and merged[-1][2] == g:
            merged[-1] = (merged[-1][0], b, g)
        else:
            merged.append((a, b, g))
        at = b
    used = {g for _, _, g in merged}
    if used != set(range(len(used))):
        raise InvalidArgumentError(
            f"group numbers must be 0..G−1, each used; got {sorted(used)}."
        )
    return tuple(merged)


def _group_lr(value: Any) -> float | tuple[float, ...]:
    if np.ndim(value) == 0 and not isinstance(value, (str, bytes)):
        return float(as_step_sizes(value, 1)[0])
    return tuple(float(e) for e in as_step_sizes(value, int(np.size(value))))


@dataclass(frozen=True)
class ParamGroups:
    """Groups of weights with their own step size and weight decay (module docstring).

    segments:      runs ``(start, stop, group)`` tiling the P weights.
    lr:            per group, η > 0 or a schedule (one η_s per step).
    weight_decay:  per group, λ ≥ 0 (coupled or decoupled as the rule says).
    """

    segments: tuple[tuple[int, int, int], ...]
    lr: tuple[float | tuple[float, ...], ...]
    weight_decay: tuple[float, ...]

    @classmethod
    def build(cls, groups: Any, lr: Sequence[Any], weight_decay: Sequence[Any]) -> ParamGroups:
        """Checked groups from a per-weight index or runs, and per-group lr and decay."""
        segments = as_segments(groups)
        G = 1 + max(g for _, _, g in segments)
        for name, values in (("lr", lr), ("weight_decay", weight_decay)):
            if not isinstance(values, Sequence) or isinstance(values, str) or \
                    len(values) != G:
                raise InvalidArgumentError(
                    f"{name} must give one value per group ({G} groups); got {values!r:.80}."
                )
        return cls(segments, tuple(_group_lr(v) for v in lr),
                   tuple(nonnegative_float(v, f"weight_decay[{g}]")
                         for g, v in enumerate(weight_decay)))

    @property
    def n_groups(self) -> int:
        return len(self.lr)

    @property
    def n_params(self) -> int:
        return self.segments[-1][1]

    @cached_property
    def index(self) -> np.ndarray:
        """``γ(j)``: the group of each weight, ``(P,)``."""
        sizes = [b - a for a, b, _ in self.segments]
        return np.repeat(np.array([g for _, _, g in self.segments]), sizes)

    def per_weight(self, values: Any) -> np.ndarray:
        """One value per group spread over the weights, ``(P,)``."""
        return np.asarray(values, dtype=np.float64)[self.index]

    @cached_property
    def decay(self) -> np.ndarray:
        """``diag(λ_γ(j))`` as a ``(P,)`` vector."""
        return self.per_weight(self.weight_decay)

    def rates_at(self, s: int) -> np.ndarray:
        """``(η_{s,g})_g``: each group's step size at step s."""
        return np.array([lr[s] if isinstance(lr, tuple) else lr for lr in self.lr])

    def rates(self, s: int) -> np.ndarray:
        """``diag(E_s)``: each weight's step size at step s, ``(P,)``."""
        return self.per_weight(self.rates_at(s))

    def check(self, n_params: int, steps: int | None = None) -> None:
        """Refuse groups that do not cover exactly ``n_params`` weights, or schedules that
        do not have one entry per step."""
        if self.n_params != n_params:
            raise InvalidArgumentError(
                f"the optimizer's parameter groups cover {self.n_params} weights but the model "
                f"has P = {n_params}; build the groups for this model's weights."
            )
        if steps is not None:
            for g, lr in enumerate(self.lr):
                if isinstance(lr, tuple) and len(lr) != steps:
                    raise InvalidArgumentError(
                        f"group {g}'s lr schedule has {len(lr)} entries for {steps} steps; give "
                        "one step size per step."
                    )

    @property
    def spec(self) -> dict[str, Any]:
        """JSON-ready: the runs, and per group its lr (a number or a list) and decay."""
        return {"segments": [list(r) for r in self.segments],
                "lr": [list(v) if isinstance(v, tuple) else v for v in self.lr],
                "weight_decay": list(self.weight_decay)}


def grouped(optimizer: Any, groups: Any, lr: Sequence[Any] | None = None,
            weight_decay: Sequence[Any] | None = None, merge: bool = True) -> Any:
    """``optimizer``'s rule with parameter groups (PyTorch's ``param_groups``).

    groups:        the group of each weight, a ``(P,)`` array of integers 0..G−1 (or runs
                   ``(start, stop, group)`` tiling the weights).
    lr:            per group a step size or a schedule (default: the optimizer's lr).
    weight_decay:  per group λ (default: the optimizer's).

    The result's lr and weight_decay are group 0's. With ``merge`` (default), groups that share
    one lr and one weight decay are one rule: the optimizer without groups comes back, and
    paths trained with it are bit for bit the ungrouped ones.
    """
    opt = optimizer  # a pk.optim.Optimizer (rule.py imports this module, not the reverse)
    if not (hasattr(opt, "groups") and hasattr(opt, "weight_decay") and hasattr(opt, "spec")):
        raise InvalidArgumentError(
            f"grouped(optimizer, ...) needs a pk.optim optimizer such as pk.optim.sgd(0.1, "
            f"momentum=0.9); got {type(optimizer).__name__} {optimizer!r:.40}."
        )
    if opt.groups is not None:
        raise InvalidArgumentError("this optimizer already has parameter groups; pass the "
                                   "optimizer without them.")
    segments = as_segments(groups)
    G = 1 + max(g for _, _, g in segments)
    pg = ParamGroups.build(segments, [opt.lr] * G if lr is None else lr,
                           [opt.weight_decay] * G if weight_decay is None else weight_decay)
    return _with(opt, pg, merge)


def _with(opt: Any, pg: ParamGroups, merge: bool) -> Any:
    if opt.name == "gd" and any(pg.weight_decay):
        raise InvalidArgumentError("plain gradient descent has no weight decay; use "
                                   "pk.optim.sgd(lr, weight_decay=...) for decaying groups.")
    one = len({repr(v) for v in pg.lr}) == 1 and len(set(pg.weight_decay)) == 1
    return replace(opt, lr=pg.lr[0], weight_decay=pg.weight_decay[0],
                   groups=None if merge and one else pg)

"""The switch values of a torch module's piecewise-linear ops, captured during its forward
pass without the module declaring them (for the kink locator,
:mod:`pkverify.kernels.switches`).

:class:`SwitchCapture` is a ``torch.overrides.TorchFunctionMode``: every torch function and
Tensor method called while it is active passes through it — ``nn.ReLU`` and ``F.relu`` alike,
``x.clamp(min=0)``, ``torch.maximum``, ``F.max_pool2d`` — so the ops are seen whether they
are modules or plain calls inside ``forward``. A mode runs outside the autograd and
``torch.func`` transforms, so it works under ``vmap`` (per-sample weights) as well. Before
each kinked op runs, its **switch values** are recorded — values whose sign changes exactly
where the op's gradient jumps:

* relu, leaky_relu, prelu, rrelu, selu, elu (α ≠ 1), abs: the input;
* threshold: input − threshold; hardtanh, relu6, clamp/clip (and clamp_min/clamp_max):
  input − each bound; hardswish, hardsigmoid: input ± 3; hardshrink, softshrink: input ± λ;
* maximum, minimum, fmax, fmin and binary max/min: the difference of the two operands;
* max-pooling (1-, 2-, 3-d, any stride, padding and dilation) and max/min/amax/amin over
  dimensions: for every window, the differences of all pairs of its elements (padding never
  wins: pairs with a padded element are held at 1; the pairs from
  :mod:`pkverify.extra.window_pairs`). Every change of a window's winner is a
  sign change of the difference of the old and the new winner; crossings between two
  non-winners split the step too, which costs nodes but never exactness.

Ops whose kinks this does not locate — ``ceil_mode`` pooling, adaptive or fractional max
pooling, sort/topk/kthvalue/median, floor/round/sign — are recorded as *unlocated*: the model
is then not smooth and the exact rule warns with its residual, as before. Comparisons
feeding ``torch.where`` on weight-dependent values are not seen (a ``where`` on masks of the
data is harmless).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .window_pairs import reduction_pairs, window_pairs

__all__ = ["SwitchCapture", "kinked_calls", "switch_values"]

_INPUT = {"relu", "leaky_relu", "prelu", "rrelu", "selu", "abs", "absolute"}
_PAIR = {"maximum", "minimum", "fmax", "fmin"}
_REDUCE = {"max", "min", "amax", "amin"}
_UNLOCATED = {"adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
              "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
              "adaptive_max_pool3d_with_indices", "fractional_max_pool2d",
              "fractional_max_pool3d", "fractional_max_pool2d_with_indices",
              "fractional_max_pool3d_with_indices", "sort", "topk", "kthvalue", "median",
              "floor", "ceil", "round", "sign", "heaviside"}


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _differences(x: Any, pairs: tuple[Any, Any, Any]) -> Any:
    """``x[I] − x[J]`` (x flattened in C order) per window and pair
    (:func:`~pkverify.extra.window_pairs.window_pairs`), held at 1 where invalid."""
    I, J, valid = (torch.from_numpy(a).to(x.device) for a in pairs)
    flat = x.reshape(-1)
    diff = flat[I] - flat[J]
    return diff if bool(valid.all()) else torch.where(valid, diff, torch.ones_like(diff))


def _windows(x: Any, d: int, args: tuple, kwargs: dict) -> Any | None:
    """The pairwise differences in every window of a d-dimensional max-pooling of x, or None
    where they are not located (``ceil_mode``)."""
    if _arg(args, kwargs, 5, "ceil_mode", False):
        return None

    def tup(v: Any, fill: Any) -> tuple[int, ...]:
        v = fill if v is None or (isinstance(v, (list, tuple)) and len(v) == 0) else v
        return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * d

    kernel = tup(_arg(args, kwargs, 1, "kernel_size"), None)
    stride = tup(_arg(args, kwargs, 2, "stride"), kernel)
    padding = tup(_arg(args, kwargs, 3, "padding", 0), 0)
    dilation = tup(_arg(args, kwargs, 4, "dilation", 1), 1)
    lead = x.ndim - d  # batch and channel axes: windows of one element
    pairs = window_pairs(tuple(int(n) for n in x.shape), (1,) * lead + kernel,
                         (1,) * lead + stride, ((0, 0),) * lead + tuple((p, p) for p in padding),
                         None, (1,) * lead + dilation)
    return _differences(x, pairs)


def _reduction(x: Any, args: tuple, kwargs: dict) -> Any:
    """Pairwise differences over the reduced dimensions of max/min/amax/amin (the second
    operand of a binary max/min is handled by the caller)."""
    dim = _arg(args, kwargs, 1, "dim")
    dims = None if dim is None else [dim] if not isinstance(dim, (list, tuple)) else dim
    return _differences(x, reduction_pairs(tuple(int(n) for n in x.shape), dims))


def _switches(name: str, args: tuple, kwargs: dict) -> list[Any] | None:
    """The switch values of one call (before it runs), [] for a smooth call, None where
    its kinks are not located."""
    if name.strip("_") in _UNLOCATED:
        return None
    if not args or not isinstance(args[0], torch.Tensor):
        return []
    x = args[0]
    base = name.strip("_")  # relu_ (in place), _threshold, __abs__, _max_pool2d
    if base in _INPUT:
        return [x.clone()]
    if base == "elu":
        return [] if float(_arg(args, kwargs, 1, "alpha", 1.0)) == 1.0 else [x.clone()]
    if base == "threshold":
        return [x - _arg(args, kwargs, 1, "threshold")]
    if base == "hardtanh":
        return [x - _arg(args, kwargs, 1, "min_val", -1.0), x - _arg(args, kwargs, 2, "max_val",
                                                                      1.0)]
    if base == "relu6":
        return [x.clone(), x - 6.0]
    if base in ("hardswish", "hardsigmoid"):
        return [x + 3.0, x - 3.0]
    if base in ("hardshrink", "softshrink"):
        lam = _arg(args, kwargs, 1, "lambd", 0.5)
        return [x + lam, x - lam]
    if base in ("clamp", "clip", "clamp_min", "clamp_max"):
        lo = _arg(args, kwargs, 1, "min") if base != "clamp_max" else None
        hi = _arg(args, kwargs, 2, "max") if base != "clamp_min" else _arg(args, kwargs, 1,
                                                                             "max")
        return [x - b for b in (lo, hi) if b is not None]
    if name in _PAIR:
        return [x - _arg(args, kwargs, 1, "other")]
    if name in _REDUCE:
        other = _arg(args, kwargs, 1, "other")
        if isinstance(other, torch.Tensor) and name in ("max", "min"):
            return [x - other]
        return [_reduction(x, args, kwargs)]
    for d in (1, 2, 3):
        if base in (f"max_pool{d}d", f"max_pool{d}d_with_indices"):
            w = _windows(x, d, args, kwargs)
            return None if w is None else [w]
    return []


class SwitchCapture(TorchFunctionMode):
    """Records the switch values of every kinked op called while active (module docstring):
    ``switches`` in call order; ``seen`` the kinked op names; ``unlocated`` those whose kinks
    are not located."""

    def __init__(self) -> None:
        super().__init__()
        self.switches: list[Any] = []
        self.seen: list[str] = []
        self.unlocated: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        found = _switches(name, args, kwargs)
        if found is None:
            self.unlocated.append(name)
            self.seen.append(name)
        elif found:
            self.switches.extend(found)
            self.seen.append(name)
        return func(*args, **kwargs)


def kinked_calls(call: Any, w: Any, X: Any) -> tuple[list[str], list[str]]:
    """``(kinked op names, unlocated op names)`` seen in one forward pass ``call(w, X)``."""
    cap = SwitchCapture()
    with torch.no_grad(), cap:
        call(w, X)
    return cap.seen, cap.unlocated


def switch_values(call: Any, W: Any, X: Any, budget: int) -> list[Any]:
    """The switch values of row e at its own weights ``W[e]``: one ``(E, units)`` tensor per
    kinked op in call order. Rows are taken ``vmap``-ped in chunks whose weights stay within
    ``budget`` bytes."""
    E, P = int(W.shape[0]), int(W.shape[1])
    chunk = max(1, budget // max(1, 4 * P * W.element_size()))

    def one(p: Any, x: Any) -> tuple[Any, ...]:
        cap = SwitchCapture()
        with cap:
            call(p, x[None])
        return tuple(s.reshape(-1) for s in cap.switches)

    parts = []
    with torch.no_grad():
        for lo in range(0, E, chunk):
            parts.append(torch.func.vmap(one)(W[lo:lo + chunk], X[lo:lo + chunk]))
    if len(parts) == 1:
        return list(parts[0])
    return [torch.cat([p[h] for p in parts]) for h in range(len(parts[0]))]


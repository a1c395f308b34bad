"""A PyTorch module as a pkverify :class:`~pkverify.models.base.Model`.

``pk.torch.model(module)`` ravels the module's trainable parameters (``requires_grad=True``,
in ``module.parameters()`` order) into the flat vector ``w``; frozen parameters and buffers
stay as they are in the module. ``f(w, X)`` is the forward pass through
``torch.func.functional_call`` on the module's device and in its dtype; the torch engine
(:mod:`pkverify.kernels.engines.torch`) differentiates it with ``torch.func``.

Inputs: X's rows are the inputs flattened; ``input_shape`` (from the first Linear layer, or
given: ``input_shape=(1, 8, 8)`` for 8×8 grey images) reshapes them inside the forward.
Torch tensors are accepted wherever pkverify takes an array: they are detached and copied to
the host as float64 NumPy arrays (pkverify keeps data on the host and its results are NumPy);
the engine moves each chunk to the module's device itself, so X's device does not matter.

Smoothness and kinks: the exact path-kernel rule reaches rounding error by quadrature when
∇f is continuous along a step, and splits each step at the points where it jumps. A probe
forward pass under :class:`~pkverify.extra.torch_switches.SwitchCapture` (a
``TorchFunctionMode``) sees every kinked op, whether a module or a plain call inside
``forward`` (``F.relu``, ``x.clamp(min=0)``, ``F.max_pool2d``, ``torch.maximum``): the model
is ``smooth=False`` when there is one, and ``foreign.kinked`` names them (modules by their
path and type, calls as ``"relu (call)"``). Kinked modules: ReLU, ReLU6, LeakyReLU, PReLU,
RReLU, Hardtanh, Hardswish, Hardsigmoid, Hardshrink, Softshrink, Threshold, SELU, ELU with
α ≠ 1, max-pooling. Their kinks are **located** along every step, row by row, from the
ops' switch values (:mod:`pkverify.kernels.switches`), so ReLU / LeakyReLU / max-pooling
networks are rebuilt exactly (measured: ≤ 6e-16 relative on an MLP and CNNs); only adaptive
and fractional max-pooling, ``ceil_mode`` pooling and sort/topk/round-like ops are
``foreign.unlocated`` and warned about with their residual. Tanh, Sigmoid, GELU, SiLU, Mish,
Softplus, softmax and attention are smooth. ELU with α = 1, CELU and Softsign are counted
smooth too: their gradient is continuous and only their second derivative jumps, so the
exact rule's quadrature converges algebraically instead of spectrally and bisects its steps
(measured on a 3-16-1 net, 5 steps: ELU and CELU reach a 2e-12 step residual at ~320
gradient evaluations per row and step, against 1 for tanh; Softsign stops at 5e-10 and warns
with its residual). ``smooth=`` overrides the decision.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendMissingError, InvalidArgumentError
from ..models.base import ForeignModel, Model
from .common import check_input_shape, check_probe_output, refuse_autograd

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised where torch is missing
    raise BackendMissingError(
        "pk.torch needs PyTorch, which is not installed; install it with "
        "`pip install 'pkverify[torch]'` (or the CPU wheel from pytorch.org)."
    ) from exc

from .torch_switches import kinked_calls  # noqa: E402  (needs torch, imported above)

__all__ = ["model", "kinked_modules", "check_mode", "to_tensor"]

_KINKED = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "Hardtanh", "Hardswish", "Hardsigmoid",
    "Hardshrink", "Softshrink", "Threshold", "SELU", "MaxPool1d", "MaxPool2d", "MaxPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "FractionalMaxPool2d",
    "FractionalMaxPool3d",
)
"""torch.nn modules whose gradient jumps (a kink of the unit), by name."""

_FIRST = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
          torch.nn.MultiheadAttention)


def kinked_modules(module: Any) -> list[str]:
    """The names of the submodules whose gradient jumps (see the module docstring)."""
    kinds = tuple(getattr(torch.nn, n) for n in _KINKED if hasattr(torch.nn, n))
    out = []
    for name, m in module.named_modules():
        if isinstance(m, kinds) or (isinstance(m, torch.nn.ELU) and float(m.alpha) != 1.0):
            out.append(f"{name or '<root>'} ({type(m).__name__})")
    return out


def _plain(name: str) -> str:
    """``"MaxPool2d)"``, ``"max_pool2d"`` → ``"maxpool2d"``: a module type and the call it
    makes compared by name."""
    return name.strip(" )_").replace("_", "").lower().removesuffix("withindices")


def check_mode(module: Any) -> None:
    """Refuse a module whose output is not a function of one input and the weights: a
    BatchNorm layer in training mode (batch statistics) or an active Dropout (random masks)."""
    for name, m in module.named_modules():
        where = f"layer {name or '<root>'!r} ({type(m).__name__})"
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training:
            raise InvalidArgumentError(
                f"the module's {where} is in training mode: it normalises by the batch's "
                "statistics (and updates its running ones), so f(w, x) is not a function of "
                "one input and the weights. Call module.eval() before pk.torch.model(module) "
                "(it then uses its running statistics, held fixed), or remove the layer."
            )
        dropout = isinstance(m, torch.nn.modules.dropout._DropoutNd) and float(m.p) > 0
        mha = isinstance(m, torch.nn.MultiheadAttention) and float(m.dropout) > 0
        if m.training and (dropout or mha):
            raise InvalidArgumentError(
                f"the module's {where} applies dropout in training mode: each call draws a "
                "new random mask, so f(w, x) is not a function. Call module.eval() before "
                "pk.torch.model(module) (dropout is then the identity), or remove the layer "
                "(or set its p to 0)."
            )


def to_tensor(a: Any, dtype: Any, device: Any) -> Any:
    """``a`` (NumPy or torch) as a tensor of ``dtype`` on ``device``; zero-copy for a
    C-contiguous NumPy array of that dtype on the CPU."""
    if isinstance(a, torch.Tensor):
        return a.detach().to(device=device, dtype=dtype)
    arr = np.ascontiguousarray(a)
    if not arr.flags.writeable:  # torch warns on read-only arrays; nothing here writes to it
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            return torch.from_numpy(arr).to(device=device, dtype=dtype)
    return torch.from_numpy(arr).to(device=device, dtype=dtype)


def _input_shape(module: Any, input_shape: Any) -> tuple[int, ...]:
    if input_shape is not None:
        return check_input_shape(input_shape)
    first = next((m for m in module.modules() if isinstance(m, _FIRST)), None)
    if isinstance(first, torch.nn.Linear) and first.in_features > 0:
        return (int(first.in_features),)
    what = "no Linear or Conv layer" if first is None else f"a {type(first).__name__} first"
    raise InvalidArgumentError(
        f"pk.torch.model cannot tell the shape of one input of this module ({what}); pass "
        "input_shape=..., e.g. input_shape=(1, 8, 8) for 8×8 grey images or (L, E) for a "
        "sequence of L tokens of E features. X's rows are then the inputs flattened."
    )


def _trainable(module: Any) -> list[tuple[str, Any]]:
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if not named:
        raise InvalidArgumentError(
            f"the module {type(module).__name__} has no trainable parameters (none with "
            "requires_grad=True); pkverify's kernels are gradients with respect to the "
            "trained weights. Unfreeze the parameters that training changes."
        )
    dtypes = {p.dtype for _, p in named}
    if len(dtypes) > 1 or not dtypes <= {torch.float32, torch.float64}:
        raise InvalidArgumentError(
            f"the module's trainable parameters must all be float32 or all float64; got "
            f"{sorted(str(d) for d in dtypes)}. Call module.double() (recommended: the exact "
            "rule then reaches float64 rounding) or module.float()."
        )
    devices = {str(p.device) for _, p in named}
    if len(devices) > 1:
        raise InvalidArgumentError(
            f"the module's trainable parameters sit on several devices {sorted(devices)}; "
            "move the module to one with module.to(device)."
        )
    return named


def model(
    module: Any,
    *,
    input_shape: Sequence[int] | None = None,
    smooth: bool | None = None,
    name: str | None = None,
) -> Model:
    """The module as a pkverify Model over its trainable parameters raveled into ``w``.

    ``init(seed)`` returns the parameters as they were when this was called, whatever the
    seed. ``input_shape`` is the shape of one input (default: the first Linear layer's
    ``in_features``); ``smooth`` None decides from the module's layers (module docstring).
    The output may be ``(n,)`` or ``(n, 1)`` (a scalar model) or ``(n, k)``.
    """
    if not isinstance(module, torch.nn.Module):
        raise InvalidArgumentError(
            f"pk.torch.model(module) needs a torch.nn.Module; got {type(module).__name__}."
        )
    if smooth is not None and not isinstance(smooth, bool):
        raise InvalidArgumentError(f"smooth must be True, False or None; got {smooth!r}.")
    check_mode(module)
    named = _trainable(module)
    shape = _input_shape(module, input_shape)
    names = tuple(n for n, _ in named)
    shapes = tuple(tuple(int(s) for s in p.shape) for _, p in named)
    sizes = [math.prod(s) for s in shapes]
    dtype, device = named[0][1].dtype, named[0][1].device

    def call(w: Any, X: Any) -> Any:
        params, o = {}, 0
        for n, s, size in zip(names, shapes, sizes):
            params[n] = w[o : o + size].reshape(s)
            o += size
        out = torch.func.functional_call(module, params, (X.reshape((X.shape[0], *shape)),))
        return out[:, None] if out.ndim == 1 else out

    w0 = torch.cat([p.detach().reshape(-1) for _, p in named]).to("cpu", torch.float64).numpy()
    w0.setflags(write=False)
    d = math.prod(shape)
    with torch.no_grad():
        try:
            probe = call(to_tensor(w0, dtype, device), torch.zeros((2, d), dtype=dtype,
                                                                  device=device))
        except Exception as exc:
            raise InvalidArgumentError(
                f"the module failed on a batch of inputs of shape {(2, *shape)} "
                f"({type(exc).__name__}: {exc}); pass the shape of one input as input_shape=..."
            ) from exc
    is_tensor = isinstance(probe, torch.Tensor)
    k = check_probe_output(
        tuple(probe.shape) if is_tensor else None,
        str(tuple(probe.shape)) if is_tensor else type(probe).__name__, "the module",
        "Flatten the output in the module (e.g. a final nn.Flatten).")
    with torch.no_grad():
        calls, unlocated = kinked_calls(call, to_tensor(w0, dtype, device),
                                        torch.zeros((2, d), dtype=dtype, device=device))
    kinked = kinked_modules(module)
    covered = {_plain(k.rsplit("(", 1)[-1]) for k in kinked}
    kinked += sorted({f"{c} (call)" for c in calls if _plain(c) not in covered})
    is_smooth = not kinked if smooth is None else smooth
    scalar = k == 1

    def f(w: Any, X: Any) -> np.ndarray:
        refuse_autograd(w, "torch")
        with torch.no_grad():
            out = call(to_tensor(w, dtype, device), to_tensor(X, dtype, device))
        arr = out.detach().cpu().numpy().astype(np.float64)
        return arr[:, 0] if scalar else arr

    foreign = ForeignModel("torch", module, names, shapes, shape, str(device),
                           str(dtype).removeprefix("torch."), call, tuple(kinked),
                           tuple(sorted(set(unlocated))))
    return Model(
        name or type(module).__name__,
        f,
        int(sum(sizes)),
        d,
        None if scalar else k,
        lambda seed: w0.copy(),
        spec=None,
        smooth=bool(is_smooth),
        foreign=foreign,
    )

"""Recording the user's own PyTorch training loop as a pkverify :class:`Trajectory`.

::

    rec = pk.torch.Recorder(net, opt, X, Y, torch.nn.CrossEntropyLoss())
    for idx, xb, yb in pk.torch.indexed_loader(X, Y, batch_size=32, generator=g):
        opt.zero_grad(); loss_fn(net(xb), yb).backward(); opt.step()
        rec.step(idx)                     # after every optimizer.step()
        sched.step()
    km = pk.kernel_machine(rec.trajectory(), rule="exact")

The recorder hooks ``optimizer.step`` (``register_step_pre_hook`` / ``post_hook``): before each
step it reads the weights w_s, the gradient the optimizer is about to use and each parameter
group's step size ``param_groups[g]["lr"]`` (so a scheduler's values are the ones recorded);
after it, w_{s+1}. Groups with their own lr and weight decay become the rule's parameter groups
(:func:`pkverify.optim.grouped`); the trajectory's ``step_sizes`` are group 0's.
``rec.step(batch)`` names the step's batch and checks the step: the batch loss's gradient
``g_s = ρ_s Σ_{i∈B_s} ℓ'_{i,s} ∇f(w_s, x_i)`` is recomputed at w_s (with pkverify's loss, the
mapping of :mod:`.torch_mapping`), the step ``Δ_s`` is rebuilt by pk.optim's rule from it
(:meth:`pkverify.optim.Optimizer.advance`, the one update rule), and a :class:`RecorderWarning`
names the step, the parameter groups and the likely cause when ``w_{s+1} − w_s`` differs from
it by more than ``STEP_RTOL`` relative, over all weights or within a group: gradient clipping
or AMP (loss scaling not undone, reduced-precision autocast), or an option pkverify does not
rebuild (the pattern each fits: :mod:`.torch_step_check`). The input checks, the step check
and the recorded path are those every recorder shares (:mod:`.recording`). A step that AMP's
GradScaler skips (inf/NaN gradients: ``optimizer.step()`` is not called, the weights do not
move) is left out with a warning that says so: the path stays exact. A second
``optimizer.step()`` before ``rec.step``, ``rec.step`` without a step, and weights changed
between steps are errors.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..losses import get_loss
from ..optim import ParamGroups, grouped
from ..trajectory import Trajectory
from .recording import (
    STEP_RTOL,
    RecorderError,
    RecorderWarning,
    StepCheck,
    batch_rows,
    flat_inputs,
    loss_cotangent,
    one_input_shape,
    prepare_targets,
    recorded_trajectory,
    schedule_as_used,
    step_gaps,
)
from .torch import model as torch_model
from .torch import to_tensor
from .torch_mapping import (
    group_decays,
    group_rates,
    group_segments,
    loss_mapping,
    optimizer_rule,
)
from .torch_step_check import likely_cause

__all__ = ["Recorder", "RecorderWarning", "RecorderError", "indexed_loader", "STEP_RTOL"]


def _host(a: Any) -> np.ndarray:
    """A tensor (on any device) or an array-like as a NumPy array."""
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _flat(tensors: list[Any]) -> np.ndarray:
    import torch

    return torch.cat([t.detach().reshape(-1) for t in tensors]).to("cpu", torch.float64).numpy()


class Recorder:
    """Records ``module``'s training by ``optimizer`` on ``(X, Y)`` with ``loss_fn`` (module
    docstring). X: the training inputs (tensor or array, ``(n, ...)``, on the module's device
    when a tensor); Y: the targets as ``loss_fn`` takes them. ``input_shape`` and ``smooth`` go
    to :func:`pkverify.extra.torch.model`."""

    def __init__(self, module: Any, optimizer: Any, X: Any, Y: Any, loss_fn: Any, *,
                 input_shape: Any = None, smooth: bool | None = None) -> None:
        import torch

        if not isinstance(optimizer, torch.optim.Optimizer):
            raise InvalidArgumentError(
                f"Recorder(module, optimizer, ...) needs a torch.optim optimizer; got "
                f"{type(optimizer).__name__}."
            )
        loss_name, self.reduction = loss_mapping(loss_fn)
        self.loss = get_loss(loss_name)
        self.model = torch_model(module, input_shape=one_input_shape(X, input_shape),
                                 smooth=smooth)
        foreign = self.model.foreign
        assert foreign is not None
        self._call, self._dtype = foreign.call, getattr(torch, foreign.dtype)
        self._dtype_name = foreign.dtype
        self._device = torch.device(foreign.device)
        self._params = [p for n, p in module.named_parameters() if p.requires_grad]
        self.rule = optimizer_rule(optimizer, self._params)
        self._segments = group_segments(optimizer, self._params)
        self._layout = ParamGroups.build(  # each weight's group, each group's weight decay
            self._segments, group_rates(optimizer), group_decays(optimizer))
        self.ws: list[np.ndarray] = [_flat(self._params)]
        self.X = self._inputs(X)
        self.Y = prepare_targets(self.loss, _host(Y), self.model.apply(self.ws[0], self.X),
                                 "mapped from the torch loss")
        self._Xt = to_tensor(self.X, self._dtype, self._device)
        self.lrs: list[float] = []  # group 0's step sizes
        self.group_lrs: list[tuple[float, ...]] = []  # every group's
        self.batches: list[np.ndarray] = []
        self.mismatch: list[float] = []
        self._check = StepCheck(self.rule)
        self._pending: dict[str, Any] | None = None
        self._hooks = [optimizer.register_step_pre_hook(self._before),
                       optimizer.register_step_post_hook(self._after)]

    # ----- input checks ----------------------------------------------------------------------

    def _inputs(self, X: Any) -> np.ndarray:
        import torch

        if isinstance(X, torch.Tensor) and X.device != self._device:
            raise InvalidArgumentError(
                f"X is on {X.device} but the module is on {self._device}; move one of them "
                "(X.to(device)) so that the loop and the recorder see the same data."
            )
        return flat_inputs(_host(X), self.model.input_dim, "array or tensor", "the module")

    # ----- the hooks on optimizer.step -------------------------------------------------------

    def _before(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        s = len(self.ws) - 1
        if self._pending is not None:
            raise RecorderError(
                f"optimizer.step() was called again before rec.step(batch) recorded step {s}; "
                "call rec.step(batch_indices) after every optimizer.step()."
            )
        w = _flat(self._params)
        if not np.array_equal(w, self.ws[-1]):
            raise RecorderError(
                f"the weights changed between recorded step {s} and optimizer.step() (outside "
                "the optimizer: a manual edit, another optimizer, or a step not recorded); the "
                "recorded path would have a gap there."
            )
        grads = [p.grad if p.grad is not None else p.detach() * 0 for p in self._params]
        self._pending = {"lr": group_rates(optimizer), "grad": _flat(grads)}

    def _after(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        assert self._pending is not None
        self._pending["w"] = _flat(self._params)

    # ----- the user's calls ------------------------------------------------------------------

    def _loss_gradient(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``ρ Σ_{i∈rows} ℓ'_i ∇f(w, x_i)`` with pkverify's loss: one vjp through torch."""
        import torch

        wt = to_tensor(w, self._dtype, self._device)
        out, vjp = torch.func.vjp(lambda v: self._call(v, self._Xt[rows]), wt)[:2]
        y = out.detach().cpu().numpy().astype(np.float64)
        d = loss_cotangent(self.loss, y, self.Y[rows], self.reduction)
        return _flat([vjp(to_tensor(d, self._dtype, self._device))[0]])

    def step(self, batch: Any) -> None:
        """Record the optimizer step just taken on the training rows ``batch`` and check it."""
        s = len(self.ws) - 1
        if self._pending is None and self._skipped_by_scaler(s):
            return
        if self._pending is None or "w" not in self._pending:
            raise RecorderError(
                f"rec.step(batch) was called without an optimizer.step() since step {s - 1} "
                "was recorded (called twice?); call it once after each optimizer.step()."
            )
        raw = batch.detach().cpu().numpy() if hasattr(batch, "detach") else batch
        rows = batch_rows(np.asarray(raw), self.X.shape[0],
                          "e.g. the first item pk.torch.indexed_loader yields")
        w, after, lrs = self.ws[-1], self._pending["w"], self._pending["lr"]
        # η_s, or each weight's own group's step size when the groups' differ
        rate = lrs[0] if len(set(lrs)) == 1 else self._layout.per_weight(lrs)
        g = self._loss_gradient(w, rows)
        gap, rebuilt = self._check.check(g, w, after, rate, s)
        step, groups = after - w, self._layout.n_groups > 1
        per_group = step_gaps(step, rebuilt, self._layout.index)[1] if groups else None
        self.mismatch.append(gap)
        tol = STEP_RTOL[self._dtype_name]
        off = [] if per_group is None else np.flatnonzero(per_group > tol).tolist()
        if gap > tol or off:
            # the pattern read where it shows: on the first group that differs, if any
            at = slice(None) if not off else self._layout.index == off[0]
            cause = likely_cause(step[at], rebuilt[at], self._pending["grad"][at], g[at],
                                 self.rule)
            self._check.warn(s, gap, cause, f" (in parameter group(s) {off})" if groups else "")
        mask = np.zeros(self.X.shape[0], dtype=bool)
        mask[rows] = True
        self.ws.append(after)
        self.lrs.append(lrs[0])
        self.group_lrs.append(lrs)
        self.batches.append(mask)
        self._pending = None

    def _skipped_by_scaler(self, s: int) -> bool:
        """True (and a warning) when no optimizer step was taken because the gradients hold
        inf/NaN and the weights did not move: AMP's GradScaler skipped the step."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads or np.all(np.isfinite(_flat(grads))) or \
                not np.array_equal(_flat(self._params), self.ws[-1]):
            return False
        warnings.warn(
            f"no optimizer step was taken before rec.step for step {s}: the gradients hold inf "
            "or NaN and the weights did not move, as when AMP's torch.amp.GradScaler skips a "
            "step whose scaled gradients overflow. The batch is left out (nothing changed: "
            "neither the weights nor the optimizer's state), and the path stays exact.",
            RecorderWarning, stacklevel=3)
        return True

    def trajectory(self) -> Trajectory:
        """The recorded path: weights, the step sizes used, the batches, the mapped optimizer
        (its lr the schedule actually used) and loss with its reduction."""
        if self._pending is not None:
            raise RecorderError(
                f"optimizer.step() {len(self.ws) - 1} was taken but not recorded; call "
                "rec.step(batch_indices) after it before rec.trajectory()."
            )
        rule = replace(self.rule, lr=schedule_as_used(self.lrs))
        if self._layout.n_groups > 1:  # each group's lr as used (merged when all agree)
            per = [schedule_as_used(c) for c in np.asarray(self.group_lrs).T]
            rule = grouped(replace(self.rule, groups=None), self._segments, per,
                           list(self._layout.weight_decay))
        return recorded_trajectory(self.model, self.X, self.Y, self.loss, rule, self.ws,
                                   self.lrs, self.batches, self.reduction)

    def close(self) -> None:
        """Remove the hooks from the optimizer (recording stops)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []


def indexed_loader(X: Any, Y: Any, batch_size: int, shuffle: bool = True,
                   generator: Any = None, drop_last: bool = False) -> Any:
    """A ``torch.utils.data.DataLoader`` over ``(X, Y)`` yielding ``(indices, xb, yb)``: the
    batch's row indices come with it, for ``rec.step(indices)``. ``generator`` (a seeded
    ``torch.Generator``) makes the shuffling reproducible."""
    import torch

    Xt = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
    Yt = Y if isinstance(Y, torch.Tensor) else torch.as_tensor(np.asarray(Y))
    if Xt.shape[:1] != Yt.shape[:1]:
        raise ShapeError(f"X and Y must have the same number of rows; got {tuple(Xt.shape)} "
                         f"and {tuple(Yt.shape)}.")

    class _Indexed(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return int(Xt.shape[0])

        def __getitem__(self, i: int) -> tuple[int, Any, Any]:
            return i, Xt[i], Yt[i]

    return torch.utils.data.DataLoader(_Indexed(), batch_size=int(batch_size), shuffle=shuffle,
                                       generator=generator, drop_last=drop_last)

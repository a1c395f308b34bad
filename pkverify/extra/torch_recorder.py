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
rebuild (the pattern each fits: :mod:`.torch_step_check`). A step that AMP's GradScaler skips
(inf/NaN gradients: ``optimizer.step()`` is not called, the weights do not move) is left out
with a warning that says so: the path stays exact. A second ``optimizer.step()`` before
``rec.step``, ``rec.step`` without a step, and weights changed between steps are errors.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..kernels.exactness import PathWarning
from ..losses import get_loss
from ..optim import OptimizerState, ParamGroups, grouped
from ..trajectory import Trajectory
from .torch import model as torch_model
from .torch import to_tensor
from .torch_mapping import (
    group_decays,
    group_rates,
    group_segments,
    loss_mapping,
    optimizer_rule,
)
from .torch_step_check import likely_cause, step_gaps

__all__ = ["Recorder", "RecorderWarning", "RecorderError", "indexed_loader", "STEP_RTOL"]

STEP_RTOL = {"float64": 1e-9, "float32": 1e-3}
"""Relative agreement ‖Δ_recorded − Δ_rebuilt‖/‖Δ_recorded‖ required of each step. The two
gradients are the same sum taken in another order (rounding ~1e-16 of the terms in float64);
Adam divides by √v̂ + eps, which lifts a gradient component that cancels to ~1e-16 into a step
component of η·1e-16/eps ≈ 1e-8·η: 1e-9 of ‖Δ‖ leaves two orders of margin in float64 for the
networks tested, and float32's 6e-8 roundoff scaled the same way gives 1e-3."""


class RecorderWarning(PathWarning):
    """A recorded step that the optimizer's rule does not rebuild (names the step and cause)."""


class RecorderError(InvalidArgumentError):
    """The loop and the recorder are out of step (rec.step twice, or not at all)."""


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
        if input_shape is None and isinstance(X, (torch.Tensor, np.ndarray)) and X.ndim > 2:
            input_shape = tuple(X.shape[1:])
        self.model = torch_model(module, input_shape=input_shape, smooth=smooth)
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
        self.Y = self._targets(Y)
        self._Xt = to_tensor(self.X, self._dtype, self._device)
        self.lrs: list[float] = []  # group 0's step sizes
        self.group_lrs: list[tuple[float, ...]] = []  # every group's
        self.batches: list[np.ndarray] = []
        self.mismatch: list[float] = []
        self._state = OptimizerState()
        self._pending: dict[str, Any] | None = None
        self._first_off: int | None = None  # the first step the check warned about
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
        arr = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
        if arr.ndim < 2 or arr.shape[0] == 0 or arr.dtype.kind not in "fiu":
            raise ShapeError(
                f"X must hold n ≥ 1 real inputs as an (n, ...) array or tensor; got shape "
                f"{arr.shape}, dtype {arr.dtype}."
            )
        flat = arr.reshape(arr.shape[0], -1).astype(np.float64)
        if flat.shape[1] != self.model.input_dim:
            raise ShapeError(
                f"X's inputs hold {flat.shape[1]} numbers each but the module takes "
                f"{self.model.input_dim}; pass input_shape=... (the shape of one input)."
            )
        return flat

    def _targets(self, Y: Any) -> np.ndarray:
        import torch

        arr = Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else np.asarray(Y)
        if arr.shape[:1] != (self.X.shape[0],):
            raise ShapeError(f"Y must have one target per row of X ({self.X.shape[0]}); got "
                             f"shape {arr.shape}.")
        arr = arr.astype(np.float64)
        y0 = self.model.apply(self.ws[0], self.X)
        if arr.ndim == 2 and arr.shape[1] == 1 and y0.ndim == 1:
            arr = arr[:, 0]
        try:
            return self.loss.prepare(arr, y0)
        except InvalidArgumentError as exc:
            raise type(exc)(f"the targets Y do not fit the loss {self.loss.name!r} mapped "
                            f"from the torch loss: {exc}") from exc

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

    def _batch(self, batch: Any) -> np.ndarray:
        n = self.X.shape[0]
        idx = np.asarray(batch.detach().cpu().numpy() if hasattr(batch, "detach") else batch)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" \
                or idx.min() < 0 or idx.max() >= n:
            raise InvalidArgumentError(
                f"rec.step(batch) needs the batch's row indices into X (integers in 0..{n - 1}),"
                f" e.g. the first item pk.torch.indexed_loader yields; got {batch!r:.80}."
            )
        if np.unique(idx).size != idx.size:
            raise InvalidArgumentError(
                "the batch holds a row twice; pkverify's batches are sets (Remark 5's "
                "indicators I_i(s)). Sample without replacement."
            )
        return np.sort(idx)

    def _loss_gradient(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``ρ Σ_{i∈rows} ℓ'_i ∇f(w, x_i)`` with pkverify's loss: one vjp through torch."""
        import torch

        wt = to_tensor(w, self._dtype, self._device)
        out, vjp = torch.func.vjp(lambda v: self._call(v, self._Xt[rows]), wt)[:2]
        y = out.detach().cpu().numpy().astype(np.float64)
        Yb = self.Y[rows]
        d = np.asarray(self.loss.deriv(y[:, 0] if self.Y.ndim == 1 else y, Yb))
        if self.reduction == "mean":
            d = d / rows.size
        cot = to_tensor(d.reshape(y.shape), self._dtype, self._device)
        return _flat([vjp(cot)[0]])

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
        rows = self._batch(batch)
        w, after, lrs = self.ws[-1], self._pending["w"], self._pending["lr"]
        # η_s, or each weight's own group's step size when the groups' differ
        rate = lrs[0] if len(set(lrs)) == 1 else self._layout.per_weight(lrs)
        g = self.rule.gradient(self._loss_gradient(w, rows), w)
        parts, decay, _, self._state = self.rule.advance(
            self._state, g[None, :], w, rate, s, total=g)
        rebuilt, step = parts[0] + decay, after - w
        index = self._layout.index if self._layout.n_groups > 1 else None
        gap, per_group = step_gaps(step, rebuilt, index)
        self.mismatch.append(gap)
        tol = STEP_RTOL[self._dtype_name]
        off = [] if per_group is None else np.flatnonzero(per_group > tol).tolist()
        if gap > tol or off:
            g_loss = g - self.rule.coupled_decay * w
            # the pattern read where it shows: on the first group that differs, if any
            at = slice(None) if not off else self._layout.index == off[0]
            cause = likely_cause(step[at], rebuilt[at], self._pending["grad"][at], g_loss[at],
                                 self.rule)
            where = f" (in parameter group(s) {off})" if per_group is not None else ""
            if self._first_off is not None:  # momenta and moments carry an earlier gap on
                cause += (f"; or the optimizer's buffers carry on the gap of step "
                          f"{self._first_off}")
            else:
                self._first_off = s
            warnings.warn(
                f"recorded step {s} differs from the step pk.optim rebuilds by {gap:.2e} "
                f"(relative){where}: {cause}. The kernel machine will rebuild the path as "
                "recorded and warn that it does not follow its optimizer.", RecorderWarning,
                stacklevel=2)
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
        if not self.lrs:
            raise RecorderError("no step was recorded: call rec.step(batch) after each "
                                "optimizer.step() of your loop.")
        from dataclasses import replace

        eta = np.asarray(self.lrs)
        lr: Any = float(eta[0]) if np.all(eta == eta[0]) else tuple(float(e) for e in eta)
        rule = replace(self.rule, lr=lr)
        if self._layout.n_groups > 1:  # each group's lr as used (merged when all agree)
            per = [float(c[0]) if np.all(c == c[0]) else tuple(float(e) for e in c)
                   for c in np.asarray(self.group_lrs).T]
            rule = grouped(replace(self.rule, groups=None), self._segments, per,
                           list(self._layout.weight_decay))
        ws = np.stack(self.ws)
        losses = np.array([float(self.loss.total(self.model.apply(w, self.X), self.Y))
                           for w in ws])
        batches = np.stack(self.batches)
        kind = "gd" if batches.all() else "sgd"
        times = np.concatenate([[0.0], np.cumsum(eta)])
        return Trajectory(self.model, self.X, self.Y, self.loss, ws, eta, batches, losses,
                          times, None, kind, optimizer=rule, reduction=self.reduction)

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

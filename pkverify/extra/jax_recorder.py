"""Recording the user's own functional JAX/optax training loop as a pkverify
:class:`~pkverify.trajectory.Trajectory`.

::

    tx = optax.adamw(optax.cosine_decay_schedule(1e-2, 100), weight_decay=1e-2)
    opt_state = tx.init(params)
    rec = pk.jax.Recorder(apply_fn, params, X, Y, loss="softmax_ce", optimizer=tx)
    for rows in batches:                                   # row indices into X
        grads = jax.grad(batch_loss)(params, X[rows], Y[rows])
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        rec.step(params, rows, opt_state)                  # after every update
    km = pk.kernel_machine(rec.trajectory(), rule="exact")

The optimizer is read from the optax transformation itself (:mod:`.optax_mapping`: optax's
sgd with momentum or Nesterov, adam, adamw, add_decayed_weights before them, and learning-rate
schedules, confirmed on a probe update), and the step size of update s is the schedule's value
at count s — the value optax applied. ``loss`` names the per-example loss of the user's batch
loss, ``reduction`` how the batch reduces it (JAX losses are written out, so they are named):

================================================================  ==============================
the loop's batch loss                                             ``loss=``, ``reduction=``
================================================================  ==============================
``optax.squared_error(y, Y).sum()`` = ``((y − Y)**2).sum()``      "squared_error", "sum"
``optax.squared_error(y, Y).mean()`` (over the batch and k)       "squared_error_mean", "mean"
``optax.l2_loss(y, Y).sum()`` = ``½ Σ (y − Y)²``                  "mse", "sum"
``optax.softmax_cross_entropy_with_integer_labels(y, c).mean()``  "softmax_ce", "mean"
``optax.sigmoid_binary_cross_entropy(y, Y).sum()`` (one logit)    "logistic", "sum"
================================================================  ==============================

Each ``rec.step(params, batch)`` flattens the params (their pytree structure and shapes
checked against the initial ones) and checks the step as every recorder does
(:mod:`.recording`): the batch loss's gradient at w_s by ``jax.vjp``, the step rebuilt by
pk.optim's rule, a :class:`~.recording.RecorderWarning` naming the step when they differ. The
recorder also replays the user's optax transformation on that gradient to name the cause:
if optax's own update of the loss's gradient is what the loop did, the mapping onto pk.optim
is at fault (a transformation or schedule read wrongly); if not, the loop changed the gradient
or the step (clipping outside the optimizer, another loss or batch, a skipped ``rec.step``).
Passing ``opt_state`` lets the recorder check optax's own step count against its own: a
skipped or repeated ``rec.step`` is then an error at once. Params equal to the last recorded
ones (``rec.step`` twice for one update) are an error too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, unknown_name
from ..losses import get_loss
from ..optim import parse_reduction
from ..trajectory import Trajectory
from .jax import flatten
from .jax import model as jax_model
from .optax_mapping import confirm, optimizer_rule
from .recording import (
    STEP_RTOL,
    RecorderError,
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

__all__ = ["Recorder", "SUPPORTED_LOSSES"]

SUPPORTED_LOSSES = ("squared_error", "squared_error_mean", "mse", "softmax_ce", "logistic")
"""The per-example losses a recorded loop may use (the module docstring's table)."""


def _counts(opt_state: Any) -> set[int]:
    """The step counts optax keeps in a state (``ScaleByAdamState``, ``ScaleByScheduleState``,
    ...: every NamedTuple with a ``count`` field)."""
    found: set[int] = set()

    def visit(node: Any) -> None:
        if isinstance(node, tuple):
            if hasattr(node, "_fields") and "count" in node._fields:
                found.add(int(np.asarray(node.count)))
            for item in node:
                visit(item)
        elif isinstance(node, (list, dict)):
            for item in (node.values() if isinstance(node, dict) else node):
                visit(item)

    visit(opt_state)
    return found


class Recorder:
    """Records a functional loop training ``apply_fn(params, x)`` from ``params0`` on
    ``(X, Y)`` with ``loss`` reduced by ``reduction`` and the optax transformation
    ``optimizer`` (module docstring). ``input_shape``/``smooth`` go to ``pk.jax.model``."""

    def __init__(self, apply_fn: Any, params0: Any, X: Any, Y: Any, *, loss: str,
                 optimizer: Any, reduction: str = "mean", input_shape: Any = None,
                 smooth: bool | None = None) -> None:
        import jax.numpy as jnp

        if loss not in SUPPORTED_LOSSES:
            raise unknown_name("loss of a recorded JAX loop", loss, SUPPORTED_LOSSES)
        self.loss = get_loss(loss)
        self.reduction = parse_reduction(reduction)
        self.mapped = optimizer_rule(optimizer)
        self.model = jax_model(apply_fn, params0, input_shape=one_input_shape(X, input_shape),
                               smooth=smooth)
        foreign = self.model.foreign
        assert foreign is not None and foreign.unravel is not None
        self._foreign, self._unravel = foreign, foreign.unravel
        self._dtype_name = foreign.dtype
        self._dtype = jnp.dtype(foreign.dtype)
        self._rtol = STEP_RTOL[self._dtype_name]
        confirm(optimizer, self.mapped, self._unravel(jnp.asarray(self.model.init(),
                                                                  self._dtype)), self._rtol)
        self.X = flat_inputs(np.asarray(X), self.model.input_dim, "array", "apply_fn")
        self.ws: list[np.ndarray] = [flatten(foreign, params0)]
        self.Y = prepare_targets(self.loss, np.asarray(Y), self.model.apply(self.ws[0], self.X),
                                 f"(loss={self.loss.name!r})")
        self._Xj = jnp.asarray(self.X, dtype=self._dtype)
        self._tx = optimizer
        self._replay = optimizer.init(self._unravel(jnp.asarray(self.ws[0], self._dtype)))
        self._check = StepCheck(self.mapped.rule)
        self.lrs: list[float] = []
        self.batches: list[np.ndarray] = []
        self.mismatch: list[float] = []

    @property
    def rule(self) -> Any:
        """The pk.optim rule read from the optax transformation (lr: its value at step 0)."""
        return self.mapped.rule

    def _loss_gradient(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``ρ Σ_{i∈rows} ℓ'_i ∇f(w, x_i)`` with pkverify's loss: one ``jax.vjp``."""
        import jax
        import jax.numpy as jnp

        call = self._foreign.call
        out, vjp = jax.vjp(lambda v: call(v, self._Xj[rows]),
                                 jnp.asarray(w, dtype=self._dtype))
        y = np.asarray(out, dtype=np.float64)
        d = loss_cotangent(self.loss, y, self.Y[rows], self.reduction)
        return np.asarray(vjp(jnp.asarray(d, dtype=self._dtype))[0], dtype=np.float64)

    def _replayed(self, g: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The user's optax transformation applied to the loss's gradient g at w (its own
        state carried along): the update the loop should have made."""
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree

        tree = self._unravel(jnp.asarray(w, dtype=self._dtype))
        upd, self._replay = self._tx.update(self._unravel(jnp.asarray(g, dtype=self._dtype)),
                                            self._replay, tree)
        return np.asarray(ravel_pytree(upd)[0], dtype=np.float64)

    def step(self, params: Any, batch: Any, opt_state: Any = None) -> None:
        """Record the update just made (``params`` after it) on the training rows ``batch``
        and check it; ``opt_state`` (optional) is optax's state after the update."""
        s = len(self.lrs)
        after = flatten(self._foreign, params)
        rows = batch_rows(np.asarray(batch), self.X.shape[0],
                          "the rows of X this update's batch took")
        w = self.ws[-1]
        if opt_state is not None:
            counts = _counts(opt_state)
            if counts and counts != {s + 1}:
                raise RecorderError(
                    f"optax's state has counted {sorted(counts)} update(s) but this is the "
                    f"recorder's update {s + 1}: rec.step was "
                    f"{'skipped after an update' if max(counts) > s + 1 else 'called twice'}"
                    ". Call rec.step(params, batch, opt_state) once after each tx.update."
                )
        lr = self.mapped.lr(s)
        if not (np.isfinite(lr) and lr > 0.0):
            raise InvalidArgumentError(
                f"the optax learning rate at update {s} is {lr:g}; pkverify needs a finite "
                "step size > 0 at every step. Keep the schedule above 0 (e.g. alpha > 0 in a "
                "cosine decay)."
            )
        g = self._loss_gradient(w, rows)
        if np.array_equal(after, w) and np.any(g != 0.0):
            raise RecorderError(
                f"the params passed to rec.step are those recorded at step {s} (unchanged): "
                "rec.step was called twice for one update, or with the params from before "
                "it. Call it once, after optax.apply_updates."
            )
        gap, _ = self._check.check(g, w, after, lr, s)
        replayed = self._replayed(g, w)
        self.mismatch.append(gap)
        if gap > self._rtol:
            self._check.warn(s, gap, self._cause(after - w, replayed))
        mask = np.zeros(self.X.shape[0], dtype=bool)
        mask[rows] = True
        self.ws.append(after)
        self.lrs.append(lr)
        self.batches.append(mask)

    def _cause(self, step: np.ndarray, replayed: np.ndarray) -> str:
        off = step_gaps(step, replayed, None)[0]
        parts = " → ".join(self.mapped.parts)
        if off <= self._rtol:
            return (f"the loop's update is the optax transformation's ({parts}) of the batch "
                    f"loss's gradient, but not {self.rule.describe()}'s: a transformation or "
                    "schedule pkverify read wrongly (please report it)")
        return (f"the loop's update is not optax's ({parts}) of the batch loss's gradient either "
                f"(they differ by {off:.2e}, relative): a gradient clipped or changed outside "
                f"the optimizer, a loss other than {self.loss.name!r} with reduction "
                f"{self.reduction!r}, batch indices that are not the batch, or an update not "
                "recorded (rec.step skipped)")

    def trajectory(self) -> Trajectory:
        """The recorded path: weights, the step sizes used, the batches, the mapped optimizer
        (its lr the schedule actually used) and the loss with its reduction."""
        rule = replace(self.rule, lr=schedule_as_used(self.lrs))
        return recorded_trajectory(self.model, self.X, self.Y, self.loss, rule, self.ws,
                                   self.lrs, self.batches, self.reduction)

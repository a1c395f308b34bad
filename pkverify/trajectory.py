"""The recorded path of a training run: weights, step sizes, mini-batches, losses, times."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, NonFiniteError, ShapeError
from .losses import Loss, Regularizer, as_regularizer
from .models import Model
from .optim import Optimizer, as_optimizer, gd, parse_reduction
from .stores import MemoryStore, PathStore, StoredRows
from .stores.steps import iter_rows, iter_steps
from .trajectory_file import load_trajectory, save_trajectory

__all__ = ["Trajectory", "require_trajectory"]

_KINDS = ("gd", "sgd", "flow")


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A gradient-descent (or gradient-flow) path.

    ws:          (S+1, P) weights w_0 ... w_S: an array in memory, or — for a path written
                 to disk (``pk.train(..., store=PATH)``) — a read-only
                 :class:`~pkverify.stores.StoredRows` view that reads a chunk of steps at a
                 time. Pass a :class:`~pkverify.stores.PathStore` to build a path over one;
                 :attr:`store` gives the store either way.
    step_sizes:  (S,) ε_s, with w_{s+1} = w_s − ε_s ∇L_{B_s}(w_s) for GD/SGD; for a flow path
                 the gaps between sample times.
    batches:     (S, n) bool, I_i(s): was point i in step s's mini-batch (all True for GD).
    losses:      (S+1,) full training loss Σ_i ℓ_i + R at each recorded w.
    times:       (S+1,) flow time t_s = Σ_{r<s} ε_r.
    model, X (n, d), Y (canonical targets), loss, regularizer: what was trained.
    kind:        "gd", "sgd" or "flow".
    optimizer:   the update rule that made each step (:mod:`pkverify.optim`); None on a
                 hand-built path means plain gradient descent with these step sizes (None on
                 a flow path). Its lr must agree with ``step_sizes`` (with parameter
                 groups, group 0's lr: ``step_sizes`` and ``times`` are group 0's).
    reduction:   "sum" (ℓ' enters each step as is) or "mean" (divided by the batch size).
    """

    model: Model
    X: np.ndarray
    Y: np.ndarray
    loss: Loss
    ws: np.ndarray
    step_sizes: np.ndarray
    batches: np.ndarray
    losses: np.ndarray
    times: np.ndarray
    regularizer: Regularizer | None = None
    kind: str = "gd"
    optimizer: Optimizer | None = None
    reduction: str = "sum"
    _store: PathStore | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate a hand-built path as :meth:`load` validates a file: the types, every
        array's shape against the others and the model, and finite weights and step sizes."""
        if not isinstance(self.model, Model):
            raise InvalidArgumentError(
                f"Trajectory(model=...) needs a pkverify Model (pk.models.mlp(...), "
                f"pk.models.custom(f, w0), ...); got {type(self.model).__name__}."
            )
        if not isinstance(self.loss, Loss):
            raise InvalidArgumentError(
                f"Trajectory(loss=...) needs a pkverify Loss (pk.losses.get_loss('mse'), ...); "
                f"got {type(self.loss).__name__} {self.loss!r:.40}."
            )
        if self.regularizer is not None and not isinstance(self.regularizer, Regularizer):
            object.__setattr__(self, "regularizer", as_regularizer(self.regularizer))
        store = self.ws.store if isinstance(self.ws, StoredRows) else self.ws
        if isinstance(store, MemoryStore):
            object.__setattr__(self, "ws", store.array)
        elif isinstance(store, PathStore):  # on disk: rows read through the store
            object.__setattr__(self, "ws", StoredRows(store))
        object.__setattr__(self, "_store", store if isinstance(store, PathStore) and not
                           isinstance(store, MemoryStore) else None)
        for name, kinds in (("X", "f"), ("Y", "fiu"), ("ws", "f"), ("step_sizes", "fiu"),
                            ("batches", "b"), ("losses", "f"), ("times", "fiu")):
            if name == "ws" and self._store is not None:  # float64/32, checked when stored
                continue
            arr = np.asarray(getattr(self, name))
            if arr.dtype.kind not in kinds:
                want = {"f": "real floating-point", "fiu": "real numbers", "b": "booleans"}[kinds]
                raise InvalidArgumentError(
                    f"Trajectory field {name} must hold {want}; got an array of dtype "
                    f"{arr.dtype}."
                )
            if kinds == "fiu" and arr.dtype.kind != "f":
                arr = arr.astype(np.float64)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "reduction", parse_reduction(self.reduction))
        if self.optimizer is not None:
            object.__setattr__(self, "optimizer", as_optimizer(self.optimizer))
        self.check_consistent()
        if self.optimizer is None and self.kind != "flow":
            eta = self.step_sizes
            lr = float(eta[0]) if np.all(eta == eta[0]) else tuple(float(e) for e in eta)
            object.__setattr__(self, "optimizer", gd(lr))

    @property
    def steps(self) -> int:
        """S, the number of steps (or flow intervals)."""
        return self.ws.shape[0] - 1

    @property
    def store(self) -> PathStore:
        """Where the weights live: the disk store of a path written to disk, else a
        :class:`~pkverify.stores.MemoryStore` over ``ws`` (no copy)."""
        return self._store if self._store is not None else MemoryStore(self.ws)

    @property
    def on_disk(self) -> bool:
        """True when the weights are read from a store on disk, a chunk at a time."""
        return self._store is not None

    def iter_steps(self, lo: int = 0, hi: int | None = None, reverse: bool = False) -> Any:
        """``(s, w_s, w_{s+1})`` for the steps in ``[lo, hi)``, streamed from the store with
        read-ahead (views of ``ws`` for a path in memory)."""
        return iter_steps(self.store, lo, hi, 1, reverse)

    def iter_rows(self, lo: int = 0, hi: int | None = None, reverse: bool = False) -> Any:
        """``(s, w_s)`` for the rows in ``[lo, hi)``, streamed like :meth:`iter_steps`."""
        return iter_rows(self.store, lo, hi, 1, reverse)

    @property
    def T(self) -> float:
        """Total flow time Σ ε_s."""
        return float(self.times[-1])

    @property
    def w0(self) -> np.ndarray:
        return self.ws[0]

    @property
    def w_final(self) -> np.ndarray:
        return self.ws[-1]

    def predict(self, X: Any) -> np.ndarray:
        """The trained model's outputs ``f(w_S, X)``."""
        return self.model.apply(self.ws[-1], X)

    def predict_initial(self, X: Any) -> np.ndarray:
        """The initial model's outputs ``y_0(X) = f(w_0, X)``."""
        return self.model.apply(self.ws[0], X)

    # ----- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the trajectory to ``path`` (.npz), atomically: a failed write leaves nothing.

        Built-in models, named losses and l2 regularisers are stored by spec; a custom model
        or regulariser must be passed back to :meth:`load`. The file's checksum covers every
        array and the metadata; an existing file that pkverify did not write is never
        replaced (see :mod:`pkverify.trajectory_file`).
        """
        return save_trajectory(self, path)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: Model | None = None,
        regularizer: Regularizer | Any | None = None,
    ) -> Trajectory:
        """Read a trajectory written by :meth:`save`.

        ``model`` is required when the saved model was custom; ``regularizer`` when the saved
        regulariser was a custom callable. Raises TrajectoryFileError for a missing, corrupt,
        edited (checksum) or newer-format file, and for recorded losses that the stored data
        and weights do not reproduce.
        """
        return load_trajectory(cls, path, model, regularizer)

    def check_consistent(self) -> None:
        """Check that every array fits the others: ws (S+1, P), step_sizes (S,), batches
        (S, n), losses and times (S+1,), X (n, d), Y with n rows, at least one step, a known
        kind, and finite weights, step sizes and times. Raises ShapeError / NonFiniteError /
        InvalidArgumentError naming the field, for hand-built paths and loaded files alike."""
        if self.X.ndim != 2 or self.X.shape[0] == 0:
            raise ShapeError(
                f"X has shape {self.X.shape}; expected (n, d) with n ≥ 1 rows of inputs"
            )
        if self.model.input_dim is not None and self.X.shape[1] != self.model.input_dim:
            raise ShapeError(
                f"X has {self.X.shape[1]} columns but {self.model!r} takes inputs of size "
                f"{self.model.input_dim}"
            )
        if self.ws.ndim != 2 or self.ws.shape[1] != self.model.n_params:
            raise ShapeError(
                f"weights of shape {self.ws.shape} do not fit {self.model!r} "
                f"(expected (S+1, P) with P = {self.model.n_params}): were they recorded with "
                "another model?"
            )
        S1, n = self.ws.shape[0], self.X.shape[0]
        if S1 < 2:
            raise ShapeError(
                f"weights of shape {self.ws.shape} hold {S1} recorded weight vector(s); a path "
                "needs at least one step (w_0 and w_1)"
            )
        expected = {
            "step_sizes": (self.step_sizes.shape, (S1 - 1,)),
            "batches": (self.batches.shape, (S1 - 1, n)),
            "losses": (self.losses.shape, (S1,)),
            "times": (self.times.shape, (S1,)),
            "Y rows": (self.Y.shape[:1], (n,)),
        }
        bad = [
            f"{k} has shape {got}, expected {want}"
            for k, (got, want) in expected.items()
            if got != want
        ]
        if bad:
            raise ShapeError(
                "; ".join(bad) + f" (for S = {S1 - 1} steps and n = {n} training points)"
            )
        if self.kind not in _KINDS:
            raise InvalidArgumentError(
                f"kind {self.kind!r} is not one of {', '.join(map(repr, _KINDS))}"
            )
        for name in ("ws", "step_sizes", "times"):
            if name == "ws" and self._store is not None:
                continue  # a store refuses non-finite rows and checksums what it holds
            arr = getattr(self, name)
            # row blocks of about 8M numbers: no temporary the size of a large path
            rows = max(1, (1 << 23) // max(1, int(np.prod(arr.shape[1:]))))
            for lo in range(0, arr.shape[0], rows):
                if not np.all(np.isfinite(arr[lo:lo + rows])):
                    raise NonFiniteError(f"{name} contains NaN or inf")
        if self.kind != "flow" and np.any(self.step_sizes <= 0):
            raise InvalidArgumentError(
                "step_sizes must be positive (ε_s > 0 for each gradient step); got "
                f"min {float(np.min(self.step_sizes)):.3g}"
            )
        if self.optimizer is not None:
            if self.kind == "flow":
                raise InvalidArgumentError(
                    "a gradient-flow path has no optimizer; leave optimizer=None for kind "
                    "'flow'."
                )
            self.optimizer.check_groups(self.model.n_params, self.steps)
            eta = self.optimizer.step_sizes(self.steps)
            if not np.allclose(eta, self.step_sizes, rtol=1e-15, atol=0.0):
                raise InvalidArgumentError(
                    f"the optimizer's lr ({self.optimizer.describe()}) disagrees with the "
                    f"recorded step_sizes (first {float(self.step_sizes[0]):.6g}); record the "
                    "optimizer the path was trained with."
                )


def require_trajectory(traj: Any, where: str = "this function") -> Trajectory:
    """``traj`` itself if it is a Trajectory; otherwise an error saying where one comes from."""
    if not isinstance(traj, Trajectory):
        raise InvalidArgumentError(
            f"{where} needs a Trajectory from pk.train(...), pk.gradient_flow(...) or "
            f"pk.Trajectory.load(path); got {type(traj).__name__}."
        )
    return traj

"""The recorded path of a training run: weights, step sizes, mini-batches, losses, times."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import (
    InvalidArgumentError,
    NonFiniteError,
    OutputFileError,
    PkVerifyError,
    ShapeError,
    TrajectoryFileError,
)
from .io import as_path, atomic_write_bytes, check_writable
from .losses import Loss, Regularizer, as_regularizer, get_loss, l2
from .models import Model, from_spec
from .optim import Optimizer, as_optimizer, gd, parse_reduction
from .optim import from_spec as optimizer_from_spec
from .validation import as_data

__all__ = ["Trajectory"]

_FORMAT = "pkverify-trajectory"
_VERSION = 4
"""Format history. Version 4 records the optimizer (its spec) and the loss reduction; files
of earlier versions are plain gradient descent with the loss summed. Version 3: ``checksum``
covers every array *and* the metadata (kind, model, loss, regulariser, ...), so no byte of
what the file says about the path can change unseen.
Version 2: ``checksum`` (SHA-256) of the arrays only; its metadata is checked for consistency
with the arrays (the path's kind against its batches) instead. Version 1 files, which have no
checksum, are checked by recomputing their start and end losses (as every version is)."""

_KINDS = ("gd", "sgd", "flow")

_ARRAYS = ("X", "Y", "ws", "step_sizes", "batches", "losses", "times")

_LOSS_RTOL = 1e-9
"""Relative agreement required between a loaded file's recorded losses and the losses
recomputed from its X, Y and weights: the same float64 operations in the same order give the
same value up to a few ulps (BLAS may reorder sums); an edited X or Y moves them by far more."""


def _checksum(arrays: dict[str, np.ndarray], meta: dict[str, Any] | None = None) -> str:
    """SHA-256 over every array's dtype, shape and bytes, in a fixed order, then (format 3 on)
    over the metadata other than the checksum itself, as canonical JSON (sorted keys)."""
    h = hashlib.sha256()
    for name in _ARRAYS:
        arr = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    if meta is not None:
        rest = {k: v for k, v in meta.items() if k != "checksum"}
        h.update(b"meta|" + json.dumps(rest, sort_keys=True, ensure_ascii=True).encode())
    return h.hexdigest()


def _is_trajectory_file(path: Path) -> bool:
    """True when ``path`` is an .npz that :meth:`Trajectory.save` wrote (its format tag)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"])) if "meta" in data.files else None
    except Exception:  # unreadable, not an npz, not ours: all mean "not a trajectory file"
        return False
    return isinstance(meta, dict) and meta.get("format") == _FORMAT


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A gradient-descent (or gradient-flow) path.

    ws:          (S+1, P) weights w_0 ... w_S.
    step_sizes:  (S,) ε_s, with w_{s+1} = w_s − ε_s ∇L_{B_s}(w_s) for GD/SGD; for a flow path
                 the gaps between sample times.
    batches:     (S, n) bool, I_i(s): was point i in step s's mini-batch (all True for GD).
    losses:      (S+1,) full training loss Σ_i ℓ_i + R at each recorded w.
    times:       (S+1,) flow time t_s = Σ_{r<s} ε_r.
    model, X (n, d), Y (canonical targets), loss, regularizer: what was trained.
    kind:        "gd", "sgd" or "flow".
    optimizer:   the update rule that made each step (:mod:`pkverify.optim`); None on a
                 hand-built path means plain gradient descent with these step sizes (None on
                 a flow path). Its lr must agree with ``step_sizes``.
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
        for name, kinds in (("X", "f"), ("Y", "fiu"), ("ws", "f"), ("step_sizes", "fiu"),
                            ("batches", "b"), ("losses", "f"), ("times", "fiu")):
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
        or regulariser must be passed back to :meth:`load`.
        """
        text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
        path = as_path(path, "trajectory path")
        if isinstance(text, str) and text.endswith((os.sep, "/")) or path.is_dir():
            where = "does not exist" if not path.exists() else "is a directory"
            raise OutputFileError(
                f"trajectory path {str(text)!r} names a folder, which {where}; pass a file "
                f"name such as {str(path / 'run.npz')!r} (missing parent folders are created)."
            )
        if path.suffix != ".npz":
            path = (
                path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
            )
        check_writable(path, "trajectory file")
        if path.exists() and not _is_trajectory_file(path):
            raise OutputFileError(
                f"{str(path)!r} exists and is not a pkverify trajectory; pkverify never "
                "overwrites a file it did not write. Choose another name or remove the file."
            )
        arrays: dict[str, Any] = {
            "X": self.X,
            "Y": self.Y,
            "ws": self.ws,
            "step_sizes": self.step_sizes,
            "batches": self.batches,
            "losses": self.losses,
            "times": self.times,
        }
        meta: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "kind": self.kind,
            "model": self.model.spec,
            "loss": self.loss.name,
            "regularizer": None
            if self.regularizer is None
            else (self.regularizer.spec or "custom"),
            "optimizer": None if self.optimizer is None else self.optimizer.spec,
            "reduction": self.reduction,
        }
        meta["checksum"] = _checksum(arrays, meta)
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        atomic_write_bytes(path, buffer.getvalue(), "trajectory file")
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: Model | None = None,
        regularizer: Regularizer | Any | None = None,
    ) -> Trajectory:
        """Read a trajectory written by :meth:`save`.

        ``model`` is required when the saved model was custom; ``regularizer`` when the saved
        regulariser was a custom callable. Raises TrajectoryFileError for a missing or corrupt
        file, and refuses a file whose arrays were changed after saving (a checksum, and the
        recorded losses recomputed from X, Y and the weights).
        """
        path = as_path(path, "trajectory path")
        if model is not None and not isinstance(model, Model):
            raise InvalidArgumentError(
                f"Trajectory.load(path, model=...) needs a pkverify Model such as "
                f"pk.models.custom(f, w0), not {type(model).__name__} {model!r:.40}; leave "
                "model out for a built-in model (it is rebuilt from the file)."
            )
        if regularizer is not None and not (
            isinstance(regularizer, Regularizer) or callable(regularizer)
        ):
            raise InvalidArgumentError(
                "Trajectory.load(path, regularizer=...) needs pk.losses.l2(lam) or a callable "
                f"R(w); got {type(regularizer).__name__}."
            )
        if path.is_dir():
            raise TrajectoryFileError(
                f"{str(path)!r} is a directory; pass the .npz file that save() wrote."
            )
        if not path.exists():
            raise TrajectoryFileError(
                f"no trajectory file at {str(path)!r}; check the path (save() adds '.npz')."
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError) as exc:
            raise TrajectoryFileError(
                f"{str(path)!r} is not a readable pkverify trajectory ({type(exc).__name__}: "
                f"{exc}); it may be truncated or from another program. Re-run training and save."
            ) from exc
        needed = {"X", "Y", "ws", "step_sizes", "batches", "losses", "times"}
        meta_keys = {"format", "kind", "model", "loss", "regularizer"}
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise TrajectoryFileError(
                f"{str(path)!r} is an .npz file but not a pkverify trajectory (no format tag)."
            )
        version = meta.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TrajectoryFileError(
                f"{str(path)!r} has format version {version!r}, which no pkverify writes; the "
                "file was edited or is damaged. Re-run training and save."
            )
        if version > _VERSION:
            raise TrajectoryFileError(
                f"{str(path)!r} is a pkverify trajectory of format version {version}, newer "
                f"than this pkverify reads (up to {_VERSION}); upgrade pkverify "
                "(pip install -U pkverify) to load it."
            )
        if version >= 4:
            meta_keys = meta_keys | {"optimizer", "reduction"}
        missing = sorted((needed - set(arrays)) | (meta_keys - set(meta)))
        if missing:
            raise TrajectoryFileError(
                f"{str(path)!r} is an incomplete pkverify trajectory (missing {missing}); "
                "re-run training and save it again."
            )
        if model is None and meta["model"] is None:
            raise InvalidArgumentError(
                "this trajectory was trained on a custom model; pass it back: "
                "Trajectory.load(path, model=pk.models.custom(f, w0))."
            )
        reg_meta = meta["regularizer"]
        if regularizer is None and reg_meta == "custom":
            raise InvalidArgumentError(
                "this trajectory used a custom regulariser R(w); pass it back: "
                "Trajectory.load(path, regularizer=R)."
            )
        try:
            if model is None:
                model = from_spec(meta["model"])
            if regularizer is None and reg_meta is not None:
                regularizer = l2(reg_meta["lam"])
            traj = cls(
                model=model,
                X=as_data(arrays["X"], model.input_dim),
                Y=np.asarray(arrays["Y"], dtype=np.float64),
                loss=get_loss(meta["loss"]),
                ws=np.asarray(arrays["ws"], dtype=np.float64),
                step_sizes=np.asarray(arrays["step_sizes"], dtype=np.float64),
                batches=np.asarray(arrays["batches"], dtype=bool),
                losses=np.asarray(arrays["losses"], dtype=np.float64),
                times=np.asarray(arrays["times"], dtype=np.float64),
                regularizer=as_regularizer(regularizer),
                kind=str(meta["kind"]),
                reduction=meta.get("reduction", "sum"),
            )
            traj.check_consistent()
        except (PkVerifyError, TypeError, KeyError, ValueError) as exc:
            raise TrajectoryFileError(
                f"{str(path)!r} holds an inconsistent pkverify trajectory: {exc}"
            ) from exc
        if version >= 2:
            # format 3 covers the metadata too; format 2 covered the arrays only
            expected = _checksum(arrays, meta if version >= 3 else None)
            if meta.get("checksum") != expected:
                raise TrajectoryFileError(
                    f"{str(path)!r} was changed after it was saved: its contents do not match "
                    "the checksum written with them, so the kernel machine would be rebuilt "
                    "from a path that never trained on this data. Re-run training and save."
                )
        if version < 3:  # metadata outside the checksum: check what the arrays can tell
            full = bool(traj.batches.all())
            if (traj.kind == "sgd" and full) or (traj.kind == "gd" and not full):
                raise TrajectoryFileError(
                    f"{str(path)!r} says its path is {traj.kind!r}, but its recorded batches "
                    f"are {'all' if full else 'not all'} full: the metadata was edited. Re-run "
                    "training and save again."
                )
        if meta.get("optimizer") is not None:  # checked against the path once the checksum holds
            try:
                traj = replace(traj, optimizer=optimizer_from_spec(meta["optimizer"]))
            except PkVerifyError as exc:
                raise TrajectoryFileError(
                    f"{str(path)!r} holds an inconsistent pkverify trajectory: {exc}"
                ) from exc
        traj._check_losses(str(path))
        return traj

    def _check_losses(self, where: str) -> None:
        """Recompute the loss at w_0 and w_S from X, Y; refuse a file where they disagree."""
        for s in (0, self.steps):
            try:
                y = np.asarray(self.model.f(self.ws[s], self.X), dtype=np.float64)
                value = float(self.loss.total(y, self.Y))
                if self.regularizer is not None:
                    value += float(self.regularizer.value(self.ws[s]))
            except Exception as exc:  # the model cannot even run on the stored data
                raise TrajectoryFileError(
                    f"{where!r}: the model does not run on the stored data "
                    f"({type(exc).__name__}: {exc}); pass the model it was trained with."
                ) from exc
            recorded = float(self.losses[s])
            if not abs(value - recorded) <= _LOSS_RTOL * max(abs(recorded), abs(value)):
                raise TrajectoryFileError(
                    f"{where!r}: the loss at step {s} recomputed from the stored X, Y and "
                    f"weights is {value:.12g}, but the file records {recorded:.12g}; the data "
                    "or the weights were edited, or the model passed to load() is not the one "
                    "it was trained with. Re-run training and save again."
                )

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
            eta = self.optimizer.step_sizes(S1 - 1)
            if not np.allclose(eta, self.step_sizes, rtol=1e-15, atol=0.0):
                raise InvalidArgumentError(
                    f"the optimizer's lr ({self.optimizer.describe()}) disagrees with the "
                    f"recorded step_sizes (first {float(self.step_sizes[0]):.6g}); record the "
                    "optimizer the path was trained with."
                )

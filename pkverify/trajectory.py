"""The recorded path of a training run: weights, step sizes, mini-batches, losses, times."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import (
    InvalidArgumentError,
    NonFiniteError,
    PkVerifyError,
    ShapeError,
    TrajectoryFileError,
)
from .losses import Loss, Regularizer, as_regularizer, get_loss, l2
from .models import Model, from_spec
from .validation import as_data

__all__ = ["Trajectory"]

_FORMAT = "pkverify-trajectory"
_VERSION = 1


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
        path = Path(path)
        if path.suffix != ".npz":
            path = (
                path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
            )
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "kind": self.kind,
            "model": self.model.spec,
            "loss": self.loss.name,
            "regularizer": None
            if self.regularizer is None
            else (self.regularizer.spec or "custom"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(
                tmp,
                meta=np.array(json.dumps(meta)),
                X=self.X,
                Y=self.Y,
                ws=self.ws,
                step_sizes=self.step_sizes,
                batches=self.batches,
                losses=self.losses,
                times=self.times,
            )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
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
        file.
        """
        path = Path(path)
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
            )
            traj.check_consistent()
        except (PkVerifyError, TypeError, KeyError, ValueError) as exc:
            raise TrajectoryFileError(
                f"{str(path)!r} holds an inconsistent pkverify trajectory: {exc}"
            ) from exc
        return traj

    def check_consistent(self) -> None:
        """Check that every array fits the others: ws (S+1, P), step_sizes (S,), batches
        (S, n), losses and times (S+1,), X (n, d), Y with n rows, all finite."""
        S1, n = self.ws.shape[0], self.X.shape[0]
        if self.ws.ndim != 2 or self.ws.shape[1] != self.model.n_params:
            raise ShapeError(
                f"weights of shape {self.ws.shape} do not fit {self.model!r} "
                f"(P = {self.model.n_params})"
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
        if S1 < 2:
            bad.append("a path needs at least one step")
        if self.kind not in ("gd", "sgd", "flow"):
            bad.append(f"kind {self.kind!r} is not one of 'gd', 'sgd', 'flow'")
        if bad:
            raise ShapeError("; ".join(bad))
        for name in ("ws", "step_sizes", "times"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise NonFiniteError(f"{name} contains NaN or inf")

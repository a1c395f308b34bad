"""The trajectory file: the .npz format :meth:`Trajectory.save` writes and :meth:`Trajectory.load`
reads, its checksum, and the checks a loaded path must pass (format version, checksum over
arrays and metadata, the recorded losses recomputed from the stored data)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import (
    InvalidArgumentError,
    ModelRequiredError,
    OutputFileError,
    PathStoreError,
    PkVerifyError,
    TrajectoryFileError,
)
from .io import as_path, atomic_write_bytes, check_writable
from .losses import Regularizer, as_regularizer, get_loss, l2
from .models import Model, from_spec
from .optim import from_spec as optimizer_from_spec
from .stores import DiskStore
from .stores.reference import open_reference, store_reference
from .validation import as_data

__all__ = ["save_trajectory", "load_trajectory", "check_losses", "FORMAT_VERSION"]

_FORMAT = "pkverify-trajectory"
_VERSION = 6
"""Format history. Version 6 (written only for a path whose optimizer has parameter groups):
the optimizer's spec holds ``groups`` (runs of weights, each group's lr or schedule and weight
decay, :mod:`pkverify.optim.groups`); a pkverify that predates groups says it is too old
instead of misreading the rule. Version 5 (written only for a path whose weights live in a
disk store): ``ws`` is empty and ``meta["store"]`` points to the store (its path and manifest
checksum, :mod:`pkverify.stores.reference`), so the file's checksum covers the store's too.
Version 4
records the optimizer (its spec) and the loss reduction; files of earlier versions are plain
gradient descent with the loss summed. Version 3: ``checksum`` covers every array *and* the
metadata (kind, model, loss, regulariser, ...), so no byte of what the file says about the
path can change unseen. Version 2: ``checksum`` (SHA-256) of the arrays only; its metadata is
checked for consistency with the arrays (the path's kind against its batches) instead.
Version 1 files, which have no checksum, are checked by recomputing their start and end
losses (as every version is)."""
FORMAT_VERSION = _VERSION
_VERSION_IN_MEMORY = 4
"""The version written for a path whose weights are in the file (readable by pkverify that
predates stores)."""
_VERSION_ON_DISK = 5
"""The version written for a path whose weights live in a disk store."""

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


def save_trajectory(traj: Any, path: str | os.PathLike) -> Path:
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
    on_disk = bool(getattr(traj, "on_disk", False))  # the weights stay in their store
    arrays: dict[str, Any] = {
        "X": traj.X,
        "Y": traj.Y,
        "ws": np.empty((0, traj.model.n_params)) if on_disk else traj.ws,
        "step_sizes": traj.step_sizes,
        "batches": traj.batches,
        "losses": traj.losses,
        "times": traj.times,
    }
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "version": _VERSION if getattr(traj.optimizer, "groups", None) is not None
        else _VERSION_ON_DISK if on_disk else _VERSION_IN_MEMORY,
        "kind": traj.kind,
        "model": traj.model.spec,
        "loss": traj.loss.name,
        "regularizer": None
        if traj.regularizer is None
        else (traj.regularizer.spec or "custom"),
        "optimizer": None if traj.optimizer is None else traj.optimizer.spec,
        "reduction": traj.reduction,
    }
    if on_disk:
        meta["store"] = store_reference(traj.store, path.parent)
    meta["checksum"] = _checksum(arrays, meta)
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buffer.getvalue(), "trajectory file")
    return path



def load_trajectory(
    cls: Any,
    path: str | os.PathLike,
    model: Model | None = None,
    regularizer: Regularizer | Any | None = None,
) -> Any:
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
    if path.is_dir() and (path / "trajectory.npz").is_file():  # a store pk.train wrote
        path = path / "trajectory.npz"
    elif path.is_dir() and (path / "manifest.json").is_file():  # a store training left
        DiskStore.open(path)  # says it is partial and how to resume it
        raise TrajectoryFileError(
            f"{str(path)!r} is a complete path store without its trajectory.npz; load the "
            "trajectory file saved with it."
        )
    if path.is_dir():
        raise TrajectoryFileError(
            f"{str(path)!r} is a directory; pass the .npz file that save() wrote (or the "
            "store folder pk.train(..., store=PATH) wrote)."
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
        raise ModelRequiredError(
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
            ws=open_reference(meta["store"], path.parent, model.n_params)
            if "store" in meta else np.asarray(arrays["ws"], dtype=np.float64),
            step_sizes=np.asarray(arrays["step_sizes"], dtype=np.float64),
            batches=np.asarray(arrays["batches"], dtype=bool),
            losses=np.asarray(arrays["losses"], dtype=np.float64),
            times=np.asarray(arrays["times"], dtype=np.float64),
            regularizer=as_regularizer(regularizer),
            kind=str(meta["kind"]),
            reduction=meta.get("reduction", "sum"),
        )
        traj.check_consistent()
    except PathStoreError:
        raise  # names the store and what is wrong with it
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
    check_losses(traj, str(path))
    return traj


def check_losses(traj: Any, where: str) -> None:
    """Recompute the loss at w_0 and w_S from X, Y; refuse a file where they disagree."""
    for s in (0, traj.steps):
        try:
            y = np.asarray(traj.model.f(traj.ws[s], traj.X), dtype=np.float64)
            value = float(traj.loss.total(y, traj.Y))
            if traj.regularizer is not None:
                value += float(traj.regularizer.value(traj.ws[s]))
        except Exception as exc:  # the model cannot even run on the stored data
            raise TrajectoryFileError(
                f"{where!r}: the model does not run on the stored data "
                f"({type(exc).__name__}: {exc}); pass the model it was trained with."
            ) from exc
        recorded = float(traj.losses[s])
        if not abs(value - recorded) <= _LOSS_RTOL * max(abs(recorded), abs(value)):
            raise TrajectoryFileError(
                f"{where!r}: the loss at step {s} recomputed from the stored X, Y and "
                f"weights is {value:.12g}, but the file records {recorded:.12g}; the data "
                "or the weights were edited, or the model passed to load() is not the one "
                "it was trained with. Re-run training and save again."
            )

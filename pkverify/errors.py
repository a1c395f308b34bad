"""One error family for pkverify.

Every error a user can provoke with bad input is a :class:`PkVerifyError`. Its message says
what was expected, what arrived, and how to fix it (the scikit-learn habit). Arguments are
validated before any work starts (the Hypothesis habit), so nothing is left half-done.
"""

from __future__ import annotations

__all__ = [
    "PkVerifyError",
    "InvalidArgumentError",
    "ShapeError",
    "NonFiniteError",
    "EmptyDataError",
    "UnknownNameError",
    "DomainError",
    "DivergenceError",
    "BackendMissingError",
    "TrajectoryFileError",
    "PathStoreError",
    "StoreInUseError",
    "SymbolicError",
    "OutputFileError",
    "ResourceError",
    "SingularKernelError",
    "SchedulerUnreachableError",
    "WorkerStartError",
    "ModelRequiredError",
]


class PkVerifyError(Exception):
    """Base class of every error pkverify raises on purpose."""


class InvalidArgumentError(PkVerifyError, ValueError):
    """An argument has the wrong type or value (a step size ≤ 0, a width < 1, ...)."""


class ShapeError(InvalidArgumentError):
    """An array has the wrong shape or dimensionality, or two arrays disagree in length."""


class NonFiniteError(InvalidArgumentError):
    """NaN or inf in data, weights or a model's output."""


class EmptyDataError(InvalidArgumentError):
    """No data points where at least one is needed."""


class UnknownNameError(InvalidArgumentError, KeyError):
    """An activation, loss, rule or claim name that pkverify does not know."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable
        return str(self.args[0]) if self.args else ""


class DomainError(InvalidArgumentError):
    """Labels or model outputs outside the domain a loss is defined on."""


class DivergenceError(PkVerifyError, ArithmeticError):
    """Training diverged: the loss became non-finite or grew past 1e6 × its start.

    ``step`` is the index of the first step whose loss was bad.
    """

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


class BackendMissingError(PkVerifyError, ImportError):
    """An optional backend (CuPy) was asked for but is not installed or has no device."""


class TrajectoryFileError(PkVerifyError, OSError):
    """A trajectory file is missing, unreadable or not a pkverify trajectory."""


class PathStoreError(TrajectoryFileError):
    """A path store (weights on disk, :mod:`pkverify.stores`) is missing, partial, truncated,
    corrupt (checksum), from another model or data, or could not be written to the end."""


class StoreInUseError(PathStoreError):
    """A path store is already open for writing (by this or another process): its lock is held."""


class SymbolicError(PkVerifyError):
    """A symbolic derivation was asked for something it does not support."""


class OutputFileError(PkVerifyError, OSError):
    """A file pkverify was asked to write (report, JSON, trajectory) cannot be written there."""


class ResourceError(InvalidArgumentError, MemoryError):
    """A request would need more memory than this machine has; refused before allocating."""


class SingularKernelError(InvalidArgumentError, ArithmeticError):
    """A kernel matrix to be solved (H*, a Gram) is singular or too ill-conditioned to solve
    in float64 (duplicate or nearly collinear training points)."""


class SchedulerUnreachableError(PkVerifyError, ConnectionError):
    """A Dask scheduler address did not answer within the connection timeout."""


class WorkerStartError(PkVerifyError, RuntimeError):
    """Local worker processes (``jobs=N``) could not run: most often a script that starts a
    sweep without an ``if __name__ == "__main__":`` guard."""


class ModelRequiredError(InvalidArgumentError):
    """A saved trajectory's model cannot be rebuilt from the file (a custom or foreign model):
    the code that builds it must be passed back (``Trajectory.load(path, model=...)``, or the
    CLI's ``--model MODULE:FUNCTION``)."""


def unknown_name(kind: str, got: object, known: list[str] | tuple[str, ...]) -> UnknownNameError:
    """Build the standard 'unknown X' error listing the names that are known."""
    names = ", ".join(repr(k) for k in known)
    return UnknownNameError(f"unknown {kind} {got!r}; expected one of {names}.")

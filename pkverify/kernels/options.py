"""The options every kernel entry point takes, checked once: :class:`KernelOptions`.

``tangent_kernel``, ``path_kernel`` and ``kernel_machine`` (and ``pk.train``'s engine) take
the same keyword tail — ``implementation``, ``backend``, ``dtype``, ``chunk_rows``,
``progress`` — and resolve it here, before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backend import check_float_dtype, float_dtype, resolve_namespace
from ..errors import InvalidArgumentError
from ..models.base import Model, require_model
from ..validation import as_flag, check_memory, positive_int
from .engines import Engine, Implementation, engine_for, parse_implementation

__all__ = ["KernelOptions", "RENAMED", "refuse_batch_size", "check_kernel_memory"]


class _Renamed:
    """The default of a keyword that was renamed: passing anything else is refused."""

    def __repr__(self) -> str:
        return "<renamed>"


RENAMED: Any = _Renamed()
"""Default of the kernel functions' old ``batch_size`` keyword (now ``chunk_rows``)."""


def refuse_batch_size(batch_size: Any, where: str) -> None:
    """A clear error for the pre-rename keyword: ``batch_size`` is the SGD mini-batch of
    ``pk.train``; the kernels' row chunk is ``chunk_rows``."""
    if batch_size is not RENAMED:
        raise InvalidArgumentError(
            f"{where} got batch_size={batch_size!r}; the kernels' row-chunk option is now "
            "called chunk_rows (batch_size is pk.train's SGD mini-batch). Pass "
            f"chunk_rows={batch_size!r} instead."
        )


@dataclass(frozen=True)
class KernelOptions:
    """The resolved keyword tail of a kernel call.

    implementation: "auto", "layerwise" or "reference" (see :class:`Implementation`).
    backend:    None (follow the arrays), "numpy", "cupy", or an Array-API module.
    dtype:      None (float32 when the inputs are float32, else float64; a torch model's own
                dtype), float32 or float64; any other dtype (integers, complex, float16) is
                refused.
    chunk_rows: kernel rows per chunk (None: from a 512 MB budget for temporaries).
    progress:   None (a bar on a terminal), True or False.
    """

    implementation: str | Implementation = "auto"
    backend: Any = None
    dtype: Any = None
    chunk_rows: int | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "implementation", parse_implementation(self.implementation))
        if self.dtype is not None:
            check_float_dtype(self.dtype)
        if self.chunk_rows is not None:
            object.__setattr__(self, "chunk_rows", positive_int(
                self.chunk_rows, "chunk_rows", " It is the number of kernel rows per chunk."))
        if self.progress is not None:
            object.__setattr__(self, "progress", as_flag(self.progress, "progress"))

    def engine(self, model: Model, where: str, *arrays: Any) -> tuple[Engine, Any]:
        """The namespace, dtype and engine for ``model`` on ``arrays``: ``(engine, dtype)``."""
        require_model(model, where)
        xp = resolve_namespace(self.backend, *arrays)
        dt = float_dtype(xp, *arrays, dtype=self.dtype)
        if self.dtype is None and model.foreign is not None:  # a module computes in its dtype
            dt = getattr(xp, model.foreign.dtype)
        return engine_for(model, self.implementation, xp), dt


def check_kernel_memory(n1: int, n2: int, k: int, dtype: Any, copies: int, what: str) -> None:
    """Refuse (ResourceError) a kernel result of ``copies`` arrays ``(n1, n2, k, k)`` that
    does not fit in the memory available, before anything is allocated."""
    nbytes = float(copies) * n1 * n2 * k * k * (4 if check_float_dtype(dtype) == "float32" else 8)
    check_memory(
        nbytes,
        f"{what} of {n1} × {n2} points" + (f" (k = {k} outputs)" if k > 1 else ""),
        "Pass fewer rows at a time (split X1 into chunks and compute the kernel block by "
        "block), or use float32 (dtype=np.float32) to halve it.",
    )

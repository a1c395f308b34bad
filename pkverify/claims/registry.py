"""The claim registry: one place that every consumer (properties, CLI, report) reads.

A *claim* is one statement of the theory with the check that measures it::

    @claim("linear.reduction", title=..., statement=r"K^p = T\\,\\phi(x)\\cdot\\phi(x')",
           source="domingos2020 §3 (linear models)",
           tolerance="1e-12 relative — float64 rounding of a dot product")
    def check_linear_reduction(cfg: CheckConfig) -> Outcome:
        ...
        return Outcome(passed=err <= 1e-12, metrics={"rel_err": err}, key="rel_err")

A check returns an :class:`Outcome` (``passed`` True/False, or None for a figure that is only
reported; ``key`` names the metric that is its measured figure); :meth:`Claim.run` turns it
into a :class:`Result` carrying the claim's id, tolerance and source. A check that raises
becomes status ``"error"``, which counts as a failure.

This module holds the types and the decorator and imports no claim family; the catalog
(:mod:`pkverify.claims.catalog`) imports the families and answers ``all_claims``, ``get``,
``select`` and ``run``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidArgumentError

__all__ = [
    "CheckConfig",
    "Outcome",
    "Result",
    "Claim",
    "claim",
    "Status",
]

Status = Literal["pass", "fail", "report", "error"]


@dataclass(frozen=True)
class CheckConfig:
    """How a check runs: ``seed`` feeds every Generator; ``quick`` shrinks sizes for a fast run."""

    seed: int = 0
    quick: bool = False


@dataclass(frozen=True)
class Outcome:
    """What a check measured.

    passed:  True / False against the claim's tolerance; None when the claim only reports.
    metrics: scalar figures (floats, ints, strings) shown in tables and JSON.
    data:    larger arrays or lists for plots (ε grid, errors, ...), JSON-serialisable.
    message: one sentence saying what was found.
    key:     the name of the metric that is the claim's measured figure (the report's "key
             figure"); None when no metric is.
    """

    passed: bool | None
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    key: str | None = None

    def __post_init__(self) -> None:
        if self.key is not None and self.key not in self.metrics:
            raise InvalidArgumentError(
                f"Outcome key {self.key!r} names no metric; expected one of "
                f"{', '.join(map(repr, self.metrics)) or '(no metrics)'}")


@dataclass(frozen=True)
class Result:
    """A claim's result: ``status`` is "pass", "fail", "report" (figures only) or "error"."""

    id: str
    status: Status
    metrics: dict[str, Any]
    tolerance: str
    source: str
    title: str = ""
    statement: str = ""
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    key: str | None = None

    @property
    def ok(self) -> bool:
        """True unless the claim failed or its check raised."""
        return self.status in ("pass", "report")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``pkverify verify --json``."""
        return {
            "id": self.id,
            "status": self.status,
            "metrics": self.metrics,
            "tolerance": self.tolerance,
            "source": self.source,
            "title": self.title,
            "statement": self.statement,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            "data": self.data,
            "key": self.key,
        }


@dataclass(frozen=True)
class Claim:
    """One named claim: its statement (LaTeX), source, tolerance with reason, and check."""

    id: str
    title: str
    statement: str
    source: str
    tolerance: str
    check: Callable[[CheckConfig], Outcome]

    @property
    def family(self) -> str:
        """The id's first part: ``remark1`` for ``remark1.a_depends_on_x``."""
        return self.id.split(".", 1)[0]

    @property
    def group(self) -> str:
        """The family without its number: ``remark`` for every ``remarkN`` claim."""
        return self.family.rstrip("0123456789") or self.family

    def run(self, cfg: CheckConfig | None = None) -> Result:
        """Run the check and wrap its outcome (or its exception) as a Result."""
        cfg = cfg or CheckConfig()
        start = time.perf_counter()
        try:
            out = self.check(cfg)
        except Exception as exc:  # a check that crashes is an error, never a silent pass
            return Result(
                id=self.id,
                status="error",
                metrics={},
                tolerance=self.tolerance,
                source=self.source,
                title=self.title,
                statement=self.statement,
                message=f"{type(exc).__name__}: {exc}",
                data={"traceback": traceback.format_exc()},
                seconds=time.perf_counter() - start,
            )
        if out.passed is None:
            status: Status = "report"
        else:
            status = "pass" if bool(out.passed) else "fail"
        return Result(
            id=self.id,
            status=status,
            metrics=_plain(out.metrics),
            tolerance=self.tolerance,
            source=self.source,
            title=self.title,
            statement=self.statement,
            message=out.message,
            data=_plain(out.data),
            seconds=time.perf_counter() - start,
            key=out.key,
        )


_REGISTRY: dict[str, Claim] = {}


def claim(
    id: str, *, title: str, statement: str, source: str, tolerance: str
) -> Callable[[Callable[[CheckConfig], Outcome]], Callable[[CheckConfig], Outcome]]:
    """Decorator registering ``check(cfg) -> Outcome`` as the claim ``id``."""

    def register(fn: Callable[[CheckConfig], Outcome]) -> Callable[[CheckConfig], Outcome]:
        if id in _REGISTRY:
            raise InvalidArgumentError(
                f"claim {id!r} is registered twice; expected each claim id once. Give the "
                "second claim another id (or remove the first from the registry)."
            )
        _REGISTRY[id] = Claim(id, title, statement, source, tolerance, fn)
        return fn

    return register


def _plain(obj: Any) -> Any:
    """Make metrics/data JSON-friendly: numpy scalars and arrays become Python values."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())  # np.float64("nan") → "nan", as a Python NaN
    if callable(getattr(obj, "to_dict", None)):  # a figure spec (claims.figures)
        return _plain(obj.to_dict())
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return str(obj)  # JSON has no NaN/inf; keep them visible as strings
    return obj

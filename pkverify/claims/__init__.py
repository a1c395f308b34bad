"""The claim registry: every statement of the theory with the check that measures it.

import pkverify as pk
for result in pk.claims.run(["theorem1"], quick=True):
    print(result.id, result.status, result.metrics)

The types and the ``@claim`` decorator come from :mod:`.registry`; ``all_claims``, ``families``,
``get``, ``select``, ``run`` and ``iter_run`` from :mod:`.catalog`, which imports every claim
family (NumPy work, SymPy, SciPy) and so loads on first use.
"""

from __future__ import annotations

from typing import Any

from .registry import CheckConfig, Claim, Outcome, Result, Status, claim

_CATALOG = ("all_claims", "families", "get", "iter_run", "run", "select")

__all__ = ["CheckConfig", "Claim", "Outcome", "Result", "Status", "claim", *_CATALOG]


def __getattr__(name: str) -> Any:
    if name in _CATALOG:
        from . import catalog

        return getattr(catalog, name)
    raise AttributeError(f"module 'pkverify.claims' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CATALOG))

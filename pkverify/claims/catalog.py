"""The catalog of claims: importing it registers every claim family, in the order that
``pkverify verify`` and the report show them, and answers the questions about them.

``all_claims``, ``families``, ``get``, ``select``, ``run`` and ``iter_run`` live here, above the
families; :mod:`pkverify.claims.registry` (types and the ``@claim`` decorator) sits below them
and imports nothing upward.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import UnknownNameError

from .registry import _REGISTRY, CheckConfig, Claim, Result

# The families register their claims on import; this order is the report order.
# ruff: noqa: E402, F401, I001
from . import theorem1
from . import linear
from . import kernel
from . import remarks
from . import vector_output
from . import symbolic
from . import ntk
from . import torch
from . import optim

__all__ = ["all_claims", "families", "get", "select", "run", "iter_run"]


def all_claims() -> list[Claim]:
    """Every registered claim, in registration order."""
    return list(_REGISTRY.values())


def families() -> list[str]:
    """Every name ``--claims`` accepts besides the ids: families and their groups, in order."""
    names: list[str] = []
    for c in all_claims():
        for name in (c.group, c.family):
            if name not in names:
                names.append(name)
    return names


def _unknown(name: object, everything: list[Claim]) -> UnknownNameError:
    return UnknownNameError(
        f"unknown claim or family {name!r}; expected a family ({', '.join(families())}) or a "
        f"claim id ({', '.join(c.id for c in everything)}). `pkverify verify --list` shows them."
    )


def get(id: str) -> Claim:
    """The claim called ``id``; UnknownNameError listing the known ids otherwise."""
    if id not in _REGISTRY:
        raise _unknown(id, all_claims())
    return _REGISTRY[id]


def run(ids: Iterable[str] | None = None, *, seed: int = 0, quick: bool = False) -> list[Result]:
    """Run the named claims (all when ``ids`` is None) and return their Results.

    An id may name a whole family ("theorem1") or one claim ("theorem1.exact").
    """
    return list(iter_run(ids, seed=seed, quick=quick))


def iter_run(
    ids: Iterable[str] | None = None, *, seed: int = 0, quick: bool = False
) -> Iterator[Result]:
    """Like :func:`run`, but yield each Result as soon as its claim finishes (ids are all
    validated first, before any claim runs)."""
    from ..validation import as_flag, as_seed

    cfg = CheckConfig(seed=as_seed(seed), quick=as_flag(quick, "quick"))
    claims = select(ids)
    return (c.run(cfg) for c in claims)


def select(ids: Iterable[str] | None) -> list[Claim]:
    """Resolve ids and family names to claims, validating them all before anything runs.

    A name selects the claim with that id, every claim of that family (``remark1``), or every
    claim of that group (``remark``: all the remarks).
    """
    everything = all_claims()
    if ids is None:
        return everything
    if isinstance(ids, str):
        ids = [ids]
    chosen: list[Claim] = []
    for name in ids:
        matched = [c for c in everything if name in (c.id, c.family, c.group)]
        if not matched:
            raise _unknown(name, everything)
        chosen.extend(c for c in matched if c not in chosen)
    return chosen

"""``results.json``: the source of truth of a report, and its JSON Schema.

The payload::

    {"format": "pkverify-report", "version": 1,
     "environment": {...},                   # report.environment.environment()
     "summary": {"total", "passed", "failed", "reported", "errors", "ok"},
     "claims": [Result.to_dict() + {"family", "command"}, ...],   # may be empty (--proof)
     "proof": walkthrough() or null}

Figures travel inside each claim's ``data["figures"]`` and each proof step's ``figures``
(the JSON form of the specs of :mod:`pkverify.claims.figures`, whose ``KINDS`` the schema
lists). Each claim's ``key`` names the metric that is its measured figure.

JSON has no NaN or infinity: :func:`dumps` writes a non-finite number — a Python float or a
NumPy scalar of any float type — as the string ``"nan"``, ``"inf"`` or ``"-inf"``, as the
claims' results already hold them (``claims.registry``); the schema accepts those strings
wherever a measured number may stand.

Two runs with the same seed give the same payload apart from the keys in
:data:`~pkverify.report.environment.TIMING_KEYS`; :func:`without_timings` removes them for
comparison.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..claims.figures import KINDS
from ..claims.registry import Result
from .environment import TIMING_KEYS

__all__ = ["FORMAT", "VERSION", "SCHEMA", "NON_FINITE", "build_payload", "dumps", "json_ready",
           "without_timings", "reproduce_command"]

FORMAT = "pkverify-report"
VERSION = 2
"""Version 2: every claim names its key figure (``key``, required), and NaN / ±∞ are written
as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON has no such numbers). Version 1
had neither."""

_NUMBER_OR_TEXT = {"type": ["number", "string", "boolean", "null", "integer"]}
NON_FINITE = ("nan", "inf", "-inf")
"""How :func:`dumps` writes NaN, +∞ and −∞ (strict JSON has no such numbers)."""
_REAL = {"anyOf": [{"type": "number"}, {"enum": list(NON_FINITE)}]}
_REAL_OR_NULL = {"anyOf": [{"type": ["number", "null"]}, {"enum": list(NON_FINITE)}]}

_FIGURE = {
    "type": "object",
    "required": ["kind", "title"],
    "properties": {
        "kind": {"enum": list(KINDS)},
        "title": {"type": "string"},
        "x": {"type": "array", "items": _NUMBER_OR_TEXT},
        "series": {"type": "object", "additionalProperties": {"type": "array"}},
        "slopes": {"type": "object", "additionalProperties": _REAL},
        "panels": {"type": "object", "additionalProperties": {"type": "array"}},
        "labels": {"type": "array", "items": {"type": "string"}},
        "values": {"type": "array"},
        "xlabel": {"type": "string"},
        "ylabel": {"type": "string"},
        "reference_slope": _REAL_OR_NULL,
        "baseline": _REAL_OR_NULL,
        "total": _REAL_OR_NULL,
        "logy": {"type": "boolean"},
    },
}

_CHECK = {
    "type": "object",
    "required": ["what", "value", "tolerance", "reason", "ok"],
    "properties": {
        "what": {"type": "string"},
        "value": _REAL,
        "tolerance": {"type": ["number", "null"]},
        "reason": {"type": "string"},
        "ok": {"type": ["boolean", "null"]},
    },
    "additionalProperties": False,
}

_STEP = {
    "type": "object",
    "required": ["key", "sentence", "latex", "symbolic", "numeric", "figures"],
    "properties": {
        "key": {"type": "string"},
        "sentence": {"type": "string"},
        "latex": {"type": "string"},
        "symbolic": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["ok", "method", "detail", "how"],
                    "properties": {
                        "ok": {"type": "boolean"},
                        "method": {"type": "string"},
                        "detail": {"type": "string"},
                        "how": {"type": "string"},
                    },
                },
            ]
        },
        "numeric": {"type": "array", "items": _CHECK},
        "figures": {"type": "array", "items": _FIGURE},
    },
    "additionalProperties": False,
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "pkverify report results",
    "type": "object",
    "required": ["format", "version", "environment", "summary", "claims", "proof"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "environment": {
            "type": "object",
            "required": ["seed", "mode", "dtype", "command", "python", "platform", "versions",
                         "git", "generated_at"],
            "properties": {
                "seed": {"type": "integer"},
                "mode": {"enum": ["quick", "full"]},
                "dtype": {"const": "float64"},
                "command": {"type": "string"},
                "python": {"type": "string"},
                "platform": {"type": "string"},
                "versions": {"type": "object",
                             "additionalProperties": {"type": ["string", "null"]}},
                "git": {
                    "oneOf": [
                        {"type": "null"},
                        {"type": "object", "required": ["commit", "dirty"],
                         "properties": {"commit": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                                        "dirty": {"type": "boolean"}}},
                    ]
                },
                "generated_at": {"type": "string"},
            },
        },
        "summary": {
            "type": "object",
            "required": ["total", "passed", "failed", "reported", "errors", "ok"],
            "properties": {
                "total": {"type": "integer", "minimum": 0},
                "passed": {"type": "integer", "minimum": 0},
                "failed": {"type": "integer", "minimum": 0},
                "reported": {"type": "integer", "minimum": 0},
                "errors": {"type": "integer", "minimum": 0},
                "ok": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "family", "status", "title", "statement", "source",
                             "tolerance", "message", "metrics", "data", "seconds", "command",
                             "key"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "family": {"type": "string", "minLength": 1},
                    "status": {"enum": ["pass", "fail", "report", "error"]},
                    "title": {"type": "string"},
                    "statement": {"type": "string"},
                    "source": {"type": "string"},
                    "tolerance": {"type": "string"},
                    "message": {"type": "string"},
                    "metrics": {"type": "object", "additionalProperties": _NUMBER_OR_TEXT},
                    "data": {
                        "type": "object",
                        "properties": {"figures": {"type": "array", "items": _FIGURE}},
                    },
                    "seconds": {"type": "number", "minimum": 0},
                    "command": {"type": "string", "pattern": "^pkverify verify "},
                    "key": {"type": ["string", "null"]},
                },
                "additionalProperties": False,
            },
        },
        "proof": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["model", "query", "symbolic_model", "ok", "proofs"],
                    "properties": {
                        "model": {"type": "string"},
                        "query": {"type": "array", "items": _REAL},
                        "symbolic_model": {"type": "string"},
                        "ok": {"type": "boolean"},
                        "proofs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "title", "steps"],
                                "properties": {
                                    "name": {"enum": ["theorem1", "lemma1"]},
                                    "title": {"type": "string"},
                                    "steps": {"type": "array", "items": _STEP, "minItems": 1},
                                },
                            },
                        },
                    },
                },
            ]
        },
    },
}
"""JSON Schema (draft 2020-12) of ``results.json``; ``tests/report`` validates against it."""


def reproduce_command(claim_id: str, seed: int, quick: bool) -> str:
    """The command that re-runs one claim as the report ran it."""
    parts = ["pkverify", "verify", "--claims", claim_id, "--seed", str(seed)]
    if quick:
        parts.append("--quick")
    return " ".join(shlex.quote(p) for p in parts)


def build_payload(
    results: Sequence[Result],
    environment: dict[str, Any],
    proof: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``results.json`` payload (see the module docstring)."""
    seed, quick = environment["seed"], environment["mode"] == "quick"
    claims = []
    for r in results:
        entry = r.to_dict()
        entry["family"] = r.id.split(".", 1)[0]
        entry["command"] = reproduce_command(r.id, seed, quick)
        claims.append(entry)
    count = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "report", "error")}
    ok = count["fail"] == 0 and count["error"] == 0 and (proof is None or bool(proof["ok"]))
    return {
        "format": FORMAT,
        "version": VERSION,
        "environment": environment,
        "summary": {
            "total": len(results),
            "passed": count["pass"],
            "failed": count["fail"],
            "reported": count["report"],
            "errors": count["error"],
            "ok": ok,
        },
        "claims": claims,
        "proof": proof,
    }


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python values and every non-finite float as its
    string (:data:`NON_FINITE`), at any depth of dicts, lists and tuples."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()  # a NumPy scalar (np.float32, np.int64, np.bool_, ...)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def dumps(payload: Any) -> str:
    """The file's text: indented, keys in insertion order, UTF-8 kept readable; NaN and
    ±∞ written as strings (see the module docstring), never as invalid JSON."""
    return json.dumps(json_ready(payload), indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def without_timings(payload: Any) -> Any:
    """A copy with every timing key (:data:`TIMING_KEYS`) removed, at any depth."""
    if isinstance(payload, dict):
        return {k: without_timings(v) for k, v in payload.items() if k not in TIMING_KEYS}
    if isinstance(payload, list):
        return [without_timings(v) for v in payload]
    return payload

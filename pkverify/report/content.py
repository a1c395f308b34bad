"""What the Markdown and HTML renderers share: status labels, number formatting, the key
figure of a claim, and the file name of each figure (so both point at the same SVGs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["STATUS_LABEL", "fmt", "key_figure", "figure_slots", "figure_path"]

STATUS_LABEL = {"pass": "pass", "fail": "FAIL", "report": "reported", "error": "ERROR"}


def fmt(value: Any) -> str:
    """A metric for a table: floats to 3 significant digits, everything else as text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def key_figure(claim: dict[str, Any]) -> str:
    """The claim's headline: the metric its result names as ``key`` (its measured figure),
    as ``name = value``; empty when the result names none."""
    name = claim.get("key")
    if name is None or name not in claim.get("metrics", {}):
        return ""
    return f"{name} = {fmt(claim['metrics'][name])}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "figure"


def figure_path(owner: str, k: int) -> str:
    """``figures/<owner>-<k>.svg``, relative to the report folder."""
    return f"figures/{_slug(owner)}-{k}.svg"


def figure_slots(payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every figure of a payload as ``(relative path, spec)``, in report order: claims first
    (by ``data["figures"]``, whatever the claim), then the proof steps."""
    for claim in payload.get("claims", []):
        for k, spec in enumerate(claim.get("data", {}).get("figures", []) or []):
            yield figure_path(claim["id"], k), spec
    proof = payload.get("proof")
    if proof:
        for p in proof["proofs"]:
            for step in p["steps"]:
                for k, spec in enumerate(step["figures"]):
                    yield figure_path(f"proof-{p['name']}-{step['key']}", k), spec

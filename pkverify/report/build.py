"""``pkverify report``: run the claims (and the proof walkthrough), write the report folder.

    out/index.html      self-contained page (MathML, inline SVG, no network)
    out/report.md       the same for a code host (LaTeX math, figures/*.svg)
    out/figures/*.svg   one file per figure spec
    out/results.json    the source of truth
    out/results.schema.json   its JSON Schema (pkverify.report.json.SCHEMA), for readers

Order of work: every argument is checked first (claim ids, the output folder — see
:class:`~pkverify.report.output.Staging`), then the claims run with progress shown, then
everything is rendered into a staging folder and moved into place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..claims.catalog import select
from ..claims.registry import CheckConfig, Result
from ..progress import progress
from .content import figure_slots
from .environment import environment
from .json import SCHEMA, build_payload, dumps
from .output import Staging

__all__ = ["build_report", "ENTRIES"]

ENTRIES = ["figures", "results.schema.json", "results.json", "report.md", "index.html"]
"""What a report folder holds; index.html is moved into place last."""


def build_report(
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    quick: bool = False,
    claims: Sequence[str] | None = None,
    proof: bool = True,
    only_proof: bool = False,
    argv: Sequence[str] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> dict[str, Any]:
    """Write the report for ``claims`` (all when None) to ``out``; return the payload.

    only_proof: the proof walkthrough alone (no claims). proof: include the walkthrough.
    on_result: called with each claim's Result as it finishes (the CLI prints a line).
    """
    chosen = [] if only_proof else select(claims)  # unknown ids fail here, before any work
    with Staging(out) as staging:  # a file or unwritable folder fails here, before any work
        cfg = CheckConfig(seed=seed, quick=quick)
        results: list[Result] = []
        for c in progress(chosen, total=len(chosen), desc="claims", unit="claim"):
            results.append(c.run(cfg))
            if on_result is not None:
                on_result(results[-1])
        walk = None
        if proof or only_proof:
            from .proof import walkthrough

            walk = walkthrough(seed)
        payload = build_payload(results, environment(seed, quick, argv), walk)
        _render(payload, staging.path)
        staging.commit(ENTRIES)
    return payload


def _render(payload: dict[str, Any], folder: Path) -> None:
    from .html import render_html
    from .markdown import render_report
    from .plots import render_svg

    slots = list(figure_slots(payload))
    svgs: dict[str, str] = {}
    (folder / "figures").mkdir()
    for rel, spec in progress(slots, total=len(slots), desc="figures", unit="fig"):
        svgs[rel] = render_svg(spec)
        _write(folder / rel, svgs[rel])
    _write(folder / "results.schema.json", dumps(SCHEMA))
    _write(folder / "results.json", dumps(payload))
    _write(folder / "report.md", render_report(payload))
    _write(folder / "index.html", render_html(payload, svgs))


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:  # open() applies the user's umask
        fh.write(text)

"""Reports rendered from claim Results (the same Results the CLI prints).

``pkverify report`` (:mod:`.build`) runs the claims and the proof walkthrough (:mod:`.proof`)
and writes ``results.json`` (:mod:`.json`, the source of truth, with its JSON Schema),
``report.md`` (:mod:`.markdown`) with ``figures/*.svg`` (:mod:`.plots`), and a self-contained
``index.html`` (:mod:`.html`, MathML from :mod:`.mathml`), atomically (:mod:`.output`), with
the environment it ran in (:mod:`.environment`). ``pkverify explain`` is :mod:`.explain`;
both sub-commands are defined in :mod:`.cli`.
"""

from .markdown import render_markdown

__all__ = ["render_markdown"]

"""The committed report (reports/) is current: regenerate it with

    pkverify report --quick --out reports

whenever a claim is added, removed or changes status.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pkverify.claims.catalog import all_claims, run
from pkverify.report.content import figure_slots
from pkverify.report.json import SCHEMA
from pkverify.report.mathml import text_of, unconverted
from pkverify.report.notation import TOKEN

REPORTS = Path(__file__).resolve().parents[2] / "reports"
REGENERATE = "regenerate it: pkverify report --quick --out reports"


@pytest.fixture(scope="module")
def committed():
    path = REPORTS / "results.json"
    assert path.is_file(), f"reports/results.json is missing; {REGENERATE}"
    return json.loads(path.read_text(encoding="utf-8"))


def test_committed_results_are_valid_quick_defaults(committed):
    jsonschema.validate(committed, SCHEMA)
    written = json.loads((REPORTS / "results.schema.json").read_text(encoding="utf-8"))
    assert written == SCHEMA, f"reports/results.schema.json is stale; {REGENERATE}"
    env = committed["environment"]
    assert env["seed"] == 0 and env["mode"] == "quick", REGENERATE
    assert committed["proof"] is not None and committed["proof"]["ok"] is True


def test_committed_report_lists_every_registered_claim(committed):
    assert [c["id"] for c in committed["claims"]] == [c.id for c in all_claims()], REGENERATE


OPTIONAL = {"torch": "torch"}
"""Claim families that need an optional package (family → package): where it is missing
they report that they did not run, so their committed status is not compared."""


def test_committed_statuses_match_a_fresh_quick_run(committed):
    import importlib.util

    skip = {fam for fam, pkg in OPTIONAL.items() if importlib.util.find_spec(pkg) is None}
    fresh = {r.id: r.status for r in run(quick=True, seed=0)}
    saved = {c["id"]: c["status"] for c in committed["claims"]}
    for table in (fresh, saved):
        for cid in [cid for cid in table if cid.split(".", 1)[0] in skip]:
            del table[cid]
    assert saved == fresh, REGENERATE


def test_committed_pages_and_figures_are_there(committed):
    html = (REPORTS / "index.html").read_text(encoding="utf-8")
    md = (REPORTS / "report.md").read_text(encoding="utf-8")
    for c in committed["claims"]:
        assert f'id="claim-{c["id"]}"' in html and f"## {c['id']}" in md, REGENERATE
    slots = [rel for rel, _ in figure_slots(committed)]
    assert slots, "the committed report has no figures"
    for rel in slots:
        assert (REPORTS / rel).is_file(), f"{rel} missing; {REGENERATE}"
        assert f"]({rel})" in md
    assert {p.name for p in (REPORTS / "figures").iterdir()} == {r.split("/")[1] for r in slots}


def test_committed_page_shows_no_latex_and_each_claims_measured_figure(committed):
    html = (REPORTS / "index.html").read_text(encoding="utf-8")
    assert unconverted(html) == [], REGENERATE
    assert TOKEN.findall(text_of(html)) == [], REGENERATE  # notation drawn as MathML
    for c in committed["claims"]:
        assert c["key"] in c["metrics"], c["id"]
    keys = {c["id"]: c["key"] for c in committed["claims"]}
    # the key figure is what was measured, never a parameter of the run
    assert keys["ntk.lemma2"] == "relu_slope" and keys["ntk.lemma3"] == "relu_drift_slope"

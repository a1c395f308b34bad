"""`pkverify report` on the command line: per-claim lines, --proof alone, exit status."""

from __future__ import annotations

import json

from pkverify.claims import registry
from pkverify.cli import main


def test_proof_alone(tmp_path, capsys):
    out = tmp_path / "proof"
    assert main(["report", "--proof", "--quiet", "--out", str(out)]) == 0
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["claims"] == [] and payload["proof"]["ok"] is True
    assert payload["environment"]["command"] == (
        f"pkverify report --out {out} --full --seed 0 --proof")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="proof"' in html and 'id="summary-table"' not in html
    assert "proof verified" in capsys.readouterr().out


def test_a_failing_claim_is_reported_and_exits_1(tmp_path, capsys):
    @registry.claim("test.report_fails", title="t", statement=r"0 = 1", source="test",
                    tolerance="none: fails on purpose")
    def _fails(cfg):
        return registry.Outcome(passed=False, metrics={"x": 1.0}, message="fails on purpose")

    try:
        out = tmp_path / "r"
        assert main(["report", "--quick", "--claims", "test.report_fails", "--out",
                     str(out)]) == 1
        printed = capsys.readouterr().out
        assert "test.report_fails" in printed and "FAIL" in printed
        payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
        assert payload["claims"][0]["status"] == "fail" and payload["summary"]["ok"] is False
        assert 'class="banner fail"' in (out / "index.html").read_text(encoding="utf-8")
    finally:
        del registry._REGISTRY["test.report_fails"]

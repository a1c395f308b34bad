"""`pkverify report` on the command line: per-claim lines, --proof alone, exit status, and
what it refuses to overwrite; SIGTERM cleans up as Ctrl-C does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pkverify.claims import registry
from pkverify.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any claim starts running."""
    calls = []
    monkeypatch.setattr(registry.Claim, "run", lambda self, cfg=None: calls.append(self.id))
    return calls


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_proof_alone(tmp_path, capsys):
    out = tmp_path / "proof"
    assert main(["report", "--proof", "--quiet", "--out", str(out)]) == 0
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["claims"] == [] and payload["proof"]["ok"] is True
    assert payload["environment"]["command"] == (
        f"pkverify report --out {out} --full --seed 0 --proof")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="proof"' in html and 'id="summary-table"' not in html
    # the page's banner says what was run, not "0 passed … of 0 claims"
    assert "of 0 claims" not in html and "proof walkthrough alone (no claims run)" in html
    printed = capsys.readouterr().out
    assert "proof verified" in printed and "the proof walkthrough alone" in printed
    assert "0 passed" not in printed and "of 0 claims" not in printed
    # a second run into the same folder replaces pkverify's own report
    assert main(["report", "--proof", "-q", "--out", str(out)]) == 0


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


def test_empty_out_never_replaces_the_current_folders_files(tmp_path, capsys, monkeypatch,
                                                            no_work):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "index.html").write_text("my page")
    (tmp_path / "report.md").write_text("my notes")
    before = _files(tmp_path)
    for out in ("", "  "):
        assert main(["report", "--quick", "--claims", "linear.reduction", "--out", out]) == 2
        assert "empty" in capsys.readouterr().err
    assert _files(tmp_path) == before and no_work == []


def test_a_folder_holding_other_files_is_refused(tmp_path, capsys, no_work):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("my page")
    (out / "results.json").write_text('{"mine": true}')
    before = _files(out)
    assert main(["report", "--quick", "--claims", "linear.reduction", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pkverify did not write" in err and "index.html" in err and "--out" in err
    assert _files(out) == before and no_work == []
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "results.json"]


def test_an_empty_existing_folder_is_fine(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["report", "--proof", "-q", "--out", str(out)]) == 0
    assert (out / "index.html").exists()


def test_negative_seed_is_refused_before_any_work(tmp_path, capsys, no_work):
    assert main(["report", "--seed", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "non-negative integer" in capsys.readouterr().err
    assert no_work == [] and not (tmp_path / "r").exists()


_SLOW_REPORT = """
import sys, time
from pkverify.claims import registry
from pkverify.cli import main

@registry.claim("zz_slow.sleeps", title="t", statement="s", source="test", tolerance="none")
def _sleeps(cfg):
    print("started", flush=True)
    time.sleep(60)
    return registry.Outcome(True)

sys.exit(main(["report", "--quiet", "--claims", "zz_slow", "--out", sys.argv[1]]))
"""


def test_sigterm_during_report_leaves_no_staging_folder(tmp_path):
    out = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_REPORT, str(out)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        assert [p.name for p in tmp_path.glob(".pkverify-staging-*")]  # the run is staging
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and "terminated" in err
    assert list(tmp_path.glob(".pkverify-*")) == [] and not out.exists()

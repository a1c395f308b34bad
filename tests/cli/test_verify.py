"""The command line: exit codes, the table, the JSON file."""

from __future__ import annotations

import json

import pytest

from pkverify.cli import main


def test_verify_selected_claims_prints_table_and_exits_0(capsys):
    assert main(["verify", "--quick", "--claims", "linear.reduction", "remark2"]) == 0
    out = capsys.readouterr().out
    assert "linear.reduction" in out and "remark2.loss_weighted" in out
    assert "2 passed, 0 failed" in out


def test_verify_json_has_the_documented_fields(tmp_path):
    path = tmp_path / "sub" / "out.json"
    assert main(["verify", "--quick", "--claims", "kernel.psd", "--json", str(path)]) == 0
    payload = json.loads(path.read_text())
    assert set(payload) == {"claims", "environment"}
    (entry,) = payload["claims"]
    assert {"id", "status", "metrics", "tolerance", "source"} <= set(entry)
    assert entry["id"] == "kernel.psd" and entry["status"] == "pass"
    assert payload["environment"]["seed"] == 0
    assert payload["environment"]["versions"]["numpy"]


def test_unknown_claim_is_a_bad_argument(capsys):
    assert main(["verify", "--claims", "no.such.claim"]) == 2
    err = capsys.readouterr().err
    assert "unknown claim or family 'no.such.claim'" in err and "theorem1.exact" in err


@pytest.mark.parametrize("argv", [["verify", "--bogus"], ["verify", "--seed", "x"], []])
def test_bad_arguments_exit_2(argv):
    assert main(argv) == 2


def test_list_names_every_claim(capsys):
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    for cid in ("theorem1.exact", "theorem1.rate", "theorem1.flow", "vector_output"):
        assert cid in out


def test_a_failing_claim_exits_1(capsys):
    from pkverify.claims import registry

    @registry.claim(
        "test.always_fails", title="t", statement="0=1", source="test", tolerance="none"
    )
    def _fails(cfg):
        return registry.Outcome(passed=False, metrics={"x": 1.0}, message="fails on purpose")

    try:
        assert main(["verify", "--claims", "test.always_fails"]) == 1
        out = capsys.readouterr().out
        assert "FAIL" in out and "fails on purpose" in out and "x = 1.0" in out
    finally:
        del registry._REGISTRY["test.always_fails"]


def test_markdown_report_lists_each_claim_with_its_tolerance(tmp_path):
    path = tmp_path / "report.md"
    assert main(["verify", "--quick", "--claims", "remark4", "--markdown", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# pkverify correctness report")
    assert "`remark4.regularizer`" in text and "Remark 4" in text
    assert "*Tolerance:* 1e-10 relative" in text


def test_markdown_escapes_pipes_in_table_cells():
    from pkverify.claims.registry import Result
    from pkverify.report import render_markdown

    r = Result(
        id="x",
        status="pass",
        metrics={"m": "a|b"},
        tolerance="t",
        source="s",
        message="max |z| 1.7",
    )
    text = render_markdown([r], {"seed": 0, "versions": {}})
    assert "| `x` | ✅ pass | max \\|z\\| 1.7 | s |" in text
    assert "| m | a\\|b |" in text


def test_verify_full_is_the_default_and_excludes_quick(capsys):
    from pkverify.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["verify", "--full"]).quick is False
    assert parser.parse_args(["verify"]).quick is False
    assert main(["verify", "--quick", "--full"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


# ----- issue 17: checked before the run, never silent in a log, options shared by every verb ----


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any claim starts running."""
    from pkverify.claims import registry

    calls = []
    monkeypatch.setattr(registry.Claim, "run", lambda self, cfg=None: calls.append(self.id))
    return calls


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_an_unwritable_output_is_refused_before_any_claim(option, capsys, no_work):
    # /proc refuses new files even for root (whose permission bits pass os.access)
    assert main(["verify", "--claims", "linear", option, "/proc/pkverify-x.json"]) == 2
    err = capsys.readouterr().err
    assert option in err and "cannot be written" in err and no_work == []


def test_a_long_claim_is_announced_in_a_log(capsys, monkeypatch):
    import time

    from pkverify.claims import registry
    from pkverify.cli import verify

    monkeypatch.setattr(verify, "LONG_CLAIM_SECONDS", 0.05)

    @registry.claim("zz_long.sleeps", title="t", statement="s", source="test", tolerance="none")
    def _sleeps(cfg):
        time.sleep(0.5)  # ten times the threshold: the notice fires well before the end
        return registry.Outcome(True, message="done")

    @registry.claim("zz_long.quick", title="t", statement="s", source="test", tolerance="none")
    def _quick(cfg):
        return registry.Outcome(True, message="done")

    try:
        assert main(["verify", "--claims", "zz_long"]) == 0  # stderr is not a terminal here
        err = capsys.readouterr().err
        assert "zz_long.sleeps: still running" in err and "zz_long.quick" not in err
        assert main(["verify", "--claims", "zz_long", "-q"]) == 0
        assert capsys.readouterr().err == ""  # -q: no notices either
    finally:
        registry._REGISTRY.pop("zz_long.sleeps")
        registry._REGISTRY.pop("zz_long.quick")


@pytest.mark.parametrize("verb", [["verify"], ["report"], ["explain"], ["sweep", "ntk.lemma2"],
                                  ["derive", "--ntk", "relu"]])
def test_every_verb_takes_quiet(verb):
    from pkverify.cli import build_parser

    parser = build_parser()
    assert parser.parse_args([*verb, "-q"]).quiet is True
    assert parser.parse_args([*verb, "--quiet"]).quiet is True


@pytest.mark.parametrize("verb", [["verify"], ["report"], ["explain"], ["sweep", "ntk.lemma2"]])
def test_every_seed_is_checked_the_same_way(verb, capsys):
    assert main([*verb, "--seed", "-1"]) == 2
    assert "non-negative integer" in capsys.readouterr().err

"""Bad input for `pkverify report`: a clear error before any work, nothing half-written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pkverify.claims import registry
from pkverify.cli import main


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any claim starts running."""
    calls = []
    monkeypatch.setattr(registry.Claim, "run", lambda self, cfg=None: calls.append(self.id))
    return calls


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".pkverify"))


def test_out_path_that_is_a_file(tmp_path, capsys, no_work):
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    assert main(["report", "--quick", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "is an existing file" in err and "--out" in err
    assert target.read_text() == "keep me" and no_work == [] and _leftovers(tmp_path) == []


def test_out_path_under_a_file(tmp_path, capsys, no_work):
    (tmp_path / "f").write_text("x")
    assert main(["report", "--quick", "--out", str(tmp_path / "f" / "sub")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and no_work == []


def test_unwritable_out_folder(tmp_path, capsys, no_work):
    if os.geteuid() == 0:  # root writes anywhere on a normal file system; /proc refuses
        target = Path("/proc/pkverify-report-test/out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "out"
    try:
        assert main(["report", "--quick", "--out", str(target)]) == 2
        err = capsys.readouterr().err
        assert "cannot write in" in err and "--out" in err
        assert not target.exists() and no_work == []
    finally:
        if os.geteuid() != 0:
            (tmp_path / "locked").chmod(0o755)


def test_unknown_claim_or_family(tmp_path, capsys, no_work):
    out = tmp_path / "out"
    assert main(["report", "--quick", "--claims", "remark1", "no_such_family", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown claim 'no_such_family'" in err and "theorem1.exact" in err
    assert not out.exists() and no_work == [] and _leftovers(tmp_path) == []


@pytest.mark.parametrize("argv", [["--quick", "--full"], ["--proof", "--claims", "remark1"],
                                  ["--seed", "x"]])
def test_conflicting_or_malformed_options_exit_2(argv, tmp_path):
    assert main(["report", *argv, "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_a_run_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    from pkverify.report import proof

    def broken(seed):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the proof

    monkeypatch.setattr(proof, "walkthrough", broken)
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        main(["report", "--quick", "--claims", "linear.reduction", "--out", str(out)])
    assert not out.exists() and _leftovers(tmp_path) == []


def test_a_failed_run_keeps_the_previous_report(small_report, tmp_path, monkeypatch):
    import shutil

    from pkverify.report import build

    out = tmp_path / "existing"
    shutil.copytree(small_report[0], out)
    (out / "notes.txt").write_text("mine")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(payload, folder):
        (folder / "figures").mkdir()
        (folder / "figures" / "half.svg").write_text("<svg")
        raise RuntimeError("disk full")

    monkeypatch.setattr(build, "_render", broken)
    with pytest.raises(RuntimeError):
        build.build_report(out, quick=True, claims=["linear.reduction"], proof=False)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and _leftovers(out) == []


def test_a_new_run_replaces_the_report_but_not_other_files(small_report, tmp_path):
    import shutil

    from pkverify.report.build import build_report

    out = tmp_path / "existing"
    shutil.copytree(small_report[0], out)
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "stale.svg").write_text("<svg/>")
    build_report(out, quick=True, claims=["linear.reduction"], proof=False)
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "figures" / "stale.svg").exists()  # figures/ is replaced as a whole
    assert "remark5.sgd" not in (out / "results.json").read_text()
    assert _leftovers(out) == []

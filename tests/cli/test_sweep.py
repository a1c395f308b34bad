"""`pkverify sweep` (and the --jobs/--scheduler options verify shares): the table and slopes,
--list, --out checked before the run and written with the umask's permissions."""

from __future__ import annotations

import os
import stat
import time

import pytest

from pkverify import sweeps
from pkverify.claims.ntk_measures import measure_lemma2
from pkverify.cli import build_parser, main
from pkverify.cli import sweep as sweep_cli
from pkverify.errors import UnknownNameError


@pytest.fixture
def tiny(monkeypatch):
    """A named sweep of 2 points (fast); ``tiny.runs`` counts the sweeps that ran."""
    configs = sweeps.grid(activation=["relu"], width=[16, 64], data_seed=[0], n=[5], d=[3])

    class Tiny:
        runs = 0

    real_run = sweeps.run

    def counting_run(*args, **kwargs):
        Tiny.runs += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(sweeps, "run", counting_run)
    monkeypatch.setattr(sweep_cli, "_named", lambda: {
        "tiny": lambda cfg: (measure_lemma2, configs, [0], ("activation", "width", "err"))})
    return Tiny


def test_cli_sweep_prints_slopes_and_writes_the_table(tmp_path, capsys):
    out = tmp_path / "lemma2.csv"
    assert main(["sweep", "ntk.lemma2", "--quick", "--out", str(out), "--max-rows", "3"]) == 0
    text = capsys.readouterr().out
    assert "activation=relu" in text and "log-log slope of err against width" in text
    lines = out.read_text().splitlines()
    assert lines[0].startswith("activation,width,") and len(lines) == 1 + 4 * 9 * 4


def test_cli_sweep_list_and_unknown_name(capsys):
    assert main(["sweep", "--list"]) == 0
    assert "ntk.kernel_regression" in capsys.readouterr().out
    assert main(["sweep", "nope"]) == 2
    assert "unknown sweep 'nope'" in capsys.readouterr().err


def test_cli_unreachable_scheduler_is_a_clear_error(monkeypatch, capsys):
    from pkverify.sweeps import dask_executor

    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT", 1.0)
    start = time.perf_counter()
    assert main(["verify", "--quick", "--claims", "ntk.lemma2",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "did not answer within 1 s" in capsys.readouterr().err
    assert time.perf_counter() - start < 15  # 1 s timeout + imports, never a hang
    assert main(["sweep", "ntk.lemma2", "--jobs", "2", "--scheduler", "tcp://x:1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert sweeps.current() == {"jobs": None, "scheduler": None}


def test_cli_verify_with_jobs_passes(capsys):
    assert main(["verify", "--quick", "--claims", "ntk.lemma2", "--jobs", "2"]) == 0
    assert "ntk.lemma2" in capsys.readouterr().out
    assert sweeps.current() == {"jobs": None, "scheduler": None}


def test_unknown_sweep_error_type():
    from pkverify.cli import sweep

    class Args:
        name, list, quick, seed, out, max_rows, jobs, scheduler, quiet = "x", False, True, 0, \
            None, 5, None, None, False

    with pytest.raises(UnknownNameError):
        sweep.run(Args())


def test_cli_verify_on_a_running_scheduler(local_cluster, capsys):
    cluster, _ = local_cluster
    assert main(["verify", "--quick", "--claims", "ntk.lemma2",
                 "--scheduler", cluster.scheduler_address]) == 0
    assert "PASS" in capsys.readouterr().out
    assert sweeps.current() == {"jobs": None, "scheduler": None}


def test_sweep_defaults_to_full_like_verify_and_report():
    parser = build_parser()
    for verb in (["sweep", "ntk.lemma2"], ["verify"], ["report"]):
        assert parser.parse_args(verb).quick is False
        assert parser.parse_args([*verb, "--quick"]).quick is True
    assert main(["sweep", "ntk.lemma2", "--quick", "--full"]) == 2


def test_sweep_list_prints_plain_one_line_summaries(capsys):
    assert main(["sweep", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(sweep_cli._named())
    for line in lines:
        assert "``" not in line and ":func:" not in line and "Sweep task" not in line
        name, summary = line.split(None, 1)
        assert name.startswith("ntk.") and len(summary) > 10


def test_summary_strips_markup():
    doc = """Sweep task: ``‖H(0) − H*‖₂`` at one :func:`~pkverify.ntk.width`.

    More detail that is not shown."""
    assert sweep_cli.summary(doc) == "‖H(0) − H*‖₂ at one pkverify.ntk.width."


def test_out_onto_a_folder_fails_before_the_sweep(tiny, tmp_path, capsys):
    assert main(["sweep", "tiny", "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err and tiny.runs == 0


def test_out_into_an_unwritable_folder_fails_before_the_sweep(tiny, capsys):
    # /proc refuses new files even for root (whose permission bits pass os.access)
    assert main(["sweep", "tiny", "--out", "/proc/pkverify-test.csv"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "cannot be written" in err and tiny.runs == 0


@pytest.mark.parametrize("option", ["--out", "--seed"])
def test_empty_out_and_negative_seed_are_refused(tiny, option, capsys):
    value = "" if option == "--out" else "-1"
    assert main(["sweep", "tiny", option, value]) == 2
    assert "expected" in capsys.readouterr().err and tiny.runs == 0


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_out_follows_the_umask(tiny, tmp_path, mask, capsys):
    old = os.umask(mask)
    try:
        assert main(["sweep", "tiny", "--out", str(tmp_path / "t.csv"), "-q"]) == 0
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "t.csv").stat().st_mode)
    assert mode == 0o666 & ~mask and tiny.runs == 1
    assert (tmp_path / "t.csv").read_text().startswith("activation,width,")


def test_out_onto_a_file_pkverify_did_not_write_fails_before_the_sweep(tiny, tmp_path, capsys):
    theirs = tmp_path / "notes.csv"
    theirs.write_text("name,value\nmine,1\n")
    assert main(["sweep", "tiny", "--out", str(theirs)]) == 2
    assert "never overwrites" in capsys.readouterr().err and tiny.runs == 0
    assert theirs.read_text() == "name,value\nmine,1\n"
    # a table pkverify wrote earlier is replaced
    ours = tmp_path / "t.csv"
    assert main(["sweep", "tiny", "--out", str(ours), "-q"]) == 0
    assert main(["sweep", "tiny", "--out", str(ours), "-q"]) == 0 and tiny.runs == 2

"""What a new user meets first: progress, start-up, options that do what they say,
discoverability, self-contained sources (issue 7, items 3-7)."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pkverify as pk
from pkverify.claims import catalog, registry
from pkverify.cli import main
from pkverify.errors import InvalidArgumentError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]


# ----- progress -------------------------------------------------------------------------------


def test_verify_prints_each_claim_as_it_finishes(capsys):
    seen: list[str] = []

    def first(cfg):
        return registry.Outcome(True, message="first done")

    def second(cfg):
        # by the time the second claim runs, the first one's line is already on stdout
        seen.append(sys.stdout.getvalue())
        return registry.Outcome(True, message="second done")

    registry.claim("zz_stream.first", title="t", statement="s", source="test",
                   tolerance="none")(first)
    registry.claim("zz_stream.second", title="t", statement="s", source="test",
                   tolerance="none")(second)
    try:
        assert main(["verify", "--quiet", "--claims", "zz_stream"]) == 0
    finally:
        registry._REGISTRY.pop("zz_stream.first")
        registry._REGISTRY.pop("zz_stream.second")
    assert "zz_stream.first" in seen[0] and "first done" in seen[0]
    assert "zz_stream.second" not in seen[0]


def test_gradient_flow_shows_progress_on_request(capsys):
    X = np.random.default_rng(0).standard_normal((4, 2))
    model = pk.models.linear(2)
    pk.gradient_flow(model, X, X[:, 0], T=0.5, samples=5, progress=True)
    assert "gradient flow" in capsys.readouterr().err
    pk.gradient_flow(model, X, X[:, 0], T=0.5, samples=5, progress=False)
    assert capsys.readouterr().err == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal(capsys):
    assert main(["verify", "--claims", "linear", "--quick"]) == 0
    assert capsys.readouterr().err == ""  # pytest's captured stderr is not a tty


# ----- start-up -------------------------------------------------------------------------------


def test_import_loads_no_heavy_module():
    code = (
        "import sys, pkverify\n"
        "heavy = [m for m in ('sympy', 'scipy.stats', 'scipy.integrate', 'autograd.scipy',"
        " 'hypothesis', 'matplotlib', 'tqdm', 'pkverify.claims.catalog', 'torch',"
        " 'pkverify.extra.torch') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, env=_env())
    assert out.stdout.strip() == ""


def test_help_loads_no_heavy_module():
    code = (
        "import sys\nfrom pkverify.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('sympy', 'scipy', 'pkverify.claims.catalog') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, env=_env())
    assert "HEAVY []" in out.stdout
    assert "derive" in out.stdout and "verify" in out.stdout


def _env():
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_erf_still_works_lazily():
    from autograd import grad

    from pkverify.activations import activation

    erf = activation("erf")
    # erf'(0) = 2/√π; erf(1) = 0.8427007929497149 (tables)
    assert abs(float(erf(np.float64(1.0))) - 0.8427007929497149) < 1e-15  # rounding
    assert abs(grad(lambda z: erf(z))(0.0) - 2 / np.sqrt(np.pi)) < 1e-15  # rounding


# ----- discoverability ------------------------------------------------------------------------


def test_strategies_and_symbolic_reachable_from_the_package():
    assert "strategies" in dir(pk) and "symbolic" in dir(pk)
    assert callable(pk.strategies.training_problems)
    assert callable(pk.symbolic.verify_proof)
    assert pk.sources.SOURCES["domingos2020"].year == 2020


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert f"pkverify {pk.__version__}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name,expected",
    [
        ("remark", {"remark1.a_depends_on_x", "remark2.loss_weighted", "remark3.cross_entropy",
                    "remark4.regularizer", "remark5.sgd"}),
        ("remark1", {"remark1.a_depends_on_x"}),
        ("symbolic", {"symbolic.tangent_agrees", "symbolic.ntk_infinite",
                      "symbolic.proof_steps", "symbolic.linear_path_kernel",
                      "symbolic.deep_recursion"}),
    ],
)
def test_claims_accepts_family_names(name, expected):
    assert {c.id for c in catalog.select([name])} == expected


def test_unknown_family_lists_the_families(capsys):
    assert main(["verify", "--claims", "remarks"]) == 2
    err = capsys.readouterr().err
    assert "remark" in err and "symbolic" in err and "theorem1" in err and "--list" in err


def test_list_shows_families(capsys):
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"families \(for --claims\): .*remark", out)


# ----- sources --------------------------------------------------------------------------------


def test_every_claim_cites_known_sources():
    from pkverify.sources import check_source, cite

    for c in catalog.all_claims():
        assert check_source(c.source) == [], (c.id, c.source)
        assert all(len(line) > 20 for line in cite(c.source))


def test_cite_expands_ids_and_keeps_unknown_ones():
    from pkverify.sources import cite

    (line,) = cite("domingos2020 Remark 4")
    assert line.startswith("Remark 4 — Pedro Domingos (2020)") and "2012.00152" in line
    assert cite("somewhere else") == ["somewhere else"]


def test_json_and_markdown_carry_full_citations(tmp_path):
    import json

    out, md = tmp_path / "r.json", tmp_path / "r.md"
    assert main(["verify", "--quick", "--claims", "linear", "--json", str(out),
                 "--markdown", str(md)]) == 0
    (entry,) = json.loads(out.read_text())["claims"]
    assert any("Every Model Learned by Gradient Descent" in c for c in entry["citation"])
    report = md.read_text()
    assert "## References" in report and "`domingos2020`: Pedro Domingos (2020)" in report


@pytest.mark.parametrize("path", ["README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "pkverify").rglob("*.py")
)])
def test_no_reference_to_files_a_user_does_not_have(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    for pattern in ("../shared", "design.md", "seed 00", "seeds/"):
        assert pattern not in text, f"{path} mentions {pattern!r}"


# ----- derive: options honoured or refused ----------------------------------------------------


def _derive(argv):
    parser = argparse.ArgumentParser()
    from pkverify.cli import derive

    derive.add(parser.add_subparsers())
    buf = io.StringIO()
    code = derive.run(parser.parse_args(["derive", *argv]), out=buf)
    return code, buf.getvalue()


@pytest.mark.parametrize(
    "argv,refused",
    [
        (["--proof", "theorem1", "--width", "3"], "--width"),
        (["--proof", "theorem1", "--dim", "3"], "--dim"),
        (["--proof", "lemma1", "--depth", "2"], "--depth"),
        (["--proof", "theorem1", "--format", "mathml"], "mathml"),
        (["--ntk", "relu", "--width", "5"], "--width"),
        (["--ntk", "relu", "--dim", "5"], "--dim"),
        (["--ntk", "relu", "--activation", "tanh"], "--activation"),
        (["--model", "linear", "--width", "3"], "--width"),
        (["--model", "two_layer", "--depth", "2"], "--depth"),
    ],
)
def test_derive_refuses_options_it_would_ignore(argv, refused):
    with pytest.raises(InvalidArgumentError, match=refused):
        _derive(argv)


def test_derive_proof_honours_activation_and_format():
    _, tanh = _derive(["--proof", "lemma1"])
    _, sig = _derive(["--proof", "lemma1", "--activation", "sigmoid"])
    assert "σ = tanh" in tanh and "σ = sigmoid" in sig
    code, latex = _derive(["--proof", "lemma1", "--format", "latex"])
    assert code == 0 and latex.count("\\item") >= 4 and "\\begin{enumerate}" in latex
    with pytest.raises(UnknownNameError):
        _derive(["--proof", "lemma1", "--activation", "nope"])


def test_derive_long_forms_are_readable():
    code, text = _derive(["--model", "mlp", "--depth", "2", "--width", "2"])
    assert code == 0
    assert max(len(line) for line in text.splitlines()) <= 110  # wrapped at 100 + indent
    assert "where" in text and "q0 = " in text  # common subexpressions named
    assert "⎛" not in text and "⎝" not in text  # no 2-D pretty printing mixed in
    _, full = _derive(["--model", "mlp", "--depth", "2", "--width", "2", "--full"])
    assert "q0 = " not in full


def test_verify_proof_prints_as_a_table():
    results = pk.symbolic.verify_proof("lemma1")
    text = repr(results)
    assert "StepResult(" not in text
    lines = text.splitlines()
    assert lines[0].split() == ["#", "step", "method", "ok", "detail"]
    assert results.ok and "all steps verified" in lines[-1]
    assert isinstance(results, tuple) and results[0].ok

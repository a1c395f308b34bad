"""`pkverify explain` on the command line: the check, saved trajectories, custom models
(--model), several outputs (--class), and bad input refused before any work."""

from __future__ import annotations

import os
import re
import textwrap

import numpy as np
import pytest

import pkverify as pk
from pkverify.claims import problems
from pkverify.cli import main


@pytest.fixture(scope="module")
def demo():
    return problems.demo_trajectory(0)


@pytest.fixture(scope="module")
def three_outputs(tmp_path_factory):
    """A saved 3-class softmax net and its training labels."""
    r = np.random.default_rng(0)
    X = r.standard_normal((6, 2))
    ids = np.array([0, 1, 2, 0, 1, 2])
    traj = pk.train(pk.models.mlp([2, 5, 3]), X, ids, loss="softmax_ce", lr=0.2, steps=8)
    return traj, traj.save(tmp_path_factory.mktemp("three") / "three.npz"), ids


def test_explain_cli_default_demo_prints_the_check(capsys, tmp_path):
    html = tmp_path / "sub" / "explain.html"
    assert main(["explain", "--top", "4", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "b(x) + Σ" in out and "prediction f(w_S, x)" in out and "OK" in out
    rows = [line for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 4
    page = html.read_text(encoding="utf-8")
    assert "<svg" in page and "<script" not in page
    # the chart's y label "contribution a_i(x) K^p(x, x_i)" is drawn as mathtext, one glyph
    # per <tspan>: its letters are there, its raw notation is not
    import re

    glyphs = "".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", page))
    assert "contribution" in glyphs and "K^p" not in glyphs


def test_explain_a_saved_trajectory_with_npy_queries(demo, tmp_path, capsys):
    path = demo.save(tmp_path / "run.npz")
    queries = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]])
    np.save(tmp_path / "q.npy", queries)
    assert main(["explain", "--trajectory", str(path), "--query", str(tmp_path / "q.npy"),
                 "--top", "100"]) == 0
    out = capsys.readouterr().out
    assert out.count("query x = (") == 2 and out.count("  OK") == 2
    assert "query x = (0.1, -0.2, 0.3)" in out
    assert "all 8 points" in out


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the demo model was trained before the arguments were checked")

    monkeypatch.setattr(problems, "demo_trajectory", refuse)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--query", "1,2"], "takes 3 inputs"),
        (["--query", "1,2,3,4"], "takes 3 inputs"),
        (["--query", "a,b,c"], "not a comma-separated list of numbers"),
        (["--query", "1,nan,2"], "NaN or inf"),
        (["--top", "0"], "--top must be at least 1"),
        (["--image-shape", "3x1"], "--image-shape applies to the --html page"),
        (["--image-shape", "8x8", "--html", "x.html"], "does not fit inputs of 3"),
    ],
)
def test_bad_explain_arguments_fail_before_any_work(argv, message, capsys, no_training):
    assert main(["explain", *argv]) == 2
    assert message in capsys.readouterr().err


def test_html_target_that_is_a_folder(tmp_path, capsys, no_training):
    assert main(["explain", "--html", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_corrupt_trajectory(tmp_path, capsys):
    bad = tmp_path / "run.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    html = tmp_path / "out.html"
    assert main(["explain", "--trajectory", str(bad), "--html", str(html)]) == 2
    err = capsys.readouterr().err
    assert "not a readable pkverify trajectory" in err and not html.exists()


def test_query_of_wrong_dimension_for_a_saved_trajectory(demo, tmp_path, capsys):
    path = demo.save(tmp_path / "run.npz")
    np.save(tmp_path / "q.npy", np.zeros((2, 5)))
    assert main(["explain", "--trajectory", str(path), "--query", str(tmp_path / "q.npy")]) == 2
    assert "shape (2, 5)" in capsys.readouterr().err


def test_a_complex_query_file_is_refused(tmp_path, capsys, no_training):
    np.save(tmp_path / "q.npy", np.array([0.1 + 2j, 0.2, 0.3]))
    assert main(["explain", "--query", str(tmp_path / "q.npy")]) == 2
    err = capsys.readouterr().err
    assert "complex" in err and "real numbers" in err


@pytest.mark.parametrize("argv", [["--html", ""], ["--seed", "-1"], ["--trajectory", ""]])
def test_empty_paths_and_negative_seed_are_refused(argv, capsys, no_training):
    assert main(["explain", *argv]) == 2
    assert "expected" in capsys.readouterr().err


def test_html_into_an_unwritable_folder_names_html(capsys, no_training):
    # /proc refuses new files even for root (whose permission bits pass os.access)
    assert main(["explain", "--html", "/proc/pkverify-explain.html"]) == 2
    err = capsys.readouterr().err
    assert "--html" in err and "--out" not in err


def _custom_model_module(folder):
    (folder / "my_pk_models.py").write_text(textwrap.dedent("""
        import autograd.numpy as anp
        import numpy as np

        import pkverify as pk


        def build():
            def f(w, X):
                return anp.tanh(X @ w[:2]) * w[2]

            return pk.models.custom(f, np.array([0.3, -0.2, 0.5]), input_dim=2)
        """), encoding="utf-8")


def test_a_custom_model_trajectory_loads_with_model_option(tmp_path, capsys, monkeypatch):
    _custom_model_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_pk_models

    X = np.random.default_rng(0).standard_normal((5, 2))
    traj = pk.train(my_pk_models.build(), X, np.sin(X[:, 0]), lr=0.1, steps=4)
    path = traj.save(tmp_path / "custom.npz")
    # without --model: the fix is a command-line option, not a Python call
    assert main(["explain", "--trajectory", str(path)]) == 2
    err = capsys.readouterr().err
    assert "--model MODULE:FUNCTION" in err and "Trajectory.load" not in err
    # by module name (importable from the current folder) and by file path
    monkeypatch.chdir(tmp_path)
    for spec in ("my_pk_models:build", str(tmp_path / "my_pk_models.py") + ":build"):
        assert main(["explain", "--trajectory", str(path), "--model", spec, "--top", "2"]) == 0
        assert "  OK" in capsys.readouterr().out


@pytest.mark.parametrize("spec, message", [
    ("no_colon", "is not MODULE:FUNCTION"),
    ("no_such_module_xyz:build", "importing 'no_such_module_xyz' failed"),
    ("my_pk_models:missing", "has no function 'missing'"),
    ("os:getcwd", "not a pkverify Model"),
])
def test_bad_model_option(spec, message, tmp_path, capsys, monkeypatch, demo):
    _custom_model_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = demo.save(tmp_path / "run.npz")
    assert main(["explain", "--trajectory", str(path), "--model", spec]) == 2
    assert message in capsys.readouterr().err


def test_several_outputs_explain_one_class(three_outputs, tmp_path, capsys):
    traj, path, ids = three_outputs
    html = tmp_path / "e.html"
    assert main(["explain", "--trajectory", str(path), "--class", "2", "--top", "6",
                 "--html", str(html)]) == 0
    out = capsys.readouterr().out
    assert "explaining output (class) 2" in out and "  OK" in out
    # the rows follow the API's ranking for class 2, with each point's label
    ranking = pk.kernel_machine(traj).explain(traj.X[:1], top=6, class_=2)[0]
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()
            and "class" in line]
    assert [int(r[1]) for r in rows] == [i for i, _ in ranking]
    for r in rows:
        assert f"class {ids[int(r[1])]}" in " ".join(r)
    page = html.read_text(encoding="utf-8")
    assert "Explaining output (class) 2" in page
    for i, _ in ranking:  # coordinates and label of every listed training point
        x = traj.X[i]
        assert f"({x[0]:.3g}, {x[1]:.3g})" in page and f"class {ids[i]}" in page
    q = traj.X[0]
    assert f"query x = ({q[0]:.4g}, {q[1]:.4g})" in page


def test_several_outputs_default_to_the_predicted_class(three_outputs, capsys):
    traj, path, _ = three_outputs
    assert main(["explain", "--trajectory", str(path)]) == 0
    predicted = int(np.argmax(traj.predict(traj.X[:1])[0]))
    assert f"explaining output (class) {predicted}" in capsys.readouterr().out


def test_bad_class(three_outputs, capsys, no_training):
    _, path, _ = three_outputs
    assert main(["explain", "--trajectory", str(path), "--class", "3"]) == 2
    assert "output index 0 ... 2" in capsys.readouterr().err
    assert main(["explain", "--class", "1"]) == 2  # the demo model has one output
    assert "one output" in capsys.readouterr().err


def test_scalar_html_shows_coordinates_and_labels(demo, tmp_path, capsys):
    path = demo.save(tmp_path / "run.npz")
    html = tmp_path / "e.html"
    assert main(["explain", "--trajectory", str(path), "--top", "3", "--html", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    (ranking,) = pk.kernel_machine(demo).explain(demo.X[:1], top=3)
    for i, _ in ranking:
        assert f"{demo.X[i][0]:.3g}" in page and f"<td>{demo.Y[i]:.4g}</td>" in page
    assert os.path.getsize(html) > 0


def test_image_inputs_are_drawn_in_the_html_page(tmp_path, capsys):
    html = tmp_path / "img.html"
    assert main(["explain", "--top", "3", "--html", str(html), "--image-shape", "3x1"]) == 0
    page = html.read_text(encoding="utf-8")
    assert "<strong>query</strong>" in page and "<strong>proponents</strong>" in page
    assert "<strong>opponents</strong>" in page
    # the query and at most 3 proponents and 3 opponents, each a 3×1 image with a caption
    images = re.findall(r'<svg[^>]*viewBox="0 0 1 3"', page)
    assert 2 <= len(images) <= 7
    assert re.search(r"<figcaption>#\d+ [^<]*: [+-]", page)

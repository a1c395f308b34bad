"""The worked example examples/digits_cnn.py, reduced: a CNN trained in PyTorch on
scikit-learn's digits with AdamW and a cosine schedule, recorded, rebuilt exactly by the
kernel machine and explained with images (the full example runs 80 steps on 300 digits)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'pkverify[torch]')")
pytest.importorskip("sklearn", reason="scikit-learn is not installed (the [test] extra); the "
                    "digits ship inside it")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_cnn.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("digits_cnn_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def reduced(example):
    # 60 digits, 2 epochs of batches of 16: 8 AdamW steps (a few seconds)
    return example.run(n_train=60, n_test=100, epochs=2, batch_size=16, top=3)


def test_the_recorded_cnn_is_rebuilt_exactly(reduced):
    traj = reduced.traj
    assert traj.steps == 8 and traj.optimizer.name == "adamw"
    assert isinstance(traj.optimizer.lr, tuple) and traj.optimizer.lr[0] > traj.optimizer.lr[-1]
    assert (traj.loss.name, traj.reduction) == ("softmax_ce", "mean")
    # float64 GELU CNN: rounding of 8 steps' sums; the issue's bound
    assert reduced.rel_error <= 1e-12 and reduced.contribution_error <= 1e-12


def test_one_test_digit_per_class_is_explained_with_images(reduced):
    assert sorted(reduced.query_labels.tolist()) == list(range(10))
    page = reduced.html
    assert page.count('<section class="query">') == 10
    assert page.count("<strong>proponents</strong>") == 10
    images = re.findall(r'<svg[^>]*viewBox="0 0 8 8"', page)
    assert 10 < len(images) <= 10 * 7  # each query, ≤ 3 proponents and ≤ 3 opponents
    captions = re.findall(r"<figcaption>#(\d+) class (\d): ([+-][\d.e+-]+)</figcaption>", page)
    assert captions
    labels = reduced.traj.Y.argmax(axis=1)
    for i, c, _ in captions:  # each caption's label is that training digit's own
        assert labels[int(i)] == int(c)
    assert "<script" not in page and page.count("OK (tolerance") == 10


def test_the_cnn_is_smooth_so_the_exact_rule_applies(example):
    import pkverify as pk

    assert pk.torch.model(example.build_cnn(), input_shape=(1, 8, 8)).smooth
    np.testing.assert_equal(example.digits(5, 5)[0].shape, (5, 1, 8, 8))


def test_explain_cli_on_the_saved_cnn_draws_images_by_default(reduced, tmp_path, capsys):
    """Trajectory.save without the module, `pkverify explain --model FILE:build` with it; the
    module's (1, 8, 8) input shape makes the page draw images without --image-shape."""
    from pkverify.cli import main

    path = reduced.traj.save(tmp_path / "cnn.npz")
    (tmp_path / "cnn_model.py").write_text(
        "import importlib.util, sys\nimport pkverify as pk\n"
        f"spec = importlib.util.spec_from_file_location('digits_cnn_cli', {str(EXAMPLE)!r})\n"
        "ex = importlib.util.module_from_spec(spec); sys.modules[spec.name] = ex\n"
        "spec.loader.exec_module(ex)\n\n"
        "def build():\n    return pk.torch.model(ex.build_cnn(), input_shape=(1, 8, 8))\n",
        encoding="utf-8")
    np.save(tmp_path / "q.npy", reduced.queries[:2])
    html = tmp_path / "page.html"
    assert main(["explain", "--trajectory", str(path), "--model",
                 f"{tmp_path / 'cnn_model.py'}:build", "--query", str(tmp_path / "q.npy"),
                 "--top", "3", "--html", str(html), "--quiet"]) == 0
    assert capsys.readouterr().out.count("  OK") == 2
    page = html.read_text(encoding="utf-8")
    assert page.count("<strong>query</strong>") == 2 and 'viewBox="0 0 8 8"' in page

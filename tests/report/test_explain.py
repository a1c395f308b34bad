"""`pkverify explain`: Theorem 1 term by term for one prediction, and its bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pkverify.claims import problems
from pkverify.cli import main
from pkverify.report.explain import explain, parse_query


@pytest.fixture(scope="module")
def demo():
    return problems.demo_trajectory(0)


def test_contributions_add_up_to_the_trained_prediction(demo):
    xq = problems.demo_query(0)
    (e,) = explain(demo, xq, top=3)
    trained = float(demo.model.apply(demo.ws[-1], xq)[0])  # the model itself, not the machine
    y0 = float(demo.model.apply(demo.ws[0], xq)[0])
    # exact rule: float64 rounding over 30 steps, relative to how far training moved y
    assert abs(e.b + e.contribution.sum() - trained) <= 1e-10 * abs(trained - y0)
    assert abs(e.b - y0) == 0.0  # no regulariser: b(x) = y_0(x) exactly
    np.testing.assert_allclose(e.contribution, e.a * e.kernel, rtol=1e-13, atol=0)
    assert len(e.order) == 3
    mags = np.abs(e.contribution)
    assert mags[e.order[0]] == mags.max() and list(mags[e.order]) == sorted(mags[e.order])[::-1]
    spec = e.spec
    assert spec["kind"] == "bars" and len(spec["values"]) == 4  # top 3 + the other 5
    # the bars sum to prediction − b (summed here, not by the code under test)
    assert abs(sum(spec["values"]) - (trained - spec["baseline"])) <= 1e-10 * abs(trained - y0)


def test_query_text_and_shapes():
    np.testing.assert_array_equal(parse_query("1, 2.5,-3", 3), [[1.0, 2.5, -3.0]])
    with pytest.raises(Exception) as info:
        parse_query("1,2", 3)
    assert "takes 3 inputs" in str(info.value)


def test_a_gradient_flow_path_is_explained_with_simpson_and_reported(tmp_path, capsys):
    import pkverify as pk

    X, Y = problems.regression_data(0)
    flow = pk.gradient_flow(pk.models.mlp([3, 8, 1], "tanh"), X, Y, T=1.0, samples=101)
    path = flow.save(tmp_path / "flow.npz")
    assert main(["explain", "--trajectory", str(path), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "reported, not judged" in out and "O(h^4)" in out
    (e,) = explain(flow, X[:1], top=2)
    # Simpson on 101 samples of a smooth flow: a small quadrature error, well above rounding
    assert 1e-12 < e.error < 1e-3

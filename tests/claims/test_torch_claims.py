"""The torch family's ``torch.kinks`` claim: a ReLU + max-pooling CNN (an ``F.relu`` call
inside forward) trained by Adam is rebuilt exactly, its kinks located per row and step; the
claim fails when the kinks are not located, and reports (does not fail) without PyTorch."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from pkverify.claims import CheckConfig, get

QUICK = CheckConfig(seed=0, quick=True)
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="PyTorch is not installed (pip install 'pkverify[torch]'); torch.kinks needs it "
    "(without it the claim reports that it did not run: the last test, which runs anyway)")


@pytest.fixture(scope="module")
def quick_result():
    return get("torch.kinks").run(QUICK)


@needs_torch
def test_kinks_claim_passes_with_rounding_error_and_a_control_that_misses(quick_result):
    r = quick_result
    assert r.status == "pass", r.message
    m = r.metrics
    assert r.key == "rel_err" and m["rel_err"] <= 1e-12  # float64 rounding (the claim's bound)
    assert m["rel_err"] == max(m["predict_rel_err"], m["b_plus_contributions_rel_err"])
    assert m["path_warnings"] == 0 and m["unresolved_pieces"] == 0
    # nn.ReLU, nn.MaxPool2d and the F.relu call: the capture saw all three
    assert m["kinked_ops_captured"] == 3
    assert m["kinks_per_row_step"] > 1  # steps do cross kinks: the check is not vacuous
    # Fejér's rule starts at 3 nodes on each of (kinks + 1) pieces per row
    assert m["grad_evals_per_row_step"] >= 3 * (1 + m["kinks_per_row_step"]) - 1e-9
    # the control (as many nodes, no kink location) misses by orders above the bound and
    # says so with a PathWarning
    assert m["control_rel_err"] > 1e-6 and m["control_warned"] is True
    kinds = [f["kind"] for f in r.data["figures"]]
    assert kinds == ["curves", "curves"]


@needs_torch
def test_kink_counts_match_sign_changes_on_a_dense_grid(quick_result):
    """The kinks the claim reports for step 0 against the sign changes of the switch values
    on 2001 equally spaced τ (a grid sees at most as many; a crossing pair inside one cell
    of width 5e-4 is the only thing it can miss)."""
    import pkverify as pk
    from pkverify.claims.torch import kink_cnn, kinks_along_path
    from pkverify.kernels.engines import engine_for

    side, n, q = 6, 6, 3  # the claim's quick sizes
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((n, 36)), rng.standard_normal(n)
    Z = np.concatenate([rng.standard_normal((q, 36)), X])
    M = pk.torch.model(kink_cnn(side, 0), input_shape=(1, side, side))
    traj = pk.train(M, X, Y, loss="mse", optimizer=pk.optim.adam(0.05), steps=1,
                    reduction="mean", progress=False)
    located = kinks_along_path(traj, Z)
    assert located["kinks"][0] == pytest.approx(quick_result.data["kinks_per_step"][0])
    eng = engine_for(M)
    w, delta = traj.ws[0], traj.ws[1] - traj.ws[0]
    taus = np.linspace(0.0, 1.0, 2001)
    counts = []
    for r in range(len(Z)):
        vals = np.concatenate(eng.switch_values(w, np.repeat(Z[r:r + 1], taus.size, 0),
                                                (delta, taus)), axis=1)
        counts.append(int(np.sum(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)))
    assert sum(counts) > 0
    # measured: 105 sign changes on the grid, 106 kinks located over the 9 rows
    assert np.mean(counts) <= located["kinks"][0] <= np.mean(counts) + 2 / len(Z)


@needs_torch
def test_kinks_claim_fails_when_the_locator_finds_nothing(monkeypatch):
    from pkverify.kernels import exact_rows
    from pkverify.kernels.switches import Located

    monkeypatch.setattr(exact_rows, "locate_switches",
                        lambda values, q, eps: Located([np.empty(0) for _ in range(q)]))
    r = get("torch.kinks").run(QUICK)
    assert r.status == "fail", r.message
    # steps integrated across their kinks: off far beyond rounding (measured 8e-4), and the
    # exact rule's own residual check warned
    assert r.metrics["rel_err"] > 1e-6 and r.metrics["path_warnings"] >= 1


def test_kinks_claim_reports_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    r = get("torch.kinks").run(QUICK)
    assert r.status == "report" and "not installed" in r.message

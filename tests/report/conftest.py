"""One small report, built once per session, shared by the report tests."""

from __future__ import annotations

import pytest

from pkverify.report.build import build_report

# three cheap claims: one without figures, one drawing the SGD gap, one with Monte Carlo draws
CLAIMS = ["linear.reduction", "remark5.sgd", "symbolic.ntk_infinite"]


@pytest.fixture(scope="session")
def small_report(tmp_path_factory):
    """(folder, payload) of ``pkverify report --quick --seed 3 --claims`` :data:`CLAIMS`."""
    out = tmp_path_factory.mktemp("report") / "out"
    payload = build_report(out, seed=3, quick=True, claims=CLAIMS,
                           argv=["report", "--quick", "--claims", *CLAIMS, "--seed", "3"])
    return out, payload

"""One small report, built once per session, shared by the report tests."""

from __future__ import annotations

import pytest

from pkverify.report.build import build_report

# two cheap claims, one with figures (remark5 draws the SGD gap) and one without
CLAIMS = ["linear.reduction", "remark5.sgd"]


@pytest.fixture(scope="session")
def small_report(tmp_path_factory):
    """(folder, payload) of ``pkverify report --quick --claims linear.reduction remark5.sgd``."""
    out = tmp_path_factory.mktemp("report") / "out"
    payload = build_report(out, seed=3, quick=True, claims=CLAIMS,
                           argv=["report", "--quick", "--claims", *CLAIMS, "--seed", "3"])
    return out, payload

"""results.json: valid against its written schema; same seed → same file apart from timings."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from pkverify.report.build import build_report
from pkverify.report.json import SCHEMA, dumps, without_timings

from .conftest import CLAIMS


def _load(folder):
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_the_report_folder_carries_its_schema(small_report):
    written = json.loads((small_report[0] / "results.schema.json").read_text(encoding="utf-8"))
    assert written == SCHEMA


def test_results_json_validates_against_the_schema(small_report):
    folder, _ = small_report
    payload = _load(folder)
    jsonschema.validate(payload, SCHEMA)
    assert [c["id"] for c in payload["claims"]] == CLAIMS
    assert payload["environment"]["seed"] == 3 and payload["environment"]["mode"] == "quick"
    assert payload["environment"]["versions"]["numpy"]
    assert payload["environment"]["command"].startswith("pkverify report")
    want = "pkverify verify --claims remark5.sgd --seed 3 --quick"
    assert payload["claims"][1]["command"] == want
    assert payload["proof"]["ok"] is True


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda p: p["claims"][0].__setitem__("status", "maybe"),
        lambda p: p.pop("environment"),
        lambda p: p["summary"].__setitem__("passed", -1),
        lambda p: p["claims"][1]["data"]["figures"][0].__setitem__("kind", "pie"),
        lambda p: p["proof"]["proofs"][0]["steps"][0]["numeric"][0].pop("reason"),
    ],
    ids=["status", "environment", "count", "figure-kind", "tolerance-reason"],
)
def test_the_schema_rejects_a_broken_payload(small_report, corrupt):
    payload = copy.deepcopy(_load(small_report[0]))
    corrupt(payload)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, SCHEMA)


def test_same_seed_gives_the_same_results_apart_from_timings(small_report, tmp_path):
    first = _load(small_report[0])
    again = tmp_path / "again"
    build_report(again, seed=3, quick=True, claims=CLAIMS,
                 argv=["report", "--quick", "--claims", *CLAIMS, "--seed", "3"])
    second = _load(again)
    assert first["claims"][0]["seconds"] >= 0 and "generated_at" in second["environment"]
    assert without_timings(first) == without_timings(second)
    # the figures drawn from identical data are identical files too
    for svg in (small_report[0] / "figures").iterdir():
        assert (again / "figures" / svg.name).read_bytes() == svg.read_bytes()


def test_another_seed_gives_other_results(small_report, tmp_path):
    other = tmp_path / "other"
    build_report(other, seed=4, quick=True, claims=["remark5.sgd"], proof=False)
    mine = [c for c in _load(small_report[0])["claims"] if c["id"] == "remark5.sgd"][0]
    theirs = _load(other)["claims"][0]
    assert without_timings(mine["metrics"]) != without_timings(theirs["metrics"])
    assert _load(other)["proof"] is None


def test_without_timings_removes_only_timing_keys():
    payload = {"a": 1, "seconds": 2.0, "b": [{"seconds": 1, "c": 3}], "environment":
               {"generated_at": "x", "seed": 0}}
    assert without_timings(payload) == {"a": 1, "b": [{"c": 3}], "environment": {"seed": 0}}


@pytest.mark.parametrize(
    "value, text",
    [(float("inf"), "inf"), (float("nan"), "nan"), (float("-inf"), "-inf"),
     ("np.float64-nan", "nan"), ("np.float32--inf", "-inf"), ("np.float32-inf", "inf")],
    ids=["inf", "nan", "-inf", "np.float64-nan", "np.float32--inf", "np.float32-inf"],
)
def test_non_finite_numbers_are_written_alike_and_validate(small_report, value, text):
    import numpy as np

    if isinstance(value, str):
        dtype, raw = value.split("-", 1)
        value = getattr(np, dtype.split(".")[1])(raw)
    payload = copy.deepcopy(_load(small_report[0]))
    claim = payload["claims"][0]
    claim["metrics"]["odd"] = value
    step = payload["proof"]["proofs"][0]["steps"][0]
    step["numeric"][0]["value"] = value
    figure = payload["claims"][1]["data"]["figures"][0]
    figure["slopes"] = {"s": value}
    written = json.loads(dumps(payload))  # strict JSON: dumps refuses NaN tokens itself
    assert written["claims"][0]["metrics"]["odd"] == text
    assert written["proof"]["proofs"][0]["steps"][0]["numeric"][0]["value"] == text
    assert written["claims"][1]["data"]["figures"][0]["slopes"] == {"s": text}
    jsonschema.validate(written, SCHEMA)


def test_a_claims_numpy_nan_metric_reaches_results_json_as_text():
    import numpy as np

    from pkverify.claims.registry import Claim, Outcome

    c = Claim("t.x", "t", "x", "s", "tol", lambda cfg: Outcome(
        passed=None, key="a", metrics={"a": np.float64("nan"), "b": np.float32("-inf")}))
    result = c.run()
    assert result.metrics == {"a": "nan", "b": "-inf"} and result.key == "a"

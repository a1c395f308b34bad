"""Figure specs are typed, listed once, and survive their JSON form unchanged."""

from __future__ import annotations

import json

import pytest

from pkverify.claims import figures as fig
from pkverify.errors import InvalidArgumentError

SPECS = [
    fig.loglog_rate("r", [0.1, 0.05], {"a": [1e-2, 5e-3]}, slopes={"a": 1.0}, xlabel="ε",
                    ylabel="err", reference_slope=1.0),
    fig.heatmap("h", {"K^g": [[1, 2], [3, 4]]}),
    fig.bars("b", ["x_0", "x_1"], [1.5, -0.5], baseline=0.25, total=1.25),
    fig.curves("c", [0, 1], {"λ_1": [1.0, 2.0]}, xlabel="t", ylabel="y", logy=True),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_a_spec_survives_its_json_form(spec):
    text = json.dumps(spec.to_dict())
    back = fig.from_dict(json.loads(text))
    assert back == spec and type(back) is type(spec)
    assert spec.to_dict()["kind"] == spec.kind


def test_the_kinds_are_listed_once_and_read_by_the_schema_and_the_renderers():
    from pkverify.report.json import SCHEMA
    from pkverify.report.plots import RENDERERS

    assert fig.KINDS == tuple(type(s).kind for s in SPECS)
    figure_schema = SCHEMA["properties"]["claims"]["items"]["properties"]["data"]
    assert figure_schema["properties"]["figures"]["items"]["properties"]["kind"]["enum"] == list(
        fig.KINDS)
    assert set(RENDERERS) == set(fig.KINDS)


def test_an_unknown_kind_or_missing_field_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="'pie' is not one of loglog_rate"):
        fig.from_dict({"kind": "pie", "title": "t"})
    with pytest.raises(InvalidArgumentError, match="expected the fields"):
        fig.from_dict({"kind": "bars", "title": "t"})


def test_a_claims_figure_reaches_its_result_as_json():
    from pkverify.claims.registry import Claim, Outcome

    c = Claim("t.fig", "t", "x", "s", "tol", lambda cfg: Outcome(
        passed=None, metrics={"a": 1.0}, key="a", data={"figures": [SPECS[3]]}))
    assert c.run().data["figures"] == [SPECS[3].to_dict()]


def test_an_outcome_whose_key_names_no_metric_is_refused():
    from pkverify.claims.registry import Outcome

    with pytest.raises(InvalidArgumentError, match="names no metric"):
        Outcome(passed=True, metrics={"slope": 1.0}, key="epsilon")

"""Registry mechanics, with throwaway claims registered (and removed) by the tests.

Lookups go through the catalog (which loads the real families: registering them is cheap);
the tests are about the registry and the catalog, not about any one claim.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pkverify.claims import catalog, registry
from pkverify.claims.registry import CheckConfig, Claim, Outcome, Result
from pkverify.errors import InvalidArgumentError, UnknownNameError

FAMILY = "zz_pkverify_unit_test"


@pytest.fixture
def throwaway(monkeypatch):
    """Register claims under FAMILY.*; the registry is restored afterwards."""
    added: list[str] = []

    def add(name, check, tolerance="1e-12 — rounding", **kw):
        cid = f"{FAMILY}.{name}"
        registry.claim(
            cid,
            title=kw.get("title", f"throwaway {name}"),
            statement=kw.get("statement", r"a = a"),
            source=kw.get("source", "unit test"),
            tolerance=tolerance,
        )(check)
        added.append(cid)
        return cid

    yield add
    for cid in added:
        registry._REGISTRY.pop(cid, None)
    assert not any(k.startswith(FAMILY) for k in registry._REGISTRY)


def test_claim_decorator_registers_and_returns_the_function(throwaway):
    def check(cfg):
        return Outcome(True)

    returned = registry.claim(
        f"{FAMILY}.deco", title="t", statement="s", source="src", tolerance="tol"
    )(check)
    try:
        assert returned is check
        c = registry._REGISTRY[f"{FAMILY}.deco"]
        assert isinstance(c, Claim)
        assert (c.title, c.statement, c.source, c.tolerance) == ("t", "s", "src", "tol")
        assert c.family == FAMILY
    finally:
        registry._REGISTRY.pop(f"{FAMILY}.deco")


def test_registering_an_id_twice_is_refused(throwaway):
    throwaway("dup", lambda cfg: Outcome(True))
    with pytest.raises(InvalidArgumentError, match="registered twice"):
        throwaway("dup", lambda cfg: Outcome(False))


@pytest.mark.parametrize(
    "passed, status, ok",
    [(True, "pass", True), (False, "fail", False), (None, "report", True)],
)
def test_outcome_becomes_status(throwaway, passed, status, ok):
    cid = throwaway("s", lambda cfg: Outcome(passed, metrics={"err": 1e-14}, message="m"))
    r = catalog.get(cid).run()
    assert isinstance(r, Result)
    assert (r.status, r.ok) == (status, ok)
    assert r.id == cid and r.message == "m" and r.metrics == {"err": 1e-14}
    assert r.tolerance == "1e-12 — rounding" and r.source == "unit test"
    assert r.seconds >= 0.0


def test_numpy_truthiness_is_accepted(throwaway):
    cid = throwaway("np", lambda cfg: Outcome(np.float64(1e-15) <= 1e-12))
    assert catalog.get(cid).run().status == "pass"


def test_a_crashing_check_is_an_error_not_a_pass(throwaway):
    def check(cfg):
        raise ZeroDivisionError("boom")

    cid = throwaway("crash", check)
    r = catalog.get(cid).run()
    assert r.status == "error" and not r.ok
    assert r.message == "ZeroDivisionError: boom"
    assert "ZeroDivisionError" in r.data["traceback"]


def test_config_reaches_the_check(throwaway):
    seen = []

    def check(cfg):
        seen.append(cfg)
        return Outcome(True)

    cid = throwaway("cfg", check)
    catalog.run([cid], seed=7, quick=True)
    catalog.get(cid).run()
    assert seen == [CheckConfig(seed=7, quick=True), CheckConfig(seed=0, quick=False)]


def test_metrics_and_data_become_plain_json(throwaway):
    def check(cfg):
        return Outcome(
            None,
            metrics={
                "f": np.float64(0.5),
                "i": np.int64(3),
                "nan": float("nan"),
                "inf": math.inf,
                1: "int key",
            },
            data={"arr": np.arange(3.0), "nested": [(np.float32(1.5), np.array([[1, 2]]))]},
        )

    r = catalog.get(throwaway("json", check)).run()
    assert r.metrics == {"f": 0.5, "i": 3, "nan": "nan", "inf": "inf", "1": "int key"}
    assert type(r.metrics["f"]) is float and type(r.metrics["i"]) is int
    assert r.data == {"arr": [0.0, 1.0, 2.0], "nested": [[1.5, [[1, 2]]]]}
    d = r.to_dict()
    assert {"id", "status", "metrics", "tolerance", "source"} <= set(d)
    json.dumps(d, allow_nan=False)  # strict JSON: no NaN/inf, no numpy types


def test_get_unknown_lists_known_ids(throwaway):
    throwaway("known", lambda cfg: Outcome(True))
    with pytest.raises(UnknownNameError, match=f"unknown claim or family 'nope'.*{FAMILY}.known"):
        catalog.get("nope")


def test_select_by_id_and_family_keeps_order_without_duplicates(throwaway):
    a = throwaway("a", lambda cfg: Outcome(True))
    b = throwaway("b", lambda cfg: Outcome(False))
    chosen = catalog.select([b, FAMILY, a])
    assert [c.id for c in chosen] == [b, a]
    assert [c.id for c in catalog.select([FAMILY])] == [a, b]


def test_select_validates_every_id_before_anything_runs(throwaway):
    calls = []
    a = throwaway("a", lambda cfg: calls.append(1) or Outcome(True))
    with pytest.raises(UnknownNameError, match="unknown claim or family 'missing'"):
        catalog.run([a, "missing"])
    assert calls == []


def test_run_returns_one_result_per_claim_in_order(throwaway):
    a = throwaway("a", lambda cfg: Outcome(True))
    b = throwaway("b", lambda cfg: Outcome(False))
    results = catalog.run([FAMILY])
    assert [(r.id, r.status) for r in results] == [(a, "pass"), (b, "fail")]


def test_all_claims_in_registration_order(throwaway):
    a = throwaway("first", lambda cfg: Outcome(True))
    b = throwaway("second", lambda cfg: Outcome(True))
    ids = [c.id for c in catalog.all_claims()]
    assert ids.index(a) < ids.index(b)
    assert [c.id for c in catalog.select(None)] == ids


def test_result_is_frozen(throwaway):
    r = catalog.get(throwaway("frozen", lambda cfg: Outcome(True))).run()
    with pytest.raises(AttributeError):
        r.status = "fail"


def test_registry_imports_no_family():
    """The registry (types + decorator) sits below the families: importing it loads none of
    them; the catalog above loads them all (design.md §3: nothing imports upward)."""
    import subprocess
    import sys

    code = (
        "import sys, pkverify.claims.registry\n"
        "print(sorted(m for m in sys.modules if m.startswith('pkverify.claims.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['pkverify.claims.registry']"


def test_each_claim_lives_in_the_file_named_as_its_id():
    """``kernel.*`` in claims/kernel.py, ``vector_output`` in claims/vector_output.py, the
    ``remarkN`` family in claims/remarks.py: a reader finds a claim by its id."""
    for c in catalog.all_claims():
        if c.family.startswith(FAMILY):
            continue
        home = c.check.__module__.rsplit(".", 1)[-1]
        assert home in (c.family, c.group, c.group + "s"), (c.id, c.check.__module__)

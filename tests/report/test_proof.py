"""The proof walkthrough: every step of Theorem 1 and Lemma 1, symbolic and numeric."""

from __future__ import annotations

from pkverify.symbolic.proof import LEMMA1_KEYS, THEOREM1_KEYS


def test_steps_are_in_the_proofs_order_and_all_verified(small_report):
    proof = small_report[1]["proof"]
    theorem, lemma = proof["proofs"]
    assert [s["key"] for s in theorem["steps"]] == [*THEOREM1_KEYS, "reconstruction"]
    assert [s["key"] for s in lemma["steps"]] == list(LEMMA1_KEYS)
    for p in proof["proofs"]:
        for step in p["steps"]:
            assert step["sentence"] and step["latex"]
            if step["key"] != "reconstruction":
                assert step["symbolic"]["ok"] is True, step["key"]
            assert step["numeric"], f"{step['key']} has no numeric check"
            for check in step["numeric"]:
                assert check["reason"]
                if check["tolerance"] is not None:
                    assert check["ok"] is True and check["value"] <= check["tolerance"]
    assert proof["ok"] is True


def test_the_numeric_side_is_not_vacuous(small_report):
    steps = {s["key"]: s for s in small_report[1]["proof"]["proofs"][0]["steps"]}
    # the flipped sign (a_i = +ℓ̄'_i) must miss the trained model by a wide margin
    flipped = steps["coefficients"]["numeric"][1]
    assert flipped["tolerance"] is None and flipped["value"] > 0.5
    # the Riemann sum on a finite-step path is off at O(ε), visibly above rounding
    riemann = steps["integration"]["numeric"][1]
    assert 1e-6 < riemann["value"] < 0.1
    # ε → 0: the Riemann error falls at first order
    slope = steps["reconstruction"]["numeric"][1]["value"]
    assert 0.8 <= slope <= 1.2  # first order, as theorem1.rate judges it


def test_the_walkthrough_figures_have_kinds_the_report_draws(small_report):
    from pkverify.claims.figures import KINDS

    figures = [f for p in small_report[1]["proof"]["proofs"] for s in p["steps"]
               for f in s["figures"]]
    assert len(figures) >= 4 and {f["kind"] for f in figures} <= set(KINDS)


def test_a_failing_step_makes_the_walkthrough_fail(monkeypatch):
    from pkverify.report import proof as report_proof
    from pkverify.symbolic import proof as sym

    real = sym.verify_proof
    monkeypatch.setattr(sym, "verify_proof",
                        lambda name: real(name, flip="coefficients" if name == "theorem1"
                                          else None))
    walk = report_proof.walkthrough(0)
    assert walk["ok"] is False
    bad = [s["key"] for s in walk["proofs"][0]["steps"]
           if s["symbolic"] is not None and not s["symbolic"]["ok"]]
    assert bad == ["coefficients"]

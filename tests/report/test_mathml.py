"""latex2mathml renders every statement the report shows: claims and proof steps."""

from __future__ import annotations

import pytest

from pkverify.claims.catalog import all_claims
from pkverify.report.mathml import to_mathml, unconverted


def _texts():
    from pkverify.report.proof import _RECONSTRUCTION
    from pkverify.symbolic.proof import verify_proof

    texts = {c.id: c.statement for c in all_claims()}
    for name in ("theorem1", "lemma1"):
        texts.update({f"{name}.{s.key}": s.latex for s in verify_proof(name)})
    texts["reconstruction"] = _RECONSTRUCTION["latex"]
    return texts


def test_every_statement_converts_with_no_latex_left():
    for key, tex in _texts().items():
        out = to_mathml(tex)
        assert out.startswith("<math"), key
        assert unconverted(out) == [], key


@pytest.mark.parametrize(
    "tex, char",
    [
        (r"\bar\ell'_i", "&#x02113;"),  # ℓ
        (r"\varepsilon", "&#x003B5;"),  # ε
        (r"\mathbb{E}", "&#x1D53C;"),  # 𝔼
        (r"\int_0^T", "&#x0222B;"),  # ∫
        (r"\nabla_w f", "&#x02207;"),  # ∇
        (r"\sum_i", "&#x02211;"),  # ∑
        (r"\langle a \rangle", "&#x027E8;"),  # ⟨
        (r"\xrightarrow{\epsilon\to 0}", "&#x02192;"),  # →
        (r"\tilde\phi", "&#x003D5;"),  # ϕ
    ],
)
def test_symbols_the_claims_use_become_their_characters(tex, char):
    assert char in to_mathml(tex)


def test_prime_renders_as_a_prime():
    assert "&#x02032;" in to_mathml(r"\ell'_i")  # ′


def test_unconvertible_latex_falls_back_to_code():
    out = to_mathml(r"\frac{1}{")
    assert out.startswith('<code class="tex">')

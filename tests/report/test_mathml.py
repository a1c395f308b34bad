"""latex2mathml renders every statement the report shows: claims and proof steps."""

from __future__ import annotations

import pytest

from pkverify.claims.catalog import all_claims
from pkverify.report.mathml import prose_html, to_mathml, unconverted


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


@pytest.mark.parametrize("tex", [r"\Big\|x\Big\|", r"\{a\}", r"a\,b", r"\alpha", r"\;"])
def test_unconverted_catches_every_backslash_sequence(tex):
    # latex2mathml passes \Big\| through as the text "\|"; a page must never show it
    leftover = "<math><mo>" + tex.replace("<", "&lt;") + "</mo></math>"
    assert unconverted(leftover) != []
    assert unconverted("<p>a &#x02016; b</p>") == []  # ‖ as an entity is converted text


def test_the_two_broken_formulas_render():
    from pkverify.symbolic.proof import verify_proof

    steps = {f"{n}.{s.key}": s.latex for n in ("theorem1", "lemma1") for s in verify_proof(n)}
    flow, psd = to_mathml(steps["theorem1.gradient_flow"]), to_mathml(steps["lemma1.psd"])
    assert "<mpadded" not in flow  # \xrightarrow's label box overprinted "dw" in Chromium
    assert "&#x027F6;" in flow and "<munder>" in flow  # ⟶ with ε → 0 under it
    assert flow.count("&#x02016;") == 0 and psd.count("&#x02016;") == 2  # ‖ … ‖, no "\|"


def test_formulas_are_displays_and_notation_in_prose_is_inline_math():
    assert to_mathml(r"\sum_i a_i").startswith('<math xmlns="http://www.w3.org/1998/Math/MathML" '
                                                'display="block"')
    out = prose_html("Lemma 2: ‖H(0) − H*‖₂ shrinks like m^{-1/2} and e^{−λ_i t}, K^g_{w(t)}")
    assert out.count('display="inline"') == 3 and unconverted(out) == []
    assert "^{" not in out and "_{" not in out and out.startswith("Lemma 2: ‖H(0) − H*‖₂")
    assert prose_html("relu_depth2_slope & x<y") == "relu_depth2_slope &amp; x&lt;y"
    assert prose_html("w_T_rel_err, max_i") == "w_T_rel_err, max_i"  # identifiers stay
    assert prose_html("e^{−λ_i t}v_iᵀ(u − y)").count("<math") == 2  # juxtaposed tokens


def test_numbers_in_prose_do_not_break():
    out = prose_html("error 1.89e-14, slope -0.57")
    assert '<span class="num">1.89e-14</span>' in out and '<span class="num">-0.57</span>' in out


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

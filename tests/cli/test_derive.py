"""`pkverify derive`: every option honoured or refused; text, LaTeX and MathML output."""

from __future__ import annotations

import argparse
import io

import pytest

from pkverify.cli.derive import add, run
from pkverify.errors import InvalidArgumentError, PkVerifyError


def _parse(argv):
    p = argparse.ArgumentParser()
    add(p.add_subparsers())
    return p.parse_args(["derive", *argv])


def _run(argv):
    buf = io.StringIO()
    code = run(_parse(argv), out=buf)
    return code, buf.getvalue()


def test_derive_model_text():
    code, text = _run(["--model", "two_layer", "--width", "2", "--activation", "tanh"])
    assert code == 0
    assert "∂f/∂w_11" in text and "Tangent kernel" in text and "tanh" in text


@pytest.mark.parametrize("fmt,marker", [("latex", "\\max"), ("mathml", "<m")])
def test_derive_model_formats(fmt, marker):
    code, text = _run(["--model", "mlp", "--width", "2", "--depth", "1", "--activation", "relu",
                       "--format", fmt])
    assert code == 0 and marker in text


def test_derive_linear():
    code, text = _run(["--model", "linear", "--dim", "2"])
    assert code == 0 and "[b]" in text


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_derive_ntk(act):
    code, text = _run(["--ntk", act, "--depth", "2"])
    assert code == 0 and "H*" in text and "✓" in text and "✗" not in text


@pytest.mark.parametrize("proof", ["theorem1", "lemma1"])
def test_derive_proof(proof):
    code, text = _run(["--proof", proof])
    assert code == 0 and text.count("✓") >= 4 and "All steps verified" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "cnn"],
        ["--model", "two_layer", "--activation", "gelu"],
        ["--model", "two_layer", "--width", "50"],
        ["--model", "mlp", "--depth", "3"],
        ["--model", "two_layer", "--width", "0"],
        ["--ntk", "tanh"],
        ["--proof", "theorem9"],
        ["--model", "linear", "--format", "pdf"],
    ],
)
def test_derive_bad_arguments(argv):
    with pytest.raises(PkVerifyError):
        _run(argv)


def test_run_derive_needs_exactly_one_target():
    with pytest.raises(InvalidArgumentError):
        run(argparse.Namespace(model=None, ntk=None, proof=None, format="text"))




# ----- readable output (issue 17) -------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--proof", "theorem1"], ["--proof", "lemma1"],
                                  ["--ntk", "relu"], ["--ntk", "erf"]])
def test_text_output_has_no_raw_latex(argv):
    code, text = _run(argv)
    assert code == 0
    assert "\\" not in text, [line for line in text.splitlines() if "\\" in line][:3]


def test_numerical_constants_are_named_and_explained():
    import re

    code, text = _run(["--model", "mlp", "--activation", "tanh", "--width", "2"])
    assert code == 0
    # √(c_σ/m) for tanh, m = 2: c_σ = 1/E[tanh(z)²] (pkverify.activations, by quadrature)
    from pkverify.activations import c_sigma

    scale = (c_sigma("tanh") / 2) ** 0.5
    head, _, body = text.partition("f(w, x) =")
    assert "s = √(c_σ/m) = " in head and "c_σ = 1/E[σ(z)²]" in head and "m = 2" in head
    assert f"= {scale!r}," in head  # the same float64 value, printed in full
    # no decimal constant is left in the formulas themselves
    assert not re.search(r"\d\.\d{6,}", body), re.search(r".*\d\.\d{6,}.*", body)


@pytest.mark.parametrize("argv", [["--model", "two_layer", "--activation", "tanh"],
                                  ["--ntk", "erf"], ["--model", "mlp", "--activation", "sigmoid"]])
def test_mathml_is_one_well_formed_page(argv):
    import xml.etree.ElementTree as ET

    code, text = _run([*argv, "--format", "mathml"])
    assert code == 0 and text.startswith("<!DOCTYPE html>\n")
    root = ET.fromstring(text.split("\n", 1)[1])  # XHTML-compatible: parses as XML
    mathml = "{http://www.w3.org/1998/Math/MathML}math"
    maths = [el for el in root.iter() if el.tag in ("math", mathml)]
    assert maths and all(m.get("display") == "block" for m in maths)
    body = root.find("body")
    # every formula sits in its own block; prose is in paragraphs, never bare text
    assert all(child.tag in ("h1", "p", "div") for child in body)
    assert not (body.text or "").strip()
    assert text.count("<math") == len(maths)

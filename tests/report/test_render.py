"""index.html and report.md: every claim, its statement as math, its figures, no network."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pkverify.report.content import figure_slots
from pkverify.report.mathml import text_of, unconverted
from pkverify.report.notation import TOKEN

from .conftest import CLAIMS


def test_html_is_self_contained(small_report):
    text = (small_report[0] / "index.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for forbidden in ("<script", "<link", "<img", "<iframe", "@import", "src=", "url(http"):
        assert forbidden not in text, forbidden
    # the only URLs are XML namespace names (never fetched)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/1998/Math/MathML", "http://www.w3.org/2000/svg",
                    "http://www.w3.org/1999/xlink"}, urls
    assert "default-src 'none'" in text
    assert "<image" not in text and "data:" not in text  # the policy would block them


def test_html_has_the_summary_each_claim_math_and_figures(small_report):
    folder, payload = small_report
    text = (folder / "index.html").read_text(encoding="utf-8")
    assert 'id="summary-table"' in text
    for cid in CLAIMS:
        assert f'id="claim-{cid}"' in text
        assert f"pkverify verify --claims {cid} --seed 3 --quick" in text
    n_statements = len(CLAIMS) + sum(len(p["steps"]) for p in payload["proof"]["proofs"])
    assert text.count("<math ") >= n_statements
    assert "\\frac" not in text and "\\sum" not in text  # no raw LaTeX left in the page
    n_figures = len(list(figure_slots(payload)))
    assert n_figures >= 5  # remark5's gap plot and the proof's figures
    assert text.count("<svg ") == n_figures
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids)), "inline SVGs must not share element ids"


def test_markdown_has_latex_math_and_figure_files(small_report):
    folder, payload = small_report
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# pkverify correctness report")
    for cid in CLAIMS:
        assert f"## {cid}" in text
    assert "$$\nK^p" not in text  # statements are inside $$ blocks, each on its own lines
    assert text.count("$$") % 2 == 0 and text.count("$$") >= 2 * len(CLAIMS)
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.svg)\)", text)
    assert linked and len(linked) == len(list(figure_slots(payload)))
    for rel in linked:
        ET.parse(folder / rel)  # each figure exists and is well-formed XML
    assert {p.name for p in (folder / "figures").iterdir()} == {r.split("/")[1] for r in linked}
    assert "## The proof, step by step" in text and "## Environment" in text


def test_written_files_get_the_users_umask(small_report):
    folder, _ = small_report
    import os

    mask = os.umask(0)
    os.umask(mask)
    for path in [folder, folder / "figures", *folder.iterdir(), *(folder / "figures").iterdir()]:
        mode = path.stat().st_mode & 0o777
        want = (0o777 if path.is_dir() else 0o666) & ~mask
        assert mode == want, (path, oct(mode), oct(want))


def test_no_latex_and_no_raw_scripts_in_what_the_reader_sees(small_report):
    text = (small_report[0] / "index.html").read_text(encoding="utf-8")
    assert unconverted(text) == []  # no backslash sequence anywhere: \| \{ \, \alpha ...
    seen = text_of(text)
    assert "^{" not in seen and "_{" not in seen
    assert TOKEN.findall(seen) == []  # K^g, x_i, m^{-1/2}: MathML, not carets and underscores


def test_the_key_figure_is_the_measured_one_the_result_names(small_report):
    folder, payload = small_report
    text = (folder / "index.html").read_text(encoding="utf-8")
    for c in payload["claims"]:
        assert c["key"] in c["metrics"], c["id"]
        shown = f"{c['key']} = "
        assert shown in text_of(text.split('id="summary-table"')[1].split("</table>")[0])
    ntk = next(c for c in payload["claims"] if c["id"] == "symbolic.ntk_infinite")
    assert ntk["key"] == "relu_mc_max_z"


def test_numbers_and_figures_are_laid_out_to_be_read(small_report):
    text = (small_report[0] / "index.html").read_text(encoding="utf-8")
    assert '<td class="value">' in text and ".num,td.value{white-space:nowrap}" in text
    assert "figure svg{display:block;width:100%;max-width:760px" in text
    assert '"Latin Modern Math"' in text  # a math font: display sums and integrals at full size

"""Every figure kind draws to well-formed, deterministic SVG, whatever claim made it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pkverify.claims import figures as fig
from pkverify.report.plots import inline_svg, render_svg

SPECS = {
    "loglog_rate": fig.loglog_rate("rate", [0.1, 0.05, 0.025], {"a": [1e-2, 5e-3, 0.0]},
                                   slopes={"a": 1.0}, xlabel="eps", ylabel="err",
                                   reference_slope=1.0),
    "heatmap": fig.heatmap("maps", {"left": [[1, 2], [3, 4]], "right": [[0, 1], [1, 0]]}),
    "bars": fig.bars("bars", ["x_0", "x_1"], [1.5, -0.5], baseline=0.25, total=1.25),
    "curves": fig.curves("curves", [0, 1, 2], {"s": [1.0, "nan", 3.0]}, xlabel="t",
                         ylabel="y", logy=True),
}


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_each_kind_renders_to_svg_with_its_title(kind):
    svg = render_svg(SPECS[kind])
    root = ET.fromstring(svg.encode())
    assert root.tag.endswith("svg")
    assert SPECS[kind]["title"] in svg
    assert render_svg(SPECS[kind]) == svg  # deterministic


def test_heatmaps_are_vector_cells_not_raster_images():
    # a raster would be a data: URI, which the page's Content-Security-Policy blocks
    svg = render_svg(SPECS["heatmap"])
    assert "<image" not in svg and "data:" not in svg


def test_bars_state_the_sum_they_explain():
    svg = render_svg(SPECS["bars"])
    assert "Σ bars = 1" in svg and "prediction − b(x) = 1" in svg  # 1.5 − 0.5 = 1.25 − 0.25


def test_every_kind_in_the_catalogue_has_a_renderer():
    from pkverify.report.plots import RENDERERS

    assert set(fig.KINDS) == set(RENDERERS)


def test_unknown_kind_draws_a_note_instead_of_failing():
    svg = render_svg({"kind": "pie", "title": "t"})
    assert "no renderer for figure kind" in svg


def test_inline_svg_prefixes_ids_and_their_references():
    body = inline_svg(render_svg(SPECS["loglog_rate"]), "f7")
    assert body.startswith("<svg") and "<?xml" not in body
    import re

    ids = re.findall(r'\bid="([^"]+)"', body)
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', body)
    assert ids and all(i.startswith("f7-") for i in ids)
    assert all(r.startswith("f7-") for r in refs) and set(refs) <= set(ids)

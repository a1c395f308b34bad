"""Every figure kind draws to well-formed, deterministic SVG, whatever claim made it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pkverify.claims import figures as fig
from pkverify.report.plots import draw, inline_svg, render_svg

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
    assert SPECS[kind].title in svg
    assert render_svg(SPECS[kind]) == svg  # deterministic
    assert render_svg(SPECS[kind].to_dict()) == svg  # the JSON form draws the same figure


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


def _legend_and_lines(fig):
    """(legend box, every plotted vertex) in display coordinates, after drawing."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent(renderer)
    points = np.concatenate([line.get_transform().transform(line.get_xydata())
                             for line in ax.get_lines()])
    return box, points, ax.get_window_extent(renderer)


@pytest.mark.parametrize("kind", ["loglog_rate", "curves"])
def test_legends_never_cover_a_curve(kind):
    # eight curves filling the whole axes, top to bottom: an in-axes legend would sit on one
    x = [0.1, 0.2, 0.4, 0.8, 1.6]
    series = {f"i = {k}": [10.0 ** (k - v) for v in range(5)] for k in range(8)}
    spec = (fig.loglog_rate("t", x, series, xlabel="x", ylabel="y") if kind == "loglog_rate"
            else fig.curves("t", x, series, xlabel="x", ylabel="y", logy=True))
    box, points, axes = _legend_and_lines(draw(spec))
    assert len(points) >= 40
    inside = [(px, py) for px, py in points
              if box.x0 <= px <= box.x1 and box.y0 <= py <= box.y1]
    assert inside == []
    assert box.x0 >= axes.x1  # beside the axes, not over them


def test_notation_is_drawn_as_math_not_raw_scripts():
    spec = fig.curves("The integrand: K^g_{w(t)}(x, x_i) along the path", [0, 1], {"λ_1": [1, 2]},
                      xlabel="flow time t", ylabel="decay e^{−λt}, rate m^{-1/2}")
    figure = draw(spec)
    texts = [figure._suptitle.get_text(), figure.axes[0].get_ylabel(),
             *[t.get_text() for t in figure.axes[0].get_legend().get_texts()]]
    assert texts[0] == "The integrand: $K^g_{w(t)}$(x, $x_i$) along the path"
    assert texts[1] == "decay $e^{-λt}$, rate $m^{-1/2}$"
    assert texts[2] == "$λ_{1}$"
    import re

    # matplotlib keeps each label's source in an XML comment; what is drawn is the rest
    drawn = re.sub(r"<!--.*?-->", "", render_svg(spec), flags=re.S)
    assert "^{" not in drawn and "_{" not in drawn and "x_i" not in drawn


def test_figures_are_drawn_wide_enough_to_read():
    # the page shows a figure at up to 760 px; drawn narrower it would be scaled up blurry-free
    # but its text would shrink relative to the page; 7 in at 100 dpi is ≈ 700 px
    width_in = draw(SPECS["curves"]).get_size_inches()[0]
    assert width_in * 100 >= 650


def test_a_spec_of_a_known_kind_with_a_missing_field_draws_a_note():
    svg = render_svg({"kind": "bars", "title": "t"})
    assert "labels" in svg and "values" in svg  # the note names the missing fields

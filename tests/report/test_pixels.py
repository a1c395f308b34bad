"""Inputs drawn as images in the explain page: shapes parsed and checked, pixels mapped."""

from __future__ import annotations

import re

import numpy as np
import pytest

from pkverify.errors import InvalidArgumentError
from pkverify.report.pixels import image_shape_for, image_svg, parse_image_shape


@pytest.mark.parametrize("value", ["8x8", "8X8", "8×8", (8, 8), (1, 8, 8), [1, 8, 8]])
def test_image_shapes_parse(value):
    assert parse_image_shape(value, 64) == (8, 8)


@pytest.mark.parametrize("value, dim, message", [
    ("8x8", 63, "does not fit inputs of 63"),
    ("8", 64, "HxW"), ("axb", 64, "HxW"), ((3, 8, 8), 192, "grey"), ((0, 8), 0, "HxW"),
])
def test_bad_image_shapes_are_refused(value, dim, message):
    with pytest.raises(InvalidArgumentError, match=message):
        parse_image_shape(value, dim)


def test_pixels_are_grey_squares_min_white_max_black():
    svg = image_svg(np.array([0.0, 1.0, 2.0, 4.0]), (2, 2), pixel=5, title="t")
    assert 'width="10" height="10"' in svg and 'viewBox="0 0 2 2"' in svg
    fills = dict(((int(x), int(y)), f) for x, y, f in
                 re.findall(r'<rect x="(\d)" y="(\d)" width="1" height="1" fill="#(\w+)"', svg))
    # (x, y) = (column, row); 0 is the background (white, not drawn), 4 black, 1 and 2 between
    assert (0, 0) not in fills and fills[(1, 1)] == "000000"
    assert fills[(1, 0)] == f"{round(255 * 0.75):02x}" * 3
    assert fills[(0, 1)] == f"{round(255 * 0.5):02x}" * 3
    assert "<title>t</title>" in svg


def test_a_model_without_an_image_input_has_no_image_shape():
    import pkverify as pk

    assert image_shape_for(pk.models.mlp([3, 4, 1])) is None

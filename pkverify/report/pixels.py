"""Image inputs drawn as small inline SVG pixel grids (for ``pkverify explain`` on images).

``image_shape`` is the shape of one input as an image: ``(H, W)`` grey, or ``(1, H, W)`` as
a PyTorch module takes it. Each pixel is a square whose grey level maps the input's own range
(per image: min → white, max → black, as digits are drawn), so no data leaves the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["parse_image_shape", "image_shape_for", "image_svg"]


def parse_image_shape(value: Any, dim: int) -> tuple[int, int]:
    """``"8x8"``, ``(8, 8)`` or ``(1, 8, 8)`` → ``(H, W)`` with ``H·W = dim`` (the input size)."""
    if isinstance(value, str):
        try:
            parts: Sequence[Any] = [int(p) for p in value.lower().replace("×", "x").split("x")]
        except ValueError:
            parts = ()
    else:
        try:
            parts = [int(p) for p in value]
        except (TypeError, ValueError):
            parts = ()
    if len(parts) == 3 and parts[0] == 1:
        parts = parts[1:]
    if len(parts) != 2 or min(parts) < 1:
        raise InvalidArgumentError(
            f"the image shape must be HxW (e.g. 8x8) or (1, H, W) for grey images; got "
            f"{value!r}."
        )
    h, w = int(parts[0]), int(parts[1])
    if h * w != dim:
        raise InvalidArgumentError(
            f"an image of {h}x{w} = {h * w} pixels does not fit inputs of {dim} numbers; give "
            "the shape of one input, e.g. 8x8 for 64 inputs."
        )
    return h, w


def image_shape_for(model: Any) -> tuple[int, int] | None:
    """A torch or JAX model's grey image shape from its input shape ``(1, H, W)`` (NCHW),
    or a JAX model's ``(H, W, 1)`` (NHWC, Flax's convention), else None."""
    foreign = getattr(model, "foreign", None)
    shape = getattr(foreign, "input_shape", None)
    if shape is not None and len(shape) == 3 and shape[0] == 1:
        return int(shape[1]), int(shape[2])
    nhwc = getattr(foreign, "framework", "") == "jax"
    if shape is not None and len(shape) == 3 and shape[2] == 1 and nhwc:
        return int(shape[0]), int(shape[1])
    return None


def image_svg(x: Any, shape: tuple[int, int], pixel: int = 6, title: str = "") -> str:
    """One input as an ``H·pixel × W·pixel`` SVG of grey squares (its min white, max black)."""
    from html import escape

    h, w = shape
    img = np.asarray(x, dtype=np.float64).reshape(h, w)
    lo, hi = float(img.min()), float(img.max())
    grey = np.zeros_like(img) if hi == lo else (img - lo) / (hi - lo)
    rects = []
    for r in range(h):
        for c in range(w):
            level = int(round(255 * (1.0 - grey[r, c])))
            if level < 255:  # white pixels are the background
                rects.append(f'<rect x="{c}" y="{r}" width="1" height="1" '
                             f'fill="#{level:02x}{level:02x}{level:02x}"/>')
    tip = f"<title>{escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * pixel}" height="{h * pixel}" '
            f'viewBox="0 0 {w} {h}" role="img" shape-rendering="crispEdges">'
            f'{tip}<rect width="{w}" height="{h}" fill="#fff"/>{"".join(rects)}</svg>')

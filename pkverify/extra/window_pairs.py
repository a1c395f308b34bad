"""The element pairs of every window of a max-pooling (or of a max over whole axes), as flat
indices: the switch values of such an op are these pairs' differences, for any framework
(``pkverify.extra.torch_switches``, ``pkverify.extra.jax_switches``; NumPy only here).

A window's winner — the element the max passes on, and the one its derivative selects —
changes only where the old and the new winner are equal, a sign change of their difference.
So the differences ``x[i] − x[j]`` of all pairs ``i < j`` of a window change sign at every
change of its winner; crossings between two non-winners split the step too, which costs
nodes but never exactness. Elements outside the input (padding, and the holes that a base
dilation inserts) never win; pairs with one are marked invalid, and the adapters hold their
switch value at 1 (no sign change).

Geometry, per axis of length n (XLA's ``reduce_window``, of which torch's pooling is the
case ``base_dilation = 1`` with equal low and high padding): the input dilated by
``base_dilation`` and padded by ``(lo, hi)`` has length ``lo + (n − 1)·base + 1 + hi``;
window o covers positions ``o·stride + k·window_dilation − lo`` (k < window) of the
dilated input, which is element ``position / base`` where that is a whole number in
``[0, n)``, and padding otherwise; there are ``⌊(length − span)/stride⌋ + 1`` windows with
``span = (window − 1)·window_dilation + 1``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = ["window_pairs", "reduction_pairs"]


def _axis(n: int, window: int, stride: int, pad: tuple[int, int], base: int,
          dilation: int) -> np.ndarray:
    """Per window (rows) and window element (columns): the input index, −1 for padding."""
    length = pad[0] + pad[1] + ((n - 1) * base + 1 if n > 0 else 0)
    span = (window - 1) * dilation + 1
    out = max(0, (length - span) // stride + 1)
    pos = np.arange(out)[:, None] * stride + np.arange(window)[None, :] * dilation - pad[0]
    inside = (pos >= 0) & (pos % base == 0) & (pos // base < n)
    return np.where(inside, pos // base, -1)


@functools.lru_cache(maxsize=64)
def window_pairs(shape: tuple[int, ...], window: tuple[int, ...], strides: tuple[int, ...],
                 padding: tuple[tuple[int, int], ...], base_dilation: tuple[int, ...] | None
                 = None, window_dilation: tuple[int, ...] | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(I, J, valid)``, each ``(windows, pairs)``: the C-order flat indices into an array of
    ``shape`` of the elements ``i < j`` of every pair of every window (windows in C order of
    the output, elements in C order of the window), ``valid`` False where either is padding
    (its I, J are 0 there). Windowing every axis of ``shape`` (module docstring)."""
    d = len(shape)
    base = base_dilation or (1,) * d
    dil = window_dilation or (1,) * d
    flat = np.zeros((1, 1), dtype=np.int64)
    ok = np.ones((1, 1), dtype=bool)
    step = int(np.prod(shape, dtype=np.int64))
    for a in range(d):
        step //= max(1, shape[a])
        idx = _axis(shape[a], window[a], strides[a], padding[a], base[a], dil[a])
        o, k = idx.shape
        flat = (flat[:, None, :, None] + (np.maximum(idx, 0) * step)[None, :, None, :]
                ).reshape(flat.shape[0] * o, flat.shape[1] * k)
        ok = (ok[:, None, :, None] & (idx >= 0)[None, :, None, :]).reshape(flat.shape)
    i, j = np.triu_indices(flat.shape[1], 1)
    valid = ok[:, i] & ok[:, j]
    return np.where(valid, flat[:, i], 0), np.where(valid, flat[:, j], 0), valid


def reduction_pairs(shape: tuple[int, ...], axes: Sequence[int] | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`window_pairs` of a max over ``axes`` (all axes when None or empty): one window
    per position of the other axes, covering the reduced axes whole."""
    d = len(shape)
    red = set(range(d)) if not axes else {int(a) % d for a in axes}
    window = tuple(shape[a] if a in red else 1 for a in range(d))
    return window_pairs(tuple(shape), window, (1,) * d, ((0, 0),) * d)

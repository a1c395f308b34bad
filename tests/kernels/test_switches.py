"""kernels.switches: the framework-free kink locator, on switch values whose sign changes are
known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from pkverify.errors import ShapeError
from pkverify.kernels.switches import LEVELS, locate_switches

EPS = float(np.finfo(np.float64).eps)
# a root of a switch value with slope O(1) whose values carry O(1) rounding: located to a few
# ulps of τ after the Newton steps on the true values; 1e-13 leaves a margin of ~500 ulps
TAU_TOL = 1e-13


def test_two_crossings_inside_one_coarse_grid_cell_are_both_found():
    # (τ − c)² − δ² dips below zero on (c − δ, c + δ) only: every point of the coarsest
    # Chebyshev grid (and of a uniform grid of 101) sees the same sign
    c, delta = 0.3712, 1e-4

    def values(rows, taus):
        return [((taus - c) ** 2 - delta**2)[:, None]]

    grid = np.cos(np.arange(LEVELS[0]) * np.pi / (LEVELS[0] - 1)) * 0.5 + 0.5
    assert np.all(values(None, grid)[0] > 0) and np.all(values(None, np.linspace(0, 1, 101))[0] > 0)
    found = locate_switches(values, 1, EPS)
    np.testing.assert_allclose(found.kinks[0], [c - delta, c + delta], rtol=0, atol=TAU_TOL)
    assert found.unresolved == 0


def test_later_ops_are_located_on_the_pieces_of_earlier_ones():
    # op 0 switches at τ = 0.3 per row (shifted by the row); op 1 is relu(op 0) − c: smooth
    # only between op 0's kinks, root where τ − 0.3 − r/10 = c
    def values(rows, taus):
        z0 = taus - 0.3 - 0.1 * rows
        z1 = np.maximum(z0, 0.0) - 0.25
        return [z0[:, None], np.stack([z1, np.sin(9.0 * taus) - 0.5], axis=1)]

    found = locate_switches(values, 3, EPS)
    sin_roots = [np.arcsin(0.5) / 9.0, (np.pi - np.arcsin(0.5)) / 9.0,
                 (2 * np.pi + np.arcsin(0.5)) / 9.0, (3 * np.pi - np.arcsin(0.5)) / 9.0]
    sin_roots = [t for t in sin_roots if t < 1.0]
    for r in range(3):
        expect = sorted(sin_roots + [0.3 + 0.1 * r, 0.55 + 0.1 * r])
        np.testing.assert_allclose(found.kinks[r], expect, rtol=0, atol=TAU_TOL)


def test_a_kink_the_switch_values_hide_is_counted_unresolved_and_still_bracketed():
    # |τ − 0.4| − 0.1: the adapter "missed" the abs, so the values are not smooth on the
    # piece: the interpolant never reaches rounding, and the sign changes are still refined
    # on the true values
    def values(rows, taus):
        return [(np.abs(taus - 0.4) - 0.1)[:, None]]

    found = locate_switches(values, 1, EPS)
    assert found.unresolved >= 1
    np.testing.assert_allclose(found.kinks[0], [0.3, 0.5], rtol=0, atol=TAU_TOL)


def test_no_ops_and_sign_definite_values_give_no_kinks():
    assert [k.size for k in locate_switches(lambda r, t: [], 2, EPS).kinks] == [0, 0]
    found = locate_switches(lambda r, t: [np.stack([1.0 + t, np.zeros_like(t)], 1)], 2, EPS)
    assert [k.size for k in found.kinks] == [0, 0]
    assert found.evaluations == 2 * LEVELS[0]  # one sample set per row, no refinement


def test_switch_values_that_change_shape_are_refused():
    calls = []

    def values(rows, taus):
        calls.append(1)
        return [(taus - 0.5)[:, None]] * (1 if len(calls) == 1 else 2)

    with pytest.raises(ShapeError, match="piecewise-linear ops"):
        locate_switches(values, 1, EPS)

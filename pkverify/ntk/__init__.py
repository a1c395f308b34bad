"""Infinite-width kernels (H*, the deep recursion) and the ntk-notes' lemmas' numerics.

=================  ==========================================================================
``limits``         ``two_layer_limit`` (H*, eq. 9) and ``mlp_limit`` (eqs. 16–23), in blocks,
                   refusing sizes and quadratures that cannot finish
``dual``           the Gaussian expectations behind them (closed forms and quadrature)
``assumptions``    the lemmas' unit-norm and width checks, ``unit_rows``
``solve``          Cholesky with H*, eq. 15's bound, kernel regression (eq. 8)
``two_layer``      the two-layer net's kernel and gradient flow through the kernel engine
``deep``           eq. 22 per layer and eq. 18's norms from the engine's passes
=================  ==========================================================================
"""

from __future__ import annotations

from .assumptions import UNIT_NORM_TOL, check_unit_norm, check_width, unit_rows
from .dual import dual_kernels, gaussian_expectation
from .limits import KINDS, MAX_QUADRATURE_WORK, mlp_limit, two_layer_limit
from .solve import MAX_CONDITION, generalization_bound, kernel_regression, solve

__all__ = [
    "two_layer_limit",
    "mlp_limit",
    "gaussian_expectation",
    "dual_kernels",
    "KINDS",
    "solve",
    "generalization_bound",
    "kernel_regression",
    "check_unit_norm",
    "check_width",
    "unit_rows",
    "MAX_CONDITION",
    "MAX_QUADRATURE_WORK",
    "UNIT_NORM_TOL",
]

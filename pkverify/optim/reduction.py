"""How a mini-batch's loss is reduced: summed (the paper's form) or averaged (PyTorch's).

``reduction="sum"``: ``L_B(w) = Σ_{i∈B} ℓ_i`` (Domingos 2020 [domingos2020] sums the loss, so
the theorem's terms carry ``ℓ'_i`` itself). ``reduction="mean"``: ``L_B = (1/|B|) Σ_{i∈B} ℓ_i``
(the default of PyTorch's losses), i.e. every ``ℓ'_{i,s}`` of step s is scaled by
``ρ_s = 1/|B_s|``. The regulariser R(w) and weight decay are never divided.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import unknown_name

__all__ = ["REDUCTIONS", "parse_reduction", "batch_weights"]

REDUCTIONS = ("sum", "mean")


def parse_reduction(value: Any) -> str:
    """``"sum"`` or ``"mean"``; UnknownNameError otherwise."""
    if isinstance(value, str) and value in REDUCTIONS:
        return value
    raise unknown_name("reduction", value, REDUCTIONS)


def batch_weights(batches: np.ndarray, reduction: str) -> np.ndarray:
    """``ρ_s I_i(s)``, shape ``(S, n)``: the weight of ℓ'_{i,s} in step s's gradient."""
    I = np.asarray(batches, dtype=np.float64)
    if reduction == "sum":
        return I
    sizes = I.sum(axis=1, keepdims=True)
    return I / np.maximum(sizes, 1.0)

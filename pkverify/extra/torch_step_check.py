"""The torch recorder's reading of a step that pk.optim does not rebuild: which cause the
mismatch's pattern fits (the gaps themselves: :func:`pkverify.extra.recording.step_gaps`).

A recorded step ``Δ_s = w_{s+1} − w_s`` is compared with ``Δ̃_s``, the rule's step
(:meth:`pkverify.optim.Optimizer.advance`) from the batch loss's gradient ``g_s`` recomputed at
``w_s``; the relative gap ``‖Δ_s − Δ̃_s‖/‖Δ_s‖`` is taken over all weights and over each
parameter group's weights. When it is too large, the gradient the optimizer actually used
(``p.grad`` read just before ``optimizer.step()``), ``ĝ``, tells the likely cause:

=========================================  =================================================
pattern                                    likely cause
=========================================  =================================================
the weights did not move, Δ̃_s ≠ 0          a skipped step
ĝ holds inf or NaN                         an overflow (float16 AMP without a GradScaler)
ĝ = 2^k g_s (k ≠ 0)                        AMP loss scaling not undone (GradScaler)
ĝ = c g_s, c < 1                           gradient clipping by norm (``clip_grad_norm_``)
ĝ = c g_s, other c                         the loss multiplied by a constant
several |ĝ_j| equal to max |ĝ| < max |g|   gradient clipping by value (``clip_grad_value_``)
ĝ ≠ g_s by 1e-5 … 1e-1 in every direction  reduced precision: AMP autocast (bf16/fp16)
ĝ = g_s (to 1e-6)                          the update is not the rule's (an option pkverify
                                           does not rebuild, weights changed in the step)
=========================================  =================================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["likely_cause", "PARALLEL_RTOL"]

PARALLEL_RTOL = 1e-6
"""ĝ counts as ``c·g_s`` (or as g_s itself) when its distance from that, relative to ‖ĝ‖, is
below this: the two gradients are the same sums taken in another order, which costs float32's
~6e-8 per term (float64's 1e-16) — 1e-6 leaves margin for float32 modules; a reduced-precision
(bfloat16 / float16) forward pass moves ĝ by ~1e-3, far above it."""

_TINY = float(np.finfo(np.float64).tiny)


def likely_cause(step: np.ndarray, rebuilt: np.ndarray, seen: np.ndarray, g_loss: np.ndarray,
                 rule: Any) -> str:
    """The cause the mismatch's pattern fits (module docstring), as a sentence."""
    if not np.any(step) and np.any(rebuilt):
        return ("the weights did not move although the rule's step is not zero: a skipped "
                "step (optimizer.step() without gradients, or a loop that skips the update; "
                "AMP's GradScaler skips steps whose gradients overflow without calling "
                "optimizer.step(), which the recorder leaves out by itself)")
    if not np.all(np.isfinite(seen)):
        return ("the gradient the optimizer used holds inf or NaN: an overflow, e.g. float16 "
                "AMP without a GradScaler (torch.amp.GradScaler skips such steps)")
    norm_g = max(float(np.linalg.norm(g_loss)), _TINY)
    norm_seen = max(float(np.linalg.norm(seen)), _TINY)
    off = float(np.linalg.norm(seen - g_loss)) / norm_g
    if off <= PARALLEL_RTOL:
        return (f"the gradient is the loss's, but the optimizer's update is not "
                f"{rule.describe()}'s: an option pkverify does not rebuild, or the weights "
                "were changed inside the step")
    c = float(seen @ g_loss) / norm_g ** 2
    if float(np.linalg.norm(seen - c * g_loss)) <= PARALLEL_RTOL * norm_seen and c > 0:
        k = math.log2(c)
        if abs(k - round(k)) <= 1e-9:
            return (f"the gradient the optimizer used is 2^{round(k)} times the batch loss's: "
                    "AMP loss scaling (torch.amp.GradScaler) not undone before the step; step "
                    "through scaler.step(optimizer), and call scaler.unscale_(optimizer) "
                    "before clipping")
        if c < 1.0:
            return (f"the gradient the optimizer used is the batch loss's scaled by {c:.4g} "
                    f"(to norm {norm_seen:.4g}): gradient clipping by norm (clip_grad_norm_)")
        return (f"the gradient the optimizer used is the batch loss's times {c:.4g}: the loss "
                "multiplied by a constant, or a reduction other than the loss module's")
    top = float(np.max(np.abs(seen)))
    if np.count_nonzero(np.abs(seen) == top) >= 2 and top < float(np.max(np.abs(g_loss))):
        return (f"the gradient the optimizer used is cut off at ±{top:.4g} in "
                f"{np.count_nonzero(np.abs(seen) == top)} components: gradient clipping by "
                "value (clip_grad_value_)")
    if 1e-5 <= off <= 1e-1:
        return (f"the gradient the optimizer used differs from the batch loss's by {off:.2e} "
                "(relative) in every direction, as reduced-precision arithmetic does: AMP "
                "autocast (bfloat16 / float16; the recorder recomputes the gradient in the "
                "module's own dtype, so train without autocast for a path the machine rebuilds "
                "exactly), or else gradient clipping, a term added to the loss, or batch "
                "indices that are not the batch")
    return (f"the gradient the optimizer used differs from the batch loss's gradient by "
            f"{off:.2e} (relative): a term added to the loss, batch indices that are not the "
            "batch, gradient clipping or AMP/GradScaler loss scaling")

"""What the exact rule says when it cannot promise rounding error: :class:`PathWarning`, with
the cause that applies to the model (a fixed node count, a built-in network, a foreign model,
a custom model with or without a kink locator) and the fix, once per model object and cause;
and the warning for a path that is not its model's gradient-descent path."""

from __future__ import annotations

import warnings
import weakref
from typing import Any

__all__ = ["PathWarning", "warn_not_exact", "warn_inconsistent"]


class PathWarning(UserWarning):
    """The exact rule did not reach rounding error on a step (a non-smooth custom model
    without a kink locator, a fixed node count too small for the steps, steps too large for
    the quadrature), or the path is not its model's gradient-descent path; the measured figure
    is in the message (and ``km.diagnostics(Xq)``)."""


_WARNED: dict[str, weakref.WeakSet] = {}
"""The models already warned about, per cause (the model objects themselves, held weakly: two
different models that share a name, e.g. two ``mlp``s, are each warned about)."""


def warn_not_exact(model: Any, residual: float, nodes: int | None) -> None:
    """Warn that the exact rule missed rounding on some step, naming the cause that applies
    to this model (once per model object and cause): a fixed node count; a built-in network
    (which locates its own kinks: the steps are beyond the quadrature or the float range);
    or a custom model, where a kink locator or ``smooth=False`` may be missing."""
    builtin = model.network is not None
    if nodes is not None and not (builtin and not model.smooth):
        cause = "nodes"
        why = (f"with a fixed {nodes} Gauss–Legendre node{'s' if nodes > 1 else ''} a step, "
               "steps miss the step identity")
        fix = "Leave nodes=None (the default) to choose nodes per step until rounding."
    elif builtin:
        cause = "builtin" if model.smooth else "builtin_kinked"
        why = ("is split at every kink of every row and still misses the step identity"
               if not model.smooth else
               "did not reach rounding with 65 nodes a step and bisection (steps too large "
               "for the quadrature, or values at the edge of the float range)")
        fix = "Smaller steps (lr) or inputs of moderate size make the rule exact."
    elif getattr(model, "foreign", None) is not None:
        cause = "foreign_kinked" if not model.smooth else "foreign"
        framework = model.foreign.framework
        unlocated = ", ".join(getattr(model.foreign, "unlocated", ())) or "none"
        why = (f"({framework}) has piecewise-linear ops whose kinks inside a step pkverify "
               f"does not locate (unlocated: {unlocated}), and misses the step identity"
               if not model.smooth else
               f"({framework}) did not reach rounding with 65 nodes a step and bisection (a "
               "gradient that jumps inside steps, or steps too large for the quadrature)")
        located = ("relu, leaky relu, clip, abs, maximum/minimum and where on a comparison"
                   if framework == "jax" else "relu, leaky relu, clamp, hardtanh, abs, "
                   "maximum and max-pooling (without ceil_mode)")
        rebuild = ("pk.jax.model(apply_fn, params, smooth=False)" if framework == "jax"
                   else f"pk.{framework}.model(module, smooth=False)")
        fix = (f"{located} are located, as are smooth activations; the residual is recorded "
               "in km.diagnostics(Xq)." if not model.smooth else
               "If the module computes relu/abs/max through a function call the adapter cannot "
               f"see, build the model with {rebuild}.")
    elif model.kinks is not None:
        cause = "located"
        why = "has a kink locator, but steps still miss the step identity"
        fix = "Check that kinks(w, Δ, X) returns every τ in (0, 1) where ∇f jumps."
    elif not model.smooth:
        cause = "unlocated"
        why = "declares kinks (smooth=False) but no locator"
        fix = "Pass kinks=... to pk.models.custom to split steps at the kinks."
    else:
        cause = "custom"
        why = ("did not reach rounding with 65 nodes a step and bisection (a gradient that "
               "jumps inside steps, steps too large for the quadrature, or values at the edge "
               "of the float range)")
        fix = ("If its gradient jumps (relu, abs, max), pass smooth=False and kinks=... to "
               "pk.models.custom.")
    if cause != "nodes":  # a fixed count is the caller's choice: warn on every pass
        seen = _WARNED.setdefault(cause, weakref.WeakSet())
        if model in seen:
            return
        seen.add(model)
    warnings.warn(
        f"model {model.name!r} {why}: the exact rule cannot promise rounding error on it; "
        f"the worst step identity residual is {residual:.2e} (relative to the identity's "
        f"rounding scale; see km.diagnostics(Xq)). {fix}",
        PathWarning,
        stacklevel=4,
    )


def warn_inconsistent(step: int, mismatch: float) -> None:
    """Warn that a path is not the gradient-descent path of its own model and data."""
    warnings.warn(
        f"this path is not the gradient-descent path of its model on its data: at step {step} "
        f"the recorded step differs from −ε∇L by {mismatch:.2e} (relative). The kernel "
        "machine rebuilds the path it was given, which no longer equals the one training "
        "would take (an edited trajectory file, or batches/data changed after training).",
        PathWarning,
        stacklevel=4,
    )

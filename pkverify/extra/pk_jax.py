"""``pk.jax``: a pure JAX function over a parameter pytree (a Flax ``Module.apply``
included) as a pkverify model.

=================================  ==============================================================
``model(apply_fn, params)``        the function as a :class:`~pkverify.models.base.Model`
                                   over the raveled pytree (:mod:`.jax`)
``flatten(model.foreign, params)`` a params pytree of the model's structure as the flat w
``x64_enabled()``                  whether JAX computes in float64 (``jax_enable_x64``)
``gradient_jumps(fn, params, x)``  the JVP's operations whose value jumps (:mod:`.jax_smooth`)
``Recorder(apply_fn, params, X,    records a functional optax loop (``rec.step(params, batch)``
Y, loss=, optimizer=)``            after each update), checks each step against pk.optim's
                                   rule; ``.trajectory()`` (:mod:`.jax_recorder`)
=================================  ==============================================================

The adapter sits below the kernel engines that differentiate it; the recorder builds a
Trajectory, so it sits above them: this module only re-exports both.
"""

from .jax import flatten, leaf_dtype, model, require_x64, x64_enabled
from .jax_recorder import SUPPORTED_LOSSES, Recorder
from .jax_smooth import JUMPING, gradient_jumps
from .optax_mapping import SUPPORTED as SUPPORTED_OPTIMIZERS
from .optax_mapping import optimizer_rule
from .recording import STEP_RTOL, RecorderError, RecorderWarning

__all__ = ["model", "flatten", "leaf_dtype", "x64_enabled", "require_x64", "gradient_jumps",
           "JUMPING", "Recorder", "RecorderWarning", "RecorderError", "STEP_RTOL",
           "optimizer_rule", "SUPPORTED_OPTIMIZERS", "SUPPORTED_LOSSES"]

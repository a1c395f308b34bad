"""``pk.jax``: a pure JAX function over a parameter pytree (a Flax ``Module.apply``
included) as a pkverify model.

=================================  ==============================================================
``model(apply_fn, params)``        the function as a :class:`~pkverify.models.base.Model`
                                   over the raveled pytree (:mod:`.jax`)
``flatten(model.foreign, params)`` a params pytree of the model's structure as the flat w
``x64_enabled()``                  whether JAX computes in float64 (``jax_enable_x64``)
``gradient_jumps(fn, params, x)``  the JVP's operations whose value jumps (:mod:`.jax_smooth`)
=================================  ==============================================================
"""

from .jax import flatten, leaf_dtype, model, require_x64, x64_enabled
from .jax_smooth import JUMPING, gradient_jumps

__all__ = ["model", "flatten", "leaf_dtype", "x64_enabled", "require_x64", "gradient_jumps",
           "JUMPING"]

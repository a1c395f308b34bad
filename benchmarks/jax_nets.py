"""The benchmark's two networks as JAX functions ``apply_fn(params, x)``, for ``bench_jax.py``.

Imported both by pkverify's environment (the JAX engine) and by the neural-tangents peer's
environment (an older JAX, ``jax_peers.py``), so it needs JAX and NumPy only and uses nothing
that changed between JAX 0.4.20 and today. Parameters are dicts of arrays named as the torch
modules name them (``bench_jax.py`` copies them from the modules), in torch's layouts:
Linear weights ``(out, in)``, Conv2d weights ``(out, in, kh, kw)``, images NCHW.

* ``mlp``: pkverify's ``mlp([d, W, W, 1], "tanh")`` (NTK parameterisation: the inputs of the
  second and third layers scaled by ``s = sqrt(c_σ / W)``; ``s`` is a constant, not a
  parameter); one output.
* ``cnn``: ``examples/digits_cnn.py``'s ``build_cnn``: Conv(1→4, 3×3, pad 1) → GELU (erf,
  torch's default) → 2×2 average pool → Conv(4→8) → GELU → pool → flatten (C, H, W order) →
  Linear(32→10); inputs are 8×8 images flattened to 64 numbers per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

NETS = ("mlp", "cnn")


def _linear(x: Any, W: Any, b: Any) -> Any:
    return x @ W.T + b


def _conv(x: Any, W: Any, b: Any) -> Any:
    """torch's ``Conv2d(padding=1)`` of NCHW images with OIHW weights."""
    import jax

    y = jax.lax.conv_general_dilated(x, W, window_strides=(1, 1), padding=((1, 1), (1, 1)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + b[None, :, None, None]


def _pool(x: Any) -> Any:
    """torch's ``AvgPool2d(2)`` (even sizes): the mean of each 2×2 block."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def mlp_apply(s: float) -> Callable[[Any, Any], Any]:
    """``apply_fn(params, x) → (n, 1)`` of the tanh MLP with inter-layer scale ``s``."""
    import jax.numpy as jnp

    def apply_fn(params: dict, x: Any) -> Any:
        h = jnp.tanh(_linear(x, params["W0"], params["b0"]))
        h = jnp.tanh(_linear(s * h, params["W1"], params["b1"]))
        return _linear(s * h, params["W2"], params["b2"])

    return apply_fn


def cnn_apply(params: dict, x: Any) -> Any:
    """``(n, 10)`` outputs of the digits CNN on rows ``x (n, 64)``."""
    import jax

    def gelu(z: Any) -> Any:
        return jax.nn.gelu(z, approximate=False)

    h = x.reshape(x.shape[0], 1, 8, 8)
    h = _pool(gelu(_conv(h, params["0.weight"], params["0.bias"])))
    h = _pool(gelu(_conv(h, params["3.weight"], params["3.bias"])))
    return _linear(h.reshape(h.shape[0], -1), params["7.weight"], params["7.bias"])


def apply_for(net: str, s: float) -> Callable[[Any, Any], Any]:
    """The apply function of ``net`` (``s`` is used by the MLP only)."""
    return mlp_apply(s) if net == "mlp" else cnn_apply


def params_from(arrays: dict[str, np.ndarray], dtype: Any) -> dict:
    """The parameter dict as JAX arrays of ``dtype`` (x64 must be on for float64)."""
    import jax.numpy as jnp

    return {name: jnp.asarray(a, dtype=dtype) for name, a in arrays.items()}

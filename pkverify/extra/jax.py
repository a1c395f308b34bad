"""A pure JAX function ``apply_fn(params, x)`` over a parameter pytree as a pkverify
:class:`~pkverify.models.base.Model` (a Flax ``Module.apply`` included).

``pk.jax.model(apply_fn, params)`` ravels the pytree's leaves into the flat vector ``w``
with ``jax.flatten_util.ravel_pytree`` (leaves in ``jax.tree_util`` order, each row-major);
its inverse ``unravel`` is kept on ``Model.foreign``. ``f(w, X)`` is
``apply_fn(unravel(w), X)``, jitted; the JAX engine (:mod:`pkverify.kernels.engines.jax`)
differentiates it with ``jax.vjp``, ``jax.jvp`` and ``vmap(jacrev)``.

Inputs: X's rows are the inputs flattened; ``input_shape`` (given, e.g. ``(8, 8, 1)`` for an
NHWC image, or found by ``jax.eval_shape`` on rows of each length among the weight
matrices' dimensions) reshapes them before ``apply_fn``. JAX arrays are accepted wherever
pkverify takes an array; results are NumPy.

dtype: float64 needs ``jax.config.update("jax_enable_x64", True)`` *before* the parameters
are created: without it JAX silently computes in float32. Float64 parameters (NumPy's) or
``dtype="float64"`` while x64 is off are refused with that instruction.

Smoothness (``smooth=None``): decided from the jaxpr of the function's JVP
(:mod:`.jax_smooth`: comparisons, ``sign``/``floor``/``round``, max-pool derivatives that
depend on the weights and reach the tangent); ``smooth=`` overrides it. Where each jump has a
switch value (:mod:`.jax_switches`: relu, leaky relu, abs, clip, ``maximum``/``minimum``,
``where`` on a comparison, max-pooling (``reduce_window`` max/min), ``jnp.max``/``jnp.min``
over axes, ``argmax``/``argmin``) the exact rule splits every row's steps at its kinks; the
others (``sort``, ``round``, ...) are ``foreign.unlocated``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import BackendMissingError, InvalidArgumentError, ShapeError
from ..models.base import ForeignModel, Model
from .common import check_input_shape, check_probe_output, refuse_autograd
from .jax_smooth import trace_jvp, where
from .jax_switches import switch_plan

try:
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
except ImportError as exc:  # pragma: no cover - exercised where jax is missing
    raise BackendMissingError(
        "pk.jax needs JAX, which is not installed; install it with "
        "`pip install 'pkverify[jax]'` (CPU wheels: `pip install jax optax`)."
    ) from exc

__all__ = ["model", "x64_enabled", "require_x64", "flatten", "leaf_dtype"]

_X64 = ('call jax.config.update("jax_enable_x64", True) at the start of your program, before '
        "any JAX array (the parameters included) is created")


def x64_enabled() -> bool:
    """Whether JAX computes in float64 (``jax_enable_x64``)."""
    return bool(jax.config.read("jax_enable_x64"))


def require_x64(what: str) -> None:
    """InvalidArgumentError when float64 is asked (``what``) while x64 is off."""
    if not x64_enabled():
        raise InvalidArgumentError(
            f"{what}, but JAX's float64 is disabled (jax_enable_x64 is False), so JAX would "
            f"silently compute in float32. To compute in float64, {_X64}; or build the model "
            "in float32 (dtype='float32')."
        )


def leaf_dtype(params: Any) -> np.dtype:
    """The one float dtype (float32 or float64) of a parameter pytree's leaves; a clear error
    for an empty tree, a non-array leaf, integer/bool/complex leaves or mixed dtypes."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if not leaves:
        raise InvalidArgumentError(
            f"the parameter pytree has no array leaves (structure {treedef}); pk.jax.model "
            "needs the trainable parameters, e.g. {'w': jnp.zeros((3, 4)), 'b': ...}."
        )
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    dtypes = []
    for path, leaf in zip(paths, leaves):
        dt = getattr(leaf, "dtype", None)
        if dt is None:
            dt = np.asarray(leaf).dtype if isinstance(leaf, (float, int, bool, complex)) else None
        if dt is None or np.dtype(dt).kind != "f" or np.dtype(dt) not in (np.float32,
                                                                           np.float64):
            got = type(leaf).__name__ if dt is None else str(dt)
            raise InvalidArgumentError(
                f"the parameter leaf params{path} is {got}; every leaf must be a float32 or "
                "float64 array (the trained weights). Keep integer/bool/complex values and "
                "static settings out of the params pytree (close over them in apply_fn)."
            )
        dtypes.append(np.dtype(dt))
    if len(set(dtypes)) > 1:
        raise InvalidArgumentError(
            f"the parameter leaves mix dtypes {sorted({str(d) for d in dtypes})}; make them "
            "all float64 (recommended, with jax_enable_x64) or all float32, e.g. "
            "jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)."
        )
    return dtypes[0]


def flatten(foreign: ForeignModel, params: Any) -> np.ndarray:
    """``params`` (a pytree of the model's structure and shapes) as the flat float64 ``w``;
    an error naming what differs otherwise (for recorders that receive the user's params)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    if treedef != foreign.treedef:
        raise InvalidArgumentError(
            f"the params pytree does not have the model's structure: expected {foreign.treedef}, "
            f"got {treedef}. Pass the parameters of the model given to pk.jax.model."
        )
    shapes = tuple(tuple(int(s) for s in np.shape(a)) for a in leaves)
    if shapes != foreign.shapes:
        bad = next(i for i, (a, b) in enumerate(zip(shapes, foreign.shapes)) if a != b)
        raise InvalidArgumentError(
            f"the params leaf {foreign.names[bad]} has shape {shapes[bad]}; the model's is "
            f"{foreign.shapes[bad]}. Pass the parameters of the model given to pk.jax.model."
        )
    return np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in leaves])


def _find_input_shape(apply_fn: Any, params: Any, dtype: Any) -> tuple[int, ...]:
    """The length d of one input: each dimension of the weight matrices in turn, kept when
    ``jax.eval_shape`` (abstract, no computation) accepts a batch of shape (2, d); it must be
    the only one that fits."""
    leaves = [a for a in jax.tree_util.tree_leaves(params) if np.ndim(a) >= 2]
    found = []
    tried = list(dict.fromkeys(int(s) for a in leaves for s in np.shape(a)))
    for d in tried:
        try:
            out = jax.eval_shape(apply_fn, params, jax.ShapeDtypeStruct((2, d), dtype))
        except Exception:
            continue
        if getattr(out, "shape", (None,))[:1] == (2,):
            found.append(d)
    if len(found) == 1:
        return (found[0],)
    why = f"inputs of lengths {found} all fit" if found else \
        f"no length among the weight matrices' dimensions {tried} fits"
    raise InvalidArgumentError(
        f"pk.jax.model cannot tell the shape of one input ({why}); pass input_shape=..., "
        "e.g. (d,) for vectors, (8, 8, 1) for 8×8 grey NHWC images or (L, E) for L tokens of "
        "E features. X's rows are then the inputs flattened."
    )


def model(
    apply_fn: Callable[[Any, Any], Any],
    params: Any,
    *,
    input_shape: Sequence[int] | None = None,
    smooth: bool | None = None,
    dtype: str | None = None,
    name: str | None = None,
) -> Model:
    """``apply_fn(params, x)`` as a pkverify Model over the raveled pytree ``w``.

    ``params``: the parameter pytree (float32 or float64 leaves); ``init(seed)`` returns it
    raveled, whatever the seed. ``input_shape``: one input's shape (default: found by
    ``jax.eval_shape``). ``smooth``: None decides from the JVP's jaxpr (module docstring).
    ``dtype``: None keeps the leaves' dtype; "float64"/"float32" casts them. The output may
    be ``(n,)``, ``(n, 1)`` (a scalar model) or ``(n, k)``.
    """
    if not callable(apply_fn):
        raise InvalidArgumentError(
            f"pk.jax.model(apply_fn, params) needs a function apply_fn(params, x) (e.g. a "
            f"Flax module's .apply); got {type(apply_fn).__name__}."
        )
    if smooth is not None and not isinstance(smooth, bool):
        raise InvalidArgumentError(f"smooth must be True, False or None; got {smooth!r}.")
    if dtype not in (None, "float32", "float64"):
        raise InvalidArgumentError(f"dtype must be None, 'float32' or 'float64'; got {dtype!r}.")
    found = leaf_dtype(params)
    if dtype == "float64" or (dtype is None and found == np.float64):
        why = "dtype='float64' was asked" if dtype else "the parameters are float64"
        require_x64(why)
    dt = np.dtype(dtype or found)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=dt), params)
    flat, unravel = ravel_pytree(params)
    if int(flat.size) == 0:
        raise ShapeError("the parameter pytree holds no values (all its leaves are empty); "
                         "pass the trained weights.")
    shape = (check_input_shape(input_shape) if input_shape is not None
             else _find_input_shape(apply_fn, params, dt))
    d = math.prod(shape)

    def call(w: Any, X: Any) -> Any:
        out = apply_fn(unravel(w), X.reshape((X.shape[0], *shape)))
        return out[:, None] if out.ndim == 1 else out

    probe_x = jnp.zeros((2, d), dtype=dt)
    try:
        probe = jax.eval_shape(call, flat, probe_x)
    except Exception as exc:
        raise InvalidArgumentError(
            f"apply_fn failed on the parameters and a batch of inputs of shape {(2, *shape)} "
            f"({type(exc).__name__}: {exc}); check that params has the structure apply_fn "
            "expects and pass the shape of one input as input_shape=..."
        ) from exc
    k = check_probe_output(tuple(probe.shape), str(tuple(probe.shape)), "apply_fn",
                           "Return (n,) or (n, k) from apply_fn (e.g. out.reshape(n, -1)).")
    if np.dtype(probe.dtype).kind != "f":
        raise InvalidArgumentError(
            f"apply_fn returns {probe.dtype} outputs; pkverify needs float outputs, a "
            "differentiable function of the parameters (drop the rounding or cast)."
        )
    try:
        closed, jumping = trace_jvp(call, flat, probe_x[:1])
    except Exception as exc:
        raise InvalidArgumentError(
            f"jax.jvp cannot differentiate apply_fn with respect to the parameters "
            f"({type(exc).__name__}: {exc}); apply_fn must be a differentiable function of "
            "float parameters, returning float outputs."
        ) from exc
    jumps = tuple(dict.fromkeys(where(e) for e in jumping))
    unlocated = switch_plan(closed, jumping)[1]
    scalar = k == 1
    jcall = jax.jit(call)

    def f(w: Any, X: Any) -> np.ndarray:
        refuse_autograd(w, "jax")
        out = np.asarray(jcall(jnp.asarray(w, dtype=dt), jnp.asarray(X, dtype=dt)),
                         dtype=np.float64)
        return out[:, 0] if scalar else out

    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    names = tuple(jax.tree_util.keystr(path) for path, _ in leaves)
    shapes = tuple(tuple(int(s) for s in np.shape(a)) for _, a in leaves)
    w0 = np.asarray(flat, dtype=np.float64)
    w0.setflags(write=False)
    device = str(next(iter(flat.devices()))) if hasattr(flat, "devices") else "cpu"
    foreign = ForeignModel("jax", apply_fn, names, shapes, shape, device, str(dt), jcall,
                           jumps, unlocated, unravel=unravel,
                           treedef=jax.tree_util.tree_structure(params))
    return Model(
        name or str(getattr(apply_fn, "__qualname__", None) or "jax_model"),
        f,
        int(w0.size),
        d,
        None if scalar else k,
        lambda seed: w0.copy(),
        spec=None,
        smooth=not jumps if smooth is None else smooth,
        foreign=foreign,
    )

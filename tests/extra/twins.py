"""The same networks built in PyTorch and in JAX, with the same weights, for the tests that
compare the two adapters (``pk.torch.model`` against ``pk.jax.model``).

Each builder draws its weights once in NumPy (seeded) and copies them into a torch module and
into a JAX parameter pytree; inputs are rows flattened in the same layout for both (images
NCHW, token sequences (L, E)). Importing this module needs neither framework; each builder
imports the one it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Twin:
    """One architecture's weights and input shape, buildable in both frameworks."""

    name: str
    weights: dict[str, np.ndarray]
    input_shape: tuple[int, ...]
    act: str = "tanh"
    pool: str = "avg"

    @property
    def d(self) -> int:
        return int(np.prod(self.input_shape))

    def torch(self, dtype: str = "float64") -> Any:
        return _TORCH[self.name](self, dtype)

    def jax(self) -> tuple[Any, Any]:
        """``(apply_fn, params)`` in the weights' dtype."""
        return _JAX[self.name](self)


def _draw(shapes: dict[str, tuple[int, ...]], seed: int, dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) / np.sqrt(max(1, s[-1] if len(s) < 3 else
                                                        int(np.prod(s[1:]))))).astype(dtype)
            for k, s in shapes.items()}


def mlp(sizes=(3, 8, 8, 2), act="tanh", seed=0, dtype="float64") -> Twin:
    """Dense layers ``h ← act(h Wᵀ + b)`` (torch's Linear layout ``W (out, in)``), the last
    without activation."""
    shapes = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"w{i}"], shapes[f"b{i}"] = (b, a), (b,)
    return Twin("mlp", _draw(shapes, seed, dtype), (sizes[0],), act)


def cnn(act="gelu", k=2, seed=0, dtype="float64", pool="avg") -> Twin:
    """Conv 3×3 (1 → 3 channels, zero padding 1) on 6×6 images, act, 2×2 pooling (stride 2),
    flatten (channel-major, as torch's Flatten), dense to k. ``pool``: "avg"; "max" (torch's
    MaxPool2d, JAX's ``lax.reduce_window`` with ``lax.max``); "max_axes" (the same max-pool,
    in JAX as ``jnp.max`` over the axes of a reshape)."""
    shapes = {"cw": (3, 1, 3, 3), "cb": (3,), "w": (k, 27), "b": (k,)}
    return Twin("cnn", _draw(shapes, seed, dtype), (1, 6, 6), act, pool)


def attention(E=4, L=3, k=2, seed=0, dtype="float64") -> Twin:
    """One head of self-attention over L tokens of E features (q, k, v dense), softmax of
    ``q kᵀ/√E``, mean over tokens, dense to k."""
    shapes = {}
    for n in ("q", "k", "v"):
        shapes[f"w{n}"], shapes[f"b{n}"] = (E, E), (E,)
    shapes["wo"], shapes["bo"] = (k, E), (k,)
    return Twin("attention", _draw(shapes, seed, dtype), (L, E), "softmax")


# ----- torch ------------------------------------------------------------------------------


def _torch_act(name: str) -> Any:
    import torch

    return {"tanh": torch.nn.Tanh, "gelu": torch.nn.GELU, "relu": torch.nn.ReLU,
            "silu": torch.nn.SiLU}[name]()


def _copy(module: Any, pairs: list[tuple[Any, np.ndarray]], dtype: str) -> Any:
    import torch

    module = module.to(getattr(torch, dtype))
    with torch.no_grad():
        for p, a in pairs:
            p.copy_(torch.from_numpy(np.asarray(a, dtype=np.float64)))
    return module.eval()


def _torch_mlp(t: Twin, dtype: str) -> Any:
    import torch

    n = len(t.weights) // 2
    mods: list[Any] = []
    pairs = []
    for i in range(n):
        W = t.weights[f"w{i}"]
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        mods.append(lin)
        pairs += [(lin.weight, W), (lin.bias, t.weights[f"b{i}"])]
        if i < n - 1:
            mods.append(_torch_act(t.act))
    return _copy(torch.nn.Sequential(*mods), pairs, dtype)


def _torch_cnn(t: Twin, dtype: str) -> Any:
    import torch

    pool = torch.nn.AvgPool2d(2) if t.pool == "avg" else torch.nn.MaxPool2d(2)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), _torch_act(t.act),
                            pool, torch.nn.Flatten(),
                            torch.nn.Linear(27, t.weights["w"].shape[0]))
    w = t.weights
    return _copy(m, [(m[0].weight, w["cw"]), (m[0].bias, w["cb"]), (m[4].weight, w["w"]),
                     (m[4].bias, w["b"])], dtype)


def _torch_attention(t: Twin, dtype: str) -> Any:
    import torch

    class SelfAttention(torch.nn.Module):
        def __init__(self, E: int, k: int):
            super().__init__()
            self.q, self.k, self.v = (torch.nn.Linear(E, E) for _ in range(3))
            self.out = torch.nn.Linear(E, k)

        def forward(self, x: Any) -> Any:
            s = self.q(x) @ self.k(x).transpose(1, 2) / x.shape[-1] ** 0.5
            return self.out((torch.softmax(s, dim=-1) @ self.v(x)).mean(dim=1))

    w = t.weights
    m = SelfAttention(w["wq"].shape[0], w["wo"].shape[0])
    pairs = [(getattr(m, n).weight, w[f"w{n}"]) for n in "qkv"] + \
        [(getattr(m, n).bias, w[f"b{n}"]) for n in "qkv"] + \
        [(m.out.weight, w["wo"]), (m.out.bias, w["bo"])]
    return _copy(m, pairs, dtype)


# ----- JAX --------------------------------------------------------------------------------


def _jax_act(name: str) -> Any:
    import jax
    import jax.numpy as jnp

    return {"tanh": jnp.tanh, "gelu": lambda h: jax.nn.gelu(h, approximate=False),
            "relu": jax.nn.relu, "silu": jax.nn.silu}[name]


def _params(t: Twin) -> dict[str, Any]:
    import jax.numpy as jnp

    return {k: jnp.asarray(v) for k, v in t.weights.items()}


def _jax_mlp(t: Twin) -> tuple[Any, Any]:
    act = _jax_act(t.act)
    n = len(t.weights) // 2

    def apply(p: Any, x: Any) -> Any:
        for i in range(n):
            x = x @ p[f"w{i}"].T + p[f"b{i}"]
            if i < n - 1:
                x = act(x)
        return x

    return apply, _params(t)


def _jax_cnn(t: Twin) -> tuple[Any, Any]:
    import jax.numpy as jnp
    from jax import lax

    act = _jax_act(t.act)

    def apply(p: Any, x: Any) -> Any:  # x (n, 1, 6, 6)
        h = lax.conv_general_dilated(x, p["cw"], (1, 1), ((1, 1), (1, 1)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                     precision=lax.Precision.HIGHEST)
        h = act(h + p["cb"][None, :, None, None])
        n, c, hh, ww = h.shape
        if t.pool == "max":
            h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        else:
            blocks = h.reshape(n, c, hh // 2, 2, ww // 2, 2)
            h = blocks.max(axis=(3, 5)) if t.pool == "max_axes" else blocks.mean(axis=(3, 5))
        return h.reshape(n, -1) @ p["w"].T + p["b"]

    return apply, _params(t)


def _jax_attention(t: Twin) -> tuple[Any, Any]:
    import jax

    def apply(p: Any, x: Any) -> Any:  # x (n, L, E)
        q, k, v = (x @ p[f"w{n}"].T + p[f"b{n}"] for n in "qkv")
        s = q @ k.transpose(0, 2, 1) / x.shape[-1] ** 0.5
        return (jax.nn.softmax(s, axis=-1) @ v).mean(axis=1) @ p["wo"].T + p["bo"]

    return apply, _params(t)


_TORCH = {"mlp": _torch_mlp, "cnn": _torch_cnn, "attention": _torch_attention}
_JAX = {"mlp": _jax_mlp, "cnn": _jax_cnn, "attention": _jax_attention}

ARCHITECTURES = {"mlp_tanh": lambda **kw: mlp(**kw), "cnn_gelu": lambda **kw: cnn(**kw),
                 "attention": lambda **kw: attention(**kw)}
"""The smooth architectures every cross-framework test runs on."""

"""pkverify: check the path-kernel theorem (Domingos 2020) on real gradient-descent paths.

import pkverify as pk
model = pk.models.mlp([2, 16, 1], activation="tanh")
traj = pk.train(model, X, Y, loss="mse", lr=0.1, steps=50)
km = pk.kernel_machine(traj)               # y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i)
km.predict(X) - traj.predict(X)            # ≈ 0 to rounding with the exact rule
"""

from . import claims, errors, losses, models, optim
from .errors import DivergenceError, PkVerifyError
from .flow import gradient_flow
from .kernels import Implementation, Rule, path_kernel, tangent_kernel
from .losses import l2
from .machine import KernelMachine, kernel_machine
from .train import train
from .trajectory import Trajectory

__version__ = "0.1.0"

_LAZY = ("symbolic", "strategies", "ntk", "sources", "io", "progress", "validation", "sweeps",
         "testing")
"""Submodules reachable as ``pk.<name>`` that load on first use: SymPy (symbolic), Hypothesis
(strategies) and SciPy (ntk) cost nothing until touched."""

_EXTRA = {"torch": "extra.pk_torch", "jax": "extra.pk_jax"}
"""Adapters for other frameworks, reachable as ``pk.torch`` and ``pk.jax``: PyTorch and JAX
are imported on first use (extras ``[torch]``, ``[jax]``); without them the attribute raises
BackendMissingError saying so."""


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in _EXTRA:
        import importlib

        return importlib.import_module(f".{_EXTRA[name]}", __name__)
    raise AttributeError(f"module 'pkverify' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_EXTRA))

__all__ = [
    "models",
    "losses",
    "optim",
    "errors",
    "claims",
    "ntk",
    "symbolic",
    "strategies",
    "sources",
    "sweeps",
    "train",
    "gradient_flow",
    "Trajectory",
    "tangent_kernel",
    "path_kernel",
    "Rule",
    "Implementation",
    "kernel_machine",
    "KernelMachine",
    "l2",
    "PkVerifyError",
    "DivergenceError",
    "__version__",
]

"""pkverify: check the path-kernel theorem (Domingos 2020) on real gradient-descent paths.

import pkverify as pk
model = pk.models.mlp([2, 16, 1], activation="tanh")
traj = pk.train(model, X, Y, loss="mse", lr=0.1, steps=50)
km = pk.kernel_machine(traj)               # y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i)
km.predict(X) - traj.predict(X)            # ≈ 0 to rounding with the exact rule
"""

from . import claims, errors, losses, models, ntk, sweeps
from .errors import DivergenceError, PkVerifyError
from .kernels import Implementation, Rule, path_kernel, tangent_kernel
from .losses import l2
from .machine import KernelMachine, kernel_machine
from .train import gradient_flow, train
from .trajectory import Trajectory

__version__ = "0.1.0"


def __getattr__(name: str):
    # the SymPy engine loads on first use: `pk.symbolic` costs nothing until touched
    if name == "symbolic":
        import importlib

        return importlib.import_module(".symbolic", __name__)
    raise AttributeError(f"module 'pkverify' has no attribute {name!r}")

__all__ = [
    "models",
    "losses",
    "errors",
    "claims",
    "ntk",
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

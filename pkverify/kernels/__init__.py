"""Kernels: tangent (Def. 1) and path (Def. 2) kernels, and the engine that computes them."""

from .engines import Implementation, engine_for
from .path import DEFAULT_NODES
from .path_kernels import path_kernel
from .rules import Rule
from .tangent import jacobian, tangent_kernel

__all__ = [
    "tangent_kernel",
    "path_kernel",
    "jacobian",
    "Rule",
    "Implementation",
    "engine_for",
    "DEFAULT_NODES",
]

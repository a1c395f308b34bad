"""Kernels: tangent (Def. 1) and path (Def. 2) kernels along recorded paths."""

from .path import DEFAULT_NODES, Rule, path_kernel
from .tangent import jacobian, tangent_kernel

__all__ = ["tangent_kernel", "path_kernel", "jacobian", "Rule", "DEFAULT_NODES"]

"""The symbolic engine: SymPy closed forms for small models, infinite-width kernels, proofs.

* :mod:`.models` — ``linear``, ``two_layer`` (ntk-notes eq. 9), ``mlp`` (eqs. 16–17) as
  ``f(w, x)`` over named symbols, parameters in the numeric models' flat order.
* :mod:`.tangent` — ``∇_w f`` and ``K^g(x, x')`` simplified block-wise; lambdified on demand.
* :mod:`.linear_flow` — the linear model's MSE gradient flow solved exactly; ``K^p = Tφ·φ'``.
* :mod:`.infinite` — arc-cosine / arcsine kernels derived by SymPy integration; the deep
  NTK recursion (numeric twins in :mod:`pkverify.ntk`).
* :mod:`.proof` — Theorem 1 and Lemma 1 as ordered, verified steps.
* :mod:`.compile` — ``lambdify`` to NumPy / CuPy with caching.
"""

from .activations import SYM_ACTIVATIONS, sym_activation
from .compile import compile_expr
from .infinite import deep_ntk, derivation, dual_kernel, h_star
from .linear_flow import solve_linear_flow, verify_linear_flow
from .models import LIMITS, SymbolicModel, build, linear, mlp, polynomial_features, two_layer
from .proof import lemma1_steps, theorem1_steps, verify_proof
from .steps import Step, StepResult, StepResults, verify_steps
from .tangent import TangentKernel, derive, tangent_kernel

__all__ = [
    "SYM_ACTIVATIONS",
    "sym_activation",
    "compile_expr",
    "deep_ntk",
    "derivation",
    "dual_kernel",
    "h_star",
    "solve_linear_flow",
    "verify_linear_flow",
    "LIMITS",
    "SymbolicModel",
    "build",
    "linear",
    "mlp",
    "polynomial_features",
    "two_layer",
    "lemma1_steps",
    "theorem1_steps",
    "verify_proof",
    "Step",
    "StepResult",
    "StepResults",
    "verify_steps",
    "TangentKernel",
    "derive",
    "tangent_kernel",
]

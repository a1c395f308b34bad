"""torch.func peers of pkverify's torch engine, and Captum's TracInCP as a peer of the kernel
machine's contributions (imported by ``bench_torch.py``).

Kernels of a ``torch.nn.Module`` at the same weights, ``K[i, j, c, d] = ∇f_c(x_i)·∇f_d(x'_j)``
as ``(n1, n2, k, k)``, written after the torch.func NTK tutorial
(https://pytorch.org/tutorials/intermediate/neural_tangent_kernels.html):

* :func:`jacobian_contraction` — ``empirical_ntk_jacobian_contraction``: per-parameter
  Jacobians by ``vmap(jacrev)`` over the rows, contracted parameter by parameter. One change:
  the per-parameter contractions are summed as they come instead of ``torch.stack``-ed and
  summed (stacking holds one ``(n1, n2, k, k)`` array per parameter tensor).
* :func:`ntk_vps` — ``empirical_ntk_ntk_vps`` as in the tutorial (a vjp then k jvps per pair
  of rows, ``vmap`` over pairs and over the k basis vectors), applied to blocks of
  ``block × block`` pairs so that its vmapped activations fit in memory (the tutorial calls
  it on all pairs at once: n1·n2·k batched forward passes).
"""

from __future__ import annotations

import warnings
from typing import Any


def single(module: Any) -> tuple[Any, dict]:
    """``(fnet_single, params)`` of the tutorial: ``f(params, x)`` of one unbatched input and
    the module's parameters as a dict of detached tensors."""
    import torch
    from torch.func import functional_call

    params = {k: v.detach() for k, v in module.named_parameters()}

    def fnet_single(p, x):
        return functional_call(module, p, (x.unsqueeze(0),)).squeeze(0)

    torch.set_grad_enabled(True)
    return fnet_single, params


def jacobian_contraction(fnet_single, params, x1, x2):
    """``empirical_ntk_jacobian_contraction`` (tutorial), per-parameter terms summed."""
    import torch
    from torch.func import jacrev, vmap

    jac1 = vmap(jacrev(fnet_single), (None, 0))(params, x1)
    jac1 = [j.flatten(2) for j in jac1.values()]
    if x2 is x1:
        jac2 = jac1
    else:
        jac2 = vmap(jacrev(fnet_single), (None, 0))(params, x2)
        jac2 = [j.flatten(2) for j in jac2.values()]
    out = None
    for j1, j2 in zip(jac1, jac2):
        term = torch.einsum("Naf,Mbf->NMab", j1, j2)
        out = term if out is None else out.add_(term)
    return out


def ntk_vps_block(fnet_single, params, x1, x2):
    """``empirical_ntk_ntk_vps`` (tutorial, compute='full') on all pairs of x1 × x2."""
    import torch
    from torch.func import jvp, vjp, vmap

    def get_ntk(x1, x2):
        def func_x1(params):
            return fnet_single(params, x1)

        def func_x2(params):
            return fnet_single(params, x2)

        output, vjp_fn = vjp(func_x1, params)

        def get_ntk_slice(vec):
            # vjp of x1's output along the basis vector, then jvp at x2 along that vjp:
            # one column of the k × k NTK block of the pair
            vjps = vjp_fn(vec)
            _, jvps = jvp(func_x2, (params,), vjps)
            return jvps

        basis = torch.eye(output.numel(), dtype=output.dtype,
                          device=output.device).view(output.numel(), -1)
        return vmap(get_ntk_slice)(basis)

    # [N, M, k, k]: vmap over x1's rows (outer) and x2's rows (inner)
    return vmap(vmap(get_ntk, in_dims=(None, 0)), in_dims=(0, None))(x1, x2)


def ntk_vps(fnet_single, params, x1, x2, block: int = 64):
    """:func:`ntk_vps_block` on ``block × block`` tiles of the pairs, assembled."""
    import torch

    rows = []
    with warnings.catch_warnings():  # torch's forward mode loads its decompositions with the
        warnings.filterwarnings(      # deprecated torch.jit.script on first use: torch's noise
            "ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        for lo in range(0, x1.shape[0], block):
            rows.append(torch.cat([ntk_vps_block(fnet_single, params, x1[lo:lo + block],
                                                 x2[lo2:lo2 + block])
                                   for lo2 in range(0, x2.shape[0], block)], dim=1))
    return torch.cat(rows, dim=0)

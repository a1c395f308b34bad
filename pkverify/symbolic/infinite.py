"""Infinite-width kernels derived symbolically: ntk-notes' H* (eq. 9) and the deep recursion.

For ``(u, v) ~ N(0, Λ)``, ``Λ = [[a, c], [c, b]]``, write ``ρ = c/√(ab) = cos θ``. In polar
coordinates of the whitened pair, ``u = √a r cos φ`` and ``v = √b r cos(φ − θ)``; both are
positive on a wedge of angle ``π − θ``, which gives the arc-cosine kernels

    E[H(u) H(v)]         = (π − θ) / (2π)
    E[relu(u) relu(v)]   = √(ab) (sin θ + (π − θ) cos θ) / (2π).

For erf the Gaussian integral ``E[e^{−u²−v²}] = det(I + 2Λ)^{−1/2}`` gives the derivative
kernel, and Price's theorem ``∂_c E[σ(u)σ(v)] = E[σ'(u)σ'(v)]`` with ``E[σσ] = 0`` at ``c = 0``
gives the arcsine form ``(2/π) arcsin(2c/√((1+2a)(1+2b)))``.

Each derivation is a list of :class:`~pkverify.symbolic.steps.Step` whose residuals SymPy
reduces to zero (the integrals are *computed* by SymPy, not typed in). The numeric versions
live in :mod:`pkverify.ntk`.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from ..errors import InvalidArgumentError, unknown_name
from .steps import Step, StepResults, verify_steps

__all__ = [
    "a", "b", "c", "theta",
    "relu_steps", "erf_steps", "dual_kernel", "h_star", "deep_ntk", "derivation",
    "NTK_ACTIVATIONS",
]

a, b = sp.symbols("a b", positive=True)  # Σ(x, x), Σ(x', x')
c = sp.Symbol("c", real=True)  # Σ(x, x')
theta = sp.Symbol("theta", positive=True)  # arccos ρ ∈ [0, π]
NTK_ACTIVATIONS = ("relu", "erf")


def _rho() -> sp.Expr:
    return c / sp.sqrt(a * b)


@lru_cache(maxsize=2)
def relu_steps() -> tuple[Step, ...]:
    """The arc-cosine kernels of ReLU, derived by polar integration (each integral by SymPy)."""
    r, phi = sp.symbols("r phi", real=True)
    density = sp.exp(-r**2 / 2) / (2 * sp.pi)  # standard 2-D normal, times r dr dφ
    radial1 = sp.integrate(r * density, (r, 0, sp.oo))
    radial3 = sp.integrate(r**3 * density, (r, 0, sp.oo))
    wedge = sp.integrate(1, (phi, theta - sp.pi / 2, sp.pi / 2))
    cosprod = sp.integrate(sp.cos(phi) * sp.cos(phi - theta), (phi, theta - sp.pi / 2, sp.pi / 2))
    k0 = (sp.pi - theta) / (2 * sp.pi)
    k1 = (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi)
    whiten = sp.sqrt(a) * sp.cos(phi) * sp.cos(theta) + sp.sqrt(a) * sp.sin(phi) * sp.sin(theta)
    return (
        Step(
            "polar",
            "Whiten the pair: with z ~ N(0, I₂) in polar coordinates (r, φ), u = √a r cos φ and "
            "v = √b r cos(φ − θ), θ = arccos ρ; both are positive for φ ∈ (θ − π/2, π/2).",
            r"\rho\cos\varphi + \sqrt{1-\rho^2}\sin\varphi = \cos(\varphi-\theta)",
            (sp.expand_trig(whiten - sp.sqrt(a) * sp.cos(phi - theta)),),
            "expand cos(φ − θ) with ρ = cos θ, √(1−ρ²) = sin θ",
        ),
        Step(
            "derivative_kernel",
            "E[H(u)H(v)] is the Gaussian mass of the wedge: its angle times ∫ r e^{−r²/2}/(2π) dr.",
            r"\mathbb{E}[H(u)H(v)] = \int_{\theta-\pi/2}^{\pi/2}\!\int_0^\infty "
            r"\frac{r e^{-r^2/2}}{2\pi}\,dr\,d\varphi = \frac{\pi - \theta}{2\pi}",
            (wedge * radial1 - k0,),
            "SymPy integrates the radial and angular parts",
        ),
        Step(
            "value_kernel",
            "E[relu(u)relu(v)] = √(ab) ∫ cos φ cos(φ − θ) dφ ∫ r³ e^{−r²/2}/(2π) dr over the "
            "same wedge.",
            r"\mathbb{E}[\mathrm{relu}(u)\,\mathrm{relu}(v)] = "
            r"\frac{\sqrt{ab}}{2\pi}\big(\sin\theta + (\pi-\theta)\cos\theta\big)",
            (cosprod * radial3 - k1,),
            "SymPy integrates the radial and angular parts",
        ),
    )


@lru_cache(maxsize=2)
def erf_steps() -> tuple[Step, ...]:
    """The erf kernels: Gaussian integral for E[σ'σ'], Price's theorem for E[σσ]."""
    z = sp.Symbol("z", real=True)
    k = sp.Symbol("k", positive=True)
    al, be, ga = sp.symbols("alpha beta gamma", positive=True)
    gauss = sp.integrate(sp.exp(-z**2 / 2 - k * z**2) / sp.sqrt(2 * sp.pi), (z, -sp.oo, sp.oo))
    # u = α z1, v = β z1 + γ z2; integrate z2 (completing the square), then z1.
    inner_k = be**2 / (1 + 2 * ga**2)  # exponent left on z1 after the z2 integral
    inner = gauss.subs(k, ga**2).subs(z, 0)  # the z2 integral with β z1 = 0 ...
    two_d = gauss.subs(k, al**2 + inner_k) * inner  # ... and the exact z1 remainder
    det = (1 + 2 * a) * (1 + 2 * b) - 4 * c**2
    # back to Λ: α² = a, β = c/√a, γ² = b − c²/a
    two_d_lam = two_d.subs({al: sp.sqrt(a), be: c / sp.sqrt(a), ga: sp.sqrt(b - c**2 / a)})
    D = 4 / sp.pi / sp.sqrt(det)
    V = 2 / sp.pi * sp.asin(2 * c / sp.sqrt((1 + 2 * a) * (1 + 2 * b)))
    dsig = sp.diff(sp.erf(z), z)
    return (
        Step(
            "gaussian_1d",
            "One Gaussian integral does all the work: E[e^{−k z²}] = (1 + 2k)^{−1/2}.",
            r"\int \frac{e^{-z^2/2}}{\sqrt{2\pi}} e^{-k z^2} dz = \frac{1}{\sqrt{1+2k}}",
            (gauss - 1 / sp.sqrt(1 + 2 * k),),
            "SymPy integrates over the real line",
        ),
        Step(
            "derivative_kernel",
            "erf'(z) = (2/√π) e^{−z²}, so E[σ'(u)σ'(v)] = (4/π) E[e^{−u²−v²}] = "
            "(4/π) det(I + 2Λ)^{−1/2} (two 1-D integrals after a Cholesky split).",
            r"\mathbb{E}[\sigma'(u)\sigma'(v)] = \frac{4}{\pi\sqrt{(1+2a)(1+2b)-4c^2}}",
            (sp.diff(sp.erf(z), z) - 2 / sp.sqrt(sp.pi) * sp.exp(-z**2),
             (4 / sp.pi) * two_d_lam - D),
            "σ' by SymPy; the z₂ then z₁ integrals of the previous step, mapped back to Λ",
            method="auto",
        ),
        Step(
            "price",
            "Price's theorem ∂_c E[σ(u)σ(v)] = E[σ'(u)σ'(v)], with E[σσ] = 0 at c = 0 "
            "(σ odd, u ⟂ v), integrates to the arcsine kernel.",
            r"\mathbb{E}[\sigma(u)\sigma(v)] = \frac{2}{\pi}\arcsin\frac{2c}{\sqrt{(1+2a)(1+2b)}}",
            (sp.diff(V, c) - D, V.subs(c, 0), dsig.subs(z, 0) - 2 / sp.sqrt(sp.pi)),
            "differentiate the arcsine form in c; evaluate it at c = 0",
            method="auto",
        ),
    )


def dual_kernel(activation: str, derivative: bool = False) -> sp.Expr:
    """``E[σ(u)σ(v)]`` (or ``E[σ'(u)σ'(v)]``) over ``N(0, [[a, c], [c, b]])`` in closed form.

    ReLU in terms of ``θ = arccos(c/√(ab))``; erf in terms of ``a, b, c``.
    """
    if activation == "relu":
        if derivative:
            return (sp.pi - sp.acos(_rho())) / (2 * sp.pi)
        th = sp.acos(_rho())
        return sp.sqrt(a * b) * (sp.sqrt(1 - _rho()**2) + (sp.pi - th) * _rho()) / (2 * sp.pi)
    if activation == "erf":
        if derivative:
            return 4 / sp.pi / sp.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * c**2)
        return 2 / sp.pi * sp.asin(2 * c / sp.sqrt((1 + 2 * a) * (1 + 2 * b)))
    raise unknown_name("activation with a closed-form kernel", activation, NTK_ACTIVATIONS)


def h_star(activation: str) -> sp.Expr:
    """Seed 003 eq. 9, ``H*(x, x') = xᵀx' · E[σ'(wᵀx) σ'(wᵀx')]``, with ``a = ‖x‖²``,
    ``b = ‖x'‖²``, ``c = xᵀx'``. ReLU: ``c (π − arccos(c/√(ab))) / (2π)``."""
    return c * dual_kernel(activation, derivative=True)


def deep_ntk(activation: str, depth: int) -> dict[str, sp.Expr]:
    """The width→∞ NTK and NNGP of the bias-free MLP with ``depth`` hidden layers, explicitly.

    Returns ``{"nngp": Σ^(L)(x, x'), "ntk": Θ^(L+1)(x, x')}`` as expressions in
    ``a = ‖x‖², b = ‖x'‖², c = xᵀx'``, built from ntk-notes eqs. 22–23::

        Σ^(h) = c_σ V(Λ^(h)),  Σ̇^(h) = c_σ D(Λ^(h)),  Θ^(h+1) = Σ^(h) + Θ^(h) Σ̇^(h).
    """
    if activation not in NTK_ACTIVATIONS:
        raise unknown_name("activation with a closed-form kernel", activation, NTK_ACTIVATIONS)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 4:
        raise InvalidArgumentError(
            f"depth must be an integer from 1 to 4 for the symbolic recursion; got {depth!r}. "
            "Use pkverify.ntk.mlp_limit numerically for deeper nets."
        )
    cs = sp.Integer(2) if activation == "relu" else sp.pi / (2 * sp.asin(sp.Rational(2, 3)))
    V = dual_kernel(activation)
    D = dual_kernel(activation, derivative=True)
    qa, qb, sig = a, b, c
    th = c
    for _ in range(depth):
        sub = {a: qa, b: qb, c: sig}
        new_sig = cs * V.xreplace(sub)
        dot = cs * D.xreplace(sub)
        th = new_sig + th * dot
        if activation == "relu":  # c_σ E[relu(u)²] = Σ(x, x): the diagonal is preserved
            qa, qb = qa, qb
        else:
            qa = cs * V.xreplace({a: qa, b: qa, c: qa})
            qb = cs * V.xreplace({a: qb, b: qb, c: qb})
        sig = new_sig
    return {"nngp": sig, "ntk": th}


@lru_cache(maxsize=4)
def derivation(activation: str) -> StepResults:
    """Verify the derivation steps of ``activation``'s kernels (relu or erf)."""
    if activation == "relu":
        return verify_steps(relu_steps())
    if activation == "erf":
        return verify_steps(erf_steps())
    raise unknown_name("activation with a closed-form kernel", activation, NTK_ACTIVATIONS)

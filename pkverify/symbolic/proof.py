"""Theorem 1 (Domingos 2020) and Lemma 1 (ntk-notes) as ordered, verified steps.

Both proofs are replayed on a concrete model with symbolic data: ntk-notes' two-layer net
``f = m^{-1/2} Σ_r a_r σ(w_rᵀx)`` with m = 2, d = 2 (σ = tanh by default), n = 2 training
points ``x_i = (x_{i1}, x_{i2})`` with symbolic coordinates, symbolic targets ``y*_i`` and —
for Theorem 1 — an arbitrary differentiable loss ``ℓ(y*, y)`` (an undefined SymPy function).
Every step's residual ``lhs − rhs`` must vanish (:mod:`pkverify.symbolic.steps`).

The tangent kernel used in the steps is the closed form of
:func:`pkverify.symbolic.tangent.tangent_kernel` (block-wise simplified), not the gradient
product the chain rule produces, so the "tangent kernel" steps check one against the other.

``flip=<step key>`` builds the same proof with that step's sign flipped (``a_i = +ℓ̄'_i``,
``du/dt = +H(u − y)``, ...); such a step must fail its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from ..errors import InvalidArgumentError, unknown_name
from . import models as sm
from .steps import Step, StepResults, verify_steps
from .tangent import tangent_kernel

__all__ = ["theorem1_steps", "lemma1_steps", "verify_proof", "PROOFS", "ProofSetting"]

PROOFS = ("theorem1", "lemma1")
THEOREM1_KEYS = (
    "gradient_flow", "additivity", "chain_rule", "tangent_kernel", "integration",
    "kernel_machine", "coefficients",
)
LEMMA1_KEYS = ("flow_mse", "chain_rule", "matrix_form", "psd")


@dataclass(frozen=True)
class ProofSetting:
    """The concrete model and symbols a proof is replayed on."""

    model: sm.SymbolicModel
    kernel: sp.Expr
    data: tuple[tuple[sp.Symbol, ...], ...]
    targets: tuple[sp.Symbol, ...]
    t: sp.Symbol
    T: sp.Symbol
    paths: tuple[sp.Expr, ...]  # w_p(t)


def _setting(activation: str, n: int = 2, width: int = 2, dim: int = 2) -> ProofSetting:
    model = sm.two_layer(dim, width, activation, seed=0)
    K = tangent_kernel(model).kernel
    data = tuple(tuple(sp.Symbol(f"x_{i}{j}", real=True) for j in range(1, dim + 1))
                 for i in range(1, n + 1))
    targets = tuple(sp.Symbol(f"y^*_{i}", real=True) for i in range(1, n + 1))
    t = sp.Symbol("t", nonnegative=True)
    T = sp.Symbol("T", positive=True)
    paths = tuple(sp.Function(str(p))(t) for p in model.params)
    return ProofSetting(model, K, data, targets, t, T, paths)


def _f(s: ProofSetting, point, w=None) -> sp.Expr:
    e = s.model.at(point)
    if w is not None:
        e = e.xreplace(dict(zip(s.model.params, w)))
    return e


def _K(s: ProofSetting, p1, p2, w=None) -> sp.Expr:
    m = s.model
    sub = dict(zip(m.x, p1)) | dict(zip(m.xp, p2))
    if w is not None:
        sub |= dict(zip(m.params, w))
    return s.kernel.xreplace(sub)


def _grad(expr: sp.Expr, params) -> list[sp.Expr]:
    return [sp.diff(expr, p) for p in params]


def _at_time(expr: sp.Expr, s: ProofSetting, time: sp.Symbol) -> sp.Expr:
    """Replace w_p by w_p(time)."""
    return expr.xreplace({p: f.func(time) for p, f in zip(s.model.params, s.paths)})


def _unpath(expr: sp.Expr, s: ProofSetting, time: sp.Symbol) -> sp.Expr:
    """Replace w_p(time) by the plain symbol w_p (after derivatives are substituted)."""
    return expr.xreplace({f.func(time): p for p, f in zip(s.model.params, s.paths)})


def theorem1_steps(flip: str | None = None, activation: str = "tanh") -> list[Step]:
    """Domingos 2020, Theorem 1 (proof in §2), as seven checked steps.

    ``y(x) = y_0(x) − Σ_i ℓ̄'_i(x) K^p(x, x_i)``: a kernel machine with ``a_i = −ℓ̄'_i`` and
    ``b = y_0``. ``flip`` names a step whose sign is flipped (it must then fail).
    """
    if flip is not None and flip not in THEOREM1_KEYS:
        raise unknown_name("step", flip, THEOREM1_KEYS)
    sg = {k: (1 if k == flip else -1) for k in THEOREM1_KEYS}  # the correct sign is −
    s = _setting(activation)
    m = s.model
    w = m.params
    x = m.x
    ell = sp.Function("ell")
    Y = sp.Symbol("Y", real=True)

    def lprime(target, out):
        return sp.diff(ell(target, Y), Y).subs(Y, out)

    f_i = [_f(s, xi) for xi in s.data]
    f_x = m.expr
    L = sum((ell(yi, fi) for yi, fi in zip(s.targets, f_i)), sp.S.Zero)
    gradL = sp.Matrix(_grad(L, w))
    lp = [lprime(yi, fi) for yi, fi in zip(s.targets, f_i)]
    steps: list[Step] = []

    # 1. gradient descent -> gradient flow
    eps = sp.Symbol("epsilon", positive=True)
    w_next = sp.Matrix(w) - eps * gradL
    steps.append(Step(
        "gradient_flow",
        "Gradient descent w_{s+1} = w_s − ε∇L(w_s) is, per unit of flow time t = sε, the "
        "difference quotient of the gradient flow dw/dt = −∇_w L.",
        r"\frac{w_{s+1}-w_s}{\epsilon} = -\nabla_w L(w_s)"
        r" \quad\underset{\epsilon\to 0}{\longrightarrow}\quad \frac{dw}{dt} = -\nabla_w L",
        ((w_next - sp.Matrix(w)) / eps - sg["gradient_flow"] * gradL,),
        "GD update minus −∇L, componentwise, for P = 4 weights",
    ))

    # 2. additivity of the loss
    rhs2 = sp.Matrix([sum((lp[i] * sp.diff(f_i[i], p) for i in range(len(f_i))), sp.S.Zero)
                      for p in w])
    steps.append(Step(
        "additivity",
        "The loss is a sum over training points, so its gradient is the sum of the "
        "per-point derivatives ℓ'_i = ∂ℓ/∂y_i times ∇_w f(w, x_i).",
        r"\nabla_w L = \sum_i \ell'(y^*_i, y_i)\,\nabla_w f(w, x_i)",
        (gradL + (1 + sg["additivity"]) * rhs2 - rhs2,),
        "∇ of Σ_i ℓ(y*_i, f(w, x_i)) minus Σ_i ℓ'_i ∇f(x_i), generic ℓ",
    ))

    # 3. chain rule along the path w(t)
    t = s.t
    f_path = _at_time(f_x, s, t)
    chain = sum((_at_time(sp.diff(f_x, p), s, t) * sp.diff(wp, t) for p, wp in zip(w, s.paths)),
                sp.S.Zero)
    steps.append(Step(
        "chain_rule",
        "Along the path w(t), the output at any x changes by the chain rule.",
        r"\frac{dy}{dt} = \sum_{j=1}^{P} \frac{\partial y}{\partial w_j}\frac{dw_j}{dt}"
        r" = \nabla_w f(w, x)\cdot\frac{dw}{dt}",
        (sp.diff(f_path, t) + (1 + sg["chain_rule"]) * chain - chain,),
        "d/dt of f(w(t), x) minus ∇f·w'(t), with each w_j(t) an undefined function",
    ))

    # 4. substitute the flow: the tangent kernel appears
    flow = [-gradL[k] for k in range(len(w))]  # dw/dt, at w
    dy = sum((sp.diff(f_x, p) * flow[k] for k, p in enumerate(w)), sp.S.Zero)
    machine = sg["tangent_kernel"] * sum(
        (lp[i] * _K(s, x, s.data[i]) for i in range(len(s.data))), sp.S.Zero)
    steps.append(Step(
        "tangent_kernel",
        "Substituting the flow, each training point enters through the tangent kernel "
        "K^g(x, x_i) = ∇f(x)·∇f(x_i) (here the derived closed form).",
        r"\frac{dy}{dt} = -\sum_i \ell'_i\, \nabla_w f(x)\cdot\nabla_w f(x_i)"
        r" = -\sum_i \ell'_i\, K^g_{w}(x, x_i)",
        (dy - machine,),
        "∇f(x)·(−∇L) minus −Σ ℓ'_i K^g(x, x_i) with K^g from tangent_kernel()",
    ))

    # 5. integrate from 0 to T
    T = s.T
    integrand = sum((_at_time(lp[i] * _K(s, x, s.data[i]), s, t) for i in range(len(s.data))),
                    sp.S.Zero)
    y_T = _at_time(f_x, s, T)
    y_0 = _at_time(f_x, s, sp.S.Zero)
    integral = sp.Integral(integrand, (t, 0, T))
    resid5 = y_T - (y_0 + sg["integration"] * integral)
    d_resid = sp.diff(resid5, T).doit()
    flow_T = {sp.Derivative(f.func(T), T): _at_time(flow[k], s, T)
              for k, f in enumerate(s.paths)}
    d_resid = _unpath(d_resid.subs(flow_T), s, T)
    at0 = resid5.subs(T, 0).doit()
    steps.append(Step(
        "integration",
        "Integrating dy/dt from 0 to T gives the output as its initial value minus the "
        "accumulated kernel terms.",
        r"y(T) = y_0 - \int_0^T \sum_i \ell'_i\, K^g_{w(t)}(x, x_i)\,dt",
        (d_resid, at0),
        "both sides agree at T = 0, and their T-derivatives agree once dw/dT = −∇L is "
        "substituted",
    ))

    # 6. kernel-machine form with weighted-average loss derivatives
    Kp, lbar = [], []
    for i in range(len(s.data)):
        Kt = _at_time(_K(s, x, s.data[i]), s, t)
        Kp_i = sp.Integral(Kt, (t, 0, T))
        Kp.append(Kp_i)
        lbar.append(sp.Integral(Kt * _at_time(lp[i], s, t), (t, 0, T)) / Kp_i)
    form = y_0 + sg["kernel_machine"] * sum((lb * k for lb, k in zip(lbar, Kp)), sp.S.Zero)
    integral_split = y_0 - sum((sp.Integral(_at_time(lp[i] * _K(s, x, s.data[i]), s, t),
                                            (t, 0, T)) for i in range(len(s.data))), sp.S.Zero)
    steps.append(Step(
        "kernel_machine",
        "With the path kernel K^p = ∫K^g dt and the kernel-weighted average "
        "ℓ̄'_i = ∫K^g ℓ'_i dt / ∫K^g dt, the integral is a kernel expansion.",
        r"y = y_0 - \sum_i \bar\ell'_i\, K^p(x, x_i),\quad K^p = \int_0^T K^g dt,\quad"
        r" \bar\ell'_i = \frac{\int_0^T K^g \ell'_i dt}{\int_0^T K^g dt}",
        (sp.expand(form - integral_split),),
        "ℓ̄'_i K^p_i minus ∫ ℓ'_i K^g_i dt, with the integrals kept as objects",
    ))

    # 7. read off a_i and b
    a = [sg["coefficients"] * lb for lb in lbar]
    b = y_0
    steps.append(Step(
        "coefficients",
        "This is a kernel machine y = Σ_i a_i K^p(x, x_i) + b with a_i = −ℓ̄'_i (note the "
        "minus sign) and b = y_0(x) = f(w_0, x).",
        r"y = \sum_i a_i K^p(x, x_i) + b,\qquad a_i = -\bar\ell'_i,\quad b = y_0",
        (sp.expand(sum((ai * k for ai, k in zip(a, Kp)), sp.S.Zero) + b
                   - (y_0 - sum((lb * k for lb, k in zip(lbar, Kp)), sp.S.Zero))),),
        "Σ a_i K^p_i + b minus y_0 − Σ ℓ̄'_i K^p_i",
    ))
    return steps


def lemma1_steps(flip: str | None = None, activation: str = "tanh") -> list[Step]:
    """Seed 003, Lemma 1 (eqs. 3–6): ``du/dt = −H(t)(u − y)``, ``H_ij = ∇f(x_i)·∇f(x_j)`` PSD.

    Loss ``½ Σ_i (f(w, x_i) − y_i)²`` (eq. 1). ``flip`` names a step to get wrong.
    """
    if flip is not None and flip not in LEMMA1_KEYS:
        raise unknown_name("step", flip, LEMMA1_KEYS)
    sg = {k: (1 if k == flip else -1) for k in LEMMA1_KEYS}
    s = _setting(activation)
    m = s.model
    w = m.params
    n = len(s.data)
    f_i = [_f(s, xi) for xi in s.data]
    y = s.targets
    loss = sum(((fi - yi) ** 2 for fi, yi in zip(f_i, y)), sp.S.Zero) / 2
    grads = [sp.Matrix(_grad(fi, w)) for fi in f_i]
    steps: list[Step] = []
    flow = -sp.Matrix(_grad(loss, w))
    rhs = sg["flow_mse"] * sum((grads[i] * (f_i[i] - y[i]) for i in range(n)),
                               sp.zeros(len(w), 1))
    steps.append(Step(
        "flow_mse",
        "Gradient flow on the squared loss (eq. 4): each weight moves against the residuals "
        "weighted by the output gradients.",
        r"\frac{dw}{dt} = -\nabla\ell(w) = -\sum_{i=1}^n (f(w,x_i) - y_i)"
        r"\frac{\partial f(w, x_i)}{\partial w}",
        (flow - rhs,),
        "−∇ of ½Σ(f_i − y_i)² minus −Σ(f_i − y_i)∇f_i",
    ))
    H = sp.Matrix(n, n, lambda i, j: _K(s, s.data[i], s.data[j]))
    u = sp.Matrix(f_i)
    yv = sp.Matrix(y)
    t = s.t
    resid = []
    for i in range(n):
        fpath = _at_time(f_i[i], s, t)
        d = sp.diff(fpath, t)
        sub = {sp.Derivative(f.func(t), t): _at_time(flow[k], s, t)
               for k, f in enumerate(s.paths)}
        d = _unpath(d.subs(sub), s, t)
        target = sg["chain_rule"] * sum(((f_i[j] - y[j]) * H[i, j] for j in range(n)), sp.S.Zero)
        resid.append(d - target)
    steps.append(Step(
        "chain_rule",
        "By the chain rule (eq. 5), the output at x_i changes by ⟨∂f(x_i)/∂w, dw/dt⟩, which "
        "couples every training point through ⟨∇f(x_i), ∇f(x_j)⟩.",
        r"\frac{d f(w(t), x_i)}{dt} = -\sum_{j=1}^n (f(w(t), x_j) - y_j)"
        r"\left\langle \frac{\partial f(x_i)}{\partial w}, \frac{\partial f(x_j)}{\partial w}"
        r"\right\rangle",
        tuple(resid),
        "d/dt f(w(t), x_i) with dw/dt substituted, minus the sum, with H from tangent_kernel()",
    ))
    gram = sp.Matrix(n, n, lambda i, j: (grads[i].T * grads[j])[0, 0])
    du = sp.Matrix([sum((gram[i, j] * (-(f_i[j] - y[j])) for j in range(n)), sp.S.Zero)
                    for i in range(n)])
    steps.append(Step(
        "matrix_form",
        "Stacking the outputs u = (f(w, x_i))_i gives the linear-looking system of eq. 6 with "
        "H(t)_ij = ⟨∇f(x_i), ∇f(x_j)⟩.",
        r"\frac{du}{dt} = -H(t)\,(u - y),\qquad H_{ij}(t) = \nabla f(x_i)\cdot\nabla f(x_j)",
        (du - sg["matrix_form"] * H * (u - yv),),
        "the gradient-product system minus −H(u − y), H from the closed-form kernel",
    ))
    v = sp.Matrix(sp.symbols(f"v_1:{n + 1}", real=True))
    J = sp.Matrix.hstack(*grads).T  # (n, P)
    quad = (v.T * H * v)[0, 0]
    norm2 = sum((c**2 for c in (J.T * v)), sp.S.Zero)
    steps.append(Step(
        "psd",
        "H(t) is a Gram matrix, so vᵀHv = ‖Σ_i v_i ∇f(x_i)‖² ≥ 0 for every v: H(t) is "
        "positive semi-definite.",
        r"v^\top H v = \left\|\sum_i v_i \nabla_w f(x_i)\right\|^2 \ge 0",
        (quad + (1 + sg["psd"]) * norm2 - norm2,),
        "vᵀHv minus ‖Jᵀv‖², symbolic v",
    ))
    return steps


def verify_proof(
    name: str, flip: str | None = None, activation: str = "tanh"
) -> StepResults:
    """Build and verify the named proof ("theorem1" or "lemma1"); cached.

    The result is a tuple of :class:`StepResult` that prints as a table
    (``print(pk.symbolic.verify_proof("theorem1"))``); ``.ok`` says whether every step held.
    """
    for label, value in (("name", name), ("activation", activation)):
        if not isinstance(value, str):
            raise InvalidArgumentError(
                f"verify_proof: {label} must be a str; got {type(value).__name__} {value!r:.40}."
            )
    if flip is not None and not isinstance(flip, str):
        raise InvalidArgumentError(f"verify_proof: flip must be a step key or None; got {flip!r}.")
    return _verify_proof(name, flip, activation)


@lru_cache(maxsize=16)
def _verify_proof(name: str, flip: str | None, activation: str) -> StepResults:
    if name == "theorem1":
        return verify_steps(theorem1_steps(flip, activation))
    if name == "lemma1":
        return verify_steps(lemma1_steps(flip, activation))
    raise unknown_name("proof", name, PROOFS)

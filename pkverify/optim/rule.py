"""The update rule as data: the one place a training step is written.

Every optimizer here moves the weights by a step that is linear in past mini-batch gradients
once its diagonal preconditioner ``P_s`` is fixed (PyTorch's conventions [pytorch-optim], cf.
``torch/optim/sgd.py`` and ``_single_tensor_adam`` in ``torch/optim/adam.py``)::

    g_s = Σ_{i∈B_s} ρ_s ℓ'_{i,s} ∇f(w_s, x_i) + λ_L2 w_s + ∇R(w_s)      (ρ_s: the reduction)
    z_s = μ z_{s−1} + κ_s g_s,   z_{−1} = 0                             (the buffer)
    d_s = α_s (z_s + ν g_s)                                             (the direction)
    Δ_s = w_{s+1} − w_s = −η_s P_s d_s − η_s λ_dec w_s

so that ``Δ_s = −η_s P_s Σ_{r≤s} c_{s,r} g_r − η_s λ_dec w_s`` with
``c_{s,r} = α_s (κ_r μ^{s−r} + ν [s = r])``:

==========================  ====  =====================  ===  ===============  ==========
optimizer                   μ     κ_s                    ν    α_s              P_s
==========================  ====  =====================  ===  ===============  ==========
gd                          0     1                      0    1                I
sgd (momentum μ, damp. d)   μ     1 at s = 0, else 1−d   0    1                I
sgd, nesterov               μ     μ (1 at s = 0, 1−d)    1    1                I
adam / adamw (β₁, β₂)       β₁    1 − β₁                 0    1/(1−β₁^{s+1})   see below
==========================  ====  =====================  ===  ===============  ==========

with Adam's ``P_s = diag(1/(√(v_s/(1 − β₂^{s+1})) + eps))``, ``v_s = β₂ v_{s−1} +
(1 − β₂) g_s²`` (``v_{−1} = 0``). PyTorch's SGD starts its buffer
at ``buf_0 = g_0`` (no dampening on the first step): κ_0 = 1. With Nesterov the step uses
``g_s + μ buf_s``, i.e. ``z = μ buf`` and ν = 1. Coupled weight decay (``sgd``, ``adam``)
adds λ_L2 w_s to g_s; AdamW's decoupled decay is ``w ← w(1 − η λ)`` before the step, the
term ``−η_s λ_dec w_s``. With parameter groups (:mod:`.groups`) η_s and λ are diagonal
matrices, one value per weight, and the formulas read elementwise. Because the rule is linear
in g once P_s is fixed, the same functions move several *parts* of the gradient at once (the
loss's and the regulariser's, or one per training example in the slow reference), each with
its own buffer and the shared P_s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, unknown_name
from ..validation import as_step_sizes, nonnegative_float, positive_float
from .groups import ParamGroups, grouped

__all__ = ["Optimizer", "OptimizerState", "NAMES", "gd", "sgd", "adam", "adamw", "from_spec",
           "as_optimizer"]

NAMES = ("gd", "sgd", "adam", "adamw")


@dataclass(frozen=True)
class OptimizerState:
    """What a rule carries between steps.

    z:  ``(m, P)`` the buffers of m linear parts of the gradient (None before the first step,
        and always for plain GD, whose buffer is the gradient itself).
    v:  ``(P,)`` Adam's second moment (None for SGD).
    """

    z: np.ndarray | None = None
    v: np.ndarray | None = None


@dataclass(frozen=True)
class Optimizer:
    """A first-order update rule with PyTorch's names and defaults (see the module docstring).

    name:          "gd", "sgd", "adam" or "adamw".
    lr:            the step size η > 0, or a schedule: a tuple of one η_s per step.
    momentum, dampening, nesterov: SGD's (PyTorch's ``torch.optim.SGD``).
    betas, eps:    Adam's (``torch.optim.Adam``/``AdamW``).
    weight_decay:  λ: coupled (λ w added to the gradient) for sgd and adam, decoupled
                   (``w ← w (1 − η λ)``) for adamw.
    groups:        None (one group), or :class:`~pkverify.optim.groups.ParamGroups`: a step
                   size and a weight decay per group of weights (lr and weight_decay are then
                   group 0's); build with :func:`grouped`.
    """

    name: str = "gd"
    lr: float | tuple[float, ...] = 0.01
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    groups: ParamGroups | None = None

    # ----- what the rule is ----------------------------------------------------------------

    @property
    def adaptive(self) -> bool:
        """True when P_s depends on the gradients (Adam, AdamW)."""
        return self.name in ("adam", "adamw")

    @property
    def mu(self) -> float:
        """μ: the buffer's decay (the ratio of the geometric c_{s,r})."""
        return self.betas[0] if self.adaptive else self.momentum

    @property
    def nu(self) -> float:
        """ν: the weight of the current gradient beside the buffer (1 for Nesterov)."""
        return 1.0 if self.name == "sgd" and self.nesterov and self.momentum > 0 else 0.0

    @property
    def _decay(self) -> Any:
        return self.weight_decay if self.groups is None else self.groups.decay

    @property
    def coupled_decay(self) -> Any:
        """λ_L2, added to the gradient (sgd, adam); a ``(P,)`` vector with groups."""
        return self._decay if self.name in ("sgd", "adam") else 0.0

    @property
    def decoupled_decay(self) -> Any:
        """λ_dec, AdamW's ``w ← w (1 − η λ)``; a ``(P,)`` vector with groups."""
        return self._decay if self.name == "adamw" else 0.0

    @property
    def decays(self) -> bool:
        """True when some weight decays (coupled or decoupled)."""
        return bool(np.any(np.asarray(self._decay) != 0.0))

    @property
    def decoupled(self) -> bool:
        """True when the rule has AdamW's decoupled decay on some weight."""
        return self.name == "adamw" and self.decays

    @property
    def plain(self) -> bool:
        """True for plain gradient descent: μ = 0, P = I, no weight decay, one step size for
        every weight (Theorem 1's form)."""
        return (not self.adaptive and self.momentum == 0.0 and self.weight_decay == 0.0
                and self.groups is None)

    def kappa(self, s: int) -> float:
        """κ_s, the weight of g_s entering the buffer."""
        if self.adaptive:
            return 1.0 - self.betas[0]
        if self.momentum == 0.0:
            return 1.0
        first = 1.0 if s == 0 else 1.0 - self.dampening
        return self.momentum * first if self.nu else first

    def alpha(self, s: int) -> float:
        """α_s: Adam's first-moment bias correction 1/(1 − β₁^{s+1}); 1 otherwise."""
        return 1.0 / (1.0 - self.betas[0] ** (s + 1)) if self.adaptive else 1.0

    def coefficient(self, s: int, r: int) -> float:
        """``c_{s,r} = α_s (κ_r μ^{s−r} + ν [s = r])`` for r ≤ s: the weight of g_r in step s."""
        if r > s:
            return 0.0
        return self.alpha(s) * (self.kappa(r) * self.mu ** (s - r) + (self.nu if r == s else 0.0))

    def step_sizes(self, steps: int) -> np.ndarray:
        """η_s for ``steps`` steps (a schedule must have exactly that many entries); with
        groups, group 0's."""
        return as_step_sizes(np.asarray(self.lr) if isinstance(self.lr, tuple) else self.lr,
                             steps)

    def rate(self, s: int, eta: float) -> Any:
        """The step size of step s as :meth:`advance` takes it: ``eta`` (the path's η_s)
        itself for one group; with groups the ``(P,)`` diagonal ``E_s`` (group 0's entry is
        η_s)."""
        return eta if self.groups is None else self.groups.rates(s)

    def check_groups(self, n_params: int, steps: int | None = None) -> None:
        """Refuse groups that do not fit a model of ``n_params`` weights and ``steps`` steps."""
        if self.groups is not None:
            self.groups.check(n_params, steps)

    # ----- the step, written once --------------------------------------------------------

    def precondition(self, state: OptimizerState, g: Any, s: int) -> tuple[Any, Any | None]:
        """``(v_s, P_s)`` from the total gradient g_s of step s (``(None, None)`` for SGD)."""
        if not self.adaptive:
            return None, None
        b2 = self.betas[1]
        v = (1.0 - b2) * (g * g) if state.v is None else b2 * state.v + (1.0 - b2) * (g * g)
        root = np.sqrt(1.0 - b2 ** (s + 1))  # PyTorch: (√v / √(1 − β₂^t)) + eps
        return v, 1.0 / (np.sqrt(v) / root + self.eps)

    def buffers(self, state: OptimizerState, G: Any, s: int) -> Any:
        """``z_s = μ z_{s−1} + κ_s G`` for the parts ``G (m, P)``."""
        k = self.kappa(s)
        zg = G if k == 1.0 else k * G
        if state.z is None or self.mu == 0.0:
            return zg
        return self.mu * state.z + zg

    def direction(self, z: Any, G: Any, P: Any | None, eta: Any, s: int) -> Any:
        """The parts' steps ``−η_s α_s P_s (z_s + ν G)`` (without decoupled decay)."""
        d = z + self.nu * G if self.nu else z
        a = self.alpha(s)
        if a != 1.0:
            d = a * d
        if P is not None:
            d = P * d
        return -eta * d

    def decay(self, w: Any, eta: Any) -> Any:
        """AdamW's decoupled term ``−η_s λ_dec w_s`` (0.0 for the other rules)."""
        lam = self.decoupled_decay
        if self.groups is not None:
            return -(eta * lam) * w if self.decoupled else 0.0
        return -(eta * lam) * w if lam else 0.0

    def advance(
        self, state: OptimizerState, G: Any, w: Any, eta: Any, s: int, total: Any = None
    ) -> tuple[Any, Any, Any | None, OptimizerState]:
        """One step for the gradient parts ``G (m, P)`` at weights ``w``, with step size
        ``eta``: η_s, or the ``(P,)`` diagonal E_s of parameter groups (:meth:`rate`).

        Returns ``(steps (m, P), decay (P,) or 0.0, P_s or None, new state)``: the step is
        ``Σ_j steps[j] + decay``. ``total`` is the whole gradient ``Σ_j G[j]`` (v_s is built
        from it; computed when not given).
        """
        v, P = self.precondition(state, G.sum(axis=0) if total is None else total, s) \
            if self.adaptive else (None, None)
        z = self.buffers(state, G, s)
        return self.direction(z, G, P, eta, s), self.decay(w, eta), P, OptimizerState(z, v)

    def gradient(self, g: Any, w: Any) -> Any:
        """The gradient the rule sees: ``g + λ_L2 w`` (coupled weight decay)."""
        lam = self.coupled_decay
        if self.groups is not None:
            return g + lam * w if self.name in ("sgd", "adam") and self.decays else g
        return g + lam * w if lam else g

    # ----- records ---------------------------------------------------------------------------

    @property
    def spec(self) -> dict[str, Any]:
        """Constructor arguments (JSON-ready) so a saved trajectory can rebuild the rule."""
        lr: Any = list(self.lr) if isinstance(self.lr, tuple) else self.lr
        out: dict[str, Any] = {"name": self.name, "lr": lr}
        if self.name == "sgd":
            out.update(momentum=self.momentum, dampening=self.dampening,
                       nesterov=self.nesterov, weight_decay=self.weight_decay)
        elif self.adaptive:
            out.update(betas=list(self.betas), eps=self.eps, weight_decay=self.weight_decay)
        if self.groups is not None:
            out["groups"] = self.groups.spec
        return out

    def describe(self) -> str:
        """A short human-readable form, e.g. ``adam(lr=0.001, betas=(0.9, 0.999))``."""
        args = ", ".join(f"{k}={tuple(v) if isinstance(v, list) and k == 'betas' else v}"
                         for k, v in self.spec.items() if k not in ("name", "lr", "groups"))
        lr = "schedule" if isinstance(self.lr, tuple) else f"{self.lr:g}"
        args = ", ".join(a for a in (args, self._describe_groups()) if a)
        return f"{self.name}(lr={lr}{', ' + args if args else ''})"

    def _describe_groups(self) -> str:
        if self.groups is None:
            return ""
        return f"groups={self.groups.n_groups} (weight_decay {list(self.groups.weight_decay)})"


# ----- constructors with PyTorch's names and defaults ----------------------------------------


def _lr(lr: Any) -> float | tuple[float, ...]:
    if np.ndim(lr) == 0 and not isinstance(lr, (str, bytes)):
        return positive_float(lr, "lr", " Use a small step size such as 0.01 (SGD) or 1e-3 "
                              "(Adam).")
    eta = as_step_sizes(lr, int(np.size(lr)))  # checks finite, > 0; the length at train time
    return tuple(float(e) for e in eta)


def _beta(value: Any, name: str) -> float:
    v = nonnegative_float(value, name, " Betas lie in [0, 1), e.g. (0.9, 0.999).")
    if v >= 1.0:
        raise InvalidArgumentError(
            f"{name} must lie in [0, 1); got {value!r}. PyTorch's defaults are (0.9, 0.999)."
        )
    return v


def gd(lr: Any = 0.01) -> Optimizer:
    """Plain gradient descent ``w ← w − η ∇L`` (Theorem 1's rule)."""
    return Optimizer("gd", _lr(lr))


def sgd(lr: Any = 0.01, momentum: float = 0.0, dampening: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0) -> Optimizer:
    """``torch.optim.SGD``: momentum μ, dampening d, Nesterov, coupled weight decay λ."""
    lr = _lr(lr)
    mom = nonnegative_float(momentum, "momentum", " Typical values are 0.9 or 0.99.")
    if mom >= 1.0:
        raise InvalidArgumentError(f"momentum must lie in [0, 1); got {momentum!r}.")
    damp = nonnegative_float(dampening, "dampening")
    if damp > 1.0:
        raise InvalidArgumentError(f"dampening must lie in [0, 1]; got {dampening!r}.")
    if not isinstance(nesterov, (bool, np.bool_)):
        raise InvalidArgumentError(f"nesterov must be True or False; got {nesterov!r}.")
    if nesterov and (mom <= 0.0 or damp != 0.0):
        raise InvalidArgumentError(
            f"Nesterov momentum requires momentum > 0 and zero dampening (as in PyTorch); got "
            f"momentum={momentum!r}, dampening={dampening!r}. Drop nesterov=True or set "
            "dampening=0."
        )
    wd = nonnegative_float(weight_decay, "weight_decay", " Use e.g. 1e-4.")
    return Optimizer("sgd", lr, momentum=mom, dampening=damp, nesterov=bool(nesterov),
                     weight_decay=wd)


def _adam(name: str, lr: Any, betas: Any, eps: Any, weight_decay: Any) -> Optimizer:
    try:
        b1, b2 = betas
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"betas must be a pair (β₁, β₂) in [0, 1); got {betas!r}."
        ) from exc
    eps_v = nonnegative_float(eps, "eps", " PyTorch's default is 1e-8.")
    return Optimizer(name, _lr(lr), betas=(_beta(b1, "betas[0]"), _beta(b2, "betas[1]")),
                     eps=eps_v, weight_decay=nonnegative_float(weight_decay, "weight_decay"))


def adam(lr: Any = 1e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> Optimizer:
    """``torch.optim.Adam`` with bias corrections; weight decay coupled (added to g)."""
    return _adam("adam", lr, betas, eps, weight_decay)


def adamw(lr: Any = 1e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
          weight_decay: float = 1e-2) -> Optimizer:
    """``torch.optim.AdamW``: decoupled weight decay ``w ← w (1 − η λ)`` before the step."""
    return _adam("adamw", lr, betas, eps, weight_decay)


_CONSTRUCTORS = {"gd": gd, "sgd": sgd, "adam": adam, "adamw": adamw}


def from_spec(spec: Any) -> Optimizer:
    """The optimizer a :attr:`Optimizer.spec` describes (as saved in a trajectory file)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise InvalidArgumentError(f"an optimizer spec is a dict with a 'name'; got {spec!r}.")
    name = spec["name"]
    if name not in _CONSTRUCTORS:
        raise unknown_name("optimizer", name, NAMES)
    args = {k: v for k, v in spec.items() if k not in ("name", "groups")}
    try:
        opt = _CONSTRUCTORS[name](**args)
    except TypeError as exc:
        raise InvalidArgumentError(f"optimizer spec {spec!r:.200} does not fit {name}(): "
                                   f"{exc}") from exc
    g = spec.get("groups")
    if g is None:
        return opt
    if not isinstance(g, dict) or set(g) != {"segments", "lr", "weight_decay"}:
        raise InvalidArgumentError(f"an optimizer spec's groups hold segments, lr and "
                                   f"weight_decay; got {g!r:.120}.")
    return grouped(opt, g["segments"], g["lr"], g["weight_decay"], merge=False)


def as_optimizer(value: Any) -> Optimizer:
    """An :class:`Optimizer` from itself or a name ("gd", "sgd", "adam", "adamw", with the
    constructor's defaults)."""
    if isinstance(value, Optimizer):
        return value
    if isinstance(value, str):
        if value not in _CONSTRUCTORS:
            raise unknown_name("optimizer", value, NAMES)
        return _CONSTRUCTORS[value]()
    raise InvalidArgumentError(
        f"optimizer must be pk.optim.gd(lr), sgd(...), adam(...), adamw(...) or one of their "
        f"names; got {type(value).__name__} {value!r:.40}."
    )

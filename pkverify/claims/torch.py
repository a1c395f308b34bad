"""Kernels of PyTorch architectures (``torch.*``): what the architecture implies, measured.

Domingos (2020, §5) notes that kernels "with translation invariance ... are directly
obtainable from the architecture of convolutional neural networks". For a conv net whose
convolutions pad circularly (stride 1), whose activations act pointwise and which ends in a
global average pool, ``f(w, T x) = f(w, x)`` for every cyclic shift ``T`` of the image and
every ``w``; so ``∇_w f(w, T x) = ∇_w f(w, x)`` and both the tangent kernel and the path kernel
satisfy ``K(T x, T x') = K(x, x')``. The check measures it through ``pk.torch`` and its
engine, and runs the same net with zero padding as a control (borders break the symmetry, so
there the kernels must move).

``torch.kinks``: a CNN with ReLU, max-pooling and an ``F.relu`` call inside ``forward``
(nothing declared), trained by Adam, is rebuilt by the exact kernel machine to rounding: the
exact rule splits each step at every query row's kinks, located from the switch values that
:mod:`pkverify.extra.torch_switches` captures (:mod:`pkverify.kernels.switches`,
:mod:`pkverify.kernels.exact_rows`). The control integrates the same steps with as many
Gauss–Legendre nodes and the module declared smooth (``pk.torch.model(..., smooth=True)``:
no kink location), and must miss.

PyTorch is optional: without it the claims report (status "report") why they did not run.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .registry import CheckConfig, Outcome, claim

TOL = 1e-12  # the same float64 sums in another order (the pooled mean over shifted pixels)
CONTROL = 1e-6  # zero padding must move the kernel far beyond rounding, or the check is vacuous


Padding = Literal["zeros", "circular"]


def conv_net(padding_mode: Padding, seed: int, channels: int = 3) -> Any:
    """A float64 conv net (two 3×3 convolutions with tanh, global average pool, linear) with
    weights drawn from ``numpy.random.default_rng(seed)`` (torch's global RNG untouched)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, channels, 3, padding=1, padding_mode=padding_mode),
            torch.nn.Tanh(),
            torch.nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode),
            torch.nn.Tanh(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(channels, 1),
        ).double()
    P = sum(p.numel() for p in net.parameters())
    w = 0.5 * np.random.default_rng(seed).standard_normal(P)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(torch.from_numpy(w), net.parameters())
    return net


def cyclic_shift(X: np.ndarray, side: int, dy: int, dx: int) -> np.ndarray:
    """Rows of X (flattened side × side images) rolled by (dy, dx) pixels, wrapping around."""
    imgs = X.reshape(-1, side, side)
    return np.roll(imgs, (dy, dx), axis=(1, 2)).reshape(X.shape)


def kernel_shift_deviation(padding_mode: Padding, seed: int, side: int, n: int,
                           shifts: list[tuple[int, int]]) -> dict[str, float]:
    """Worst ``|K(Tx, Tx') − K(x, x')| / max|K|`` over the shifts, for the tangent kernel at
    the initial weights and the Riemann path kernel of a short gradient-descent run."""
    from ..extra.torch import model
    from ..kernels import path_kernel, tangent_kernel
    from ..train import train

    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((n, side * side))
    Y = rng.standard_normal(n)
    M = model(conv_net(padding_mode, seed), input_shape=(1, side, side))
    w = M.init()
    traj = train(M, X, Y, loss="mse", lr=0.1, steps=3)
    K = tangent_kernel(M, w, X)
    Kp = path_kernel(traj, X)
    out = {"tangent": 0.0, "path": 0.0}
    for dy, dx in shifts:
        Xs = cyclic_shift(X, side, dy, dx)
        out["tangent"] = max(out["tangent"], float(
            np.max(np.abs(tangent_kernel(M, w, Xs) - K)) / np.max(np.abs(K))))
        out["path"] = max(out["path"], float(
            np.max(np.abs(path_kernel(traj, Xs) - Kp)) / np.max(np.abs(Kp))))
    return out



def _torch_missing() -> Outcome | None:
    """The INFO outcome of a torch claim where PyTorch is not installed, else None."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return Outcome(
            None,
            message="PyTorch is not installed, so this claim did not run (information, not a "
            "failure); install it with pip install 'pkverify[torch]'.",
        )
    return None

@claim(
    "torch.translation",
    title="A circular-padding CNN's tangent and path kernels are invariant to cyclic shifts",
    statement=(
        r"K(T x, T x') = K(x, x')\ \text{for every cyclic shift } T"
        r"\quad (f(w, Tx) = f(w, x):\ \text{circular convolutions, global average pool})"
    ),
    source="domingos2020 §5 (translation-invariant kernels from CNNs)",
    tolerance=(
        "1e-12 relative to max|K| — float64 rounding (the pool sums the same values in another "
        "order); the zero-padding control must differ by more than 1e-6"
    ),
)
def check_translation(cfg: CheckConfig) -> Outcome:
    missing = _torch_missing()
    if missing is not None:
        return missing
    side, n = (5, 3) if cfg.quick else (8, 6)
    shifts = [(1, 0), (0, 2), (side - 1, 3)] if cfg.quick else [
        (dy, dx) for dy in range(side) for dx in range(side) if (dy, dx) != (0, 0)][::5]
    circular = kernel_shift_deviation("circular", cfg.seed, side, n, shifts)
    zeros = kernel_shift_deviation("zeros", cfg.seed, side, n, shifts)
    worst = max(circular.values())
    control = min(zeros.values())
    passed = worst <= TOL and control > CONTROL
    return Outcome(
        passed,
        metrics={
            "rel_dev": worst,
            "tangent_rel_dev": circular["tangent"],
            "path_rel_dev": circular["path"],
            "zero_padding_rel_dev": control,
            "shifts": len(shifts),
            "images": f"{n} of {side}×{side}",
        },
        message=(
            f"over {len(shifts)} cyclic shifts of {n} {side}×{side} images, the circular CNN's "
            f"tangent and path kernels moved by at most {worst:.1e} (relative); with zero "
            f"padding they move by {control:.1e}, as borders break the symmetry."
        ),
        key="rel_dev",
    )


# ---------------------------------------------------------------------------------------
# torch.kinks: ReLU and max-pooling nets rebuilt exactly, their kinks located generically
# ---------------------------------------------------------------------------------------

KINK_TOL = 1e-12  # the machine sums the model's own float64 products in another order, over
# ≤ 4 steps of a depth-3 net (measured 4.7e-16 quick, 1.9e-15 full): rounding; issue 14's bound
KINK_CONTROL = 1e-6  # without kink location the same steps must miss by far more than
# rounding (measured 2.5e-3 quick, 3.6e-3 full), or the claim could not fail
KINKED_OPS = 3  # nn.ReLU, nn.MaxPool2d and the F.relu call inside forward


def kink_cnn(side: int, seed: int) -> Any:
    """A float64 CNN with kinks: Conv2d(1→2, 3×3, zero padding) → nn.ReLU → nn.MaxPool2d(2) →
    Linear(→4) → ``F.relu`` (a plain call inside forward, no module) → Linear(→1), with torch's
    default initialisation drawn after ``torch.manual_seed(seed)`` in a forked RNG."""
    import torch

    class KinkCNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
            self.act = torch.nn.ReLU()
            self.pool = torch.nn.MaxPool2d(2)
            self.hidden = torch.nn.Linear(2 * (side // 2) ** 2, 4)
            self.out = torch.nn.Linear(4, 1)

        def forward(self, x: Any) -> Any:
            h = self.pool(self.act(self.conv(x))).flatten(1)
            return self.out(torch.nn.functional.relu(self.hidden(h)))

    with torch.random.fork_rng(devices=[]):  # torch's global RNG left as it was
        torch.manual_seed(seed)
        return KinkCNN().double()


def kinks_along_path(traj: Any, Z: np.ndarray) -> dict[str, Any]:
    """Per step, the mean number of kinks located per query row and the switch-value
    evaluations (forward passes of one row) that located them — the locator the exact rule
    runs (:func:`pkverify.kernels.switches.locate_switches`), run again on the same steps —
    plus the number of piecewise-linear ops the capture saw and the unresolved pieces."""
    from ..kernels.engines import engine_for
    from ..kernels.step_identity import unit_roundoff
    from ..kernels.switches import locate_switches

    eng = engine_for(traj.model)
    kinks, evals, unresolved = [], [], 0
    ws = np.asarray(traj.ws)
    for s in range(traj.steps):
        w, delta = ws[s], ws[s + 1] - ws[s]

        def values(rows: np.ndarray, taus: np.ndarray) -> list[Any]:
            return eng.switch_values(w, Z[rows], (delta, taus))  # noqa: B023 (used at once)

        found = locate_switches(values, len(Z), unit_roundoff(np.float64))
        kinks.append(float(np.mean([k.size for k in found.kinks])))
        evals.append(found.evaluations / len(Z))
        unresolved += found.unresolved
    ops = len(eng.switch_values(ws[0], Z[:1], (ws[1] - ws[0], np.zeros(1))))
    return {"kinks": kinks, "evaluations": evals, "unresolved": unresolved, "ops": ops}


def _rel(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(np.max(np.abs(b)), 1e-300))


@claim(
    "torch.kinks",
    title="A ReLU and max-pooling CNN trained with Adam is rebuilt exactly, its kinks located "
    "without being declared",
    statement=(
        r"f(w_S, x) = b(x) + \sum_i a_i(x)\,K^{opt}(x, x_i)\ \text{to rounding, with each step "
        r"} \int_0^1 \nabla f(w_s + \tau\Delta_s, x)\,d\tau \text{ split where a unit switches}"
    ),
    source=("domingos2020 Thm. 1 at finite ε; bell2023 (exact discrete-step form); "
            "trefethen2019 ch. 18 (roots of Chebyshev interpolants: the kink locator); "
            "pytorch-optim (Adam)"),
    tolerance=(
        "1e-12 relative to max|f| — float64 rounding (the machine sums the model's own "
        "products in another order); the control (same steps and node budget, no kink "
        "location) must miss by more than 1e-6"
    ),
)
def check_kinks(cfg: CheckConfig) -> Outcome:
    missing = _torch_missing()
    if missing is not None:
        return missing
    import dataclasses
    import math
    import warnings

    from ..extra.torch import model
    from ..kernels.exactness import PathWarning
    from ..kernels.step_identity import adaptive_rtol
    from ..machine import kernel_machine
    from ..optim import adam
    from ..train import train
    from . import figures as fig

    side, n, q, steps = (6, 6, 3, 3) if cfg.quick else (8, 8, 4, 4)
    rng = np.random.default_rng(cfg.seed + 2)
    X = rng.standard_normal((n, side * side))
    Y = rng.standard_normal(n)
    Z = np.concatenate([rng.standard_normal((q, side * side)), X])  # queries and training
    net = kink_cnn(side, cfg.seed)
    M = model(net, input_shape=(1, side, side))
    assert M.foreign is not None  # pk.torch.model always describes the module
    traj = train(M, X, Y, loss="mse", optimizer=adam(0.05), steps=steps, reduction="mean",
                 progress=False)
    want = traj.predict(Z)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PathWarning)
        km = kernel_machine(traj, progress=False)
        predict_err = _rel(km.predict(Z), want)
        sum_err = _rel(km.b(Z) + km.contributions(Z).sum(axis=1), want)
        diag = km.diagnostics(Z)
    path_warnings = sum(issubclass(w.category, PathWarning) for w in caught)
    located = kinks_along_path(traj, Z)
    # the control: the module declared smooth (pk.torch.model's smooth=True: no kink location),
    # the same steps, Gauss–Legendre on the whole step with as many gradient evaluations per
    # row and step as the located rule spent at most
    budget = int(math.ceil(float(np.max(diag.evaluations))))
    blind = dataclasses.replace(traj, model=model(net, input_shape=(1, side, side),
                                                  smooth=True))
    with warnings.catch_warnings(record=True) as control_caught:  # the miss is expected
        warnings.simplefilter("always", PathWarning)
        kc = kernel_machine(blind, nodes=budget, progress=False)
        control_err = _rel(kc.predict(Z), want)
        control_res = kc.diagnostics(Z).residuals
    control_warned = any(issubclass(w.category, PathWarning) for w in control_caught)
    worst = max(predict_err, sum_err)
    passed = (worst <= KINK_TOL and diag.max_residual <= adaptive_rtol(np.float64)
              and path_warnings == 0 and located["unresolved"] == 0
              and located["ops"] == KINKED_OPS and control_err > KINK_CONTROL)
    s_axis = list(range(1, steps + 1))
    figures = [
        fig.curves("Per query row and step: kinks located, and the evaluations spent",
                   s_axis, {"kinks located": located["kinks"],
                            "switch-value evaluations (forward passes)": located["evaluations"],
                            "gradient evaluations (quadrature)": diag.evaluations},
                   xlabel="step s", ylabel="per query row", logy=True),
        fig.curves("Step identity residual |f(w_{s+1}) − f(w_s) − ∫∇f·Δ_s|, relative",
                   s_axis, {"kinks located": np.maximum(diag.residuals, 1e-17),
                            f"not located ({budget} Gauss–Legendre nodes)": control_res},
                   xlabel="step s", ylabel="relative residual", logy=True),
    ]
    return Outcome(
        passed,
        metrics={
            "rel_err": worst,
            "predict_rel_err": predict_err,
            "b_plus_contributions_rel_err": sum_err,
            "max_step_residual": diag.max_residual,
            "path_warnings": path_warnings,
            "kinked": ", ".join(M.foreign.kinked),
            "kinked_ops_captured": located["ops"],
            "kinks_per_row_step": float(np.mean(located["kinks"])),
            "switch_evals_per_row_step": float(np.mean(located["evaluations"])),
            "grad_evals_per_row_step": diag.mean_evaluations,
            "unresolved_pieces": located["unresolved"],
            "control_rel_err": control_err,
            "control_max_step_residual": float(np.max(control_res)),
            "control_nodes": budget,
            "control_warned": control_warned,
            "images": f"{len(Z)} of {side}×{side} ({q} queries + {n} training)",
            "steps": f"{steps} Adam steps",
        },
        data={"figures": figures, "kinks_per_step": located["kinks"],
              "switch_evals_per_step": located["evaluations"],
              "grad_evals_per_step": diag.evaluations, "residuals": diag.residuals,
              "control_residuals": control_res},
        message=(
            f"a Conv2d–ReLU–MaxPool2d–Linear–F.relu–Linear net ({steps} Adam steps, {len(Z)} "
            f"{side}×{side} images): the exact machine is off by {worst:.1e} (predict and "
            f"b + Σ contributions), {np.mean(located['kinks']):.1f} kinks located per row and "
            f"step ({np.mean(located['evaluations']):.0f} forward passes, "
            f"{diag.mean_evaluations:.0f} gradient evaluations); integrating the same steps "
            f"with {budget} nodes and no kink location misses by {control_err:.1e}."
        ),
        key="rel_err",
    )

"""Kernels of PyTorch architectures (``torch.*``): what the architecture implies, measured.

Domingos (2020, §5) notes that kernels "with translation invariance ... are directly
obtainable from the architecture of convolutional neural networks". For a conv net whose
convolutions pad circularly (stride 1), whose activations act pointwise and which ends in a
global average pool, ``f(w, T x) = f(w, x)`` for every cyclic shift ``T`` of the image and
every ``w``; so ``∇_w f(w, T x) = ∇_w f(w, x)`` and both the tangent kernel and the path kernel
satisfy ``K(T x, T x') = K(x, x')``. The check measures it through ``pk.torch`` and its
engine, and runs the same net with zero padding as a control (borders break the symmetry, so
there the kernels must move).

PyTorch is optional: without it the claim reports (status "report") why it did not run.
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
    try:
        import torch  # noqa: F401
    except ImportError:
        return Outcome(
            None,
            message="PyTorch is not installed, so this claim did not run (information, not a "
            "failure); install it with pip install 'pkverify[torch]'.",
        )
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

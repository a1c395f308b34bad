"""Small, seeded problems and measures shared by the claim checks."""

from __future__ import annotations

import numpy as np

from ..rates import loglog_slope  # re-exported: the report's proof page imports it from here

__all__ = [
    "regression_data",
    "binary_data",
    "class_data",
    "rel_change_error",
    "loglog_slope",
    "demo_trajectory",
    "demo_query",
    "explain_query",
    "explain_bars",
    "gd_least_squares_path",
    "jacobian_kernel",
    "one_layer_relu_kinks",
]


def regression_data(seed: int, n: int = 8, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``X ~ N(0, I)/√d`` rows and a smooth nonlinear target ``sin(x_0) + ½ x_1 x_{d-1}``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    Y = np.sin(2.0 * X[:, 0]) + 0.5 * X[:, min(1, d - 1)] * X[:, d - 1]
    return X, Y


def binary_data(seed: int, n: int = 8, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Labels in {0, 1} from the sign of a nonlinear score; both classes present."""
    X, score = regression_data(seed, n, d)
    Y = (score > np.median(score)).astype(np.float64)
    return X, Y


def class_data(seed: int, n: int = 8, d: int = 3, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Integer class ids 0..k-1, every class present."""
    X, score = regression_data(seed, n, d)
    ranks = np.argsort(np.argsort(score))
    return X, (ranks * k // n).astype(np.float64)


def rel_change_error(pred: np.ndarray, trained: np.ndarray, initial: np.ndarray) -> float:
    """``max |pred − trained| / max |trained − initial|``: error relative to training's change."""
    change = float(np.max(np.abs(trained - initial)))
    return float(np.max(np.abs(pred - trained))) / max(change, np.finfo(float).tiny)


# ----- the default demo model: the one `pkverify explain` and the report's proof use --------

DEMO_SIZES = (3, 16, 1)
DEMO_LR = 0.1
DEMO_STEPS = 30


def demo_trajectory(seed: int = 0, *, lr: float = DEMO_LR, steps: int = DEMO_STEPS):
    """The default demo: a tanh MLP ``[3, 16, 1]`` trained by full-batch GD (MSE, ε = ``lr``)
    on :func:`regression_data` (n = 8). Theorem 1's statements are shown on this model."""
    from ..models import mlp
    from ..train import train

    X, Y = regression_data(seed)
    model = mlp(list(DEMO_SIZES), "tanh", seed=seed)
    return train(model, X, Y, loss="mse", lr=lr, steps=steps, seed=seed)


def demo_query(seed: int = 0) -> np.ndarray:
    """One query point, drawn like the training inputs but not one of them: shape ``(1, 3)``."""
    X, _ = regression_data(seed + 101, n=1)
    return X


def explain_query(km, xq: np.ndarray) -> dict:
    """Theorem 1 term by term at one query ``x`` (scalar-output model).

    Returns arrays over the training points i: ``a`` = a_i(x), ``kernel`` = K^p(x, x_i),
    ``contribution`` = a_i(x) K^p(x, x_i); and scalars ``b`` = b(x),
    ``machine`` = b(x) + Σ_i a_i(x) K^p(x, x_i), ``trained`` = f(w_S, x).
    """
    xq = np.asarray(xq, dtype=np.float64).reshape(1, -1)
    a = np.asarray(km.a(xq))[0]
    kernel = np.asarray(km.kernel(xq))[0]
    b = float(np.asarray(km.b(xq))[0])
    contribution = a * kernel
    return {
        "a": a,
        "kernel": kernel,
        "contribution": contribution,
        "b": b,
        "machine": b + float(contribution.sum()),
        "trained": float(np.asarray(km.traj.predict(xq))[0]),
    }


def explain_bars(expl: dict, top: int = 5):
    """A ``bars`` figure spec in its JSON form (``Bars.to_dict()``, what
    ``Explanation.spec`` holds): the ``top`` contributions by |a_i K^p|, plus one bar for the
    rest, so the bars sum to prediction − b(x)."""
    from .figures import bars

    c = np.asarray(expl["contribution"])
    order = np.argsort(-np.abs(c), kind="stable")[:top]
    labels = [f"x_{i}" for i in order]
    values = [float(c[i]) for i in order]
    rest = [i for i in range(c.size) if i not in set(order.tolist())]
    if rest:
        labels.append(f"other {len(rest)}")
        values.append(float(c[rest].sum()))
    return bars(
        "Explaining one prediction: a_i(x)·K^p(x, x_i) by training point",
        labels,
        values,
        xlabel="training point",
        ylabel="contribution a_i(x) K^p(x, x_i)",
        baseline=expl["b"],
        total=expl["machine"],
    ).to_dict()


def gd_least_squares_path(
    Phi: np.ndarray, y: np.ndarray, w0: np.ndarray, lr: float, steps: int, lam: float = 0.0
) -> np.ndarray:
    """Every iterate of GD on ``½‖Φw − y‖² + λ/2 ‖w‖²`` in closed form, ``(steps+1, P)``.

    With ``A = ΦᵀΦ + λI = QΛQᵀ`` and ``M = I − εA`` the iterates are
    ``w_s = M^s w_0 + Σ_{r<s} M^r εΦᵀy``; in the eigenbasis ``M^s`` is ``(1 − ελ_j)^s`` and the
    geometric sum is ``(1 − (1 − ελ_j)^s)/(ελ_j)`` (``s`` where ``λ_j = 0``). No autograd,
    no loop over steps: an anchor independent of :func:`pkverify.train`.
    """
    A = Phi.T @ Phi + lam * np.eye(Phi.shape[1])
    evals, Q = np.linalg.eigh(A)
    c = Q.T @ (lr * (Phi.T @ y))
    v0 = Q.T @ w0
    s = np.arange(steps + 1)[:, None]
    rho = 1.0 - lr * evals[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.where(
            np.abs(lr * evals) > 1e-300, (1.0 - rho**s) / (lr * evals[None, :]), s * 1.0
        )
    return (rho**s * v0[None, :] + geo * c[None, :]) @ Q.T


def jacobian_kernel(model, w_a: np.ndarray, X_a: np.ndarray, w_b: np.ndarray,
                    X_b: np.ndarray) -> np.ndarray:
    """``∇f(w_a, x)·∇f(w_b, x')`` as ``(n_a, n_b, k, k)`` from plain autograd Jacobians of the
    model's own ``f`` (one reverse pass per row and output): the slow, obvious reference that
    the kernel engines are checked against."""
    from ..kernels.engines.reference import jacobian

    Ja = jacobian(model.f, np.asarray(w_a, float), X_a)
    Jb = jacobian(model.f, np.asarray(w_b, float), X_b)
    return np.einsum("iap,jbp->ijab", Ja, Jb)


def one_layer_relu_kinks(model, w: np.ndarray, delta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The τ in (0, 1) where a hidden pre-activation of a one-hidden-layer relu ``mlp`` changes
    sign along ``w + τΔ`` at input ``x``: each is affine in τ, ``z(τ) = z_0 + τ (z_1 − z_0)``,
    so its root is ``z_0 / (z_0 − z_1)`` — written out from the layer layout, independent of
    the engine's layer-by-layer root finder."""
    layer = model.network.layers[0]

    def pre(v: np.ndarray) -> np.ndarray:
        W = v[layer.weight:layer.weight + layer.n_weights].reshape(layer.fan_out, layer.fan_in)
        z = layer.scale * (W @ x)
        return z + (v[layer.bias:layer.bias + layer.fan_out] if layer.bias is not None else 0.0)

    z0, z1 = pre(w), pre(w + delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = z0 / (z0 - z1)
    return np.sort(t[np.isfinite(t) & (t > 0.0) & (t < 1.0)])

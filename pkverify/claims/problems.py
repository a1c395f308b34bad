"""Small, seeded problems and measures shared by the claim checks."""

from __future__ import annotations

import numpy as np

__all__ = ["regression_data", "binary_data", "class_data", "rel_change_error", "loglog_slope"]


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


def loglog_slope(xs: np.ndarray, ys: np.ndarray) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    return float(np.polyfit(np.log(np.asarray(xs)), np.log(np.asarray(ys)), 1)[0])

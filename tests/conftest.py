"""Small shared fixtures for the core unit tests (reference helpers live in reference.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def data2d() -> tuple[np.ndarray, np.ndarray]:
    """Six points in R² with real targets."""
    r = np.random.default_rng(0)
    X = r.standard_normal((6, 2))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1]


@pytest.fixture
def labels2d(data2d) -> tuple[np.ndarray, np.ndarray]:
    """The same six points with {0, 1} labels (both classes present)."""
    X, _ = data2d
    return X, (X[:, 0] + X[:, 1] > 0).astype(float)


@pytest.fixture
def queries2d() -> np.ndarray:
    """Four query points in R², different from the training points."""
    return np.random.default_rng(1).standard_normal((4, 2))


@pytest.fixture(scope="module")
def local_cluster():
    """A Dask LocalCluster (1 worker, 2 threads, in this process) and a client on it, for the
    tests that run sweeps on a scheduler; one per test module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield cluster, client
    client.close()
    cluster.close()

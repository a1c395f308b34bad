"""The example examples/jax_mlp.py, reduced: an optax loop (AdamW, warmup-cosine schedule)
recorded by pk.jax.Recorder, rebuilt exactly, one query explained (the full example runs 60
steps on 128 points)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax", reason="JAX is not installed (pip install 'pkverify[jax]')")
pytest.importorskip("optax", reason="optax is not installed (pip install 'pkverify[jax]')")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jax_mlp.py"


@pytest.fixture(scope="module")
def reduced():
    spec = importlib.util.spec_from_file_location("jax_mlp_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
        yield module.run(n_train=40, steps=12, batch_size=8, top=3)
    finally:
        sys.modules.pop(spec.name, None)


def test_the_example_rebuilds_its_network_and_explains_a_query(reduced):
    r = reduced
    # float64 rounding of 12 steps of a P = 354 network, three orders below 1e-12
    assert r.exactness <= 1e-12
    assert abs(r.base + r.total - r.output) <= 1e-12 * max(1.0, abs(r.output))
    assert [v for _, v, _ in r.proponents] == sorted((v for _, v, _ in r.proponents),
                                                     reverse=True)
    assert r.proponents[0][1] > 0 > r.opponents[0][1]
    assert all(0 <= i < 40 and y in (0, 1) for i, _, y in r.proponents + r.opponents)
    eta = r.step_sizes
    assert eta.shape == (12,) and eta[0] < eta.max() and eta[-1] < eta.max()  # warmup, decay
    assert np.isfinite(r.accuracy)

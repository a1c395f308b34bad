"""The correctness parts of benchmarks/bench_torch.py, on a reduced run (no timings asserted):
the three kernel implementations agree, Captum's TracInCP is used as the benchmark says
(its scores against the formula written out with torch.func), ExPLAIND's rebuilt method
converges at its midpoint rule's rate on a torch model, and the memory probe sees a torch
allocation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'pkverify[torch]')")
pytest.importorskip("sklearn", reason="scikit-learn is not installed (the [test] extra); the "
                    "digits ship inside it")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_torch

        yield bench_torch
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def prepared(bench, tmp_path_factory):
    """A reduced digits run (48 digits, one epoch of batches of 16: 3 AdamW steps) saved as
    the benchmark saves it, loaded back as its child interpreters load it."""
    folder = tmp_path_factory.mktemp("bench-torch")
    cfg = {"n_train": 48, "epochs": 1, "batch_size": 16, "sizes": [12], "cross_q": 5, "q": 4,
           "repeat": 1, "vps_max_n": 12, "midpoints": 100, "seed": 0, "peers": True}
    info = bench.prepare(cfg, folder)
    assert info["steps"] == 3
    ex, traj, case = bench.load(folder)
    return cfg, ex, traj, case


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["Gram", "cross"])
def test_the_three_kernel_implementations_agree(prepared, bench, dtype, kind):
    cfg, ex, traj, case = prepared
    fns = bench.kernel_functions(ex, traj, case, dtype, 12, kind, cfg)
    assert set(fns) == {"pkverify", "vmap(jacrev)", "ntk-vps"}
    out = {name: fn() for name, fn in fns.items()}
    shape = (12 if kind == "Gram" else 5, 12, 10, 10)
    # summation order differs between the three (per-parameter vs flat contractions, and
    # vjp∘jvp): rounding of sums of P = 666 products, a few hundred ulps of the largest entry
    tol = 1e-13 if dtype == "float64" else 2e-5
    ours = out["pkverify"]
    assert ours.shape == shape and ours.dtype == np.dtype(dtype)
    for name in ("vmap(jacrev)", "ntk-vps"):
        assert out[name].shape == shape and out[name].dtype == np.dtype(dtype)
        assert np.max(np.abs(out[name] - ours)) <= tol * np.max(np.abs(ours)), name
    if kind == "Gram":  # a Gram is symmetric in (i, c) ↔ (j, d) and positive semidefinite
        flat = ours.transpose(0, 2, 1, 3).reshape(120, 120).astype(float)
        np.testing.assert_allclose(flat, flat.T, atol=tol * np.max(np.abs(flat)))
        assert np.linalg.eigvalsh((flat + flat.T) / 2).min() >= -1e3 * tol * np.abs(flat).max()


def test_tracin_scores_are_the_written_out_formula(prepared, bench):
    """One checkpoint (w_0, weight Σ η_s / n): Captum's attribution must be
    −weight · ∇f_c(w_0, x_q)·∇ℓ_i(w_0), here computed with torch.func directly."""
    pytest.importorskip("captum", reason="Captum is not installed (pip install captum)")
    import torch

    _, ex, traj, case = prepared
    base, A = bench.tracin(ex, traj, case, every=traj.steps)
    rows = np.arange(len(case["classes"]))
    np.testing.assert_array_equal(base, case["f0"][rows, case["classes"]])

    net = bench.module_at(ex, traj, 0)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def out(p, x):
        return torch.func.functional_call(net, p, (x[None],))[0]

    def loss(p, x, y):
        return torch.nn.functional.cross_entropy(out(p, x)[None], y[None])

    def flat(g):
        return torch.cat([t.reshape(-1) for t in g.values()])

    X = torch.from_numpy(np.asarray(traj.X)).reshape(-1, 1, 8, 8)
    Y = torch.from_numpy(np.asarray(traj.Y).argmax(axis=1))
    G = torch.stack([flat(torch.func.grad(loss)(params, x, y)) for x, y in zip(X, Y)])
    Xq = torch.from_numpy(case["Xq"]).reshape(-1, 1, 8, 8)
    J = torch.stack([flat(torch.func.jacrev(lambda p, x=x, c=int(c): out(p, x)[c])(params))
                     for x, c in zip(Xq, case["classes"])])
    weight = float(np.sum(traj.step_sizes)) / X.shape[0]
    expected = -weight * (J @ G.T).numpy()
    # float64 dot products of P = 666 terms, summed in another order by Captum's per-sample
    # gradient hooks
    np.testing.assert_allclose(A, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


def test_explaind_peer_converges_at_the_midpoint_rate_on_a_torch_model(prepared):
    """b + Σ contributions → f(w_S, x) as the midpoint rule's error O(h²): halving h divides
    the error by about 4."""
    from peer_explaind import explaind_peer

    _, _, traj, case = prepared
    Xq = case["Xq"][:2]
    err = []
    for m in (2, 4):
        b, C = explaind_peer(traj, traj.optimizer, traj.reduction, Xq, m,
                             implementation="auto")
        err.append(np.max(np.abs(b + C.sum(axis=1) - case["fS"][:2])))
    # second order: the ratio 4, within what the next term of the error's expansion changes
    assert 3.0 <= err[0] / err[1] <= 5.0, err


def test_the_memory_probe_sees_a_torch_allocation():
    import torch
    from rss_peak import measure_phase

    _, seconds, peak, exact = measure_phase(lambda: torch.ones(64 * 2**20 // 8,
                                                               dtype=torch.float64).sum())
    # 64 MB written by torch's allocator (invisible to tracemalloc); the page size and the
    # interpreter's own pages bound the slack
    assert seconds >= 0 and 60 <= peak <= 200, (peak, exact)

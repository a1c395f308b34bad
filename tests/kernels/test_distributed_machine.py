"""The kernel machine's K^p, a_i and K^{lp} (and b, predict) as Dask tasks on the LocalCluster
of tests/conftest.py, reading the path from its disk store: the same blocks give the same bits
in-process and on the cluster (GD, Adam with mini-batches, a two-output model), the blocks
agree with the unsplit pass to rounding, and a path in memory, an unreachable scheduler and a
store the worker cannot read are refused clearly."""

from __future__ import annotations

import time

import numpy as np
import pytest

import pkverify as pk
import pkverify.dask_client as dask_client
from pkverify.errors import InvalidArgumentError, PathStoreError, SchedulerUnreachableError

pytest.importorskip("distributed")

R = np.random.default_rng(1)
X = R.standard_normal((13, 2))
Y1 = np.sin(X[:, 0]) + 0.5 * X[:, 1]
Y2 = np.stack([Y1, np.cos(X[:, 1])], axis=1)
XQ = R.standard_normal((5, 2))
RUNS = {  # name: (model, targets, training arguments)
    "gd": (pk.models.mlp([2, 6, 1]), Y1, dict(optimizer=pk.optim.gd(0.05))),
    "adam-batches": (pk.models.mlp([2, 6, 1]), Y1,
                     dict(optimizer=pk.optim.adam(0.01), batch_size=5)),
    "gd-two-outputs": (pk.models.mlp([2, 6, 2]), Y2, dict(optimizer=pk.optim.gd(0.05))),
}
BLOCK = 4  # 2 query blocks × 4 training blocks = 8 blocks (the last ones short)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("machine-runs")
    return {name: pk.train(model, X, Y, steps=12, seed=0, store=root / name, **kw)
            for name, (model, Y, kw) in RUNS.items()}


@pytest.mark.parametrize("name", RUNS)
def test_kernel_a_and_weighted_kernel_on_the_cluster_equal_the_in_process_blocks(
        stored, local_cluster, name):
    _, client = local_cluster
    traj = stored[name]
    local = pk.kernel_machine(traj, progress=False)
    remote = pk.kernel_machine(traj, progress=False)  # its own cache: nothing shared
    for part in ("kernel", "a", "loss_weighted_kernel"):
        here = np.asarray(getattr(local, part)(XQ, block_size=BLOCK))
        there = np.asarray(getattr(remote, part)(XQ, scheduler=client, block_size=BLOCK))
        assert np.array_equal(there, here), part
        # blocks only decide which entries are computed together: the unsplit pass agrees
        # to the rounding of sums of 12 steps' terms (~1e-16 relative each)
        whole = np.asarray(getattr(pk.kernel_machine(traj, progress=False), part)(XQ))
        np.testing.assert_allclose(here, whole, rtol=1e-12, atol=1e-13, err_msg=part)
    # Theorem 1 from the cluster's parts: b + Σ_i a_i K^p = f(w_S, x) (GD; to rounding)
    if name.startswith("gd"):
        A = np.asarray(remote.a(XQ, scheduler=client, block_size=BLOCK))
        K = np.asarray(remote.kernel(XQ, scheduler=client, block_size=BLOCK))
        AK = A * K if A.ndim == 2 else np.einsum("qiab,qib->qia", K, A)
        np.testing.assert_allclose(np.asarray(remote.b(XQ, scheduler=client)) + AK.sum(axis=1),
                                   traj.predict(XQ), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", RUNS)
def test_b_and_predict_from_one_task_equal_the_in_process_pass(stored, local_cluster, name):
    _, client = local_cluster
    traj = stored[name]
    here = pk.kernel_machine(traj, progress=False)
    there = pk.kernel_machine(traj, progress=False)
    assert np.array_equal(np.asarray(there.predict(XQ, scheduler=client)),
                          np.asarray(here.predict(XQ)))
    assert np.array_equal(np.asarray(there.b(XQ, scheduler=client)), np.asarray(here.b(XQ)))


def test_a_with_points_no_batch_reached_takes_its_fallback_from_the_cluster(
        tmp_path, local_cluster):
    _, client = local_cluster
    # 3 steps of 2 points: at least 7 of the 13 points are never in a batch, so K^p = 0
    # there and a_i(x) is the 0/0 fallback (a pass over the path, one more task)
    traj = pk.train(RUNS["gd"][0], X, Y1, steps=3, lr=0.05, batch_size=2,
                    store=tmp_path / "sgd")
    never = ~traj.batches.any(axis=0)
    assert never.sum() >= 7
    here = pk.kernel_machine(traj, progress=False)
    there = pk.kernel_machine(traj, progress=False)
    A_here = np.asarray(here.a(XQ, block_size=BLOCK))
    A_there = np.asarray(there.a(XQ, scheduler=client, block_size=BLOCK))
    assert np.array_equal(A_there, A_here)
    assert np.array_equal(there._mean_loss_deriv(), here._mean_loss_deriv())
    # a point no step used has no loss derivative to average: its a_i is 0 (Σ C = 0)
    assert np.all(A_there[:, never] == 0.0)
    assert np.all(np.asarray(there.kernel(XQ, scheduler=client, block_size=BLOCK))[:, never]
                  == 0.0)


def test_the_default_blocks_on_a_scheduler_are_four_column_blocks(stored, local_cluster):
    _, client = local_cluster
    km = pk.kernel_machine(stored["gd"], progress=False)
    remote = np.asarray(km.kernel(XQ, scheduler=client))  # 4 blocks of ⌈13/4⌉ = 4 points
    local = np.asarray(pk.kernel_machine(stored["gd"], progress=False).kernel(XQ, block_size=4))
    assert np.array_equal(remote, local)


def test_blocks_of_queries_by_every_point_on_the_cluster_equal_the_in_process_ones(
        stored, local_cluster):
    _, client = local_cluster
    km = pk.kernel_machine(stored["adam-batches"], progress=False)
    for part in ("contributions", "kernel"):  # (3, 13): 2 blocks of queries, all 13 points
        here = np.asarray(getattr(km, part)(XQ, block_size=(3, 13)))
        there = np.asarray(getattr(km, part)(XQ, scheduler=client, block_size=[3, 13]))
        assert np.array_equal(there, here), part
        whole = np.asarray(getattr(pk.kernel_machine(stored["adam-batches"], progress=False),
                                   part)(XQ))
        np.testing.assert_allclose(here, whole, rtol=1e-12, atol=1e-13, err_msg=part)


def test_a_path_in_memory_is_refused_with_how_to_store_it(local_cluster):
    _, client = local_cluster
    km = pk.kernel_machine(pk.train(RUNS["gd"][0], X, Y1, steps=3, lr=0.05), progress=False)
    for call in (km.kernel, km.a):
        with pytest.raises(InvalidArgumentError, match=r"in memory.*store="):
            call(XQ, scheduler=client)
    with pytest.raises(InvalidArgumentError, match=r"in memory.*store="):
        km.b(XQ, scheduler=client)


def test_an_unreachable_scheduler_fails_within_seconds(stored, monkeypatch):
    monkeypatch.setattr(dask_client, "CONNECT_TIMEOUT", 1.0)
    km = pk.kernel_machine(stored["gd"], progress=False)
    start = time.perf_counter()
    with pytest.raises(SchedulerUnreachableError, match="did not answer within 1 s"):
        km.a(XQ, scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - start < 15  # the 1 s timeout plus Dask's teardown


def test_a_worker_that_cannot_read_the_store_names_the_path_and_the_worker(
        tmp_path, local_cluster):
    _, client = local_cluster
    folder = tmp_path / "run"
    traj = pk.train(RUNS["gd"][0], X, Y1, steps=3, lr=0.05, store=folder)
    km = pk.kernel_machine(traj, progress=False)
    # the client opened the store; what the worker finds at that path is not a store it can
    # read (another machine's copy, damaged): its manifest no longer parses
    (folder / "manifest.json").write_text("not a manifest")
    workers = list(client.scheduler_info()["workers"])
    for call in (lambda: km.kernel(XQ, scheduler=client), lambda: km.b(XQ, scheduler=client)):
        with pytest.raises(PathStoreError) as info:
            call()
        message = str(info.value)
        assert str(folder) in message and "cannot read the path store" in message
        assert "Dask worker" in message and any(w in message for w in workers), message


@pytest.mark.parametrize("kwargs, match", [
    ({"block_size": 0}, "block_size must be ≥ 1; got 0"),
    ({"scheduler": 8786}, "scheduler must be a Dask scheduler address"),
    ({"block_size": (3, 0)}, "block_size must be ≥ 1; got 0"),
    ({"block_size": (3, 4, 5)}, r"an int or a pair \(queries, training points\); got \(3, 4, 5\)"),
])
def test_bad_block_size_or_scheduler_is_refused_before_any_block(stored, kwargs, match):
    km = pk.kernel_machine(stored["gd"], progress=False)
    for call in (km.kernel, km.a):
        with pytest.raises(InvalidArgumentError, match=match):
            call(XQ, **kwargs)

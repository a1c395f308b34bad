"""Explanations in blocks, in-process and as Dask tasks on a LocalCluster the test starts:
the same blocks give the same bits either way (GD and Adam with mini-batches, on a disk
store); paths in memory, unpicklable models, an unreachable scheduler and a store the worker
cannot read are refused clearly."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import pkverify as pk
import pkverify.dask_client as dask_client
from pkverify.cli import main
from pkverify.errors import InvalidArgumentError, PathStoreError, SchedulerUnreachableError

distributed = pytest.importorskip("distributed")

R = np.random.default_rng(0)
X = R.standard_normal((13, 2))
Y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
XQ = R.standard_normal((5, 2))
MODEL = pk.models.mlp([2, 6, 1])
RUNS = {
    "gd": dict(optimizer=pk.optim.gd(0.05)),
    "adam-batches": dict(optimizer=pk.optim.adam(0.01), batch_size=5),
}
BLOCK = 4  # 2 query blocks × 4 training blocks = 8 blocks (the last ones short)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Each run trained into a disk store (pk.train(..., store=...))."""
    root = tmp_path_factory.mktemp("runs")
    return {name: pk.train(MODEL, X, Y, steps=12, seed=0, store=root / name, **kw)
            for name, kw in RUNS.items()}


@pytest.mark.parametrize("name", RUNS)
def test_contributions_on_the_cluster_equal_the_in_process_blocks_bit_for_bit(
        stored, client, name):
    traj = stored[name]
    km = pk.kernel_machine(traj, progress=False)
    local = np.asarray(km.contributions(XQ, block_size=BLOCK))
    remote = np.asarray(km.contributions(XQ, scheduler=client, block_size=BLOCK))
    assert np.array_equal(remote, local)
    # and the blocks are Theorem 1's contributions: b + Σ_i = predict (to rounding: each of
    # the 13 terms carries ~1e-16 relative error over 12 steps), and the unsplit pass agrees
    # to rounding (blocks change which entries are computed together, not the sums)
    whole = np.asarray(km.contributions(XQ))
    np.testing.assert_allclose(local, whole, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(km.b(XQ)) + local.sum(axis=1),
                               np.asarray(km.predict(XQ)), rtol=0, atol=1e-12)


def test_default_blocks_on_a_scheduler_are_the_same_block_size_in_process(stored, client):
    km = pk.kernel_machine(stored["gd"], progress=False)
    remote = np.asarray(km.contributions(XQ, scheduler=client))  # 4 blocks of ⌈13/4⌉ = 4
    assert np.array_equal(remote, np.asarray(km.contributions(XQ, block_size=4)))


@pytest.mark.parametrize("name, rule", [("gd", "riemann"), ("gd", "exact"),
                                        ("adam-batches", "exact")])  # Riemann: GD's rule
def test_path_kernel_on_the_cluster_equals_the_in_process_blocks(stored, client, name, rule):
    traj = stored[name]
    for X2, weighted in ((X, False), (None, False), (None, True)):
        kw = dict(rule=rule, weighted=weighted, progress=False, block_size=BLOCK)
        if weighted and name != "gd":
            continue  # the loss-weighted kernel of Remark 2 is plain gradient descent's
        local = pk.path_kernel(traj, XQ, X2, **kw)
        remote = pk.path_kernel(traj, XQ, X2, scheduler=client, **kw)
        assert np.array_equal(remote, local), (X2 is None, weighted)
        # the unsplit kernel, to rounding of sums over 12 steps
        whole = pk.path_kernel(traj, XQ, X2, rule=rule, weighted=weighted, progress=False)
        np.testing.assert_allclose(local, whole, rtol=0, atol=1e-13)


def test_a_path_in_memory_is_refused_with_how_to_store_it(client):
    traj = pk.train(MODEL, X, Y, steps=3, lr=0.05)
    km = pk.kernel_machine(traj, progress=False)
    with pytest.raises(InvalidArgumentError, match=r"in memory.*store="):
        km.contributions(XQ, scheduler=client)
    with pytest.raises(InvalidArgumentError, match="in memory"):
        pk.path_kernel(traj, XQ, scheduler=client)


def test_a_custom_model_that_cannot_be_pickled_is_refused_before_any_task(tmp_path, client):
    lock = threading.Lock()  # a closure over a lock does not pickle

    def f(w, x):
        with lock:
            pass
        return x @ w[:2] + w[2]

    model = pk.models.custom(f, np.array([0.1, -0.2, 0.0]), input_dim=2)
    traj = pk.train(model, X, Y, steps=3, lr=0.05, store=tmp_path / "custom")
    km = pk.kernel_machine(traj, progress=False)
    with pytest.raises(InvalidArgumentError, match="cannot be sent to Dask workers"):
        km.contributions(XQ, scheduler=client)


def test_an_unreachable_scheduler_fails_within_seconds(stored, monkeypatch):
    monkeypatch.setattr(dask_client, "CONNECT_TIMEOUT", 1.0)
    km = pk.kernel_machine(stored["gd"], progress=False)
    start = time.perf_counter()
    with pytest.raises(SchedulerUnreachableError, match="did not answer within 1 s"):
        km.contributions(XQ, scheduler="tcp://127.0.0.1:9")
    assert time.perf_counter() - start < 15  # the 1 s timeout plus Dask's teardown


def _wait_for(event_name):
    """A task that holds its worker's one thread until the test sets the event."""
    distributed.Event(event_name).wait(timeout=30)


def test_a_worker_that_cannot_read_the_store_names_the_path_and_the_worker(tmp_path, client):
    folder = tmp_path / "run"
    traj = pk.train(MODEL, X, Y, steps=3, lr=0.05, store=folder)
    km = pk.kernel_machine(traj, progress=False)
    # both workers busy, so the blocks are submitted (the client saw the store) but wait;
    # then the folder goes away before any block runs: what a worker on a machine without
    # the client's filesystem sees
    workers = list(client.scheduler_info()["workers"])
    event = distributed.Event("release-workers", client=client)
    busy = [client.submit(_wait_for, "release-workers", workers=[w], pure=False)
            for w in workers]
    outcome: dict = {}

    def explain():
        try:
            km.contributions(XQ, scheduler=client, block_size=BLOCK)
        except Exception as exc:  # noqa: BLE001 — inspected below
            outcome["error"] = exc

    caller = threading.Thread(target=explain)
    caller.start()
    deadline = time.perf_counter() + 20
    while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) < \
            len(busy) + 8 and time.perf_counter() < deadline:  # 2 × 4 blocks submitted
        time.sleep(0.02)
    folder.rename(tmp_path / "moved")
    event.set()
    caller.join(30)
    client.gather(busy)
    error = outcome.get("error")
    assert isinstance(error, PathStoreError), error
    message = str(error)
    assert str(folder) in message and "cannot read the path store" in message
    assert "Dask worker" in message and any(w in message for w in workers), message


def test_explain_on_the_command_line_with_a_scheduler(stored, client, capsys, tmp_path):
    folder = str(stored["adam-batches"].store.folder)
    address = client.scheduler.address
    assert main(["explain", "--trajectory", folder, "--top", "3", "-q"]) == 0
    local = capsys.readouterr().out
    assert main(["explain", "--trajectory", folder, "--top", "3", "-q",
                 "--scheduler", address]) == 0
    remote = capsys.readouterr().out
    assert "a_i(x)" in remote and "K^p" in remote and "OK" in remote
    # the same top points with the same a_i(x), K^p(x, x_i) and contributions (to the digits
    # printed: the cluster's 4 blocks and the unsplit pass agree to rounding)
    def ranked(text):
        return [line.split() for line in text.splitlines()
                if line.strip()[:1].isdigit() and "(" in line]
    assert ranked(remote) == ranked(local) and len(ranked(remote)) == 3
    # and the HTML page, which shows a_i(x) and K^p too, is written from the cluster's parts
    page = tmp_path / "page.html"
    assert main(["explain", "--trajectory", folder, "--top", "3", "-q", "--scheduler",
                 address, "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    a_cell, k_cell = ranked(local)[0][4:6]  # the top point's a_i(x) and K^p as printed
    assert f"<td>{a_cell}</td><td>{k_cell}</td>" in html and "<td>nan</td>" not in html


def test_explain_with_an_unreachable_scheduler_exits_2_within_seconds(stored, monkeypatch,
                                                                        capsys):
    monkeypatch.setattr(dask_client, "CONNECT_TIMEOUT", 1.0)
    folder = str(stored["gd"].store.folder)
    start = time.perf_counter()
    assert main(["explain", "--trajectory", folder, "-q", "--scheduler",
                 "tcp://127.0.0.1:9"]) == 2
    assert "did not answer within 1 s" in capsys.readouterr().err
    assert time.perf_counter() - start < 15


def test_explain_scheduler_needs_a_trajectory(capsys):
    assert main(["explain", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler needs --trajectory" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, match", [
    ({"block_size": 0}, "block_size must be ≥ 1; got 0"),
    ({"block_size": True}, "block_size"),
    ({"scheduler": 8786}, "scheduler must be a Dask scheduler address"),
])
def test_bad_block_size_or_scheduler_is_refused_before_any_block(stored, kwargs, match):
    km = pk.kernel_machine(stored["gd"], progress=False)
    with pytest.raises(InvalidArgumentError, match=match):
        km.contributions(XQ, **kwargs)

"""pk.train(store=..., store_dtype=..., resume=...): a path trained into a disk store is the
in-memory path to the last bit, and so is everything the kernel machine computes from it; an
interrupted run resumes bit for bit; memory stays bounded; bad stores are refused first."""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections import namedtuple

import numpy as np
import pytest

import pkverify as pk
import pkverify.stores.base as store_base
from pkverify.errors import OutputFileError, PathStoreError, TrajectoryFileError

train_module = sys.modules["pkverify.train"]  # pk.train, the function, shadows the module

X = np.random.default_rng(0).standard_normal((8, 2))
Y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
XQ = np.random.default_rng(1).standard_normal((3, 2))
MODEL = pk.models.mlp([2, 5, 1])
RUNS = {
    "gd": dict(optimizer=pk.optim.gd(0.05)),
    "sgd-momentum-batches": dict(optimizer=pk.optim.sgd(0.05, momentum=0.9), batch_size=4),
    "adam": dict(optimizer=pk.optim.adam(0.01), batch_size=5),
}
STEPS = 23


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 rows for this model (P = 21), so a short run spans several chunks."""
    monkeypatch.setattr(store_base, "CHUNK_BYTES", 4 * MODEL.n_params * 8)


def chunk_bytes(folder) -> dict[str, bytes]:
    out = {p.name: p.read_bytes() for p in sorted(folder.glob("rows-*.npy"))}
    out["chunks"] = json.dumps(json.loads((folder / "manifest.json").read_text())["chunks"]
                               ).encode()
    return out


@pytest.mark.parametrize("name", RUNS)
def test_a_path_trained_into_a_store_is_the_memory_path_to_the_bit(tmp_path, small_chunks, name):
    mem = pk.train(MODEL, X, Y, steps=STEPS, **RUNS[name])
    disk = pk.train(MODEL, X, Y, steps=STEPS, store=tmp_path / "run.store", **RUNS[name])
    assert disk.on_disk and not mem.on_disk and disk.store.chunk_rows == 4
    assert np.array_equal(np.asarray(disk.ws), mem.ws)
    for field in ("losses", "batches", "step_sizes", "times"):
        assert np.array_equal(getattr(disk, field), getattr(mem, field)), field
    km_mem, km_disk = pk.kernel_machine(mem), pk.kernel_machine(disk)
    for what in ("predict", "b", "kernel", "contributions", "a"):
        assert np.array_equal(getattr(km_disk, what)(XQ), getattr(km_mem, what)(XQ)), what
    for rule in ("riemann", "exact"):
        assert np.array_equal(pk.path_kernel(disk, XQ, rule=rule),
                              pk.path_kernel(mem, XQ, rule=rule)), rule


@pytest.mark.parametrize("name", RUNS)
@pytest.mark.parametrize("stop_at", [0, 3, 4, 9, 22])
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, small_chunks, monkeypatch, name,
                                                stop_at):
    whole = pk.train(MODEL, X, Y, steps=STEPS, store=tmp_path / "whole", **RUNS[name])
    real = train_module._loss_gradient
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > stop_at:  # Ctrl-C during step stop_at's gradient
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "_loss_gradient", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pk.train(MODEL, X, Y, steps=STEPS, store=tmp_path / "cut", **RUNS[name])
    monkeypatch.setattr(train_module, "_loss_gradient", real)
    with pytest.raises(PathStoreError, match="partial.*KeyboardInterrupt.*resume"):
        pk.Trajectory.load(tmp_path / "cut")
    resumed = pk.train(MODEL, X, Y, steps=STEPS, resume=tmp_path / "cut", **RUNS[name])
    assert chunk_bytes(tmp_path / "cut") == chunk_bytes(tmp_path / "whole")
    assert np.array_equal(np.asarray(resumed.ws), np.asarray(whole.ws))
    for field in ("losses", "batches"):
        assert np.array_equal(getattr(resumed, field), getattr(whole, field)), field
    reloaded = pk.Trajectory.load(tmp_path / "cut")
    assert np.array_equal(pk.kernel_machine(reloaded).predict(XQ),
                          pk.kernel_machine(whole).predict(XQ))


def test_resuming_with_other_settings_or_another_model_is_refused(tmp_path, small_chunks,
                                                                  monkeypatch):
    monkeypatch.setattr(train_module, "_loss_gradient",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store=tmp_path / "cut")
    monkeypatch.undo()
    with pytest.raises(PathStoreError, match="other data or settings"):
        pk.train(MODEL, X, Y, lr=0.06, steps=STEPS, resume=tmp_path / "cut")
    with pytest.raises(PathStoreError, match="other data or settings"):
        pk.train(MODEL, X + 1.0, Y, lr=0.05, steps=STEPS, resume=tmp_path / "cut")
    with pytest.raises(PathStoreError, match="21 parameters; this model has 29"):
        pk.train(pk.models.mlp([2, 7, 1]), X, Y, lr=0.05, steps=STEPS, resume=tmp_path / "cut")
    with pytest.raises(PathStoreError, match="name two stores"):
        pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, resume=tmp_path / "cut",
                 store=tmp_path / "other")


def test_a_finished_store_is_neither_overwritten_nor_resumed(tmp_path):
    pk.train(MODEL, X, Y, lr=0.05, steps=5, store=tmp_path / "s")
    with pytest.raises(OutputFileError, match="already exists.*resume"):
        pk.train(MODEL, X, Y, lr=0.05, steps=5, store=tmp_path / "s")
    with pytest.raises(PathStoreError, match="complete .*nothing to resume"):
        pk.train(MODEL, X, Y, lr=0.05, steps=5, resume=tmp_path / "s")


def test_a_disk_without_room_is_refused_before_the_first_step(tmp_path, monkeypatch):
    import shutil

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    monkeypatch.setattr(train_module, "_loss_gradient", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(OutputFileError, match="not enough free space"):
        pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_disk_trajectory_saves_a_reference_and_loads_anywhere(tmp_path):
    traj = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store=tmp_path / "s")
    saved = traj.save(tmp_path / "elsewhere" / "t.npz")
    with np.load(saved) as npz:
        assert npz["ws"].shape == (0, MODEL.n_params)  # the weights stayed in the store
    again = pk.Trajectory.load(saved)
    assert again.on_disk and np.array_equal(np.asarray(again.ws), np.asarray(traj.ws))
    assert np.array_equal(pk.kernel_machine(again).predict(XQ),
                          pk.kernel_machine(traj).predict(XQ))


def test_a_rewritten_store_is_refused_by_the_file_that_points_to_it(tmp_path):
    import shutil

    traj = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store=tmp_path / "s")
    saved = traj.save(tmp_path / "t.npz")
    shutil.rmtree(tmp_path / "s")
    pk.train(MODEL, X, Y, lr=0.04, steps=STEPS, store=tmp_path / "s")
    with pytest.raises(PathStoreError, match="not the store this trajectory was saved with"):
        pk.Trajectory.load(saved)


def test_float32_storage_rebuilds_the_float32_model_it_stores(tmp_path):
    mem = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, dtype=np.float32)
    disk = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, dtype=np.float32,
                    store=tmp_path / "s", store_dtype="float32")
    assert disk.ws.dtype == np.float32
    assert np.array_equal(np.asarray(disk.ws), mem.ws)  # float32 steps: stored without loss
    assert (tmp_path / "s" / "rows-000000000+24.npy").stat().st_size < 24 * 21 * 4 + 256
    p_disk = pk.kernel_machine(disk).predict(XQ)  # float32, as the stored weights are
    assert p_disk.dtype == np.float32
    assert np.array_equal(p_disk, pk.kernel_machine(mem, dtype=np.float32).predict(XQ))


def test_float32_storage_of_a_float64_run_keeps_float64_steps(tmp_path):
    # the working weights stay float64: the stored rows are the float64 run's, rounded once
    mem = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS)
    disk = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store=tmp_path / "s",
                    store_dtype="float32")
    assert np.array_equal(np.asarray(disk.ws), mem.ws.astype(np.float32))
    assert np.array_equal(disk.losses, mem.losses)


def test_training_and_predicting_from_a_store_hold_a_few_chunks(tmp_path, monkeypatch):
    model = pk.models.mlp([2, 1024, 1])  # P = 4097
    P = model.n_params
    chunk = 8 * P * 8  # 8 rows, 256 KiB a chunk
    monkeypatch.setattr(store_base, "CHUNK_BYTES", chunk)
    steps = 400  # a path of 13 MB: 51 chunks
    slack = 2 << 20  # the interpreter's own one-off growth (e.g. its interned-string table)
    path_bytes = (steps + 1) * P * 8

    def peak(fn):
        gc.collect()  # earlier tests' garbage is not this phase's memory
        tracemalloc.start()
        try:
            out = fn()
            return out, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    traj, train_peak = peak(lambda: pk.train(model, X, Y, lr=0.01, steps=steps,
                                             store=tmp_path / "s"))
    _, mem_peak = peak(lambda: pk.train(model, X, Y, lr=0.01, steps=steps))
    assert mem_peak > path_bytes  # the control: in memory the whole path is held
    # a few chunks (the write buffer, the read-ahead) plus O(S) scalars (losses, batches)
    assert train_peak < 6 * chunk + 100 * steps + slack
    _, predict_peak = peak(lambda: pk.kernel_machine(traj).predict(XQ))
    # the kept and read-ahead chunks, plus the exact rule's per-step plans (~0.5 KB a step,
    # independent of P)
    assert predict_peak < 6 * chunk + 1024 * steps + slack
    assert predict_peak < path_bytes / 3


def test_a_partial_store_folder_is_not_loaded_as_a_trajectory(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "_loss_gradient",
                        lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError, match="No space left"):
        pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store=tmp_path / "s")
    with pytest.raises(PathStoreError, match=r"partial: it holds rows \[0, 1\) of 24 planned"):
        pk.Trajectory.load(tmp_path / "s")
    with pytest.raises(TrajectoryFileError, match="is a directory"):
        pk.Trajectory.load(tmp_path)


_TRAINER = """
import sys, time, numpy as np, pkverify as pk
import pkverify.stores.base as store_base
store_base.CHUNK_BYTES = 4 * 21 * 8
train = sys.modules["pkverify.train"]
real = train._loss_gradient
def slow(*args, **kwargs):  # 10 ms a step, so the run is killed in its middle
    time.sleep(0.01)
    return real(*args, **kwargs)
train._loss_gradient = slow
X = np.random.default_rng(0).standard_normal((8, 2))
Y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
print("ready", flush=True)
pk.train(pk.models.mlp([2, 5, 1]), X, Y, optimizer=pk.optim.sgd(0.01, momentum=0.5),
         batch_size=4, steps=int(sys.argv[2]), store=sys.argv[1])
"""


def test_a_run_killed_by_sigterm_resumes_bit_for_bit(tmp_path, small_chunks):
    import signal
    import subprocess
    import time

    steps = 120
    proc = subprocess.Popen([sys.executable, "-c", _TRAINER, str(tmp_path / "s"), str(steps)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if json.loads((tmp_path / "s" / "manifest.json").read_text())["rows"] >= 12:
                break
        except (OSError, ValueError):  # not written yet
            pass
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    with pytest.raises(PathStoreError, match="partial"):
        pk.Trajectory.load(tmp_path / "s")
    kw = dict(optimizer=pk.optim.sgd(0.01, momentum=0.5), batch_size=4, steps=steps)
    resumed = pk.train(MODEL, X, Y, resume=tmp_path / "s", **kw)
    whole = pk.train(MODEL, X, Y, **kw)
    assert np.array_equal(np.asarray(resumed.ws), whole.ws)
    assert np.array_equal(resumed.losses, whole.losses)
    assert np.array_equal(resumed.batches, whole.batches)


def test_float32_storage_in_memory_rounds_each_row_once():
    mem = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS)
    f32 = pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store_dtype="float32")
    assert not f32.on_disk and f32.ws.dtype == np.float32
    assert np.array_equal(f32.ws, mem.ws.astype(np.float32))
    assert np.array_equal(f32.losses, mem.losses)  # the steps themselves stayed float64
    with pytest.raises(pk.errors.InvalidArgumentError, match="float64 or float32"):
        pk.train(MODEL, X, Y, lr=0.05, steps=STEPS, store_dtype="float16")

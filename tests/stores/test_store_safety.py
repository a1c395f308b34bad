"""DiskStore under interruption and bad input: a committed prefix or nothing, resumed bit for
bit; one writer; another model, other data, a cut or changed chunk, an edited manifest, a full
or read-only disk: each refused with a PathStoreError / OutputFileError naming the problem."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from pkverify.errors import OutputFileError, PathStoreError, StoreInUseError
from pkverify.stores import DiskStore, chunkfile, metadata_digest

from .test_disk_store import path_rows, write

S1, P, C = 23, 5, 4  # rows, parameters, rows per chunk


def store_bytes(folder: Path) -> dict[str, bytes]:
    """Every chunk file's bytes, by name, and the manifest's chunk entries."""
    out = {p.name: p.read_bytes() for p in sorted(folder.glob("rows-*.npy"))}
    manifest = json.loads((folder / "manifest.json").read_text())
    out["chunks"] = json.dumps(manifest["chunks"]).encode()
    return out


def finish(folder: Path, W: np.ndarray) -> None:
    """Resume a partial store and append the rest of W."""
    with DiskStore.open_for_append(folder, P=W.shape[1]) as s:
        for w in W[s.rows:]:
            s.append(w)


@pytest.mark.parametrize("stop_at", [1, 4, 9, 22])
def test_a_write_stopped_by_an_exception_resumes_bit_identically(tmp_path, stop_at):
    W = path_rows(S1, P)
    write(tmp_path / "whole", W, chunk_rows=C)
    with pytest.raises(KeyboardInterrupt):
        with DiskStore.create(tmp_path / "two", P, chunk_rows=C, planned_rows=S1) as s:
            for i, w in enumerate(W):
                if i == stop_at:
                    raise KeyboardInterrupt  # Ctrl-C between two steps
                s.append(w)
    with pytest.raises(PathStoreError, match=rf"partial.*rows \[0, {stop_at}\) of {S1} planned"
                                             r".*KeyboardInterrupt"):
        DiskStore.open(tmp_path / "two")
    prefix = DiskStore.open(tmp_path / "two", allow_partial=True)
    assert prefix.rows == stop_at and np.array_equal(prefix.read(0, stop_at), W[:stop_at])
    finish(tmp_path / "two", W)
    assert DiskStore.open(tmp_path / "two").complete
    assert store_bytes(tmp_path / "two") == store_bytes(tmp_path / "whole")


def test_a_full_disk_stops_cleanly_with_the_prefix_kept(tmp_path, monkeypatch):
    W = path_rows(S1, P)
    write(tmp_path / "whole", W, chunk_rows=C)
    real = chunkfile._write_npy
    calls = {"n": 0}

    def fills_up(path, arr):
        calls["n"] += 1
        if calls["n"] > 3:  # the fourth chunk finds no room
            with open(path, "wb") as fh:
                fh.write(b"\x93NUMPY partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, arr)

    monkeypatch.setattr(chunkfile, "_write_npy", fills_up)
    s = DiskStore.create(tmp_path / "full", P, chunk_rows=C, planned_rows=S1)
    with pytest.raises(PathStoreError, match=r"stopped at row 12.*No space left"):
        for w in W:
            s.append(w)
    monkeypatch.setattr(chunkfile, "_write_npy", real)
    assert not list((tmp_path / "full").glob("*.tmp"))  # no half-written chunk left
    with pytest.raises(PathStoreError, match=r"rows \[0, 12\).*No space left"):
        DiskStore.open(tmp_path / "full")
    kept = DiskStore.open(tmp_path / "full", allow_partial=True)
    assert kept.stopped["rows"] == 12 and np.array_equal(kept.read(0, 12), W[:12])
    finish(tmp_path / "full", W)
    assert store_bytes(tmp_path / "full") == store_bytes(tmp_path / "whole")


_WRITER = """
import sys, time, numpy as np
from pkverify.stores import DiskStore
W = np.random.default_rng(0).standard_normal(({S1}, {P}))
s = DiskStore.create(sys.argv[1], {P}, chunk_rows={C}, planned_rows={S1})
print("ready", flush=True)
for w in W:
    s.append(w)
    time.sleep(float(sys.argv[2]))
s.close()
"""


def start_writer(folder: Path, pause: float) -> subprocess.Popen:
    code = _WRITER.format(S1=S1, P=P, C=C)
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(pause)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_leaves_a_committed_prefix_that_resumes(tmp_path):
    W = path_rows(S1, P)
    write(tmp_path / "whole", W, chunk_rows=C)
    proc = start_writer(tmp_path / "killed", pause=0.05)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until two chunks are committed
        m = json.loads((tmp_path / "killed" / "manifest.json").read_text())
        if m["rows"] >= 2 * C:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    with pytest.raises(PathStoreError, match="partial.*did not finish"):
        DiskStore.open(tmp_path / "killed")
    kept = DiskStore.open(tmp_path / "killed", allow_partial=True)
    assert kept.rows % C == 0 and 2 * C <= kept.rows < S1
    assert np.array_equal(kept.read(0, kept.rows), W[: kept.rows])
    finish(tmp_path / "killed", W)  # the dead writer's lock went with it
    assert store_bytes(tmp_path / "killed") == store_bytes(tmp_path / "whole")


def test_a_store_has_one_writer_across_processes(tmp_path):
    proc = start_writer(tmp_path / "s", pause=0.5)
    try:
        with pytest.raises(StoreInUseError, match=rf"open for writing by process {proc.pid}"):
            DiskStore.open_for_append(tmp_path / "s", P=P)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    DiskStore.open_for_append(tmp_path / "s", P=P).close(complete=False)  # free again


def test_a_store_has_one_writer_within_a_process(tmp_path):
    with DiskStore.create(tmp_path / "s", P, chunk_rows=C) as first:
        first.append(np.zeros(P))
        with pytest.raises(StoreInUseError, match="already open for writing"):
            DiskStore.open_for_append(tmp_path / "s", P=P)


def test_a_store_of_another_model_or_other_data_is_refused(tmp_path):
    X = np.arange(6.0).reshape(3, 2)
    digest = metadata_digest({"X": X}, {"model": "mlp", "optimizer": "sgd"})
    write(tmp_path / "s", path_rows(5, P), chunk_rows=C, meta_digest=digest)
    with pytest.raises(PathStoreError, match=f"{P} parameters; this model has {P + 1}"):
        DiskStore.open(tmp_path / "s", P=P + 1)
    other = metadata_digest({"X": X + 1e-12}, {"model": "mlp", "optimizer": "sgd"})
    with pytest.raises(PathStoreError, match="other data or settings"):
        DiskStore.open(tmp_path / "s", P=P, meta_digest=other)
    assert DiskStore.open(tmp_path / "s", P=P, meta_digest=digest).rows == 5


def test_a_truncated_chunk_is_refused_by_name(tmp_path):
    write(tmp_path / "s", path_rows(S1, P), chunk_rows=C)
    cut = tmp_path / "s" / "rows-000000008+4.npy"
    os.truncate(cut, cut.stat().st_size - 8)
    with pytest.raises(PathStoreError, match=r"rows-000000008\+4\.npy \(rows 8–11\) is cut short"):
        DiskStore.open(tmp_path / "s")
    cut.unlink()
    with pytest.raises(PathStoreError, match=r"rows-000000008\+4\.npy .* is missing"):
        DiskStore.open(tmp_path / "s")


def test_a_changed_chunk_fails_its_checksum_when_read(tmp_path):
    W = path_rows(S1, P)
    write(tmp_path / "s", W, chunk_rows=C)
    f = tmp_path / "s" / "rows-000000004+4.npy"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x01  # one bit of one weight, same size
    f.write_bytes(bytes(data))
    s = DiskStore.open(tmp_path / "s")
    assert np.array_equal(s.read(0, 4), W[:4])  # untouched chunks still read
    with pytest.raises(PathStoreError, match=r"rows-000000004\+4\.npy does not match its checksum"):
        s.read(0, 8)
    with pytest.raises(PathStoreError, match="checksum"):
        list(s.iter_chunks())
    with pytest.raises(PathStoreError, match="checksum"):
        s.verify()


@pytest.mark.parametrize("edit", [
    lambda m: m.update(rows=m["rows"] - 1), lambda m: m.update(meta={"lr": 0.2}),
    lambda m: m.update(complete=True), lambda m: m["chunks"][0].update(sha256="0" * 64),
])
def test_an_edited_manifest_is_refused(tmp_path, edit):
    s = DiskStore.create(tmp_path / "s", P, chunk_rows=C, planned_rows=S1, meta={"lr": 0.1})
    for w in path_rows(9, P):
        s.append(w)
    s.close()  # partial: 9 of 23 rows
    path = tmp_path / "s" / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))
    with pytest.raises(PathStoreError, match="checksum does not match"):
        DiskStore.open(tmp_path / "s", allow_partial=True)


@pytest.mark.parametrize("make", ["missing", "empty folder", "file"])
def test_something_that_is_not_a_store_is_refused(tmp_path, make):
    target = tmp_path / "x"
    if make == "empty folder":
        target.mkdir()
    elif make == "file":
        target.write_text("hello")
    with pytest.raises(PathStoreError, match="is not a pkverify path store"):
        DiskStore.open(target)
    with pytest.raises(PathStoreError, match="is not a pkverify path store"):
        DiskStore.open_for_append(target)
    assert make != "empty folder" or list(target.iterdir()) == []  # no lock file left there


def test_a_disk_too_small_for_the_planned_path_is_refused_before_writing(tmp_path, monkeypatch):
    import shutil

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(OutputFileError, match=r"not enough free space.*store_dtype='float32'"):
        DiskStore.create(tmp_path / "s", 100_000, planned_rows=2001)
    assert not (tmp_path / "s").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_refused_before_writing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputFileError, match="cannot be written"):
            DiskStore.create(ro / "s", P, planned_rows=10)
        assert not (ro / "s").exists()
    finally:
        ro.chmod(0o755)


def test_resuming_a_complete_store_is_refused(tmp_path):
    write(tmp_path / "s", path_rows(5, P), chunk_rows=C)
    with pytest.raises(PathStoreError, match="complete .*nothing to resume"):
        DiskStore.open_for_append(tmp_path / "s", P=P)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_where_files_cannot_be_made_is_refused_before_writing():
    # /proc refuses new files even to root, whom permission bits do not stop
    with pytest.raises(OutputFileError, match="cannot be written"):
        DiskStore.create("/proc/pkverify-store-test", P, planned_rows=10)


def test_a_checkpoint_is_saved_with_each_commit_and_found_on_resume(tmp_path):
    W = path_rows(S1, P)
    calls = []

    def state_after(row):
        def make():
            calls.append(row)
            return {"z": W[row] * 2.0, "losses": np.arange(row + 1.0)}
        return make

    with pytest.raises(KeyboardInterrupt):
        with DiskStore.create(tmp_path / "s", P, chunk_rows=C, planned_rows=S1) as s:
            for i, w in enumerate(W):
                if i == 10:
                    raise KeyboardInterrupt
                s.append(w, checkpoint=state_after(i))
    assert calls == [3, 7, 9]  # only the last row of each commit asks for its state
    names = sorted(p.name for p in (tmp_path / "s").glob("checkpoint-*"))
    assert names == ["checkpoint-000000010.npz"]  # older checkpoints are removed
    with DiskStore.open_for_append(tmp_path / "s", P=P) as s:
        assert s.rows == s.checkpoint_rows == 10
        ckpt = s.read_checkpoint()
        assert np.array_equal(ckpt["z"], W[9] * 2.0)
        assert np.array_equal(ckpt["losses"], np.arange(10.0))
        for i in range(10, S1):
            s.append(W[i], checkpoint=state_after(i))
    done = DiskStore.open(tmp_path / "s")
    assert done.checkpoint_rows == S1 and np.array_equal(done.read(0, S1), W)


def test_a_changed_checkpoint_is_refused(tmp_path):
    with DiskStore.create(tmp_path / "s", P, chunk_rows=C) as s:
        for w in path_rows(6, P):
            s.append(w, checkpoint=lambda: {"z": np.ones(P)})
    f = next((tmp_path / "s").glob("checkpoint-*"))
    data = bytearray(f.read_bytes())
    data[-30] ^= 0x01  # one bit, same size
    f.write_bytes(bytes(data))
    with pytest.raises(PathStoreError, match="checkpoint-000000006.npz does not match"):
        DiskStore.open(tmp_path / "s").read_checkpoint()

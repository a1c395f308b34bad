"""DiskStore: round trips to the bit, chunked reads with bounded memory, plain .npy chunks."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from pkverify.errors import InvalidArgumentError, NonFiniteError, OutputFileError, PathStoreError
from pkverify.stores import DiskStore, MemoryStore, PathStore


def path_rows(rows: int, P: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, P))


def write(folder, W, chunk_rows=4, dtype=None, planned=True, **kw) -> DiskStore:
    with DiskStore.create(folder, W.shape[1], dtype, chunk_rows=chunk_rows,
                          planned_rows=W.shape[0] if planned else None, **kw) as s:
        for w in W:
            s.append(w)
    return s


def test_round_trip_is_bit_exact_for_every_range(tmp_path):
    W = path_rows(23, 5)
    write(tmp_path / "run.store", W)
    s = DiskStore.open(tmp_path / "run.store")
    assert isinstance(s, PathStore) and s.complete
    assert (s.rows, s.steps, s.P, s.dtype) == (23, 22, 5, np.float64)
    for lo, hi in [(0, 23), (0, 1), (3, 4), (3, 9), (7, 23), (22, 23), (5, 5)]:
        assert np.array_equal(s.read(lo, hi), W[lo:hi])


def test_chunks_cover_the_range_and_match_a_memory_store(tmp_path):
    W = path_rows(23, 5)
    write(tmp_path / "s", W)
    disk = list(DiskStore.open(tmp_path / "s").iter_chunks(2, 21, depth=2))
    mem = list(MemoryStore(W, chunk_rows=4).iter_chunks(2, 21))
    assert [a for a, _ in disk] == [a for a, _ in mem] == [2, 4, 8, 12, 16, 20]
    for (_, d), (_, m) in zip(disk, mem):
        assert np.array_equal(d, m)


def test_float32_store_holds_the_rounded_weights(tmp_path):
    W = path_rows(9, 4)
    write(tmp_path / "s", W, dtype="float32")
    s = DiskStore.open(tmp_path / "s")
    assert s.dtype == np.float32
    assert np.array_equal(s.read(0, 9), W.astype(np.float32))


def test_every_chunk_is_a_plain_npy_file(tmp_path):
    W = path_rows(10, 3)
    write(tmp_path / "s", W)
    files = sorted(p.name for p in (tmp_path / "s").glob("rows-*.npy"))
    assert files == ["rows-000000000+4.npy", "rows-000000004+4.npy", "rows-000000008+2.npy"]
    assert np.array_equal(np.load(tmp_path / "s" / files[1]), W[4:8])


def test_rows_being_written_can_be_read_before_they_are_committed(tmp_path):
    W = path_rows(6, 3)
    with DiskStore.create(tmp_path / "s", 3, chunk_rows=4, planned_rows=6) as s:
        for w in W:
            s.append(w)
        assert s.rows == 6 and np.array_equal(s.read(0, 6), W)
        assert not DiskStore.open(tmp_path / "s", allow_partial=True).rows == 6  # 4 committed


def test_reading_chunk_by_chunk_holds_at_most_depth_plus_one_chunks(tmp_path):
    P, chunk_rows, n_chunks = 1024, 64, 24  # 512 KiB chunks, a 12 MiB path
    chunk_bytes = chunk_rows * P * 8
    W = path_rows(chunk_rows * n_chunks, P)
    write(tmp_path / "s", W, chunk_rows=chunk_rows)
    del W
    s = DiskStore.open(tmp_path / "s")

    def peak(fn) -> int:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def stream(depth):
        total = 0.0
        for _, chunk in s.iter_chunks(depth=depth):
            total += float(chunk.sum())
        return total

    for depth in (1, 2):
        # depth + 1 chunks, plus a quarter chunk for small objects (manifest dicts, frames)
        assert peak(lambda d=depth: stream(d)) < (depth + 1.25) * chunk_bytes
    # the control: reading the whole path at once does exceed that budget
    assert peak(lambda: s.read(0, s.rows)) > 8 * chunk_bytes


def test_bad_rows_are_refused_before_they_reach_disk(tmp_path):
    with DiskStore.create(tmp_path / "s", 3, chunk_rows=2) as s:
        s.append([1.0, 2.0, 3.0])
        with pytest.raises(NonFiniteError):
            s.append([np.inf, 0.0, 0.0])
    assert np.array_equal(DiskStore.open(tmp_path / "s").read(0, 1), [[1.0, 2.0, 3.0]])


def test_a_closed_or_read_only_store_cannot_be_appended_to(tmp_path):
    s = write(tmp_path / "s", path_rows(3, 2))
    with pytest.raises(PathStoreError, match="not open for writing"):
        s.append([0.0, 0.0])
    with pytest.raises(PathStoreError, match="not open for writing"):
        DiskStore.open(tmp_path / "s").append([0.0, 0.0])


def test_an_existing_path_is_never_written_over(tmp_path):
    write(tmp_path / "s", path_rows(3, 2))
    with pytest.raises(OutputFileError, match="open_for_append"):
        DiskStore.create(tmp_path / "s", 2)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputFileError, match="never writes over"):
        DiskStore.create(tmp_path / "notes.txt", 2)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty", path_rows(3, 2))  # an empty folder is fine


@pytest.mark.parametrize("kw, match", [
    ({"P": 0}, "P"), ({"P": 3, "dtype": "int32"}, "float64 or float32"),
    ({"P": 3, "chunk_rows": 0}, "chunk_rows"), ({"P": 3, "planned_rows": 0}, "planned_rows"),
])
def test_bad_arguments_are_refused_before_anything_is_written(tmp_path, kw, match):
    with pytest.raises(InvalidArgumentError, match=match):
        DiskStore.create(tmp_path / "s", **kw)
    assert not (tmp_path / "s").exists()


def test_each_chunk_is_hashed_once_per_open_store(tmp_path, monkeypatch):
    from pkverify.stores import chunkfile

    write(tmp_path / "s", path_rows(12, 3), chunk_rows=4)
    hashed = []
    real = chunkfile.data_sha256
    monkeypatch.setattr(chunkfile, "data_sha256", lambda a: hashed.append(a.shape) or real(a))
    s = DiskStore.open(tmp_path / "s")
    for _ in range(3):
        list(s.iter_chunks())
    assert len(hashed) == 3  # three chunks, each checked on its first read only
    list(DiskStore.open(tmp_path / "s", verify=False).iter_chunks())
    assert len(hashed) == 3

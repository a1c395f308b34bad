"""Walking a stored path step by step, and the array-like view of a disk store."""

from __future__ import annotations

import numpy as np
import pytest

from pkverify.errors import InvalidArgumentError, ResourceError
from pkverify.stores import DiskStore, MemoryStore
from pkverify.stores.steps import iter_rows, iter_steps
from pkverify.stores.view import StoredRows

from .test_disk_store import path_rows, write


@pytest.fixture
def stored(tmp_path):
    W = path_rows(23, 5)
    write(tmp_path / "s", W, chunk_rows=4)
    return W, DiskStore.open(tmp_path / "s")


@pytest.mark.parametrize("lo, hi", [(0, None), (0, 22), (3, 9), (4, 8), (21, 22), (5, 5)])
def test_steps_pair_each_row_with_the_next_across_chunks(stored, lo, hi):
    W, store = stored
    got = list(iter_steps(store, lo, hi, depth=2))
    want = range(lo, 22 if hi is None else hi)
    assert [s for s, _, _ in got] == list(want)
    for s, w, w_next in got:
        assert np.array_equal(w, W[s]) and np.array_equal(w_next, W[s + 1])


def test_rows_and_steps_agree_between_memory_and_disk(stored):
    W, store = stored
    mem = MemoryStore(W, chunk_rows=4)
    for (s1, a), (s2, b) in zip(iter_rows(store), iter_rows(mem), strict=True):
        assert s1 == s2 and np.array_equal(a, b)
    assert len(list(iter_steps(mem))) == len(list(iter_steps(store))) == 22


def test_the_view_indexes_like_the_array(stored):
    W, store = stored
    v = StoredRows(store)
    assert v.shape == W.shape and v.ndim == 2 and v.dtype == W.dtype and len(v) == 23
    for key in [0, 5, 22, -1, -23, np.int64(7), slice(3, 9), slice(4, 8), slice(None),
                slice(2, 20, 3), slice(9, 3), [1, 5, 21], np.array([[0, 1], [2, 3]]),
                (5, 2), (slice(1, 7), 3), (-1, slice(1, 3))]:
        assert np.array_equal(v[key], W[key]), key
    assert np.array_equal(np.asarray(v), W)
    assert np.array_equal(np.stack(list(v)), W)


def test_the_view_is_read_only_and_bounds_checked(stored):
    _, store = stored
    v = StoredRows(store)
    with pytest.raises(ValueError):
        v[3][0] = 1.0  # a cached chunk is shared: writing into it is refused
    with pytest.raises(IndexError, match="row 23 is out of range"):
        v[23]
    with pytest.raises(InvalidArgumentError, match="row numbers or slices"):
        v[1.5]


@pytest.mark.parametrize("order", ["forward", "backward", "pairs"])
def test_the_view_reads_each_chunk_once_in_order_and_reads_ahead(stored, order, monkeypatch):
    W, store = stored
    reads = []
    real = store.read
    monkeypatch.setattr(store, "read", lambda lo, hi: reads.append(lo) or real(lo, hi))
    v = StoredRows(store)
    rows = {"forward": list(range(23)), "backward": list(range(22, -1, -1)),
            "pairs": [r for s in range(22) for r in (s, s + 1)]}[order]
    for s in rows:
        assert np.array_equal(v[s], W[s])
        assert len(v._kept) <= 2  # and at most one chunk read ahead
    v.release()
    assert sorted(reads) == [0, 4, 8, 12, 16, 20]  # every chunk once, none twice


def test_loading_a_view_too_big_for_memory_is_refused(stored, monkeypatch):
    import pkverify.validation as validation

    _, store = stored
    monkeypatch.setattr(validation, "available_memory", lambda: 100)
    with pytest.raises(ResourceError, match="Stream it instead"):
        np.asarray(StoredRows(store))


@pytest.mark.parametrize("lo, hi", [(0, None), (3, 9), (4, 8), (21, 22), (0, 1)])
def test_reverse_steps_are_the_forward_steps_backwards(stored, lo, hi):
    W, store = stored
    for s_ in (store, MemoryStore(W, chunk_rows=4)):
        fwd = [(s, w.copy(), v.copy()) for s, w, v in iter_steps(s_, lo, hi)]
        back = list(iter_steps(s_, lo, hi, depth=2, reverse=True))
        assert [s for s, _, _ in back] == [s for s, _, _ in fwd][::-1]
        for (s1, a1, b1), (s2, a2, b2) in zip(fwd[::-1], back):
            assert s1 == s2 and np.array_equal(a1, a2) and np.array_equal(b1, b2)
        rows = [s for s, _ in iter_rows(s_, lo, hi, reverse=True)]
        assert rows == list(range(lo, 23 if hi is None else hi))[::-1]


def test_a_reference_reopens_the_same_store_and_refuses_a_rewritten_one(tmp_path):
    import shutil

    from pkverify.errors import PathStoreError
    from pkverify.stores.reference import open_reference, store_reference

    W = path_rows(9, 5)
    write(tmp_path / "run" / "weights", W, chunk_rows=4)
    store = DiskStore.open(tmp_path / "run" / "weights")
    ref = store_reference(store, tmp_path / "run")
    assert ref["path"] == "weights"  # relative: the folder moves as one piece
    shutil.move(tmp_path / "run", tmp_path / "moved")
    again = open_reference(ref, tmp_path / "moved", P=5)
    assert np.array_equal(again.read(0, 9), W)
    assert store_reference(again, tmp_path / "elsewhere" / "x")["path"] == str(
        (tmp_path / "moved" / "weights").resolve())
    shutil.rmtree(tmp_path / "moved" / "weights")
    write(tmp_path / "moved" / "weights", path_rows(9, 5, seed=1), chunk_rows=4)
    with pytest.raises(PathStoreError, match="not the store this trajectory was saved with"):
        open_reference(ref, tmp_path / "moved", P=5)
    with pytest.raises(PathStoreError, match="malformed"):
        open_reference({"path": "weights"}, tmp_path / "moved", P=5)

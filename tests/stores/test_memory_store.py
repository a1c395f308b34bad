"""MemoryStore: zero-copy views of one array, growth on append, row checks."""

from __future__ import annotations

import numpy as np
import pytest

from pkverify.errors import InvalidArgumentError, NonFiniteError, ShapeError
from pkverify.stores import MemoryStore, PathStore, store_dtype


def test_wraps_an_array_without_copying():
    ws = np.random.default_rng(0).standard_normal((7, 3))
    s = MemoryStore(ws)
    assert isinstance(s, PathStore)
    assert (s.rows, s.steps, s.P, s.dtype) == (7, 6, 3, np.float64)
    assert np.shares_memory(s.read(2, 5), ws) and np.shares_memory(s.array, ws)
    for _, chunk in s.iter_chunks():
        assert np.shares_memory(chunk, ws)


def test_chunks_cover_the_range_in_order():
    ws = np.arange(30.0).reshape(10, 3)
    s = MemoryStore(ws, chunk_rows=4)
    got = list(s.iter_chunks(1, 9))
    assert [a for a, _ in got] == [1, 4, 8]  # cut at multiples of chunk_rows
    assert np.array_equal(np.concatenate([c for _, c in got]), ws[1:9])


def test_append_grows_and_keeps_every_row():
    rows = np.random.default_rng(1).standard_normal((50, 4))
    s = MemoryStore.empty(4)
    for w in rows:
        s.append(w)
    assert s.rows == 50 and np.array_equal(s.array, rows)


def test_float32_store_rounds_each_row_once():
    rows = np.random.default_rng(2).standard_normal((5, 3))
    s = MemoryStore.empty(3, dtype="float32")
    for w in rows:
        s.append(w)
    assert s.array.dtype == np.float32 and np.array_equal(s.array, rows.astype(np.float32))


def test_bad_rows_are_refused_and_leave_the_store_unchanged():
    s = MemoryStore.empty(3)
    s.append([1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        s.append([1.0, 2.0])
    with pytest.raises(NonFiniteError, match="row 1"):
        s.append([1.0, np.nan, 3.0])
    with pytest.raises(InvalidArgumentError, match="real numbers"):
        s.append(np.array(["a", "b", "c"]))
    assert s.rows == 1


def test_ranges_outside_the_rows_are_refused():
    s = MemoryStore(np.zeros((4, 2)))
    with pytest.raises(InvalidArgumentError, match=r"rows \[2, 5\)"):
        s.read(2, 5)


@pytest.mark.parametrize("bad", ["float16", "int64", "complex128", "nonsense"])
def test_only_float64_and_float32_are_store_dtypes(bad):
    with pytest.raises(InvalidArgumentError, match="float64 or float32"):
        store_dtype(bad)
    assert store_dtype(None) == np.float64

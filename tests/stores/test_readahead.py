"""ReadAhead: order, the depth + 1 bound on live items, errors carried over, clean shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from pkverify.errors import InvalidArgumentError
from pkverify.stores import ReadAhead


class Tracked:
    """An item that counts how many of its kind are alive at once."""

    lock = threading.Lock()
    alive = 0
    most = 0

    def __init__(self, k: int):
        self.k = k
        with Tracked.lock:
            Tracked.alive += 1
            Tracked.most = max(Tracked.most, Tracked.alive)

    def __del__(self):
        with Tracked.lock:
            Tracked.alive -= 1


@pytest.fixture(autouse=True)
def _reset_counts():
    Tracked.alive = Tracked.most = 0
    yield


def test_items_arrive_in_order_and_equal_direct_loads():
    got = list(ReadAhead(range(20), lambda j: j * j, depth=2))
    assert got == [j * j for j in range(20)]


def test_depth_zero_loads_in_the_callers_thread():
    seen = []
    out = list(ReadAhead(range(3), lambda j: seen.append(threading.get_ident()) or j, depth=0))
    assert out == [0, 1, 2] and set(seen) == {threading.get_ident()}


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_never_more_than_depth_plus_one_items_alive(depth):
    def slow_consumer():
        for item in ReadAhead(range(30), Tracked, depth=depth):
            time.sleep(0.002)  # the worker runs ahead as far as it may
            del item

    slow_consumer()
    assert Tracked.most == depth + 1  # reached (the worker did read ahead) and never passed


def test_an_error_in_the_worker_reaches_the_caller_after_the_earlier_items():
    def load(j):
        if j == 3:
            raise OSError(5, "disk read failed")
        return j

    got = []
    with pytest.raises(OSError, match="disk read failed"):
        for item in ReadAhead(range(10), load, depth=2):
            got.append(item)
    assert got == [0, 1, 2]


def test_closing_early_stops_and_joins_the_worker():
    loaded = []
    it = ReadAhead(range(1000), lambda j: loaded.append(j) or j, depth=2)
    assert next(it) == 0
    it.close()
    assert not any(t.name == "pkverify-readahead" and t.is_alive() for t in threading.enumerate())
    assert len(loaded) <= 1 + 2 + 1  # the item held, the depth read ahead, one in flight
    with pytest.raises(StopIteration):
        next(it)


def test_break_out_of_a_with_block_leaves_no_thread():
    with ReadAhead(range(100), lambda j: j, depth=3) as it:
        for j in it:
            if j == 5:
                break
    assert not any(t.name == "pkverify-readahead" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("depth", [-1, 1.5, True, "2"])
def test_bad_depth_is_refused(depth):
    with pytest.raises(InvalidArgumentError, match="depth"):
        ReadAhead(range(3), lambda j: j, depth=depth)


@pytest.mark.parametrize("depth", [1, 3])
def test_a_plain_for_loop_holding_its_variable_stays_within_the_bound(depth):
    def consume():
        total = 0
        for item in ReadAhead(range(30), Tracked, depth=depth):
            time.sleep(0.002)  # the variable keeps the item until the next one is bound
            total += item.k
        return total

    assert consume() == sum(range(30))
    assert Tracked.most <= depth + 1

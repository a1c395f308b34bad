"""Read-ahead: a background thread reads the next chunks while the caller computes.

:class:`ReadAhead` turns a list of jobs (``load(job)`` reads one chunk) into an iterator whose
items are loaded by one worker thread, at most ``depth`` chunks ahead of the caller. Memory
is bounded by permits, not by a queue length alone: the worker takes a permit before it
loads a chunk, and a chunk's permit comes back only once the caller has been handed the next
one (so a plain ``for`` loop, whose variable still holds the previous chunk until the next
arrives, is counted right). No more than ``depth + 1`` chunks exist at once — the one the
caller holds and ``depth`` read ahead — provided the caller keeps no older ones.

An exception raised by ``load`` in the worker is re-raised in the caller, at the item where
it happened (earlier items are delivered first). Closing the iterator early (``close()``, a
``with`` block, ``break`` out of a ``for`` over it, garbage collection) stops the worker and
joins it; no thread outlives the iterator.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

__all__ = ["ReadAhead"]

J = TypeVar("J")
T = TypeVar("T")

_DONE = object()


class _Failure:
    """An exception raised by ``load`` in the worker, carried to the caller."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class ReadAhead(Generic[J, T]):
    """Iterate ``load(job)`` for each job, loading up to ``depth`` items ahead in a thread.

    ``depth = 0`` loads in the caller's thread, one item at a time (no thread at all).
    """

    def __init__(self, jobs: Sequence[J], load: Callable[[J], T], depth: int = 1):
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"read-ahead depth must be an integer ≥ 0 (chunks read ahead); got {depth!r}."
            )
        self._jobs = list(jobs)
        self._load = load
        self._depth = depth
        self._next = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._holding = False
        if depth > 0 and self._jobs:
            self._permits = threading.Semaphore(depth + 1)
            self._stop = threading.Event()
            self._queue: queue.Queue[object] = queue.Queue()
            self._thread = threading.Thread(
                target=self._work, name="pkverify-readahead", daemon=True
            )
            self._thread.start()

    # ----- the worker --------------------------------------------------------------------

    def _work(self) -> None:
        for job in self._jobs:
            while not self._permits.acquire(timeout=0.05):
                if self._stop.is_set():
                    return
            if self._stop.is_set():
                return
            try:
                item: object = self._load(job)
            except BaseException as exc:  # carried to the caller, re-raised there
                self._queue.put(_Failure(exc))
                return
            self._queue.put(item)
            del item  # the worker keeps no reference to what it handed over
        self._queue.put(_DONE)

    # ----- the caller's side ---------------------------------------------------------------

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        if self._thread is None:
            if self._next >= len(self._jobs):
                self.close()
                raise StopIteration
            job = self._jobs[self._next]
            self._next += 1
            try:
                return self._load(job)
            except BaseException:
                self.close()
                raise
        got = self._queue.get()
        if self._holding:  # the next item is here: the one the caller held gives its permit back
            self._permits.release()
            self._holding = False
        if got is _DONE:
            self.close()
            raise StopIteration
        if isinstance(got, _Failure):
            self.close()
            raise got.exc
        self._holding = True
        self._next += 1
        return got  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker, drop what it read ahead, and wait for it to end."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._stop.set()
            while True:  # drain, so the worker is never blocked and nothing is kept
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._thread.join()
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break

    def __enter__(self) -> ReadAhead[J, T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to stop
            pass

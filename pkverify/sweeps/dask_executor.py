"""Sweeps on a Dask cluster: connect to a scheduler and run the tasks there, in order.

Loaded only when a sweep is given ``scheduler=...`` or :func:`connect` is called; Dask itself
(the optional ``[dask]`` extra) is imported only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import BackendMissingError, InvalidArgumentError, SchedulerUnreachableError
from ..progress import Counter
from .table import Measure, Row

__all__ = ["CONNECT_TIMEOUT", "client_for", "connect", "run_dask"]

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a Dask scheduler address to answer before giving up."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BackendMissingError(
            "scheduler=... runs the work on Dask, which is not installed; install it with "
            "`pip install pkverify[dask]`, or drop --scheduler to run locally."
        ) from exc
    return distributed


def run_dask(
    call: Any,
    fn: Measure,
    tasks: Sequence[tuple[dict[str, Any], int]],
    scheduler: Any,
    desc: str,
    progress: bool | None,
    connect_timeout: float | None,
) -> list[list[Row]]:
    """``call(fn, config, seed)`` for every task on the cluster; results in task order."""
    client, owned = client_for(scheduler, connect_timeout)
    try:
        futures = [client.submit(call, fn, c, s, pure=False) for c, s in tasks]
        results = []
        with Counter(len(tasks), desc, progress, unit="task") as bar:
            for f in futures:  # in order (distributed.as_completed wants a default client)
                results.append(f.result())
                bar.update()
        return results
    finally:
        if owned:
            client.close()


def client_for(scheduler: Any, timeout: float | None = None) -> tuple[Any, bool]:
    """``(client, owned)`` for ``scheduler``: a ``distributed.Client`` as given (owned False),
    or one connected to an address string with :func:`connect` (owned True: the caller closes
    it)."""
    Client = _distributed().Client
    if isinstance(scheduler, Client):
        return scheduler, False
    if isinstance(scheduler, str):
        return connect(scheduler, timeout), True
    raise InvalidArgumentError(
        "scheduler must be a Dask scheduler address such as 'tcp://127.0.0.1:8786' or a "
        f"dask.distributed.Client; got {type(scheduler).__name__}."
    )


def connect(address: str, timeout: float | None = None) -> Any:
    """A ``dask.distributed.Client`` for a scheduler ``address``; SchedulerUnreachableError
    (after ``timeout`` seconds, default :data:`CONNECT_TIMEOUT`, never a hang) when nothing
    answers there."""
    Client = _distributed().Client
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    if not isinstance(address, str) or not address.strip():
        raise InvalidArgumentError("scheduler address is empty; give e.g. tcp://host:8786.")
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerUnreachableError(
            f"the Dask scheduler at {address!r} did not answer within {timeout:g} s ({exc}). "
            "Check that `dask scheduler` is running there and the address/port are right, "
            "or drop --scheduler to run locally."
        ) from exc

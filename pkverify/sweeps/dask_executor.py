"""Sweeps on a Dask cluster: connect to a scheduler and run the tasks there, in order.

Loaded only when a sweep is given ``scheduler=...`` or :func:`connect` is called; Dask itself
(the optional ``[dask]`` extra) is imported only then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import dask_client
from ..dask_client import client_for
from ..progress import Counter
from .table import Measure, Row

__all__ = ["CONNECT_TIMEOUT", "client_for", "connect", "run_dask"]

CONNECT_TIMEOUT = dask_client.CONNECT_TIMEOUT
"""Seconds to wait for a Dask scheduler address to answer before giving up."""


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
    client, owned = client_for(scheduler, CONNECT_TIMEOUT if connect_timeout is None
                               else connect_timeout)
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


def connect(address: str, timeout: float | None = None) -> Any:
    """:func:`pkverify.dask_client.connect`, with this module's :data:`CONNECT_TIMEOUT` as
    the default."""
    return dask_client.connect(address, CONNECT_TIMEOUT if timeout is None else timeout)

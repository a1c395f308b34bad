"""A Dask client for a scheduler address, failing within seconds when nothing answers.

Shared by the sweeps (:mod:`pkverify.sweeps.dask_executor`) and the distributed blocks of an
explanation (:mod:`pkverify.kernels.distributed`); Dask itself (the optional ``[dask]``
extra) is imported only when one of these functions runs.
"""

from __future__ import annotations

from typing import Any

from .errors import BackendMissingError, InvalidArgumentError, SchedulerUnreachableError

__all__ = ["CONNECT_TIMEOUT", "client_for", "connect", "distributed_module"]

CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a Dask scheduler address to answer before giving up."""


def distributed_module() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BackendMissingError(
            "scheduler=... runs the work on Dask, which is not installed; install it with "
            "`pip install pkverify[dask]`, or drop --scheduler to run locally."
        ) from exc
    return distributed


def client_for(scheduler: Any, timeout: float | None = None) -> tuple[Any, bool]:
    """``(client, owned)`` for ``scheduler``: a ``distributed.Client`` as given (owned False),
    or one connected to an address string with :func:`connect` (owned True: the caller closes
    it)."""
    Client = distributed_module().Client
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
    Client = distributed_module().Client
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

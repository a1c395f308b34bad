"""Progress for long work: a tqdm bar on stderr, only on a terminal, off on request.

Every loop that can run for more than a couple of seconds (claims, steps of a path, sweep
points, gradient-flow integration) goes through :func:`progress`. The bar is drawn only when
stderr is a terminal and progress is enabled, so piped output, CI logs and tests stay clean.
tqdm is imported only when a bar is actually drawn.

``enabled``: True / False force the bar on or off; None (the default) follows
:func:`set_enabled` (the CLI's ``--quiet``) and then whether stderr is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["progress", "set_enabled", "is_enabled", "disabled", "Counter", "write"]

T = TypeVar("T")

_STATE: dict[str, bool | None] = {"enabled": None}


def set_enabled(flag: bool | None) -> None:
    """Switch progress bars on (True), off (False) or back to automatic (None)."""
    if flag is not None and not isinstance(flag, bool):
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(
            f"set_enabled needs True, False or None (automatic); got {flag!r}."
        )
    _STATE["enabled"] = flag


@contextmanager
def disabled() -> Iterator[None]:
    """Within the block, draw no progress bars (restores the previous setting after)."""
    old = _STATE["enabled"]
    _STATE["enabled"] = False
    try:
        yield
    finally:
        _STATE["enabled"] = old


def is_enabled(enabled: bool | None = None) -> bool:
    """Whether a bar would be drawn for a call with this ``enabled`` argument."""
    if enabled is not None:
        return bool(enabled)
    if _STATE["enabled"] is not None:
        return bool(_STATE["enabled"])
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


def progress(
    iterable: Iterable[T], total: int | None = None, desc: str = "", enabled: bool | None = None,
    unit: str = "it",
) -> Iterable[T]:
    """``iterable`` itself, wrapped in a tqdm bar on stderr when :func:`is_enabled`."""
    if not is_enabled(enabled):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


def write(line: str, file: Any = None) -> None:
    """Print ``line`` (flushed) without tearing a progress bar that is being drawn."""
    out = sys.stdout if file is None else file
    if "tqdm" in sys.modules and is_enabled():
        from tqdm.auto import tqdm

        tqdm.write(line, file=out)
        out.flush()
    else:
        print(line, file=out, flush=True)


class Counter:
    """A bar for work that is not a loop (an ODE solver's right-hand-side calls, say).

    ``with Counter(total, desc) as bar: ... bar.update(k)``; a no-op when progress is off.
    ``bar.set(value)`` moves it to an absolute position (e.g. the solver's time t).
    """

    def __init__(self, total: float | None, desc: str = "", enabled: bool | None = None,
                 unit: str = "it"):
        self._bar: Any = None
        if is_enabled(enabled):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)

    def update(self, k: float = 1) -> None:
        if self._bar is not None:
            self._bar.update(k)

    def set(self, value: float) -> None:
        if self._bar is not None:
            self._bar.update(value - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

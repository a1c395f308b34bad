"""A strategy that draws training runs of the user's own PyTorch module and optimizer.

::

    from hypothesis import given, settings
    import pkverify as pk
    from pkverify.strategies import torch_runs

    def build(seed, lr):                      # your module and optimizer, from a seed and lr
        torch.manual_seed(seed)
        net = MyNet().double()
        return net, torch.optim.AdamW(net.parameters(), lr=lr)

    @settings(max_examples=10, deadline=None)
    @given(torch_runs(build, X, Y, torch.nn.CrossEntropyLoss()))
    def test_theorem_1_holds(run):
        pk.testing.assert_kernel_machine(run.trajectory())

Each draw is a seed (the build's, and the batches' shuffling through a seeded
``torch.Generator``), a learning rate (log-uniform), a batch size and a number of steps; a
failing draw shrinks and prints as ``TorchRun(seed=..., lr=..., batch_size=..., steps=...)``.
PyTorch is imported when a run is trained, not when the strategy is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from ..errors import InvalidArgumentError
from ._arguments import Range, as_range
from .scalars import seeds, step_sizes

__all__ = ["TorchRun", "torch_runs"]


@dataclass(frozen=True)
class TorchRun:
    """One drawn run: ``build(seed, lr) → (module, optimizer)`` trained on ``(X, Y)`` with
    ``loss_fn`` for ``steps`` optimizer steps on shuffled batches of ``batch_size`` rows."""

    seed: int
    lr: float
    batch_size: int
    steps: int
    build: Callable[[int, float], tuple[Any, Any]] = field(repr=False)
    X: Any = field(repr=False)
    Y: Any = field(repr=False)
    loss_fn: Any = field(repr=False)

    def trajectory(self) -> Any:
        """Train with the usual loop (zero_grad, loss, backward, step), record every step with
        ``pk.torch.Recorder``, and return the recorded Trajectory."""
        import torch

        from ..extra.pk_torch import Recorder, indexed_loader

        built = self.build(self.seed, self.lr)
        if not (isinstance(built, tuple) and len(built) == 2):
            raise InvalidArgumentError(
                f"torch_runs' build(seed, lr) must return (module, optimizer); got "
                f"{type(built).__name__}."
            )
        module, optimizer = built
        rec = Recorder(module, optimizer, self.X, self.Y, self.loss_fn)
        loader = indexed_loader(self.X, self.Y, self.batch_size, shuffle=True,
                                generator=torch.Generator().manual_seed(self.seed))
        taken = 0
        try:
            while taken < self.steps:
                for idx, xb, yb in loader:
                    optimizer.zero_grad()
                    self.loss_fn(module(xb), yb).backward()
                    optimizer.step()
                    rec.step(idx)
                    taken += 1
                    if taken == self.steps:
                        break
        finally:
            rec.close()
        return rec.trajectory()


def torch_runs(build: Callable[[int, float], tuple[Any, Any]], X: Any, Y: Any, loss_fn: Any,
               *, lr: tuple[float, float] = (1e-3, 1e-1), batch_sizes: Range | None = None,
               steps: Range = (1, 6)) -> SearchStrategy[TorchRun]:
    """Runs of ``build(seed, lr)``'s module and optimizer: lr log-uniform on ``lr``, batch
    sizes in ``batch_sizes`` (default 1..n), step counts in ``steps``."""
    if not callable(build):
        raise InvalidArgumentError(
            f"torch_runs(build, ...) needs a function build(seed, lr) → (module, optimizer); "
            f"got {type(build).__name__}."
        )
    try:
        n = len(X)
    except TypeError as exc:
        raise InvalidArgumentError(f"X must be an (n, ...) array or tensor; got "
                                   f"{type(X).__name__}.") from exc
    lo_b, hi_b = as_range((1, n) if batch_sizes is None else batch_sizes, "batch_sizes")
    if hi_b > n:
        raise InvalidArgumentError(f"batch_sizes must be at most n = {n}; got {batch_sizes!r}.")
    lo_s, hi_s = as_range(steps, "steps")
    try:
        lr_lo, lr_hi = (float(v) for v in lr)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"lr must be a (min, max) pair; got {lr!r}.") from exc
    return st.builds(TorchRun, seed=seeds(), lr=step_sizes(lr_lo, lr_hi),
                     batch_size=st.integers(lo_b, hi_b), steps=st.integers(lo_s, hi_s),
                     build=st.just(build), X=st.just(X), Y=st.just(Y), loss_fn=st.just(loss_fn))

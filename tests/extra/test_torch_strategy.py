"""pkverify.strategies.torch_runs and the copyable example examples/test_my_model.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (pip install 'pkverify[torch]'); torch_runs "
    "trains a torch module"
)

from hypothesis import given, settings  # noqa: E402

import pkverify as pk  # noqa: E402
from pkverify.errors import InvalidArgumentError  # noqa: E402
from pkverify.strategies import TorchRun, torch_runs  # noqa: E402

rng = np.random.default_rng(0)
X = torch.from_numpy(rng.standard_normal((10, 3)))
Y = torch.from_numpy(rng.standard_normal((10, 2)))
BUILT: list[tuple[int, float]] = []


def build(seed, lr):
    BUILT.append((seed, lr))
    torch.manual_seed(seed % 2**31)
    net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(),
                              torch.nn.Linear(6, 2)).double()
    return net, torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)


@settings(max_examples=6, deadline=None)
@given(torch_runs(build, X, Y, torch.nn.MSELoss(), lr=(1e-3, 1e-2), batch_sizes=(2, 5),
                  steps=(1, 4)))
def test_drawn_runs_follow_their_draw_and_satisfy_theorem_1(run):
    traj = run.trajectory()
    assert BUILT[-1] == (run.seed, run.lr) and 1e-3 <= run.lr <= 1e-2
    assert traj.steps == run.steps
    sizes = traj.batches.sum(axis=1)
    # shuffled batches of batch_size rows; an epoch's last batch may be smaller
    assert sizes.max() <= run.batch_size and 2 <= run.batch_size <= 5
    assert pk.testing.assert_kernel_machine(traj, X_query=X.numpy()[:3]).passed


def test_a_run_prints_its_draw_for_replay():
    run = TorchRun(3, 0.01, 2, 4, build, X, Y, torch.nn.MSELoss())
    assert repr(run) == "TorchRun(seed=3, lr=0.01, batch_size=2, steps=4)"


def test_bad_arguments_are_refused_when_the_strategy_is_built():
    with pytest.raises(InvalidArgumentError, match="build"):
        torch_runs("net", X, Y, torch.nn.MSELoss())
    with pytest.raises(InvalidArgumentError, match="at most n = 10"):
        torch_runs(build, X, Y, torch.nn.MSELoss(), batch_sizes=(1, 11))
    bad = TorchRun(0, 0.01, 2, 1, lambda s, lr: "net", X, Y, torch.nn.MSELoss())
    with pytest.raises(InvalidArgumentError, match=r"return \(module, optimizer\)"):
        bad.trajectory()


def test_the_copyable_example_runs():
    path = Path(__file__).resolve().parents[2] / "examples" / "test_my_model.py"
    spec = importlib.util.spec_from_file_location("example_test_my_model", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_my_model_is_its_kernel_machine()  # Hypothesis runs its examples

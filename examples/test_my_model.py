"""Theorem 1 in your own test suite: copy this file next to your model and edit `build`.

Run it with ``pytest examples/test_my_model.py``. Hypothesis draws seeds, learning rates,
batch sizes and step counts; each draw trains your module with your optimizer in the usual
loop, records it (``pk.torch.Recorder``) and asserts that the exact kernel machine of the
path is the trained network (``pk.testing.assert_kernel_machine``). A failing draw shrinks
and prints as ``TorchRun(seed=..., lr=..., batch_size=..., steps=...)`` with a report of the
worst query and step.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="this example trains a PyTorch module")

from hypothesis import given, settings  # noqa: E402

import pkverify as pk  # noqa: E402
from pkverify.strategies import torch_runs  # noqa: E402

rng = np.random.default_rng(0)
X = torch.from_numpy(rng.standard_normal((16, 4)))        # your training inputs
Y = torch.from_numpy(rng.integers(0, 3, 16))               # and labels (3 classes)


def build(seed: int, lr: float):
    """Your module and optimizer. float64: the exact rule then reaches float64 rounding (with
    a smooth activation as here, or ReLU, whose kinks it locates along every step)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.SiLU(),
                              torch.nn.Linear(8, 3)).double()
    return net, torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)


@settings(max_examples=5, deadline=None)
@given(torch_runs(build, X, Y, torch.nn.CrossEntropyLoss(), lr=(1e-3, 5e-2), steps=(1, 6)))
def test_my_model_is_its_kernel_machine(run):
    pk.testing.assert_kernel_machine(run.trajectory(), X_query=X.numpy()[:4])

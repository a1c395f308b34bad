"""``pk.torch``: a PyTorch module as a pkverify model, and the user's own training loop
recorded as a pkverify path.

=============================  =================================================================
``model(module)``              the module as a :class:`~pkverify.models.base.Model`
                               (:mod:`.torch`)
``Recorder(module, opt, X,     records ``optimizer.step()`` after step, checks each step
Y, loss_fn)``                  against pk.optim's rule; ``.trajectory()`` (:mod:`.torch_recorder`)
``indexed_loader(X, Y, ...)``  a DataLoader yielding ``(indices, xb, yb)`` for ``rec.step``
=============================  =================================================================

The adapter sits below the kernel engines that differentiate it; the recorder builds a
Trajectory, so it sits above them: this module only re-exports both.
"""

from .torch import check_mode, kinked_modules, model, to_tensor
from .torch_mapping import SUPPORTED_LOSSES, SUPPORTED_OPTIMIZERS, loss_mapping, optimizer_rule
from .torch_recorder import STEP_RTOL, Recorder, RecorderError, RecorderWarning, indexed_loader

__all__ = ["model", "kinked_modules", "check_mode", "to_tensor", "Recorder", "RecorderWarning",
           "RecorderError", "indexed_loader", "STEP_RTOL", "optimizer_rule", "loss_mapping",
           "SUPPORTED_OPTIMIZERS", "SUPPORTED_LOSSES"]

"""The counted oracle: the only way a solver evaluates the objective.

Every call charges the task's :class:`~ml2bench.accounting.ledger.WorkLedger` with the
evaluation's kind, level and number of samples, so work units cannot be forgotten.
Evaluations act on the current parameters of the level's model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from ml2bench.accounting.ledger import WorkLedger

if TYPE_CHECKING:  # pragma: no cover
    from ml2bench.problems.base import Task


def batch_size_of(batch: tuple) -> int:
    """Number of samples in a batch (leading dimension of its first tensor)."""
    return int(batch[0].shape[0])


class Oracle:
    """Counted evaluations of a task's objective (data loss + regularisation).

    Parameters
    ----------
    task : Task
        Supplies the hierarchy's models and the objective.
    ledger : WorkLedger
        Receives one charge per evaluation.
    """

    def __init__(self, task: "Task", ledger: WorkLedger) -> None:
        self.task = task
        self.ledger = ledger

    def model(self, level: int = 0) -> nn.Module:
        return self.task.hierarchy.levels[level].model

    def params(self, level: int = 0) -> list[torch.Tensor]:
        return [p for p in self.model(level).parameters()]

    def loss(self, batch: tuple, level: int = 0) -> torch.Tensor:
        """Objective value on ``batch`` (detached); charged as a forward pass."""
        self.ledger.charge(level, "forward", batch_size_of(batch))
        with torch.set_grad_enabled(self.task.loss_needs_grad):
            return self.task.objective(self.model(level), batch).detach()

    def loss_and_grad(self, batch: tuple, level: int = 0,
                      set_grad: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Objective value and its parameter gradient; charged as forward+backward.

        With ``set_grad`` the gradient is also stored in each parameter's ``.grad``
        (the closure protocol of :mod:`torch.optim`).
        """
        self.ledger.charge(level, "grad", batch_size_of(batch))
        params = self.params(level)
        with torch.enable_grad():
            loss = self.task.objective(self.model(level), batch)
            grads = list(torch.autograd.grad(loss, params))
        if set_grad:
            for param, grad in zip(params, grads):
                param.grad = grad
        return loss.detach(), grads

    def hvp(self, batch: tuple, vector: Sequence[torch.Tensor],
            level: int = 0) -> list[torch.Tensor]:
        """Hessian-vector product ``∇²f · v`` by double backward; charged as an HVP."""
        self.ledger.charge(level, "hvp", batch_size_of(batch))
        params = self.params(level)
        with torch.enable_grad():
            loss = self.task.objective(self.model(level), batch)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(grads, vector))
            return [h.detach() for h in torch.autograd.grad(dot, params)]

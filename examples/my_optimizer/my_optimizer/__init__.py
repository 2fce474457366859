r"""An ml2bench solver plugin: SGD with the stochastic Polyak step size (SPS_max).

On the mini-batch :math:`i` drawn at step :math:`t`,

.. math:: \gamma_t = \min\Big(\frac{f_i(x_t) - f_i^*}{c\,\|\nabla f_i(x_t)\|^2},\
          \gamma_b\Big), \qquad x_{t+1} = x_t - \gamma_t \nabla f_i(x_t),

with :math:`f_i^* = 0`, a lower bound of every non-negative loss (cross-entropy, squared
error, plus a non-negative penalty). One gradient evaluation per step, charged to the
work ledger through the counted oracle like every built-in solver.

Reference: N. Loizou, S. Vaswani, I. Laradji, S. Lacoste-Julien, "Stochastic Polyak
Step-size for SGD: An Adaptive Learning Rate for Fast Convergence", AISTATS 2021.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ml2bench.labels import Param, SearchSpace
from ml2bench.solvers.base import Solver

__all__ = ["PolyakSGD"]


@dataclass
class PolyakState:
    """What the solver carries between steps (saved and restored by the base class)."""

    steps: int = 0
    step_size: float = 0.0


class PolyakSGD(Solver):
    """SGD with the SPS_max step size; the entry point ``my_sgd`` names this class."""

    name = "my_sgd"  # must equal the entry point's name
    reference = "Loizou, Vaswani, Laradji & Lacoste-Julien, AISTATS 2021"
    # description: the distribution's one-line summary (pyproject's `description`)
    params = {
        "c": Param(0.5, "scaling of the Polyak step (0.5 in the theory, 0.2 in practice)",
                   low=0.0, low_open=True, search=SearchSpace("log_uniform", 0.05, 1.0)),
        "gamma_max": Param(1.0, "upper bound gamma_b of the step size", low=0.0, low_open=True,
                           search=SearchSpace("log_uniform", 1e-2, 10.0)),
        "batch_size": Param(None, "mini-batch size (None: the problem's default)", type=int,
                            low=1, nullable=True),
    }

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.make_sampler(default="problem")
        self.state = PolyakState()

    def step(self) -> dict[str, float]:
        batch = self.task.batch(self.sampler.next_indices())
        loss, grads = self.oracle.loss_and_grad(batch, self.level)  # counted: one gradient
        grad_sq = sum(float(torch.sum(g * g)) for g in grads)
        gamma_max = self.hparams["gamma_max"]
        gamma = gamma_max if grad_sq == 0.0 else min(
            max(float(loss), 0.0) / (self.hparams["c"] * grad_sq), gamma_max)
        with torch.no_grad():
            for param, grad in zip(self.oracle.params(self.level), grads):
                param.add_(grad, alpha=-gamma)
        self.state.steps += 1
        self.state.step_size = gamma
        return {"batch_loss": float(loss), "step_size": gamma}

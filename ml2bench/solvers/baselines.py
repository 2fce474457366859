"""First-order and quasi-Newton baselines wrapping :mod:`torch.optim`.

Each is a thin class over the PyTorch optimizer with the closure protocol: the closure
evaluates loss and gradient through the counted oracle, so every evaluation the
optimizer makes (several per L-BFGS line search) is charged to the work ledger.
A solver works on one level of the hierarchy (the finest by default; nested iteration
runs them on coarser levels).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ml2bench.errors import UserError
from ml2bench.labels import Param, SearchSpace
from ml2bench.solvers.base import Solver, register_solver

BATCH_SIZE = Param(None, "mini-batch size (None: the problem's default)", type=int, low=1,
                   nullable=True)


class TorchOptimSolver(Solver):
    """A :mod:`torch.optim` optimizer driven by mini-batches from the task's sampler."""

    optimizer_class: ClassVar[type[torch.optim.Optimizer]]
    full_batch_default: ClassVar[bool] = False
    #: ``optimizer.step(closure)`` evaluates once, then updates (L-BFGS: not so).
    evaluates_before_updating: ClassVar[bool] = True

    def optimizer_kwargs(self) -> dict:  # pragma: no cover - abstract
        """Keyword arguments of :attr:`optimizer_class` from the hyperparameters."""
        raise NotImplementedError

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.make_sampler(default="full" if self.full_batch_default else "problem")
        self.optimizer = self.optimizer_class(oracle.params(level), **self.optimizer_kwargs())

    def step(self) -> dict[str, float]:
        batch = self.task.batch(self.sampler.next_indices())

        def closure() -> torch.Tensor:
            loss, _ = self.oracle.loss_and_grad(batch, self.level, set_grad=True)
            return loss

        loss = self.optimizer.step(closure)
        return {"batch_loss": float(loss), "lr": self.optimizer.param_groups[0]["lr"]}

    def stateful_parts(self) -> dict:
        return {"optimizer": self.optimizer, **super().stateful_parts()}


@register_solver
class SGD(TorchOptimSolver):
    r"""Stochastic gradient descent with (Nesterov) momentum.

    .. math:: b_t = \mu b_{t-1} + g_t,\quad \theta_t = \theta_{t-1} - \gamma (g_t + \mu b_t
              \text{ if Nesterov else } b_t)

    Reference: Sutskever, Martens, Dahl & Hinton, ICML 2013; ``torch.optim.SGD``.
    """

    name = "sgd"
    reference = "Robbins & Monro 1951; Sutskever et al., ICML 2013"
    optimizer_class = torch.optim.SGD
    params = {
        "lr": Param(0.1, "learning rate", low=0.0, low_open=True,
                    search=SearchSpace("log_uniform", 1e-3, 1.0)),
        "momentum": Param(0.9, "heavy-ball momentum", low=0.0, high=0.999,
                          search=SearchSpace("choice", choices=(0.0, 0.9))),
        "nesterov": Param(False, "Nesterov momentum"),
        "weight_decay": Param(0.0, "L2 penalty added to the gradient", low=0.0),
        "batch_size": BATCH_SIZE,
    }

    def check_params(self) -> None:
        if self.hparams["nesterov"] and self.hparams["momentum"] <= 0:
            raise UserError("sgd: nesterov=true is invalid with momentum=0, "
                            "nesterov needs momentum > 0")

    def optimizer_kwargs(self) -> dict:
        keys = ("lr", "momentum", "nesterov", "weight_decay")
        return {k: self.hparams[k] for k in keys}


@register_solver
class Adam(TorchOptimSolver):
    r"""Adam: bias-corrected first and second moment estimates.

    .. math:: m_t = \beta_1 m + (1-\beta_1) g,\ v_t = \beta_2 v + (1-\beta_2) g^2,\
              \theta \leftarrow \theta - \gamma \hat m_t / (\sqrt{\hat v_t} + \epsilon)

    Reference: Kingma & Ba, ICLR 2015.
    """

    name = "adam"
    reference = "Kingma & Ba, ICLR 2015"
    optimizer_class = torch.optim.Adam
    params = {
        "lr": Param(1e-2, "learning rate", low=0.0, low_open=True,
                    search=SearchSpace("log_uniform", 1e-4, 1e-1)),
        "beta1": Param(0.9, "first-moment decay", low=0.0, high=0.9999),
        "beta2": Param(0.999, "second-moment decay", low=0.0, high=0.99999),
        "eps": Param(1e-8, "denominator offset", low=0.0, low_open=True),
        "weight_decay": Param(0.0, "L2 penalty added to the gradient", low=0.0),
        "batch_size": BATCH_SIZE,
    }

    def optimizer_kwargs(self) -> dict:
        h = self.hparams
        return {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"],
                "weight_decay": h["weight_decay"]}


@register_solver
class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay ``θ ← θ − γλθ``.

    Reference: Loshchilov & Hutter, ICLR 2019.
    """

    name = "adamw"
    reference = "Loshchilov & Hutter, ICLR 2019"
    optimizer_class = torch.optim.AdamW
    params = {**Adam.params,
              "weight_decay": Param(1e-2, "decoupled weight decay", low=0.0,
                                    search=SearchSpace("log_uniform", 1e-4, 1e-1))}


@register_solver
class LBFGS(TorchOptimSolver):
    r"""Limited-memory BFGS with a strong-Wolfe line search, full batch by default.

    One solver step is ``max_iter`` L-BFGS iterations (``torch.optim.LBFGS.step``);
    every closure call of the line search is a charged gradient evaluation.
    Reference: Liu & Nocedal, Math. Prog. 45 (1989); Nocedal & Wright (2006) Alg. 7.5
    and 3.5–3.6 (strong Wolfe).
    """

    name = "lbfgs"
    reference = "Liu & Nocedal 1989; Nocedal & Wright 2006, Alg. 7.5"
    optimizer_class = torch.optim.LBFGS
    full_batch_default = True
    evaluates_before_updating = False  # the line search evaluates at trial points
    params = {
        "lr": Param(1.0, "initial step length", low=0.0, low_open=True,
                    search=SearchSpace("choice", choices=(1.0,))),
        "history_size": Param(10, "memory (curvature pairs)", low=1),
        "max_iter": Param(5, "L-BFGS iterations per solver step", low=1),
        "line_search": Param("strong_wolfe", "line search", choices=("strong_wolfe", "none")),
        "batch_size": Param(None, "mini-batch size (None: full batch)", type=int, low=1,
                            nullable=True),
    }

    def optimizer_kwargs(self) -> dict:
        h = self.hparams
        search = None if h["line_search"] == "none" else h["line_search"]
        return {"lr": h["lr"], "history_size": h["history_size"], "max_iter": h["max_iter"],
                "line_search_fn": search, "tolerance_grad": 1e-14, "tolerance_change": 1e-16}

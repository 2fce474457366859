r"""``mgopt`` — MG/OPT (Nash 2000) with SGD, Adam or L-BFGS smoothers.

One solver step is one V-cycle started on the finest level. On level ``l`` with
objective ``h_l(x) = f_l(x) + ⟨u_l, x − x₀⟩`` (``u_0 = 0``) and iterate ``x``:

1. **pre-smoothing**: ``ν1`` smoother steps on ``h_l`` (``coarse_steps`` on the
   coarsest level, which does nothing else);
2. **coarse objective**: ``z₀ = Πx`` and the first-order-coherent
   ``h_{l+1}(z) = f_{l+1}(z) + ⟨R∇h_l(x) − ∇f_{l+1}(z₀), z − z₀⟩`` — Nash's
   ``f_{l+1}(z) − ⟨v_{l+1}, z⟩`` with ``v_{l+1} = ∇f_{l+1}(z₀) − R(∇f_l(x) − v_l)``;
3. **recursion**: approximate minimisation of ``h_{l+1}`` from ``z₀`` by one cycle;
4. **line search** on the prolongated correction ``e = P(z − z₀)``: the first
   ``α ∈ {1, ½, ¼, …}`` (at most ``ls_steps``) with the Armijo condition
   ``h_l(x + αe) ≤ h_l(x) + c₁ α ∇h_l(x)ᵀe``; the correction is skipped if ``e`` is not
   a descent direction or no ``α`` passes;
5. **post-smoothing**: ``ν2`` smoother steps.

Smoothers act on flat vectors and keep one state per level across cycles: ``sgd``
(heavy-ball momentum), ``adam`` (Kingma & Ba) and ``lbfgs`` (two-loop recursion with
the strong-Wolfe line search of :mod:`torch.optim.lbfgs`; the linear terms of the
coarse objectives do not change curvature pairs, so the memory stays valid). ``lbfgs``
is scale invariant (its first step length comes from the line search), ``sgd`` and
``adam`` are not. Stochastic mode: one batch per cycle, shared by all levels and the
line search; ``batch_size=None`` means the problem's batch size for ``sgd``/``adam``
and the full batch for ``lbfgs``.

References
----------
S. G. Nash, *A multigrid approach to discretized optimization problems*, Optim.
Methods Softw. 14, 2000; R. M. Lewis, S. G. Nash, SIAM J. Sci. Comput. 26, 2005;
TorchBraid ``mgopt.py`` (Cyr, Günther, Schroder et al.); J. Nocedal, S. J. Wright,
*Numerical Optimization*, 2006 (Alg. 7.4, 3.5–3.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ml2bench.labels import Param, SearchSpace
from ml2bench.solvers.adam_kernel import adam_update
from ml2bench.solvers.base import MultilevelSolver, register_solver
from ml2bench.solvers.lbfgs_kernel import SmootherState, lbfgs_step
from ml2bench.parameters import load_vector
from ml2bench.solvers.level_objective import (LevelObjective, Point, begin_step,
                                              coherent_objective, flat_transfers)
from ml2bench.solvers.rmtr import SMOOTH_SPACE

DEFAULT_LR = {"sgd": 0.1, "adam": 1e-2, "lbfgs": 1.0}


def sgd_step(objective, point: Point, state: SmootherState, h: dict) -> Point:
    """``b ← μb + g``, ``x ← x − lr·b``."""
    g = point.grad
    state.buffer = g.clone() if state.buffer is None else state.buffer.mul(h["momentum"]).add(g)
    state.steps += 1
    return Point(point.x - h["lr"] * state.buffer, math.nan)


def adam_step(objective, point: Point, state: SmootherState, h: dict) -> Point:
    """Bias-corrected Adam update (:func:`~ml2bench.solvers.adam_kernel.adam_update`)."""
    state.steps += 1
    state.buffer, state.second, update = adam_update(state.buffer, state.second, state.steps,
                                                     point.grad, h["lr"])
    return Point(point.x - update, math.nan)


SMOOTHERS = {"sgd": sgd_step, "adam": adam_step, "lbfgs": lbfgs_step}


@dataclass
class MGOptState:
    """Typed state of ``mgopt``: cycle counter, cached fine point, smoother states."""

    cycles: int = 0
    point: Point | None = None
    smoothers: list[SmootherState] = field(default_factory=list)


@register_solver
class MGOpt(MultilevelSolver):
    """MG/OPT V-cycles; see the module docstring for the algorithm and references."""

    name = "mgopt"
    reference = "Nash, Optim. Methods Softw. 14 (2000); TorchBraid mgopt.py"
    params = {
        **MultilevelSolver.params,
        "smoother": Param("adam", "smoother on every level", choices=tuple(SMOOTHERS)),
        "lr": Param(None, "smoother step size (None: sgd 0.1, adam 0.01, lbfgs 1.0)",
                    type=float, low=0.0, low_open=True, nullable=True,
                    search=SearchSpace("log_uniform", 1e-3, 1e-1)),
        "momentum": Param(0.9, "heavy-ball momentum of the sgd smoother", low=0.0, high=0.999),
        "history_size": Param(10, "L-BFGS memory of the lbfgs smoother", low=1),
        "pre_smooth": Param(1, "pre-smoothing steps ν1", low=0, search=SMOOTH_SPACE),
        "post_smooth": Param(1, "post-smoothing steps ν2", low=0, search=SMOOTH_SPACE),
        "coarse_steps": Param(5, "smoother steps on the coarsest level", low=1,
                              search=SearchSpace("choice", choices=(5, 10, 20))),
        "ls_steps": Param(10, "Armijo backtracking trials (α = 1, ½, ¼, ...)", low=1),
        "c1": Param(1e-4, "Armijo constant", low=0.0, high=1.0, low_open=True),
        "batch_size": Param(None, "mini-batch size (None: problem default; lbfgs: full)",
                            type=int, low=1, nullable=True),
    }

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.transfers = flat_transfers(task.hierarchy, self.num_levels)
        smoother = self.hparams["smoother"]
        self.smooth_hparams = {**self.hparams, "lr": self.hparams["lr"] or DEFAULT_LR[smoother]}
        self.make_sampler(default="full" if smoother == "lbfgs" else "problem")
        self.state = MGOptState(smoothers=[SmootherState() for _ in range(self.num_levels)])
        self.logs = self._new_logs()

    def _new_logs(self) -> list[dict]:
        return [{"alpha": math.nan, "accepted": 0.0, "correction_decrease": 0.0,
                 "value": math.nan} for _ in range(self.num_levels)]

    # -- the cycle -------------------------------------------------------------------
    def _cycle(self, level: int, objective: LevelObjective, point: Point) -> Point:
        """One MG/OPT V-cycle approximately minimising ``objective`` from ``point``."""
        coarsest = level == self.num_levels - 1
        # 1. pre-smoothing (the whole job on the coarsest level)
        steps = self.hparams["coarse_steps"] if coarsest else self.hparams["pre_smooth"]
        point = self._smooth(level, objective, point, steps)
        if coarsest:
            return point
        # 2. coarse objective with first-order coherence
        point = objective.ensure_grad(point)
        transfer = self.transfers[level]
        coarse_objective, start = coherent_objective(objective, point, transfer)
        # 3. approximate coarse minimisation, recursively
        coarse = self._cycle(level + 1, coarse_objective, start)
        # 4. Armijo line search on the prolongated correction
        point = self._line_search(level, objective, point, transfer.prolong(coarse.x - start.x))
        # 5. post-smoothing
        return self._smooth(level, objective, point, self.hparams["post_smooth"])

    def _smooth(self, level: int, objective: LevelObjective, point: Point,
                steps: int) -> Point:
        step = SMOOTHERS[self.hparams["smoother"]]
        for _ in range(steps):
            point = objective.ensure_grad(point)
            self.logs[level]["value"] = point.value
            point = step(objective, point, self.state.smoothers[level], self.smooth_hparams)
        return point

    def _line_search(self, level: int, objective: LevelObjective, point: Point,
                     correction: torch.Tensor) -> Point:
        """First ``α = 2⁻ᵏ`` with ``h(x + αe) ≤ h(x) + c₁α∇h(x)ᵀe`` (or ``point``)."""
        log = self.logs[level + 1]
        slope = float(torch.dot(point.grad, correction))
        log["alpha"] = 0.0
        if not slope < 0.0:
            return point
        alpha = 1.0
        for _ in range(self.hparams["ls_steps"]):
            trial = objective.evaluate(point.x + alpha * correction, with_grad=False)
            if trial.value <= point.value + self.hparams["c1"] * alpha * slope:
                log.update(alpha=alpha, accepted=1.0,
                           correction_decrease=point.value - trial.value)
                self.logs[level]["value"] = trial.value
                return trial
            alpha *= 0.5
        return point

    # -- the solver step -------------------------------------------------------------
    def step(self) -> dict[str, float]:
        objective, point, full_batch = begin_step(self.oracle, self.task, self.sampler, 0,
                                                  self.state.point)
        self.logs = self._new_logs()
        point = self._cycle(0, objective, point)
        load_vector(objective.model, point.x)
        self.state.cycles += 1
        self.state.point = point if full_batch and point.grad is not None else None
        value = point.value if not math.isnan(point.value) else self.logs[0]["value"]
        info = {"batch_loss": value, "lr": self.smooth_hparams["lr"]}
        for level in range(1, self.num_levels):
            log = self.logs[level]
            info.update({f"alpha_l{level}": log["alpha"],
                         f"coarse_accepted_l{level}": log["accepted"],
                         f"correction_decrease_l{level}": log["correction_decrease"]})
        return info

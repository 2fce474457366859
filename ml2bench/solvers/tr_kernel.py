r"""The trust-region kernel shared by ``tr`` and the smoothers of ``rmtr``.

Functional pieces, testable without a solver class (torch.optim's ``sgd``/``SGD``
split): the hyperparameters (:data:`TR_PARAMS`) and their constants
(:class:`TRConfig`), the reduction ratio with its rounding guard, one trust-region
iteration on a :class:`~ml2bench.solvers.level_objective.LevelObjective`, the batch
growth of the hybrid stochastic–deterministic regime and the L-SR1 memory. One
iteration (Conn, Gould & Toint 2000, Alg. 6.1.1; Nocedal & Wright 2006, Alg. 4.1) on
a batch ``ξ``:

.. math::

    &s \approx \arg\min_{\|s\|_2\le\Delta} m(s) = f_\xi(x) + g^\top s + \tfrac12 s^\top B s,
      \qquad g = \nabla f_\xi(x),\\
    &\rho = \frac{f_\xi(x) - f_\xi(x+s) + \delta}{m(0) - m(s) + \delta},\qquad
      \delta = 10\,\epsilon_{\rm mach}\max(1, |f_\xi(x)|),\\
    &x \leftarrow x + s \text{ if } \rho > \eta_1;\quad
      \Delta \leftarrow \begin{cases} \text{shrink}\cdot\Delta & \rho \le \eta_1\\
      \min(\text{expand}\cdot\Delta, \Delta_{\max}) & \rho > \eta_2,\ \|s\| \ge 0.99\Delta\\
      \Delta & \text{otherwise.}\end{cases}

The ``δ`` term (Conn, Gould & Toint 2000, §17.4) keeps the ratio meaningful when both
reductions are at the rounding level of ``f``. Subproblems: Steihaug–Toint CG on exact
Hessian-vector products, compact L-SR1 (exact in the eigenbasis or CG), the Cauchy
point (:mod:`~ml2bench.solvers.tr_subproblem`), or the first-order model ``B = 0``
(:func:`linear_model_step`, the APTS authors' first-order ``TR``).

References
----------
A. R. Conn, N. I. M. Gould, Ph. L. Toint, *Trust-Region Methods*, SIAM, 2000;
T. Steihaug, SIAM J. Numer. Anal. 20(3), 1983;
J. J. Brust, J. B. Erway, R. F. Marcia, Comput. Optim. Appl. 66, 2017 (OBS);
A. Kopaničáková, R. Krause, SIAM J. Sci. Comput. 45(3), 2023 (batch growth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ml2bench.errors import UserError
from ml2bench.labels import Param, SearchSpace
from ml2bench.solvers.level_objective import LevelObjective, Point
from ml2bench.solvers.lsr1 import LSR1
from ml2bench.solvers.tr_subproblem import (SubproblemResult, cauchy_point, steihaug_cg,
                                            trust_region_update)


#: Hyperparameters shared by ``tr`` and the smoothers of ``rmtr`` (algorithms.md §2).
TR_PARAMS: dict[str, Param] = {
    "radius": Param(1.0, "initial trust-region radius Δ0 (Euclidean norm of the step)",
                    low=0.0, low_open=True, search=SearchSpace("log_uniform", 0.1, 10.0)),
    "max_radius": Param(100.0, "largest radius Δmax", low=0.0, low_open=True),
    "min_radius": Param(1e-6, "smallest radius Δmin", low=0.0, low_open=True),
    "eta1": Param(0.25, "acceptance threshold η1 (accept if ρ > η1)", low=0.0, high=1.0),
    "eta2": Param(0.75, "very-successful threshold η2 (expand if ρ > η2)", low=0.0, high=1.0),
    "shrink": Param(0.5, "radius factor on rejection", low=0.0, high=1.0, low_open=True),
    "expand": Param(2.0, "radius factor on a very successful boundary step", low=1.0),
    "cg_max_iter": Param(10, "Hessian-vector products per CG subproblem solve", low=1,
                         search=SearchSpace("choice", choices=(5, 10, 20))),
    "cg_rtol": Param(None, "CG stops at ‖r‖ ≤ cg_rtol·‖g‖ (None: min(0.5, √‖g‖), Steihaug)",
                     type=float, low=0.0, nullable=True),
    "memory": Param(5, "L-SR1 memory (curvature pairs)", low=1, high=50,
                    search=SearchSpace("choice", choices=(5, 10))),
    "lsr1_solve": Param("obs", "L-SR1 subproblem: exact in the compact eigenbasis or CG",
                        choices=("obs", "cg")),
    "batch_size": Param(None, "mini-batch size (None: full batch, deterministic)", type=int,
                        low=1, nullable=True),
    "batch_growth": Param(1.0, "batch size factor after a rejection (1: fixed batch)", low=1.0),
}


@dataclass(frozen=True)
class TRConfig:
    """The trust-region constants of one level (from the hyperparameters)."""

    subproblem: str = "cg"
    cg_max_iter: int = 10
    cg_rtol: float | None = None
    lsr1_solve: str = "obs"
    eta1: float = 0.25
    eta2: float = 0.75
    shrink: float = 0.5
    expand: float = 2.0
    min_radius: float = 1e-6
    max_radius: float = 100.0

    @classmethod
    def from_hparams(cls, hparams: dict) -> "TRConfig":
        return cls(**{k: hparams[k] for k in cls.__dataclass_fields__ if k in hparams})

    def update(self, radius: float, rho: float, step_norm: float) -> tuple[float, bool]:
        """Radius update and acceptance (:func:`~.tr_subproblem.trust_region_update`)."""
        return trust_region_update(radius, rho, step_norm, eta1=self.eta1, eta2=self.eta2,
                                   shrink=self.shrink, expand=self.expand,
                                   max_radius=self.max_radius, min_radius=self.min_radius)


def check_tr_params(owner: str, h: dict) -> None:
    """Cross-parameter validation shared by ``tr`` and ``rmtr``."""
    if h["eta1"] > h["eta2"]:
        raise UserError(f"{owner}: eta1={h['eta1']} is invalid, "
                        f"it must not exceed eta2={h['eta2']}")
    if h["shrink"] >= 1.0:
        raise UserError(f"{owner}: shrink={h['shrink']} is invalid, shrink must be < 1")
    if not h["min_radius"] <= h["radius"] <= h["max_radius"]:
        raise UserError(f"{owner}: radius={h['radius']} is invalid, it must lie in "
                        f"[min_radius, max_radius] = [{h['min_radius']}, {h['max_radius']}]")


def make_memory(h: dict) -> LSR1:
    """An L-SR1 memory with the scaling ``γ = yᵀy/sᵀy`` of the latest pair."""
    return LSR1(h["memory"], gamma=1.0, scaling="latest")


def reduction_ratio(value: float, trial_value: float, predicted: float, eps: float) -> float:
    """``ρ = (f − f⁺ + δ) / (pred + δ)``, ``δ = 10 eps max(1, |f|)`` (CGT 2000 §17.4)."""
    delta = 10.0 * eps * max(1.0, abs(value))
    actual = value - trial_value
    if not math.isfinite(actual):
        return math.nan
    return (actual + delta) / (predicted + delta)


def linear_model_step(g: torch.Tensor, radius: float) -> SubproblemResult:
    r"""Minimiser of the first-order (linear) model ``m(s) = f + gᵀs`` in the ball
    ``‖s‖ ≤ Δ``: ``s = −(Δ/‖g‖) g``, ``pred = m(0) − m(s) = Δ‖g‖`` (zero step and
    ``pred = 0`` when ``g = 0``).

    The first-order trust-region step of the APTS authors' ``TR`` optimizer
    (github:cruzas/DD4ML @ fa3027f0, ``src/dd4ml/utility/optimizer_utils.py``
    ``solve_tr_first_order``, lines 197-215, used by ``optimizers/tr.py`` when
    ``second_order=False``; the same step, ``p ← x − (Δ/‖g‖) g`` with predicted
    reduction ``Δ‖g‖``, is the only implemented branch of the 2024 code,
    github:cruzas/ML_APTS @ 40e03096, branch ``backup_development_parallel``,
    ``src/optimizers/TR.py`` lines 226-284).
    """
    norm = float(torch.linalg.vector_norm(g))
    if not norm > 0.0:
        return SubproblemResult(torch.zeros_like(g), 0.0, False, False, 0, 0)
    return SubproblemResult(g * (-radius / norm), radius * norm, True, False, 0, 0)


def solve_subproblem(objective: LevelObjective, point: Point, radius: float,
                     config: TRConfig, memory: LSR1 | None) -> SubproblemResult:
    """Approximate minimiser of the model at ``point`` within ``radius`` (quadratic;
    linear for ``subproblem="linear"``, :func:`linear_model_step`)."""
    g = point.grad
    if config.subproblem == "linear":
        return linear_model_step(g, radius)
    if config.subproblem == "lsr1":
        if config.lsr1_solve == "obs":
            return memory.solve_obs(g, radius)
        return memory.solve_cg(g, radius, max_iter=config.cg_max_iter)
    matvec = objective.hessian(point.x)
    if config.subproblem == "cauchy":
        return cauchy_point(g, matvec, radius)
    return steihaug_cg(g, matvec, radius, max_iter=config.cg_max_iter, rtol=config.cg_rtol)


@dataclass
class TRIteration:
    """Outcome of one trust-region iteration.

    ``point`` is the iterate afterwards (the trial point if accepted); ``decrease`` is
    the actual decrease of the objective (0 when rejected).
    """

    point: Point
    radius: float
    rho: float
    accepted: bool
    step_norm: float
    decrease: float
    matvecs: int


def trust_region_iteration(objective: LevelObjective, point: Point, radius: float,
                           config: TRConfig, memory: LSR1 | None = None,
                           trial_grad: bool = True) -> TRIteration:
    """One trust-region iteration on ``objective`` from ``point`` (a functional kernel).

    The trial point is evaluated on the objective's batch (the same as the step's);
    with its gradient if ``trial_grad`` or an L-SR1 ``memory`` is given (which then
    receives the pair ``(s, ∇h(x+s) − ∇h(x))`` whether or not the step is accepted).
    """
    point = objective.ensure_grad(point)
    result = solve_subproblem(objective, point, radius, config, memory)
    if not result.predicted_reduction > 0.0:  # stationary point of the model
        return TRIteration(point, radius, math.nan, False, 0.0, 0.0, result.num_matvecs)
    trial = objective.evaluate(point.x + result.step, with_grad=trial_grad or memory is not None)
    eps = torch.finfo(point.x.dtype).eps
    rho = reduction_ratio(point.value, trial.value, result.predicted_reduction, eps)
    step_norm = float(torch.linalg.vector_norm(result.step))
    new_radius, accepted = config.update(radius, rho, step_norm)
    if memory is not None and trial.grad is not None and torch.isfinite(trial.grad).all():
        memory.update(result.step, trial.grad - point.grad)
    decrease = point.value - trial.value if accepted else 0.0
    return TRIteration(trial if accepted else point, new_radius, rho, accepted, step_norm,
                       decrease, result.num_matvecs)


def grow_batch(sampler, factor: float, rounding=math.ceil) -> None:
    """Multiply the sampler's batch size by ``factor``, rounded by ``rounding`` (``ceil``:
    ``tr``'s rule; ``floor``: DD4ML's trainer), capped at the training set."""
    if factor > 1.0:
        sampler.batch_size = min(sampler.num_samples, rounding(sampler.batch_size * factor))


@dataclass
class TRState:
    """Typed state of a trust-region solver (``tr``, the APTS solvers): the radius, the
    step and rejection counters and the evaluated current point (reused on the full
    batch)."""

    radius: float
    steps: int = 0
    rejected: int = 0
    point: Point | None = None

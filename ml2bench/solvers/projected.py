r"""``pgd`` — the spectral projected gradient method (SPG; Birgin, Martínez & Raydan 2000).

The projected single-level baseline for bound-constrained problems (and, without bounds,
the Barzilai–Borwein gradient method with a nonmonotone line search). One solver step is
one SPG iteration (their Algorithm SPG2) on the full batch:

.. math::

    d_k = P_\Omega(x_k - \lambda_k g_k) - x_k,\qquad
    x_{k+1} = x_k + \alpha_k d_k,\\
    f(x_k + \alpha d_k) \le \max_{0\le j<M} f(x_{k-j}) + \gamma\,\alpha\, g_k^\top d_k
    \quad\text{(nonmonotone Armijo, Grippo–Lampariello–Lucidi 1986)},\\
    \lambda_{k+1} = \operatorname{clip}\Big(\frac{s_k^\top s_k}{s_k^\top y_k},
    \lambda_{\min}, \lambda_{\max}\Big)\ (\lambda_{\max}\text{ if } s_k^\top y_k \le 0),
    \quad s_k = x_{k+1} - x_k,\ y_k = g_{k+1} - g_k,

``P_Ω`` the projection onto the box ``[lower, upper]`` (a clamp), ``α`` from 1 by
safeguarded quadratic interpolation (``α ← −½α²gᵀd/(f(x+αd) − f − αgᵀd)`` if it lies in
``[0.1α, 0.9α]``, else ``α/2``), ``λ₀ = 1/‖P_Ω(x₀ − g₀) − x₀‖∞``, ``γ = 10⁻⁴``,
``M = 10``, ``[λmin, λmax] = [10⁻³⁰, 10³⁰]`` (the paper's values). One named deviation:
where ``sᵀy ≤ 0`` (only on nonconvex problems) the paper takes ``λmax``; ``pgd`` restarts
from the ``λ₀`` rule at the new point instead, because a step of ``10³⁰g`` exhausts the
line search on an unbounded feasible set (the networks). Every trial point
``x + αd`` (``α ≤ 1``) lies in the box by convexity and is clamped into it, so no
iterate violates a bound in floating point.

**Why SPG** rather than an L-BFGS-B-style method: it is the standard first-order
projected baseline for large bound-constrained problems, needs one gradient per
iteration and no subspace minimisation, and its Barzilai–Borwein step is invariant to
the scaling of ``f`` (no learning rate to tune), so the comparison with the monotone
multigrids measures the mesh dependence of a single-level method rather than a tuning
choice. Its iteration count on the obstacle problem grows with the condition number
``O(h⁻²)``.

Work: the first trial of each iteration is evaluated with its gradient (one ``grad``),
further trials by value (``forward``); the gradient of an accepted backtracked point is
evaluated once more.

References
----------
E. G. Birgin, J. M. Martínez, M. Raydan, *Nonmonotone spectral projected gradient
methods on convex sets*, SIAM J. Optim. 10(4), 2000;
J. Barzilai, J. M. Borwein, IMA J. Numer. Anal. 8, 1988;
L. Grippo, F. Lampariello, S. Lucidi, SIAM J. Numer. Anal. 23(4), 1986.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ml2bench.labels import Param
from ml2bench.parameters import load_vector
from ml2bench.solvers.base import Solver, register_solver
from ml2bench.solvers.bounds import flat_bounds, project
from ml2bench.solvers.level_objective import Point, begin_step

GAMMA, SIGMA1, SIGMA2 = 1e-4, 0.1, 0.9
LAMBDA_MIN, LAMBDA_MAX = 1e-30, 1e30


@dataclass
class SPGState:
    """Typed state: spectral step ``λ``, recent objective values, iterations, the
    evaluated current point."""

    spectral: float = math.nan
    history: list = field(default_factory=list)
    iterations: int = 0
    point: Point | None = None


@register_solver
class SPG(Solver):
    """Spectral projected gradient (Barzilai–Borwein step, nonmonotone line search).

    See the module docstring for the algorithm, its work units and references.
    """

    name = "pgd"
    #: A single-level baseline (the projected one) for tables and the report's summary
    #: (:func:`ml2bench.report.families.family_of`).
    baseline = True
    reference = "Birgin, Martínez & Raydan, SIAM J. Optim. 10 (2000)"
    params = {
        "memory": Param(10, "nonmonotone memory M (1: monotone Armijo)", low=1),
        "max_backtracks": Param(30, "line-search trials per iteration", low=1),
    }

    def respects_bounds(self) -> bool:
        return True

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.make_sampler(default="full")
        lower, upper = flat_bounds(task) if level == 0 else (None, None)
        self.lower, self.upper = lower, upper
        self.state = SPGState()

    def step(self) -> dict[str, float]:
        objective, point, _ = begin_step(self.oracle, self.task, self.sampler, self.level,
                                         self.state.point)
        point = objective.ensure_grad(point)
        x, g = point.x, point.grad
        lower = None if self.lower is None else self.lower.to(x)
        upper = None if self.upper is None else self.upper.to(x)
        state = self.state
        if not math.isfinite(state.spectral):
            first = project(x - g, lower, upper) - x
            norm = float(first.abs().max()) if first.numel() else 0.0
            state.spectral = 1.0 / norm if norm > 0 else 1.0
        d = project(x - state.spectral * g, lower, upper) - x
        slope = float(torch.dot(g, d))
        state.history = (state.history + [point.value])[-self.hparams["memory"]:]
        if not slope < 0.0:  # stationary: d = 0
            state.point = point
            return {"step_length": 0.0, "spectral": state.spectral, "backtracks": 0.0}
        reference = max(state.history)
        alpha, trial = 1.0, None
        for trials in range(self.hparams["max_backtracks"]):
            candidate = project(x + alpha * d, lower, upper)
            trial = objective.evaluate(candidate, with_grad=trials == 0)
            if trial.value <= reference + GAMMA * alpha * slope:
                break
            curvature = trial.value - point.value - alpha * slope
            guess = -0.5 * alpha * alpha * slope / curvature if curvature > 0 else -1.0
            alpha = guess if SIGMA1 * alpha <= guess <= SIGMA2 * alpha else alpha / 2
        else:  # no sufficient decrease: stay (the radius of failure is the step)
            load_vector(objective.model, x)
            state.spectral = max(LAMBDA_MIN, state.spectral / 2)
            state.point = point
            return {"step_length": 0.0, "spectral": state.spectral, "backtracks": float(trials)}
        trial = objective.ensure_grad(trial)
        s, y = trial.x - x, trial.grad - g
        sy = float(torch.dot(s, y))
        if sy > 0:
            state.spectral = min(LAMBDA_MAX, max(LAMBDA_MIN, float(torch.dot(s, s)) / sy))
        else:  # nonpositive curvature: restart from the λ₀ rule (deviation, see above)
            restart = float((project(trial.x - trial.grad, lower, upper) - trial.x).abs().max())
            state.spectral = 1.0 / restart if restart > 0 else 1.0
        load_vector(objective.model, trial.x)
        state.iterations += 1
        state.point = trial
        return {"step_length": alpha, "spectral": state.spectral, "backtracks": float(trials)}

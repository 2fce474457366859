"""The flat-vector L-BFGS kernel shared by ``mgopt``'s smoother and the Schwarz
solvers (``aspqn``, ``mspqn``): the two-loop recursion and one L-BFGS iteration with
the strong-Wolfe line search of :mod:`torch.optim.lbfgs`.

An *objective* here is anything with ``value_and_grad(x) -> (float, Tensor)`` on flat
vectors (:class:`~ml2bench.solvers.level_objective.LevelObjective`, a subdomain's
objective of :mod:`ml2bench.solvers.schwarz_lbfgs`).

References
----------
J. Nocedal, S. J. Wright, *Numerical Optimization*, 2006 (Alg. 7.4, 7.5, 3.5–3.6);
D. C. Liu, J. Nocedal, Math. Prog. 45 (1989).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.optim.lbfgs import _strong_wolfe

from ml2bench.solvers.level_objective import Point


@dataclass
class SmootherState:
    """Per-level smoother state: momentum / Adam moments / L-BFGS pairs."""

    steps: int = 0
    buffer: torch.Tensor | None = None
    second: torch.Tensor | None = None
    pairs_s: list = field(default_factory=list)
    pairs_y: list = field(default_factory=list)


def lbfgs_direction(g: torch.Tensor, state: SmootherState) -> torch.Tensor:
    """``−H g`` by the two-loop recursion, ``H₀ = (sᵀy/yᵀy) I`` from the latest pair."""
    q, alphas = g.clone(), []
    for s, y in zip(reversed(state.pairs_s), reversed(state.pairs_y)):
        alpha = torch.dot(s, q) / torch.dot(y, s)
        q.sub_(y, alpha=float(alpha))
        alphas.append(alpha)
    if state.pairs_s:
        s, y = state.pairs_s[-1], state.pairs_y[-1]
        q.mul_(float(torch.dot(s, y) / torch.dot(y, y)))
    for (s, y), alpha in zip(zip(state.pairs_s, state.pairs_y), reversed(alphas)):
        beta = torch.dot(y, q) / torch.dot(y, s)
        q.add_(s, alpha=float(alpha - beta))
    return -q


def lbfgs_step(objective, point: Point, state: SmootherState, h: dict) -> Point:
    """One L-BFGS iteration with a strong-Wolfe line search (Nocedal & Wright Alg. 7.5)."""
    g = point.grad
    d = lbfgs_direction(g, state)
    gtd = float(torch.dot(g, d))
    if not gtd < 0.0:  # not a descent direction: restart from steepest descent
        state.pairs_s, state.pairs_y = [], []
        d, gtd = -g, -float(torch.dot(g, g))
        if gtd == 0.0:
            return point
    t = h["lr"] if state.pairs_s else min(1.0, 1.0 / float(g.abs().sum())) * h["lr"]

    def value_and_grad(x, step, direction):
        return objective.value_and_grad(x + step * direction)

    value, grad, t, _ = _strong_wolfe(value_and_grad, point.x, t, d, point.value, g, gtd)
    state.steps += 1
    if not float(value) < point.value:  # the line search failed: keep x, forget the pairs
        state.pairs_s, state.pairs_y = [], []
        return point
    s, y = t * d, grad - g
    if float(torch.dot(s, y)) > 1e-10 * float(torch.dot(s, s)):
        state.pairs_s = (state.pairs_s + [s])[-h["history_size"]:]
        state.pairs_y = (state.pairs_y + [y])[-h["history_size"]:]
    return Point(point.x + s, float(value), grad)

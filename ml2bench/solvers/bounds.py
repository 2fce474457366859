"""Bound constraints of a task as flat vectors, for the solvers that respect them.

A task may declare ``lower ≤ θ ≤ upper`` (:attr:`~ml2bench.problems.base.Task.lower`,
``upper``: one tensor per parameter, or ``None``). Solvers that work on flat parameter
vectors (``rmtr[region=box]``, ``pgd``, ``mmg``, ``tnnmg``) read them here, flattened in
``parameters()`` order, with ``∓inf`` for a missing side; solvers that cannot keep their
iterates feasible refuse bounded tasks (:data:`~ml2bench.solvers.base.BOUNDS_SKIP`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ml2bench.parameters import flatten

__all__ = ["box_criticality", "bounded_rtol", "clip_box", "finest_box", "flat_bounds", "project"]


def flat_bounds(task) -> tuple[Tensor | None, Tensor | None]:
    """``(lower, upper)`` of the finest level as flat vectors (``None``: no bound)."""
    lower = flatten(task.lower) if task.lower is not None else None
    upper = flatten(task.upper) if task.upper is not None else None
    return lower, upper


def finest_box(task, oracle) -> tuple[Tensor | None, Tensor | None]:
    """Both bounds as full flat vectors (``∓inf`` for a missing side), or ``(None, None)``
    for an unconstrained task — the arguments of
    :class:`~ml2bench.solvers.rmtr_regions.BoxRegion` on the finest level."""
    if not task.has_bounds:
        return None, None
    like = flatten(oracle.params(0)).detach()
    lower, upper = flat_bounds(task)
    lower = torch.full_like(like, -torch.inf) if lower is None else lower.to(like)
    upper = torch.full_like(like, torch.inf) if upper is None else upper.to(like)
    return lower, upper


def project(x: Tensor, lower: Tensor | None, upper: Tensor | None) -> Tensor:
    """The Euclidean projection onto ``[lower, upper]`` (componentwise clamp)."""
    if lower is not None:
        x = torch.maximum(x, lower)
    if upper is not None:
        x = torch.minimum(x, upper)
    return x


def clip_box(region, x: Tensor) -> Tensor:
    """``x`` clamped into a :class:`~ml2bench.solvers.rmtr_regions.BoxRegion`'s bounds
    (other regions, or none: ``x`` unchanged)."""
    clip = getattr(region, "clip", None)
    return x if clip is None else clip(x)


def box_criticality(g: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
    """The projected gradient at ``s = 0`` of a box ``lower ≤ s ≤ upper`` (``lower ≤ 0 ≤
    upper``): ``g`` with the components that push out of the box at an active bound
    set to 0 (:func:`~ml2bench.solvers.box_subproblem.projected_gradient`).

    On a bound-constrained problem ``‖g‖`` does not vanish at the solution (it tends to
    the multiplier's norm), so a tolerance relative to ``‖g‖`` would stop the ℓ∞
    subproblem with a zero step away from the solution; ``rmtr[region=box]`` measures
    its CG tolerance against this norm instead when the task has bounds
    (:func:`bounded_rtol`).
    """
    from ml2bench.solvers.box_subproblem import projected_gradient

    return projected_gradient(g, torch.zeros_like(g), lower, upper)


def bounded_rtol(g: Tensor, lower: Tensor, upper: Tensor, cg_rtol: float | None) -> float:
    """The ``rtol`` to pass to :func:`~ml2bench.solvers.box_subproblem.box_subproblem`
    (which stops at ``‖r̂‖ ≤ rtol·‖g‖``) so that it stops at ``‖r̂‖ ≤ η χ`` with
    ``χ = ‖box_criticality(g)‖`` and ``η = cg_rtol`` or Steihaug's ``min(0.5, √χ)``."""
    chi = float(torch.linalg.vector_norm(box_criticality(g, lower, upper)))
    g_norm = float(torch.linalg.vector_norm(g))
    if not g_norm > 0.0:
        return 0.0
    eta = cg_rtol if cg_rtol is not None else min(0.5, chi ** 0.5)
    return eta * chi / g_norm

"""How well the coarse levels of a hierarchy represent the finest one at a point.

Two numbers per level ``l`` at the fine iterate ``x₀`` (problems.md §B, "level
consistency"):

* the transfer error ``‖x₀ − P_{0←l} Π_{l←0} x₀‖ / ‖x₀‖``, where ``Π_{l←0}`` projects
  down ``l`` levels and ``P_{0←l}`` prolongates back up. It is measured on the
  parameters the transfers move (the stacked block parameters of a depth hierarchy;
  the shared opening layer and classifier are copied exactly and would only dilute
  it); zero when ``x₀`` lies in the range of ``P``, e.g. block weights constant or
  piecewise linear in time on the coarse nodes;
* the coarse model's value ``f_l(Π_{l←0} x₀)``, to be compared with ``f₀(x₀)``: for
  levels that discretise the same ODE with smooth weights it converges to ``f₀`` as
  ``O(h_l)``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from ml2bench.hierarchy.base import Hierarchy, Params
from ml2bench.parameters import copy_params_into


def moved_mask(transfer, count: int) -> list[bool]:
    """Which parameters ``transfer`` changes (``stacked`` of a depth transfer; else all)."""
    return list(getattr(transfer, "stacked", [True] * count))


def projections(hierarchy: Hierarchy, x0: Sequence[torch.Tensor]) -> list[Params]:
    """``[x₀, Π x₀, Π Π x₀, …]``: the fine point projected down every level."""
    points = [[t.detach().clone() for t in x0]]
    for transfer in hierarchy.transfers:
        points.append([t.detach() for t in transfer.project(points[-1])])
    return points


def transfer_errors(hierarchy: Hierarchy, x0: Sequence[torch.Tensor]) -> list[float]:
    """Per level: ``‖x₀ − P_{0←l} Π_{l←0} x₀‖ / ‖x₀‖`` on the moved parameters (0 at level 0)."""
    x0 = [t.detach() for t in x0]
    mask = moved_mask(hierarchy.transfers[0], len(x0)) if hierarchy.transfers else []
    norm = math.sqrt(sum(float(t.double().pow(2).sum()) for t, m in zip(x0, mask) if m))
    errors = [0.0]
    for level, point in enumerate(projections(hierarchy, x0)[1:], start=1):
        for transfer in reversed(hierarchy.transfers[:level]):
            point = [t.detach() for t in transfer.prolong(point)]
        diff = sum(float((a.double() - b.double()).pow(2).sum())
                   for a, b, m in zip(x0, point, mask) if m)
        errors.append(math.sqrt(diff) / norm if norm > 0 else 0.0)
    return errors


def level_values(hierarchy: Hierarchy, x0: Sequence[torch.Tensor],
                 value: Callable[[nn.Module], float]) -> list[float]:
    """Per level: ``f_l(Π_{l←0} x₀)``, with ``value(model)`` evaluating ``f_l``.

    The level models are loaded with the projected points (level 0 with ``x₀``).
    """
    values = []
    for level, point in zip(hierarchy.levels, projections(hierarchy, x0)):
        copy_params_into(level.model, point)
        values.append(float(value(level.model)))
    return values

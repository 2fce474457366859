"""Builders of hierarchies for the problem families.

Coarse models are not initialised independently: their parameters are the projection
``Π`` of the finest model's, so every level starts from the same function.
Costs are measured with the FLOP counter on a sample batch of the training data (once
per problem, version, parameters and device type: they are cached on disk, see
:mod:`ml2bench.hierarchy.cost_cache`).
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from ml2bench.hierarchy.base import Hierarchy, Level
from ml2bench.parameters import copy_params_into
from ml2bench.hierarchy import cost
from ml2bench.hierarchy.cost import Objective
from ml2bench.hierarchy.depth import DepthTransfer, coarse_depths


def build_hierarchy(models: Sequence[nn.Module], transfers: Sequence, objective: Objective,
                    sample_batch: tuple, infos: Sequence[dict]) -> Hierarchy:
    """Project the finest parameters down the levels, measure costs, assemble."""
    for fine, coarse, transfer in zip(models[:-1], models[1:], transfers):
        copy_params_into(coarse, transfer.project(list(fine.parameters())))
    costs = cost.level_costs(models, objective, sample_batch)
    levels = [Level(model, cost, dict(info)) for model, cost, info in zip(models, costs, infos)]
    return Hierarchy(levels, list(transfers))


def depth_hierarchy(make_model: Callable[[int], nn.Module], finest_blocks: int,
                    num_levels: int, centering: str, objective: Objective,
                    sample_batch: tuple, restriction_scale: float = 1.0) -> Hierarchy:
    """Depth hierarchy of a ResNet-ODE: ``make_model(K)`` builds a model with ``K`` blocks."""
    depths = coarse_depths(finest_blocks, num_levels, centering)
    models = [make_model(k) for k in depths]
    stacked = models[0].stacked()
    transfers = [DepthTransfer(stacked, centering, restriction_scale) for _ in depths[1:]]
    infos = [{"blocks": k, "h": models[i].h} for i, k in enumerate(depths)]
    return build_hierarchy(models, transfers, objective, sample_batch, infos)

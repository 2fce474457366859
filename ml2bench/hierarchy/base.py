"""Levels, transfers and hierarchies (PyAMG convention: ``levels[0]`` is the finest).

A :class:`Hierarchy` is a plain list of :class:`Level` objects plus the
:class:`Transfer` between each pair of consecutive levels. Transfers act on parameter
lists (one tensor per model parameter, in ``model.parameters()`` order):

* ``prolong`` (P): coarse correction -> fine correction;
* ``restrict`` (R): fine gradient -> coarse gradient, with ``R = c Pᵀ``;
* ``project`` (Π): fine iterate -> initial coarse iterate.

Invariants (tested for every transfer): ``project(prolong(x)) == x`` when
``project_inverts_prolong`` and ``<R g, v> = c <g, P v>`` with ``c = adjoint_scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import torch
from torch import nn

Params = list[torch.Tensor]


@dataclass(frozen=True)
class LevelCost:
    """Measured cost of evaluations on a level, relative to one fine gradient.

    Each entry is ``FLOPs(kind on level l, batch b) / FLOPs(forward+backward on level 0,
    batch b)``, measured with :class:`torch.utils.flop_counter.FlopCounterMode`.

    ``hvp`` is a Hessian-vector product that linearises the gradient (forward, backward
    with ``create_graph``, one double backward); ``hvp_more`` a further product through
    that linearisation (one double backward, :mod:`ml2bench.hessian`). Left out (or
    NaN), ``hvp_more`` is taken equal to ``hvp``.
    """

    forward: float
    grad: float
    hvp: float
    hvp_more: float = math.nan

    def __post_init__(self) -> None:
        if math.isnan(self.hvp_more):
            object.__setattr__(self, "hvp_more", self.hvp)

    def of(self, kind: str) -> float:
        """Relative cost of the evaluation kind ``"forward"``, ``"grad"``, ``"hvp"`` or
        ``"hvp_more"``."""
        return getattr(self, kind)


@dataclass
class Level:
    """One level of a hierarchy: its model, measured cost and a description.

    ``info`` holds what ``ml2bench describe`` prints besides the cost (e.g. blocks, h).
    """

    model: nn.Module
    cost: LevelCost
    info: dict = field(default_factory=dict)

    @property
    def num_parameters(self) -> int:
        """Number of scalar parameters of the level's model."""
        return sum(p.numel() for p in self.model.parameters())


class Transfer(Protocol):
    """Linear maps between a fine level ``l`` and the coarse level ``l + 1``."""

    adjoint_scale: float
    project_inverts_prolong: bool

    def prolong(self, coarse: Sequence[torch.Tensor]) -> Params:
        """``P``: coarse parameters (or a correction) to the fine level."""

    def restrict(self, fine: Sequence[torch.Tensor]) -> Params:
        """``R``: fine gradients (dual quantities) to the coarse level."""

    def project(self, fine: Sequence[torch.Tensor]) -> Params:
        """``Π``: a fine iterate to the initial coarse iterate."""


@dataclass
class Hierarchy:
    """Levels (finest first) and the transfers between consecutive levels."""

    levels: list[Level]
    transfers: list[Transfer] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.transfers) != len(self.levels) - 1:
            raise ValueError("a hierarchy of L levels needs L - 1 transfers")

    def __len__(self) -> int:
        return len(self.levels)

    @property
    def finest(self) -> Level:
        """Level 0, the finest."""
        return self.levels[0]

    def truncated(self, num_levels: int) -> "Hierarchy":
        """The hierarchy restricted to its ``num_levels`` finest levels."""
        return Hierarchy(self.levels[:num_levels], self.transfers[: num_levels - 1])

    def table(self) -> list[dict]:
        """One row per level: index, description, parameters and relative costs."""
        rows = []
        for index, level in enumerate(self.levels):
            rows.append({"level": index, **level.info, "parameters": level.num_parameters,
                         "cost_forward": level.cost.forward, "cost_grad": level.cost.grad,
                         "cost_hvp": level.cost.hvp, "cost_hvp_more": level.cost.hvp_more})
        return rows

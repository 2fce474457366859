"""Depth hierarchy of a ResNet seen as forward Euler of ``dy/dt = F(y, θ(t))``.

Parameters whose leading axis indexes residual blocks (stacked block weights) are
interpolated in time; the others (opening layer, classifier) are shared by all levels
and transferred by the identity. See algorithms.md §1 and Gaedke-Merzhäuser,
Kopaničáková & Krause (2021); Haber & Ruthotto (2018); Chang et al. (2018).

Restriction: ``R = c Pᵀ`` on every parameter with one constant ``c`` (default 1).
The coarse network evaluated at ``z`` approximates the fine network at ``P z`` (both
discretise the same ODE), so ``∇f_c ≈ Pᵀ ∇f``: ``c = 1`` is the consistent choice, and
the only one under which shared parameters (restricted by the identity) and block
parameters obey the same ``R ∝ Pᵀ``. ``c = 0.5`` gives the full-weighting stencil
(¼, ½, ¼) on the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ml2bench.hierarchy import interpolation as interp
from ml2bench.hierarchy.base import Params


def coarse_depths(finest: int, num_levels: int, centering: str) -> list[int]:
    """Block counts finest-first: ``K_{l+1} = (K_l + 1) / 2`` (vertex) or ``K_l / 2`` (cell).

    Raises ``ValueError`` if ``finest`` cannot be coarsened ``num_levels - 1`` times.
    """
    depths = [finest]
    for _ in range(num_levels - 1):
        k = depths[-1]
        if centering == "vertex":
            if k % 2 == 0 or k < 3:
                raise ValueError(f"{finest} blocks cannot be coarsened to {num_levels} "
                                 "vertex-centred levels (needs K = 2^m·j + 1)")
            depths.append((k + 1) // 2)
        elif centering == "cell":
            if k % 2 == 1:
                raise ValueError(f"{finest} blocks cannot be coarsened to {num_levels} "
                                 "cell-centred levels (needs K = 2^m·j)")
            depths.append(k // 2)
        else:
            raise ValueError(f"unknown centering {centering!r}; valid: vertex, cell")
    return depths


@dataclass
class DepthTransfer:
    """Transfer over residual blocks between a fine and a coarse ResNet-ODE.

    ``stacked[i]`` says whether parameter ``i`` is indexed by block on its leading axis.
    """

    stacked: Sequence[bool]
    centering: str = "vertex"
    adjoint_scale: float = 1.0

    @property
    def project_inverts_prolong(self) -> bool:
        """``Π P = I``: injection recovers what was prolongated."""
        return True

    def _map(self, values: Sequence[torch.Tensor], block_fn, scale: float = 1.0) -> Params:
        out = []
        for is_stacked, value in zip(self.stacked, values):
            mapped = block_fn(value) if is_stacked else value.clone()
            out.append(mapped * scale if scale != 1.0 else mapped)
        return out

    def prolong(self, coarse: Sequence[torch.Tensor]) -> Params:
        """``P``: block parameters interpolated linearly in time (shared layers copied)."""
        fn = interp.vertex_prolong if self.centering == "vertex" else interp.cell_prolong
        return self._map(coarse, fn)

    def restrict(self, fine: Sequence[torch.Tensor]) -> Params:
        """``R = c Pᵀ`` with ``c = adjoint_scale`` (shared layers copied)."""
        fn = (interp.vertex_prolong_adjoint if self.centering == "vertex"
              else interp.cell_prolong_adjoint)
        return self._map(fine, fn, self.adjoint_scale)

    def project(self, fine: Sequence[torch.Tensor]) -> Params:
        """``Π``: injection at the coarse time nodes (vertex) or averaging (cell)."""
        fn = interp.vertex_inject if self.centering == "vertex" else interp.cell_average
        return self._map(fine, fn)

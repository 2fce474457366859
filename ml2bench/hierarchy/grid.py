"""Geometric grid transfer for 1D problems with zero Dirichlet boundaries.

Fine grid: ``n_f = 2 n_c + 1`` interior points. ``P`` is linear interpolation (coarse
point ``j`` sits at fine point ``2j + 1``), ``R = ½ Pᵀ`` is full weighting
(¼, ½, ¼) and Π is injection, so ``Π P = I`` and ``R A_h P = A_{2h}`` for the 1D
Laplacian ``A_h = tridiag(−1, 2, −1)/h²`` (Briggs, Henson & McCormick, *A Multigrid
Tutorial*, 2nd ed., SIAM 2000, §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ml2bench.hierarchy import interpolation as interp
from ml2bench.hierarchy.base import Params


def coarse_sizes(finest: int, num_levels: int) -> list[int]:
    """Interior point counts finest-first, ``n_{l+1} = (n_l - 1) / 2``."""
    sizes = [finest]
    for _ in range(num_levels - 1):
        n = sizes[-1]
        if n % 2 == 0 or n < 3:
            raise ValueError(f"n={finest} cannot be coarsened to {num_levels} levels "
                             "(needs n = 2^k - 1)")
        sizes.append((n - 1) // 2)
    return sizes


@dataclass
class GridTransfer:
    """Linear interpolation / full weighting / injection on a vector of grid values."""

    adjoint_scale: float = 0.5

    @property
    def project_inverts_prolong(self) -> bool:
        """``Π P = I``: injection recovers what was prolongated."""
        return True

    def prolong(self, coarse: Sequence[torch.Tensor]) -> Params:
        """``P``: linear interpolation with homogeneous Dirichlet boundary values."""
        return [interp.vertex_prolong(interp.pad_dirichlet(c))[1:-1] for c in coarse]

    def restrict(self, fine: Sequence[torch.Tensor]) -> Params:
        """``R = ½ Pᵀ`` (full weighting), so that ``R A_h P = A_2h``."""
        return [self.adjoint_scale * interp.vertex_prolong_adjoint(interp.pad_dirichlet(f))[1:-1]
                for f in fine]

    def project(self, fine: Sequence[torch.Tensor]) -> Params:
        """``Π``: injection at the coarse grid points."""
        return [f[1::2].clone() for f in fine]


@dataclass
class GridTransfer2D:
    """The tensor product of :class:`GridTransfer` on an ``n × n`` grid stored flat.

    Each parameter is a flat vector of ``n²`` grid values (row-major, zero Dirichlet
    boundary), ``n_f = 2 n_c + 1``. ``P`` is bilinear interpolation (the 1D linear
    interpolation along both axes), ``R = ¼ Pᵀ`` is 2D full weighting and Π injection,
    so ``Π P = I`` (Briggs, Henson & McCormick 2000, §3 and §5).
    """

    adjoint_scale: float = 0.25

    @property
    def project_inverts_prolong(self) -> bool:
        """``Π P = I``: injection recovers what was prolongated."""
        return True

    @staticmethod
    def _side(v: torch.Tensor) -> int:
        n = int(round(v.numel() ** 0.5))
        if n * n != v.numel():
            raise ValueError(f"a 2D grid vector needs n² entries, got {v.numel()}")
        return n

    @staticmethod
    def _along_both(grid: torch.Tensor, kernel) -> torch.Tensor:
        once = kernel(interp.pad_dirichlet(grid))[1:-1]
        return kernel(interp.pad_dirichlet(once.T))[1:-1].T

    def prolong(self, coarse: Sequence[torch.Tensor]) -> Params:
        """``P``: bilinear interpolation with homogeneous Dirichlet boundary values."""
        return [self._along_both(c.reshape(self._side(c), -1), interp.vertex_prolong).reshape(-1)
                for c in coarse]

    def restrict(self, fine: Sequence[torch.Tensor]) -> Params:
        """``R = ¼ Pᵀ`` (2D full weighting)."""
        return [self.adjoint_scale * self._along_both(
            f.reshape(self._side(f), -1), interp.vertex_prolong_adjoint).reshape(-1) for f in fine]

    def project(self, fine: Sequence[torch.Tensor]) -> Params:
        """``Π``: injection at the coarse grid points."""
        return [f.reshape(self._side(f), -1)[1::2, 1::2].reshape(-1).clone() for f in fine]

"""One-dimensional interpolation kernels along the leading axis of a tensor.

These are the stencils behind both the depth hierarchy of ResNets (interpolation in
time over residual blocks) and the grid hierarchy of the 1D Poisson problem.

Vertex-centred (``n_f = 2 n_c - 1``): fine ``2j`` = coarse ``j``, fine ``2j+1`` =
½(coarse ``j`` + coarse ``j+1``); its adjoint ``Pᵀ`` gives coarse ``j`` = fine ``2j``
+ ½ fine ``2j-1`` + ½ fine ``2j+1``. Cell-centred (``n_f = 2 n_c``): piecewise
constant copy; adjoint = sum of each pair (Chang et al., ICLR 2018).
"""

from __future__ import annotations

import torch


def vertex_prolong(coarse: torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``P`` from ``n_c`` to ``2 n_c - 1`` points."""
    n_c = coarse.shape[0]
    fine = coarse.new_empty((2 * n_c - 1, *coarse.shape[1:]))
    fine[0::2] = coarse
    fine[1::2] = 0.5 * (coarse[:-1] + coarse[1:])
    return fine


def vertex_prolong_adjoint(fine: torch.Tensor) -> torch.Tensor:
    """``Pᵀ`` of :func:`vertex_prolong` (``n_f`` odd -> ``(n_f + 1) / 2`` points)."""
    if fine.shape[0] % 2 == 0:
        raise ValueError("vertex-centred restriction needs an odd number of points")
    coarse = fine[0::2].clone()
    coarse[:-1] += 0.5 * fine[1::2]
    coarse[1:] += 0.5 * fine[1::2]
    return coarse


def vertex_inject(fine: torch.Tensor) -> torch.Tensor:
    """Injection Π: coarse ``j`` = fine ``2j`` (left inverse of :func:`vertex_prolong`)."""
    return fine[0::2].clone()


def cell_prolong(coarse: torch.Tensor) -> torch.Tensor:
    """Piecewise-constant prolongation: each coarse entry copied to two fine entries."""
    return coarse.repeat_interleave(2, dim=0)


def cell_prolong_adjoint(fine: torch.Tensor) -> torch.Tensor:
    """``Pᵀ`` of :func:`cell_prolong`: the sum of each pair."""
    return fine[0::2] + fine[1::2]


def cell_average(fine: torch.Tensor) -> torch.Tensor:
    """Π for cell-centred hierarchies: the average of each pair."""
    return 0.5 * (fine[0::2] + fine[1::2])


def pad_dirichlet(interior: torch.Tensor) -> torch.Tensor:
    """Add the zero boundary values at both ends of the leading axis."""
    zero = interior.new_zeros((1, *interior.shape[1:]))
    return torch.cat([zero, interior, zero])

r"""Kernels of the monotone multigrids (``mmg``, ``tnnmg``): projected Gauss–Seidel,
monotone restriction of obstacles, Galerkin coarse matrices, one V-cycle.

All act on the algebraic form of a bound-constrained quadratic
``min ½xᵀAx − bᵀx, x ≥ ψ`` (:class:`~ml2bench.problems.obstacle.QuadraticObstacle`) in
NumPy/SciPy float64. Level ``l+1`` is linked to level ``l`` by the hierarchy's
prolongation ``P_l`` (probed once as a sparse matrix,
:func:`~ml2bench.solvers.rmtr_regions.transfer_matrix`); coarse matrices are Galerkin
products ``A_{l+1} = P_lᵀ A_l P_l`` (Kornhuber's nested finite element spaces), so the
energy of a coarse correction ``w`` is exactly the change of the fine energy:
``J(v + P w) − J(v) = ½wᵀA_{l+1}w − (P_lᵀ(b − Av))ᵀw``.

**Projected Gauss–Seidel** (Cryer 1971; Glowinski, Lions & Trémolières 1981): for each
unknown in turn, the exact minimiser of the energy along that coordinate, projected:
``x_i ← max(ψ_i, x_i + (b − Ax)_i / a_ii)``. Unknowns are visited in **multicolour
order** (2 colours in 1D, 4 in 2D, by the parity of their grid indices): unknowns of one
colour are not coupled by the 3-point, 5-point or the Galerkin 9-point stencils, so
updating one colour at once is exactly sequential Gauss–Seidel in that ordering
(checked when a level is built). Every update is a 1D energy minimisation, so the energy
never increases, and the projection keeps ``x ≥ ψ`` exactly in floating point.

**Monotone restriction** (Kornhuber 1994, §3; Mandel 1984): a fine correction must
satisfy ``v ≥ d = ψ − x ≤ 0``. The coarse obstacle

.. math:: \psi_{l+1}(p) = \max_{q:\ (P_l)_{qp} \ne 0} d(q)

keeps every prolongated coarse correction feasible: ``P ≥ 0`` with row sums ``≤ 1`` and
``d ≤ 0`` give ``(Pw)_q = Σ_p P_{qp} w_p ≥ d(q) Σ_p P_{qp} ≥ d(q)``.

**Work units.** Every operation is charged to the run's ledger at the level's
FLOP-measured cost (``cost_l``, relative to one fine gradient):

* one (projected) Gauss–Seidel sweep over level ``l``: kind ``sweep``, priced as one
  gradient on level ``l`` — a sweep touches each nonzero of ``A_l`` once (``2·nnz + 3n``
  FLOPs), at most what the gradient's stencil products cost (the problem's energy applies
  ``A`` as a 3-tap/3×3 convolution, forward and backward: ``≈ 36`` FLOPs per point in 2D);
* a residual ``b − A_l v`` or a product ``A v``: kind ``forward`` on level ``l`` (one
  stencil product, what the energy's forward pass costs);
* assembling a Galerkin matrix ``A_{l+1} = P_lᵀA_lP_l``: two gradients on level ``l``
  (two sparse products of ≈ 22 and 40 FLOPs per fine point in 2D);
* transfers ``P``, ``Pᵀ``, the restriction of obstacles and vector updates: not charged,
  as for every multilevel solver in ml2bench (linear in ``n``, no stencil products).

References
----------
R. Kornhuber, *Monotone multigrid methods for elliptic variational inequalities I*,
Numer. Math. 69, 1994, 167–184;
J. Mandel, *A multilevel iterative method for symmetric, positive definite linear
complementarity problems*, Appl. Math. Optim. 11, 1984;
C. W. Cryer, SIAM J. Control 9, 1971 (projected SOR);
C. Gräser, R. Kornhuber, *Multigrid methods for obstacle problems*, J. Comput. Math.
27(1), 2009.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ml2bench.solvers.level_objective import flat_transfers
from ml2bench.solvers.rmtr_regions import transfer_matrix

__all__ = ["GridLevel", "galerkin", "injection_rows", "make_level", "monotone_restriction",
           "projected_gauss_seidel", "prolongation_matrices", "v_cycle"]

#: ``charge(level, kind)``: charge one evaluation of ``kind`` on ``level`` to the ledger.
Charge = Callable[[int, str], None]


@dataclass
class GridLevel:
    """One level's matrix, its inverse diagonal (0 where the diagonal is 0: frozen
    unknowns) and its colour classes with their row blocks."""

    matrix: sp.csr_matrix
    diag_inv: np.ndarray
    colours: list[np.ndarray]
    blocks: list[sp.csr_matrix]


def colour_classes(size: int, dim: int) -> list[np.ndarray]:
    """Indices of each parity colour of an ``size`` (``size × size``, row-major) grid."""
    idx = np.arange(size ** dim)
    if dim == 1:
        return [idx[idx % 2 == c] for c in (0, 1)]
    i, j = idx // size, idx % size
    return [idx[(i % 2 == a) & (j % 2 == b)] for a in (0, 1) for b in (0, 1)]


def make_level(matrix, size: int, dim: int, check: bool = False) -> GridLevel:
    """A :class:`GridLevel` of ``matrix`` on the grid of ``size`` points per direction.

    With ``check``: raise ValueError if one colour's unknowns are coupled (the
    multicolour sweep would then not be Gauss–Seidel).
    """
    matrix = sp.csr_matrix(matrix)
    diag = matrix.diagonal()
    diag_inv = np.divide(1.0, diag, out=np.zeros_like(diag), where=diag != 0)
    colours = colour_classes(size, dim)
    blocks = [matrix[c] for c in colours]
    if check:
        for c, block in zip(colours, blocks):
            inner = block[:, c]
            if (inner - sp.diags(inner.diagonal())).count_nonzero():
                raise ValueError("multicolour ordering couples unknowns of one colour")
    return GridLevel(matrix, diag_inv, colours, blocks)


def projected_gauss_seidel(level: GridLevel, x: np.ndarray, rhs: np.ndarray,
                           lower: np.ndarray | None, sweeps: int, charge: Charge,
                           index: int) -> np.ndarray:
    """``sweeps`` multicolour (projected) Gauss–Seidel sweeps on ``½xᵀAx − rhsᵀx`` from
    ``x`` (not modified), ``x ≥ lower`` (``None``: linear Gauss–Seidel); each sweep is
    charged as kind ``sweep`` on level ``index``."""
    x = x.copy()
    for _ in range(sweeps):
        charge(index, "sweep")
        for idx, block in zip(level.colours, level.blocks):
            update = x[idx] + (rhs[idx] - block @ x) * level.diag_inv[idx]
            x[idx] = update if lower is None else np.maximum(update, lower[idx])
    return x


def monotone_restriction(prolongation: sp.csc_matrix, defect: np.ndarray) -> np.ndarray:
    """``ψ_c(p) = max_{q: P_qp ≠ 0} d(q)`` (``−inf`` for an empty column: a coarse
    function that vanishes on the fine level is unconstrained)."""
    P = sp.csc_matrix(prolongation)
    columns = np.repeat(np.arange(P.shape[1]), np.diff(P.indptr))
    out = np.full(P.shape[1], -np.inf)
    np.maximum.at(out, columns, defect[P.indices])
    return out


def injection_rows(prolongation: sp.csr_matrix) -> np.ndarray:
    """For each coarse node, the fine node it sits on (its column's entry equal to 1:
    nested grids, linear/bilinear interpolation)."""
    P = sp.coo_matrix(prolongation)
    on_node = P.data == 1.0
    rows = np.full(P.shape[1], -1)
    rows[P.col[on_node]] = P.row[on_node]
    if (rows < 0).any():
        raise ValueError("the prolongation does not interpolate at the coarse nodes")
    return rows


def galerkin(prolongation: sp.csr_matrix, matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``Pᵀ A P`` (explicit zeros removed)."""
    coarse = sp.csr_matrix(prolongation.T @ (matrix @ prolongation))
    coarse.eliminate_zeros()
    return coarse


def prolongation_matrices(task, num_levels: int) -> list[sp.csr_matrix]:
    """The hierarchy's ``P_l`` (level ``l+1`` → ``l``) as SciPy CSR matrices, probed
    column by column once (no objective evaluation)."""
    matrices = []
    for transfer, level in zip(flat_transfers(task.hierarchy, num_levels),
                               task.hierarchy.levels[1:num_levels]):
        like = next(level.model.parameters()).detach()
        num_coarse = sum(p.numel() for p in level.model.parameters())
        probed = transfer_matrix(transfer.prolong, num_coarse, like.double())
        num_fine = transfer.prolong(like.new_zeros(num_coarse)).numel()
        matrices.append(sp.csr_matrix((probed.values.cpu().numpy(),
                                       (probed.rows.cpu().numpy(), probed.cols.cpu().numpy())),
                                      shape=(num_fine, num_coarse)))
    return matrices


@dataclass(frozen=True)
class CycleConfig:
    """Smoothing steps of a V-cycle: ``pre``/``post`` sweeps per level, ``coarse``
    sweeps on the coarsest level."""

    pre: int
    post: int
    coarse: int


def v_cycle(levels: list[GridLevel], prolongations: list[sp.csr_matrix], index: int,
            v: np.ndarray, rhs: np.ndarray, lower: np.ndarray | None, config: CycleConfig,
            charge: Charge, skip_pre: bool = False) -> np.ndarray:
    r"""One V-cycle for ``min ½vᵀA_l v − rhsᵀv, v ≥ lower`` from ``v`` on level ``index``.

    Kornhuber (1994)'s monotone multigrid step (``lower`` given) or a linear multigrid
    V-cycle (``lower = None``):

    1. ``pre`` projected Gauss–Seidel sweeps: ``v̄``;
    2. residual ``r = rhs − A v̄``, coarse obstacle ``ψ_c = max_{supp} (lower − v̄)``
       (:func:`monotone_restriction`), coarse problem ``min ½wᵀA_{l+1}w − (Pᵀr)ᵀw,
       w ≥ ψ_c`` solved approximately by one V-cycle from ``w = 0`` (feasible:
       ``ψ_c ≤ 0``); on the coarsest level ``coarse`` sweeps;
    3. ``v = max(v̄ + P w, lower)`` (the max only removes rounding: ``P w ≥ lower − v̄``
       holds in exact arithmetic), then ``post`` sweeps.

    Every sweep and coarse correction lowers the energy or leaves it, so the cycle is
    monotone. ``skip_pre``: the pre-smoothing of level ``index`` was done by the caller
    (the truncated cycle, whose truncation depends on it).
    """
    level = levels[index]
    if index == len(levels) - 1:
        return projected_gauss_seidel(level, v, rhs, lower, config.coarse, charge, index)
    if not skip_pre:
        v = projected_gauss_seidel(level, v, rhs, lower, config.pre, charge, index)
    charge(index, "forward")
    residual = rhs - level.matrix @ v
    P = prolongations[index]  # truncated: rows of contact nodes removed, so the max
    coarse_lower = None if lower is None else monotone_restriction(P, lower - v)  # skips them
    w = v_cycle(levels, prolongations, index + 1, np.zeros(P.shape[1]), P.T @ residual,
                coarse_lower, config, charge)
    v = v + P @ w
    if lower is not None:
        v = np.maximum(v, lower)
    return projected_gauss_seidel(level, v, rhs, lower, config.post, charge, index)


def coarse_levels(fine: sp.csr_matrix, prolongations: list[sp.csr_matrix], sizes: list[int],
                  dim: int, charge: Charge, check: bool = False) -> list[GridLevel]:
    """Levels ``1..L−1`` by Galerkin products from ``fine`` (``P_0`` possibly truncated);
    each assembly charged two gradients on the finer level."""
    levels, matrix = [], fine
    for index, (P, size) in enumerate(zip(prolongations, sizes[1:])):
        charge(index, "grad")
        charge(index, "grad")
        matrix = galerkin(P, matrix)
        levels.append(make_level(matrix, size, dim, check))
    return levels

r"""The coarse trust regions of ``rmtr`` (``region=ball|prolongated|box``).

A coarse level ``l+1`` started from ``z₀ = Πx`` must keep the prolongated step
``P(z − z₀)`` inside the trust region of level ``l``. Three ways:

* ``ball`` (:class:`~ml2bench.solvers.rmtr.Region`, ml2bench version 1): the coarse
  iterates stay in the Euclidean ball ``‖z − z₀‖ ≤ Δ_l/‖P‖``;
* ``prolongated`` (:class:`ProlongatedRegion`; Gratton, Sartenaer & Toint 2008): the
  coarse step is measured in the norm induced by the prolongation to the finest level,
  ``‖z − z₀‖_{l+1} := ‖P_0⋯P_l (z − z₀)‖₂``, and the coarse iterates stay in
  ``‖z − z₀‖_{l+1} ≤ Δ_l``; the level is left once ``(1 − ε)Δ_l`` is reached;
* ``box`` (:class:`BoxRegion`; Gratton, Mouffe, Toint & Weber-Mendonça 2008): ℓ∞
  trust regions; the fine box ``[max(L, x − Δ), min(U, x + Δ)]`` is carried to the
  coarse level as bound constraints with the Gelman–Mandel formula
  (:func:`gelman_mandel_bounds`), so a coarse step that hits its bound in some
  coordinates leaves room in the others.

References
----------
S. Gratton, A. Sartenaer, Ph. L. Toint, SIAM J. Optim. 19(1), 2008 (RMTR, §2–3);
S. Gratton, M. Mouffe, Ph. L. Toint, M. Weber-Mendonça, *A recursive ℓ∞-trust-region
method for bound-constrained nonlinear optimization*, IMA J. Numer. Anal. 28(4), 2008;
E. Gelman, J. Mandel, *On multilevel iterative methods for optimization problems*,
Math. Program. 48, 1990;
A. Kopaničáková, github:zulianp/utopia, ``utopia_RMTR.hpp`` (``delta_termination``,
``level_dependent_norm``), ``utopia_RMTR_inf.hpp`` and
``constraints/utopia_BoxGelmanMandel.hpp``, ``utopia_TRBoundsGelmanMandel.hpp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ml2bench.solvers.tr_subproblem import boundary_tau

__all__ = ["BoxRegion", "ProlongatedRegion", "TransferMatrix", "gelman_mandel_bounds",
           "transfer_matrix"]


@dataclass(frozen=True)
class ProlongatedRegion:
    r"""``‖T(z − anchor)‖₂ ≤ budget`` with ``T = P_0⋯P_{l−1}`` (to the finest level).

    ``anchor=None`` is the finest level (no region); ``to_finest=None`` the identity.
    ``eps`` is the fraction at which the level counts as used up
    (``‖T(z − anchor)‖ ≥ (1 − ε)·budget``, GST 2008; utopia's ``delta_termination``).
    """

    anchor: Tensor | None = None
    budget: float = math.inf
    to_finest: Callable[[Tensor], Tensor] | None = None
    eps: float = 1e-3

    def _finest(self, v: Tensor) -> Tensor:
        return v if self.to_finest is None else self.to_finest(v)

    def used(self, x: Tensor) -> float:
        """``‖T(x − anchor)‖``, the part of the region used so far."""
        return float(torch.linalg.vector_norm(self._finest(x - self.anchor)))

    def reach(self, x: Tensor, radius: float) -> float:
        """Radius of the next step: ``min(Δ, budget − ‖T(x − anchor)‖)``."""
        if self.anchor is None:
            return radius
        return min(radius, self.budget - self.used(x))

    def exhausted(self, x: Tensor) -> bool:
        """Whether ``x`` reached ``(1 − ε)·budget`` (the level is left)."""
        return self.anchor is not None and self.used(x) >= (1.0 - self.eps) * self.budget

    def used_up(self, reach: float, min_radius: float) -> bool:
        """No step left: ``reach ≤ max(Δmin, ε·budget)`` on a coarse level."""
        if self.anchor is None:
            return False
        return reach <= max(min_radius, self.eps * self.budget)

    def cut(self, x: Tensor, step: Tensor) -> float:
        """The largest ``τ ∈ (0, 1]`` with ``‖T(x + τ·step − anchor)‖ ≤ budget``.

        A coarse step is solved in the level's Euclidean norm; where its prolongation
        would leave the region it is cut back to the boundary along its direction.
        """
        if self.anchor is None:
            return 1.0
        base, direction = self._finest(x - self.anchor), self._finest(step)
        if float(torch.linalg.vector_norm(base + direction)) <= self.budget:
            return 1.0
        if not float(torch.linalg.vector_norm(direction)) > 0.0:
            return 1.0
        budget = max(self.budget, float(torch.linalg.vector_norm(base)))
        return min(1.0, boundary_tau(base, direction, budget))

    def coarse(self, anchor: Tensor, budget: float,
               prolong: Callable[[Tensor], Tensor]) -> "ProlongatedRegion":
        """The region of the next coarser level: ``‖T P (z − anchor)‖ ≤ budget``."""
        outer = self._finest
        return ProlongatedRegion(anchor, budget, lambda v: outer(prolong(v)), self.eps)


@dataclass(frozen=True)
class BoxRegion:
    """Bound constraints ``lower ≤ x ≤ upper`` inherited by a level (none on the finest).

    A trust-region step from ``x`` with ℓ∞ radius ``Δ`` is confined to
    ``max(lower − x, −Δ) ≤ s ≤ min(upper − x, Δ)`` (:meth:`step_bounds`).
    """

    lower: Tensor | None = None
    upper: Tensor | None = None

    def step_bounds(self, x: Tensor, radius: float) -> tuple[Tensor, Tensor]:
        """``(ℓ, u)`` with ``ℓ = min(max(L − x, −Δ), 0)``, ``u = max(min(U − x, Δ), 0)``."""
        lo = torch.full_like(x, -radius)
        hi = torch.full_like(x, radius)
        if self.lower is not None:
            lo = torch.clamp(torch.maximum(lo, self.lower - x), max=0.0)
            hi = torch.clamp(torch.minimum(hi, self.upper - x), min=0.0)
        return lo, hi

    def reach(self, x: Tensor, radius: float) -> float:
        """``min(Δ, largest room left in any coordinate)`` (``Δ`` on the finest level)."""
        if self.lower is None:
            return radius
        room = torch.maximum(self.upper - x, x - self.lower)
        return min(radius, float(room.max()))

    def used_up(self, reach: float, min_radius: float) -> bool:
        """No coordinate has more than ``Δmin`` of room (coarse levels only)."""
        return self.lower is not None and reach <= min_radius

    def clip(self, x: Tensor) -> Tensor:
        """``x`` clamped into ``[lower, upper]``: a step within :meth:`step_bounds` keeps
        ``x + s`` inside in exact arithmetic; this removes the rounding of ``x + (L − x)``
        so that an iterate never violates a bound in floating point."""
        if self.lower is None:
            return x
        return torch.minimum(torch.maximum(x, self.lower), self.upper)


@dataclass(frozen=True)
class TransferMatrix:
    """The prolongation ``P`` of a flat transfer as a sparse (COO) matrix.

    ``rows``/``cols``/``values`` are the nonzeros, ``inf_norm = ‖P‖∞`` (largest absolute
    row sum), ``nonnegative`` whether all entries are ``≥ 0``.
    """

    rows: Tensor
    cols: Tensor
    values: Tensor
    num_coarse: int
    inf_norm: float
    nonnegative: bool


def transfer_matrix(prolong: Callable[[Tensor], Tensor], num_coarse: int, like: Tensor,
                    chunk_elements: int = 2 ** 22) -> TransferMatrix:
    """Probe ``P`` column by column (``P e_j``; batched with ``torch.func.vmap``).

    Costs ``num_coarse`` prolongations (no objective evaluation; 0.06 s for 2181 coarse
    parameters on one CPU thread), done once per transfer: fine for the toy and PINN
    problems, not practical for ~10⁶ coarse parameters. ``like`` fixes dtype and device.
    """
    rows, cols, values = [], [], []
    num_fine = None
    start = 0
    while start < num_coarse:
        if num_fine is None:
            num_fine = prolong(torch.zeros(num_coarse, dtype=like.dtype,
                                           device=like.device)).numel()
        size = max(1, min(num_coarse - start, chunk_elements // max(num_fine, 1)))
        eye = torch.zeros(size, num_coarse, dtype=like.dtype, device=like.device)
        eye[torch.arange(size), torch.arange(start, start + size)] = 1.0
        try:
            block = torch.func.vmap(prolong)(eye)
        except Exception:  # a transfer that vmap cannot trace: one column at a time
            block = torch.stack([prolong(e) for e in eye])
        col, row = torch.nonzero(block, as_tuple=True)
        rows.append(row)
        cols.append(col + start)
        values.append(block[col, row])
        start += size
    rows, cols, values = torch.cat(rows), torch.cat(cols), torch.cat(values)
    row_sums = torch.zeros(num_fine, dtype=like.dtype, device=like.device)
    row_sums.index_add_(0, rows, values.abs())
    return TransferMatrix(rows, cols, values, num_coarse, float(row_sums.max()),
                          bool((values >= 0).all()))


def gelman_mandel_bounds(matrix: TransferMatrix, anchor: Tensor, lower_room: Tensor,
                         upper_room: Tensor) -> BoxRegion:
    r"""Coarse bounds that keep every prolongated step inside the fine box.

    For a fine box ``b ≤ s ≤ a`` (``b ≤ 0 ≤ a``, the room left around the fine iterate)
    and ``P ≥ 0`` (Gelman & Mandel 1990; GMTW 2008, §2.2):

    .. math::

        L_j = z_{0,j} + \frac{1}{\|P\|_\infty}\max_{t:\,P_{tj}\ne0} b_t,\qquad
        U_j = z_{0,j} + \frac{1}{\|P\|_\infty}\min_{t:\,P_{tj}\ne0} a_t,

    so that ``L ≤ z ≤ U`` implies ``b ≤ P(z − z₀) ≤ a``: row ``t`` gives
    ``(P e)_t ≤ Σ_j P_tj U_j ≤ a_t Σ_j P_tj/‖P‖∞ ≤ a_t`` (and likewise below). If ``P``
    has negative entries the symmetric room ``min(a_t, −b_t)`` is used on both sides.
    A coarse variable that does not reach the fine level (empty column) is fixed.
    utopia's ``TRBoundsGelmanMandel`` uses the scalar version (the extreme over all
    ``t``); the componentwise one leaves room in the coordinates away from the bound.
    """
    a, b = upper_room, lower_room
    if not matrix.nonnegative:
        a = torch.minimum(a, -b)
        b = -a
    inf = torch.full((matrix.num_coarse,), math.inf, dtype=a.dtype, device=a.device)
    upper = inf.scatter_reduce(0, matrix.cols, a[matrix.rows], reduce="amin")
    lower = (-inf).scatter_reduce(0, matrix.cols, b[matrix.rows], reduce="amax")
    upper = torch.where(torch.isfinite(upper), upper, torch.zeros_like(upper))
    lower = torch.where(torch.isfinite(lower), lower, torch.zeros_like(lower))
    scale = 1.0 / matrix.inf_norm
    return BoxRegion(anchor + scale * lower, anchor + scale * upper)

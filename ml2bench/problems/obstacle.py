r"""``obstacle_poisson1d`` / ``obstacle_poisson2d``: the obstacle problem, a convex
bound-constrained sanity problem (the classical benchmark of monotone multigrid).

Minimise the discrete Dirichlet energy above an obstacle,

.. math:: \min_x\ f(x) = \tfrac12 x^\top A x - b^\top x
          \quad\text{s.t.}\quad x \ge \psi,

``A = −Δ_h`` the finite-difference Laplacian on ``n`` (1D) or ``n × n`` (2D, row-major)
interior points of the unit interval/square with zero Dirichlet values, ``h = 1/(n+1)``,
``b_i = f(x_i)`` with ``f = 0`` and the concave obstacle
``ψ(x) = c − k|x − m|²`` (``m`` the centre; ``c = height``, ``k = curvature``). The
bound is a property of the task (``task.lower = [ψ]``); solvers that cannot keep
iterates feasible refuse it.

**Hierarchy.** Grid coarsening ``n_{l+1} = (n_l − 1)/2`` with the existing transfers
(:class:`~ml2bench.hierarchy.grid.GridTransfer`, its tensor product
:class:`~ml2bench.hierarchy.grid.GridTransfer2D` in 2D); coarse levels rediscretise the
energy (``ψ`` and ``f`` sampled on the coarse grid). ``levels = 0`` coarsens down to 3
points per direction, so the coarsest grid does not change with ``n`` (what mesh
independence needs). The energy applies ``A`` as a 3-tap (3 × 3) convolution, so the
FLOP counter measures the level costs (``cost_l ≈ 2^{−dl}``).

**References.** 1D: the exact continuous solution is known in closed form
(:func:`~ml2bench.problems.obstacle_reference.exact_solution_1d`), used to measure the
discretisation error; the discrete minimiser ``x*`` (the reference of the metrics) is
computed by the primal–dual active set method
(:func:`~ml2bench.problems.obstacle_reference.primal_dual_active_set`) — in 2D cached
with a checksum.

**Metrics** (per checkpoint): ``test_rel_l2 = ‖x − x*‖₂/‖x*‖₂`` (error to the discrete
reference; what tables and plots show), ``test_loss = f(x)``, ``test_gap = f(x) − f*``
and ``test_contact_wrong``, the number of nodes whose contact status
(``x_i − ψ_i ≤ 10⁻⁹``) differs from the reference's; ``test_infeasibility =
max(ψ − x, 0)``. The target is ``test_rel_l2 ≤ target``.

References
----------
R. Kornhuber, *Monotone multigrid methods for elliptic variational inequalities I*,
Numer. Math. 69, 1994 (the obstacle problem as test case);
R. W. Cottle, J.-S. Pang, R. E. Stone, *The Linear Complementarity Problem*, 1992.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ml2bench.errors import UserError
from ml2bench.hierarchy.grid import GridTransfer, GridTransfer2D, coarse_sizes
from ml2bench.labels import Param
from ml2bench.models.vector import VectorModel
from ml2bench.problems.base import Target, Task
from ml2bench.problems.hierarchies import build_hierarchy
from ml2bench.problems.obstacle_reference import (cached_reference, laplacian,
                                                  primal_dual_active_set)
from ml2bench.problems.registry import ProblemFamily, register_family

#: A node is in contact when ``x_i − ψ_i`` is at most this (absolute; ``u = O(1)``).
CONTACT_TOL = 1e-9


def all_levels(n: int) -> int:
    """Levels from ``n = 2^k − 1`` points down to 3: ``k − 1``."""
    levels, m = 1, n
    while m > 3 and m % 2 == 1:
        m, levels = (m - 1) // 2, levels + 1
    return levels


def grid_points(n: int, dim: int) -> np.ndarray:
    """Interior grid coordinates, shape ``(n^dim, dim)`` (row-major)."""
    axis = np.arange(1, n + 1) / (n + 1)
    if dim == 1:
        return axis[:, None]
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def obstacle(points: np.ndarray, height: float, curvature: float) -> np.ndarray:
    """``ψ(x) = c − k|x − ½|²`` at ``points``."""
    return height - curvature * ((points - 0.5) ** 2).sum(axis=1)


class ObstacleEnergy:
    """``½ xᵀAx − bᵀx`` on one level, ``A`` applied as a zero-padded stencil convolution.

    ``A = −Δ_h``: the 3-point stencil ``(−1, 2, −1)/h²`` (1D) or the 5-point stencil in
    a 3 × 3 kernel (2D). The batch is ignored (N = 1).
    """

    def __init__(self, dim: int, rhs: dict[int, torch.Tensor]) -> None:
        self.dim, self.rhs = dim, rhs

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` (flat in, flat out)."""
        n = self.side(x)
        h2 = float(n + 1) ** 2
        if self.dim == 1:
            kernel = x.new_tensor([[[-1.0, 2.0, -1.0]]]) * h2
            return F.conv1d(x.view(1, 1, n), kernel, padding=1).reshape(-1)
        kernel = x.new_tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]) * h2
        return F.conv2d(x.view(1, 1, n, n), kernel.view(1, 1, 3, 3), padding=1).reshape(-1)

    def side(self, x: torch.Tensor) -> int:
        """Points per direction of the grid of ``x``."""
        return x.numel() if self.dim == 1 else int(round(x.numel() ** 0.5))

    def __call__(self, model: VectorModel, batch: tuple) -> torch.Tensor:
        x = model.x
        return 0.5 * torch.dot(x, self.apply(x)) - torch.dot(self.rhs[x.numel()], x)


class ObstacleFamily(ProblemFamily):
    """Shared builder of the 1D and 2D obstacle problems (``dim`` set by subclasses)."""

    dim = 1
    metric = "test_rel_l2"
    params = {
        "n": Param(255, "interior grid points per direction (2^k − 1)", low=3),
        "levels": Param(0, "grid levels (0: coarsen down to 3 points per direction)", low=0),
        "init": Param("random", "initial iterate: max(ψ, U(−1, 1)) or max(ψ, 0)",
                      choices=("random", "zero")),
        "height": Param(1.0, "obstacle ψ = height − curvature·|x − ½|²: height", low=0.0,
                        low_open=True),
        "curvature": Param(5.0, "obstacle curvature (> 4·height: ψ < 0 on the boundary)",
                           low=0.0, low_open=True),
    }

    def sizes(self, values) -> list[int]:
        """Interior points per direction on every level, finest first."""
        levels = values["levels"] or all_levels(values["n"])
        return coarse_sizes(values["n"], levels)

    def num_levels(self, values) -> int:
        return values["levels"] or all_levels(values["n"])

    def check_params(self, name, values):
        try:
            self.sizes(values)
        except ValueError as error:
            raise UserError(f"{name}: {error}") from None
        if not values["curvature"] > 4 * values["height"]:
            raise UserError(f"{name}: curvature={values['curvature']} is invalid, it must "
                            f"exceed 4·height = {4 * values['height']:g} (ψ < 0 on the boundary)")

    def arrays(self, values, n: int) -> tuple:
        """``(A, b, ψ)`` of the ``n``-point level as SciPy/NumPy float64."""
        psi = obstacle(grid_points(n, self.dim), values["height"], values["curvature"])
        return laplacian(n, self.dim), np.zeros(n ** self.dim), psi

    def reference(self, values) -> np.ndarray:
        """The discrete minimiser ``x*`` (PDAS; cached in 2D, keyed by the family and the
        parameters that define it, and by checksums of ``b`` and ``ψ``)."""
        A, b, psi = self.arrays(values, values["n"])
        if self.dim == 1:
            return primal_dual_active_set(A, b, psi)[0]
        key = f"{self.family}_n{values['n']}_c{values['height']:.17g}_k{values['curvature']:.17g}"
        return cached_reference(key, A, b, psi)

    def optimal_loss(self, values):
        """``f* = f(x*)`` of the discrete problem (float64)."""
        A, b, _ = self.arrays(values, values["n"])
        x = self.reference(values)
        return float(0.5 * x @ (A @ x) - b @ x)

    def make_task(self, name, values, seed, device):
        self.check_params(name, values)
        dtype = getattr(torch, values["dtype"])
        to = dict(dtype=dtype, device=device)
        sizes = self.sizes(values)
        n = sizes[0]
        A, b, psi = self.arrays(values, n)
        rhs = {m ** self.dim: torch.as_tensor(self.arrays(values, m)[1], **to) for m in sizes}
        lower = torch.as_tensor(psi, **to)
        generator = torch.Generator().manual_seed(seed)
        start = (torch.rand(n ** self.dim, generator=generator, dtype=dtype) * 2 - 1
                 if values["init"] == "random" else torch.zeros(n ** self.dim, dtype=dtype))
        x0 = torch.maximum(start.to(device), lower)
        models = [VectorModel(x0)] + [VectorModel(torch.zeros(m ** self.dim, **to))
                                      for m in sizes[1:]]
        energy = ObstacleEnergy(self.dim, rhs)
        dummy = (torch.zeros(1, 1, **to),)
        transfer = GridTransfer if self.dim == 1 else GridTransfer2D
        infos = [{"n": m if self.dim == 1 else f"{m}x{m}", "h": 1.0 / (m + 1)} for m in sizes]
        hierarchy = build_hierarchy(models, [transfer() for _ in sizes[1:]], energy, dummy,
                                    infos)
        x_star = torch.as_tensor(self.reference(values), **to)
        with torch.no_grad():
            f_star = float(energy(VectorModel(x_star), dummy))
        contact_star = (x_star - lower) <= CONTACT_TOL

        def test_metrics(model, _test):
            x = model.x.detach()
            value = float(energy(model, dummy))
            contact = (x - lower) <= CONTACT_TOL
            return {"test_loss": value, "test_gap": value - f_star,
                    "test_rel_l2": float(torch.linalg.norm(x - x_star) / torch.linalg.norm(x_star)),
                    "test_contact_wrong": float((contact != contact_star).sum()),
                    "test_infeasibility": float(torch.clamp(lower - x, min=0).max())}

        info = {"exact_minimiser": x_star, "quadratic": QuadraticObstacle(A, b, psi, self.dim,
                                                                          sizes)}
        return Task(problem=name, train=dummy, test=dummy, hierarchy=hierarchy, data_loss=energy,
                    test_metrics=test_metrics, metric=self.metric, batch_size=1,
                    budget=values["budget"], target=Target("test_rel_l2", values["target"]),
                    device=device, dtype=dtype, checkpoint_every=0.0, info=info, lower=[lower])


class QuadraticObstacle:
    """The problem's algebraic form for solvers that need the matrix (Gauss–Seidel).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``A`` of the finest level (float64).
    rhs, lower : ndarray
        ``b`` and ``ψ``.
    dim : int
        1 or 2.
    sizes : list of int
        Points per direction of every level, finest first (the grid of each level).
    """

    def __init__(self, matrix, rhs: np.ndarray, lower: np.ndarray, dim: int,
                 sizes: list[int]) -> None:
        self.matrix, self.rhs, self.lower, self.dim, self.sizes = matrix, rhs, lower, dim, sizes


@register_family
class ObstaclePoisson1D(ObstacleFamily):
    family = "obstacle_poisson1d"
    dim = 1


@register_family
class ObstaclePoisson2D(ObstacleFamily):
    family = "obstacle_poisson2d"
    dim = 2

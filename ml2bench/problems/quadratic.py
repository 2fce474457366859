"""``quadratic_poisson1d``: the 1D Poisson energy, a convex sanity problem.

Minimise ``f(x) = ½ xᵀ A x − bᵀ x`` with ``A = tridiag(−1, 2, −1)/h²``,
``h = 1/(n+1)`` and ``b_i = π² sin(π x_i)`` on the interior grid ``x_i = i h``.
The Hessian ``A`` has the eigenvalues ``λ_k = (4/h²) sin²(kπh/2)``, ``k = 1..n``.
Coarse levels rediscretise the same energy on ``n_c = (n−1)/2`` points, so that
``A_{2h} = R A_h P`` with full weighting ``R = ½Pᵀ`` (Briggs et al. 2000).
The "data set" is a single item, so one gradient is one work unit.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

from ml2bench.errors import UserError
from ml2bench.hierarchy.grid import GridTransfer, coarse_sizes
from ml2bench.labels import Param
from ml2bench.models.vector import VectorModel
from ml2bench.problems.base import Target, Task
from ml2bench.problems.hierarchies import build_hierarchy
from ml2bench.problems.registry import ProblemFamily, register_family


def poisson_matrix(n: int) -> np.ndarray:
    """Dense ``tridiag(−1, 2, −1)/h²`` with ``h = 1/(n+1)``."""
    h = 1.0 / (n + 1)
    return (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)) / h**2


def poisson_rhs(n: int) -> np.ndarray:
    """``b_i = π² sin(π x_i)``, ``x_i = i/(n+1)``."""
    grid = np.arange(1, n + 1) / (n + 1)
    return math.pi**2 * np.sin(math.pi * grid)


def poisson_eigenvalues(n: int) -> np.ndarray:
    """Closed-form spectrum ``(4/h²) sin²(kπh/2)``, ``k = 1..n``, ascending."""
    h = 1.0 / (n + 1)
    k = np.arange(1, n + 1)
    return 4.0 / h**2 * np.sin(k * math.pi * h / 2) ** 2


def exact_minimiser(n: int) -> np.ndarray:
    """``A⁻¹ b`` by a banded solve."""
    h = 1.0 / (n + 1)
    bands = np.zeros((3, n))
    bands[0, 1:] = -1 / h**2
    bands[1, :] = 2 / h**2
    bands[2, :-1] = -1 / h**2
    return scipy.linalg.solve_banded((1, 1), bands, poisson_rhs(n))


class PoissonEnergy:
    """Data loss of one level: ``½ xᵀ A x − bᵀ x`` (the batch is ignored: N = 1)."""

    def __init__(self, matrices: dict[int, torch.Tensor], rhs: dict[int, torch.Tensor]) -> None:
        self.matrices = matrices
        self.rhs = rhs

    def __call__(self, model: VectorModel, batch: tuple) -> torch.Tensor:
        x = model.x
        n = x.shape[0]
        return 0.5 * x @ (self.matrices[n] @ x) - self.rhs[n] @ x


@register_family
class QuadraticPoisson1D(ProblemFamily):
    family = "quadratic_poisson1d"
    metric = "test_rel_l2"
    params = {
        "n": Param(255, "interior grid points (2^k − 1)", low=3),
        "levels": Param(4, "grid levels", low=1),
        "init": Param("random", "initial iterate", choices=("random", "zero")),
    }

    def check_params(self, name, values):
        try:
            coarse_sizes(values["n"], values["levels"])
        except ValueError as error:
            raise UserError(f"{name}: {error}") from None

    def optimal_loss(self, values):
        """``f* = f(A⁻¹b) = −½ bᵀA⁻¹b`` (float64)."""
        n = values["n"]
        return float(-0.5 * poisson_rhs(n) @ exact_minimiser(n))

    def make_task(self, name, values, seed, device):
        n, dtype = values["n"], getattr(torch, values["dtype"])
        self.check_params(name, values)
        sizes = coarse_sizes(n, values["levels"])
        to = dict(dtype=dtype, device=device)
        matrices = {m: torch.as_tensor(poisson_matrix(m), **to) for m in sizes}
        rhs = {m: torch.as_tensor(poisson_rhs(m), **to) for m in sizes}
        generator = torch.Generator().manual_seed(seed)
        x0 = (torch.rand(n, generator=generator, dtype=dtype) * 2 - 1) if values["init"] == "random" \
            else torch.zeros(n, dtype=dtype)
        models = [VectorModel(x0.to(device))] + [VectorModel(torch.zeros(m, **to)) for m in sizes[1:]]
        energy = PoissonEnergy(matrices, rhs)
        dummy = (torch.zeros(1, 1, **to),)
        infos = [{"n": m, "h": 1.0 / (m + 1)} for m in sizes]
        hierarchy = build_hierarchy(models, [GridTransfer() for _ in sizes[1:]], energy, dummy, infos)
        x_star = torch.as_tensor(exact_minimiser(n), **to)

        def test_metrics(model, _test):
            x = model.x.detach()
            return {"test_loss": float(energy(model, dummy)),
                    "test_rel_l2": float(torch.linalg.norm(x - x_star) / torch.linalg.norm(x_star))}

        return Task(problem=name, train=dummy, test=dummy, hierarchy=hierarchy, data_loss=energy,
                    test_metrics=test_metrics, metric=self.metric, batch_size=1,
                    budget=values["budget"], target=Target("grad_norm_rel", values["target"]),
                    device=device, dtype=dtype, checkpoint_every=0.0,
                    info={"exact_minimiser": x_star, "eigenvalues": poisson_eigenvalues(n)})

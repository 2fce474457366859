"""Physics-informed and supervised PDE problems on a dense ResNet-ODE.

Boundary and initial conditions are imposed exactly by length factors (Lagaris et al.,
IEEE TNN 9 (1998)): the network output ``N`` enters through an ansatz ``u = g + ℓ·N``
that satisfies them for every ``N``. The PINN loss is the mean squared PDE residual over
collocation points, divided by the mean square of the forcing where there is one (a
dimensionless relative residual). Test metric: ``test_rel_l2 = ‖u − u*‖₂/‖u*‖₂`` on a
separate fine grid (problems.md §C).

* ``poisson1d``: ``−u'' = f`` on (0,1), ``u* = sin(πx) + 0.1 sin(8πx)``, ``u = x(1−x)N``.
* ``poisson2d``: ``−Δu = 2π² sin(πx) sin(πy)``, ``u* = sin(πx) sin(πy)``,
  ``u = x(1−x)y(1−y)N``.
* ``burgers``: ``u_t + u u_x = ν u_xx``, ``ν = 0.01/π``, ``u(x,0) = −sin(πx)``,
  ``u(±1,t) = 0``; ``u = −sin(πx) + t(1−x²)N``; reference by Cole–Hopf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ml2bench.labels import Param
from ml2bench.problems import generators
from ml2bench.problems.base import Target, Task, chunks
from ml2bench.problems.burgers_reference import burgers_reference_grid
from ml2bench.problems.registry import register_family
from ml2bench.problems.resnet_toy import RESNET_PARAMS, ResNetFamily, resnet_hierarchy

PI = math.pi
NU = 0.01 / math.pi


def derivatives(u: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First derivatives ``∂u/∂x_i`` (columns) and pure second derivatives ``∂²u/∂x_i²``."""
    first = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    second = torch.stack([torch.autograd.grad(first[:, i].sum(), x, create_graph=True)[0][:, i]
                          for i in range(x.shape[1])], dim=1)
    return first, second


@dataclass(frozen=True)
class Equation:
    """A PDE: ansatz with exact constraints, residual, forcing and reference solution."""

    dim: int
    lower: tuple
    upper: tuple
    ansatz: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    residual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    forcing_scale: float
    #: Map from the points to the network's inputs (None: the points themselves) and the
    #: number of inputs it makes (e.g. ``(cos πx, sin πx, t)`` for exact periodicity).
    features: Callable[[torch.Tensor], torch.Tensor] | None = None
    num_features: int = 0

    @property
    def in_features(self) -> int:
        """Inputs of the network."""
        return self.num_features if self.features is not None else self.dim

    def solution(self, model, x: torch.Tensor) -> torch.Tensor:
        """The ansatz ``u`` at points ``x`` for the network ``model``."""
        inputs = x if self.features is None else self.features(x)
        return self.ansatz(x, model(inputs))


def _poisson1d_exact(x):
    return np.sin(PI * x[:, 0]) + 0.1 * np.sin(8 * PI * x[:, 0])


def _poisson1d_forcing(x):
    return PI**2 * torch.sin(PI * x[:, 0]) + 6.4 * PI**2 * torch.sin(8 * PI * x[:, 0])


def _poisson1d_residual(x, u):
    _, second = derivatives(u, x)
    return -second[:, 0] - _poisson1d_forcing(x)


def _poisson2d_residual(x, u):
    _, second = derivatives(u, x)
    forcing = 2 * PI**2 * torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])
    return -second.sum(dim=1) - forcing


def _burgers_residual(x, u):
    first, second = derivatives(u, x)
    return first[:, 1] + u * first[:, 0] - NU * second[:, 0]


EQUATIONS = {
    "poisson1d": Equation(1, (0.0,), (1.0,),
                          lambda x, n: x[:, 0] * (1 - x[:, 0]) * n[:, 0],
                          _poisson1d_residual, forcing_scale=math.sqrt(0.5 * PI**4 * (1 + 6.4**2))),
    "poisson2d": Equation(2, (0.0, 0.0), (1.0, 1.0),
                          lambda x, n: x[:, 0] * (1 - x[:, 0]) * x[:, 1] * (1 - x[:, 1]) * n[:, 0],
                          _poisson2d_residual, forcing_scale=PI**2),
    "burgers": Equation(2, (-1.0, 0.0), (1.0, 1.0),
                        lambda x, n: -torch.sin(PI * x[:, 0]) + x[:, 1] * (1 - x[:, 0]**2) * n[:, 0],
                        _burgers_residual, forcing_scale=1.0),
}


class PinnLoss:
    """Mean squared residual / forcing_scale² at the collocation points of a batch."""

    def __init__(self, equation: Equation) -> None:
        self.equation = equation

    def __call__(self, model, batch):
        x = batch[0].detach().requires_grad_(True)
        u = self.equation.solution(model, x)
        return (self.equation.residual(x, u) ** 2).mean() / self.equation.forcing_scale**2


def collocation_points(equation: Equation, num_points: int) -> np.ndarray:
    """Hammersley points mapped to the domain (interior, deterministic)."""
    if equation.dim == 1:
        unit = ((np.arange(num_points) + 0.5) / num_points)[:, None]
    else:
        unit = generators.hammersley(num_points, equation.dim)
    lower, upper = np.array(equation.lower), np.array(equation.upper)
    return lower + unit * (upper - lower)


def reference_solution(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Test points and reference values on a fine grid."""
    if name == "poisson1d":
        x = np.linspace(0, 1, 1001)[:, None]
        return x, _poisson1d_exact(x)
    if name == "poisson2d":
        g = np.linspace(0, 1, 101)
        xx, yy = np.meshgrid(g, g, indexing="ij")
        x = np.stack([xx.ravel(), yy.ravel()], axis=1)
        return x, np.sin(PI * x[:, 0]) * np.sin(PI * x[:, 1])
    grid = burgers_reference_grid()
    xx, tt = np.meshgrid(grid["x"], grid["t"], indexing="ij")
    return np.stack([xx.ravel(), tt.ravel()], axis=1), np.asarray(grid["u"]).reshape(xx.shape).ravel()


def rel_l2_metrics(predict: Callable[[torch.Tensor], torch.Tensor]):
    """Test metrics ``test_rel_l2`` and ``test_loss`` (mean squared error) for ``predict``."""
    def metrics(model, data):
        x, u_star = data
        with torch.no_grad():
            u = torch.cat([predict(model, xc) for (xc,) in chunks((x,))])
        err = u - u_star
        return {"test_loss": float((err**2).mean()),
                "test_rel_l2": float(torch.linalg.norm(err) / torch.linalg.norm(u_star))}
    return metrics


@register_family
class ResNetPinn(ResNetFamily):
    family = "pinn"
    metric = "test_rel_l2"
    params = {**RESNET_PARAMS,
              "equation": Param("poisson1d", "PDE", choices=tuple(EQUATIONS)),
              "points": Param(256, "collocation points", low=1)}

    def equation_for(self, values) -> Equation:
        """The PDE of a task with parameters ``values``."""
        return EQUATIONS[values["equation"]]

    def reference_for(self, values) -> tuple[np.ndarray, np.ndarray]:
        """Test points and reference values of a task with parameters ``values``."""
        return reference_solution(values["equation"])

    def make_task(self, name, values, seed, device):
        dtype = getattr(torch, values["dtype"])
        equation = self.equation_for(values)
        as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        train = (as_t(collocation_points(equation, values["points"])),)
        x_test, u_test = self.reference_for(values)
        test = (as_t(x_test), as_t(u_test))
        loss = PinnLoss(equation)
        generator = torch.Generator().manual_seed(seed)
        hierarchy = resnet_hierarchy(name, values, equation.in_features, 1, generator, loss,
                                     tuple(t[:64] for t in train), device)
        predict = equation.solution
        return Task(problem=name, train=train, test=test, hierarchy=hierarchy, data_loss=loss,
                    test_metrics=rel_l2_metrics(predict), metric=self.metric,
                    batch_size=values["batch_size"], budget=values["budget"],
                    target=Target(self.metric, values["target"]), reg_weight=values["reg"],
                    loss_needs_grad=True, device=device, dtype=dtype)


def mse(model, batch):
    """Mean squared error of a scalar-output regression."""
    x, y = batch
    return ((model(x)[:, 0] - y) ** 2).mean()


@register_family
class ResNetRegression(ResNetFamily):
    """Supervised fit of ``u* = sin(πx) + 0.1 sin(8πx)`` from seeded uniform samples."""

    family = "regression"
    metric = "test_rel_l2"
    params = {**RESNET_PARAMS, "samples": Param(256, "training samples", low=1)}

    def make_task(self, name, values, seed, device):
        dtype = getattr(torch, values["dtype"])
        rng = np.random.default_rng(seed)
        x_train = rng.uniform(0.0, 1.0, size=(values["samples"], 1))
        as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
        train = (as_t(x_train), as_t(_poisson1d_exact(x_train)))
        x_test, u_test = reference_solution("poisson1d")
        generator = torch.Generator().manual_seed(seed)
        hierarchy = resnet_hierarchy(name, values, 1, 1, generator, mse,
                                     tuple(t[:64] for t in train), device)
        return Task(problem=name, train=train, test=(as_t(x_test), as_t(u_test)),
                    hierarchy=hierarchy, data_loss=mse,
                    test_metrics=rel_l2_metrics(lambda model, x: model(x)[:, 0]),
                    metric=self.metric, batch_size=values["batch_size"], budget=values["budget"],
                    target=Target(self.metric, values["target"]), reg_weight=values["reg"],
                    device=device, dtype=dtype)

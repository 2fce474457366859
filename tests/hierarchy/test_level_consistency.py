"""Level consistency of the depth hierarchies (problems.md §B; issue 10, point 1)."""

from __future__ import annotations

import math

import pytest
import torch

from ml2bench.hierarchy.consistency import level_values, transfer_errors
from ml2bench.models import ode_time
from ml2bench.models.resnet_ode import ResNetODE
from ml2bench.problems.registry import family_class, load_specs, make_task


@pytest.mark.parametrize("centering,blocks", [("vertex", 2), ("vertex", 17), ("cell", 1),
                                              ("cell", 8)])
def test_euler_steps_cover_exactly_zero_to_T(centering, blocks):
    steps = ode_time.euler_steps(5.0, blocks, centering)
    assert len(steps) == blocks
    assert math.fsum(steps) == pytest.approx(5.0, rel=1e-15)


def test_time_derivative_penalty_is_the_quadrature_of_half_the_squared_derivative():
    # θ(t) = c·t on the nodes t_k = k h: ½∫₀ᵀ‖θ'‖² = ½ T ‖c‖², exactly for the difference.
    T, K = 5.0, 17
    h = ode_time.node_spacing(T, K, "vertex")
    c = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    theta = torch.arange(K, dtype=torch.float64)[:, None] * h * c
    value = ode_time.time_derivative_penalty([theta], h)
    assert float(value) == pytest.approx(0.5 * T * float(c @ c), rel=1e-12)
    constant = torch.ones(K, 4, dtype=torch.float64)
    assert float(ode_time.time_derivative_penalty([constant], h)) == 0.0


def _smooth_net(blocks: int) -> ResNetODE:
    """A tanh ResNet-ODE whose weights are smooth, non-constant functions of time."""
    net = ResNetODE(2, 4, 3, blocks, 2.0, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    t = torch.arange(blocks, dtype=torch.float64) * net.h
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 4, generator=g, dtype=torch.float64), torch.randn(4, 4, generator=g,
                                                                             dtype=torch.float64)
    with torch.no_grad():
        net.block_weight.copy_(a + torch.sin(2 * t)[:, None, None] * b)
        net.block_bias.copy_(torch.cos(3 * t)[:, None] * torch.ones(4, dtype=torch.float64))
    return net


def test_level_outputs_converge_to_the_ode_solution_at_first_order():
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    outputs = {k: _smooth_net(k)(x).detach() for k in (9, 17, 33, 65, 129)}
    diffs = [float((outputs[k] - outputs[2 * k - 1]).norm()) for k in (9, 17, 33, 65)]
    ratios = [a / b for a, b in zip(diffs, diffs[1:])]
    assert all(1.8 < r < 2.2 for r in ratios), ratios


def test_level_losses_converge_to_the_fine_loss_at_first_order():
    """Successive differences f_{l+1}(Πx) − f_l(Πx) halve with h for weights smooth in time."""
    task = make_task("peaks_resnet[blocks=257,levels=5,num_points=400,train_size=300,"
                     "dtype=float64]", 0)
    fine = task.model
    t = torch.arange(fine.num_blocks, dtype=torch.float64) * fine.h
    a = torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        fine.block_weight.add_(torch.sin(t)[:, None, None] * 0.5 * a)
        fine.block_bias.add_(torch.cos(2 * t)[:, None] * 0.5)
    x0 = [p.detach().clone() for p in fine.parameters()]
    values = level_values(task.hierarchy, x0, task.full_objective)
    diffs = [b - a for a, b in zip(values, values[1:])]
    ratios = [a / b for a, b in zip(diffs[1:], diffs)]
    assert all(1.8 < r < 2.2 for r in ratios), (values, ratios)


def test_peaks_starts_in_the_range_of_the_prolongation():
    task = make_task("peaks_resnet", 0)
    x0 = [p.detach().clone() for p in task.model.parameters()]
    errors = transfer_errors(task.hierarchy, x0)
    assert len(errors) == 5 and max(errors) <= 0.05
    values = level_values(task.hierarchy, x0, task.full_objective)
    assert max(abs(v - values[0]) for v in values) <= 0.01 * values[0]


def test_version_one_initialisation_is_white_noise_in_time():
    task = make_task("peaks_resnet[quick=true,block_init=independent,init_scale=1.0,"
                     "regularizer=tikhonov]", 0)
    x0 = [p.detach().clone() for p in task.model.parameters()]
    assert transfer_errors(task.hierarchy, x0)[1] > 0.5


def test_every_depth_hierarchy_problem_is_level_consistent_in_its_spec():
    """Every ResNet-ODE problem (a family with the ``regularizer`` parameter) is version ≥ 2
    and states the level-consistent settings in its spec."""
    specs = [s for s in load_specs().values() if "regularizer" in family_class(s.family).params]
    assert {"peaks_resnet", "burgers_pinn", "klein_gordon_pinn", "allen_cahn_pinn",
            "poisson1d_regression", "mnist_resnet", "cifar10_resnet"} <= {s.name for s in specs}
    assert len(specs) == 13  # with spirals_resnet (the depth study's held-out family)
    for spec in specs:
        values = spec.resolve({})
        assert spec.version >= 2, spec.name
        assert values["regularizer"] == "time_derivative", spec.name
        assert values["block_init"] == "smooth", spec.name
        assert values["reg"] > 0 and values["levels"] > 1, spec.name

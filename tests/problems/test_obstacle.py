"""The obstacle problems: specs, bounds, closed-form discretisation order, references."""

import numpy as np
import pytest
import torch

from ml2bench.errors import UserError
from ml2bench.hierarchy.grid import GridTransfer2D
from ml2bench.problems.obstacle import grid_points, obstacle
from ml2bench.problems.obstacle_reference import (cached_reference, checksum, exact_solution_1d,
                                                  kkt_residual, laplacian,
                                                  primal_dual_active_set)
from ml2bench.problems.registry import make_task, resolve_problem


@pytest.mark.parametrize("name,levels", [("obstacle_poisson1d", 7), ("obstacle_poisson2d", 6)])
def test_specs_load_and_coarsen_to_three_points(name, levels):
    spec, _, values = resolve_problem(name)
    assert spec.version == 1 and values["dtype"] == "float64" and values["init"] == "zero"
    assert values["levels"] == 0  # 0: down to 3 points per direction
    from ml2bench.problems.registry import family_of
    assert family_of(spec).num_levels(values) == levels
    quick = resolve_problem(f"{name}[quick=true]")[2]
    assert quick["n"] < values["n"]


def test_bad_sizes_and_obstacles_are_user_errors():
    with pytest.raises(UserError, match="2\\^k - 1"):
        make_task("obstacle_poisson1d[n=64,levels=3]")
    with pytest.raises(UserError, match="curvature"):
        make_task("obstacle_poisson1d[n=15,curvature=3.0]")


@pytest.mark.parametrize("label", ["obstacle_poisson1d[n=31]", "obstacle_poisson2d[n=15]"])
def test_task_declares_its_bounds_and_starts_feasible(label):
    task = make_task(label)
    assert task.has_bounds and task.upper is None
    (lower,) = task.lower
    assert lower.shape == task.model.x.shape
    assert bool((task.model.x >= lower).all())
    assert not make_task("quadratic_poisson1d[n=15]").has_bounds


def test_metrics_measure_the_error_to_the_reference():
    task = make_task("obstacle_poisson1d[n=63]")
    start = task.evaluate()
    assert start["test_rel_l2"] > 0.05 and start["test_contact_wrong"] > 0
    assert start["test_gap"] > 0 and start["test_infeasibility"] == 0.0
    with torch.no_grad():
        task.model.x.copy_(task.info["exact_minimiser"])
    done = task.evaluate()
    assert done["test_rel_l2"] == 0.0 and done["test_contact_wrong"] == 0.0
    assert done["test_gap"] == pytest.approx(0.0, abs=1e-9)


def test_discrete_solution_converges_to_the_closed_form_at_second_order():
    """Max-norm error ≤ 2h² at every n (it oscillates with the position of the free
    boundary between grid points: 0.1–1.2 h² measured) and falls by > 100× from n = 31
    to 1023 — second order, as FD for the 1D obstacle problem."""
    errors = {}
    for n in (31, 63, 127, 255, 511, 1023):
        A, psi = laplacian(n, 1), obstacle(grid_points(n, 1), 1.0, 5.0)
        x, _ = primal_dual_active_set(A, np.zeros(n), psi)
        errors[n] = np.abs(x - exact_solution_1d(grid_points(n, 1)[:, 0], 1.0, 5.0)).max()
        assert errors[n] <= 2.0 / (n + 1) ** 2, errors
    assert errors[1023] < errors[31] / 100, errors


def test_closed_form_is_a_solution():
    """u ≥ ψ, u = ψ on [a, 1 − a], linear off it and C¹ at the free boundary."""
    x = np.linspace(0, 1, 100001)
    u, psi = exact_solution_1d(x, 1.0, 5.0), 1.0 - 5.0 * (x - 0.5) ** 2
    assert (u >= psi - 1e-15).all() and u[0] == 0 and abs(u[-1]) < 1e-15
    slope = np.diff(u) / np.diff(x)
    assert np.abs(np.diff(slope)).max() < 1e-3  # no kink


def test_reference_meets_the_kkt_conditions_and_is_cached_with_a_checksum(tmp_path):
    n = 31
    A, b = laplacian(n, 2), np.zeros(n * n)
    psi = obstacle(grid_points(n, 2), 1.0, 5.0)
    x = cached_reference("test", A, b, psi, tmp_path)
    assert kkt_residual(A, b, psi, x) <= 1e-10
    (path,) = tmp_path.glob("obstacle_v1_test.npz")
    with np.load(path) as data:
        assert str(data["checksum"]) == checksum(x)
    np.savez(path, x=x + 1.0, checksum=np.array(checksum(x)), inputs=np.array("stale"))
    again = cached_reference("test", A, b, psi, tmp_path)  # bad checksum: recomputed
    np.testing.assert_array_equal(again, x)


def test_grid_transfer_2d_invariants():
    t = GridTransfer2D()
    gen = torch.Generator().manual_seed(0)
    coarse = torch.randn(49, generator=gen, dtype=torch.float64)
    fine = torch.randn(225, generator=gen, dtype=torch.float64)
    (pc,) = t.prolong([coarse])
    assert torch.equal(t.project([pc])[0], coarse)
    (rf,) = t.restrict([fine])
    assert float(rf @ coarse) == pytest.approx(0.25 * float(fine @ pc), rel=1e-12)

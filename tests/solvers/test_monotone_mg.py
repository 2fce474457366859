"""Monotone multigrid (``mmg``) and TNNMG: kernels, convergence to the reference,
monotonicity, work units, resumability."""

import numpy as np
import pytest
import scipy.sparse as sp

from ml2bench.solvers.monotone_kernels import (galerkin, make_level, monotone_restriction,
                                               projected_gauss_seidel, prolongation_matrices)
from ml2bench.testing import bind, restore, run_steps, snapshot

LABELS = ["mmg", "mmg[variant=truncated]", "mmg[start=nested]",
          "mmg[variant=truncated,start=nested]", "tnnmg", "tnnmg[start=nested]"]


def ignore(level, kind):
    """A charge that goes nowhere (kernel tests)."""


def sequential_pgs(A, x, b, lower, order):
    """Textbook projected Gauss–Seidel, one unknown at a time in ``order``."""
    A = sp.csr_matrix(A)
    x = x.copy()
    for i in order:
        row = A.getrow(i)
        x[i] = max(lower[i], x[i] + (b[i] - row @ x)[0] / A[i, i])
    return x


def test_multicolour_sweep_is_sequential_projected_gauss_seidel():
    """On the Galerkin 9-point coarse matrix of a 2D problem: the same iterate as the
    unknown-by-unknown sweep in colour order."""
    task, _, _ = bind("obstacle_poisson2d[n=15]", "mmg")
    q = task.info["quadratic"]
    P = prolongation_matrices(task, 2)[0]
    coarse = galerkin(P, q.matrix)
    level = make_level(coarse, 7, 2, check=True)
    rng = np.random.default_rng(0)
    x, b = rng.standard_normal(49), rng.standard_normal(49)
    lower = x - rng.uniform(0, 0.1, 49)
    ours = projected_gauss_seidel(level, x, b, lower, 1, ignore, 0)
    order = np.concatenate(level.colours)
    np.testing.assert_allclose(ours, sequential_pgs(coarse, x, b, lower, order), atol=1e-13)


def test_monotone_restriction_keeps_every_prolongated_correction_feasible():
    task, _, _ = bind("obstacle_poisson2d[n=15]", "mmg")
    P = prolongation_matrices(task, 2)[0]
    rng = np.random.default_rng(1)
    defect = -rng.uniform(0, 1, P.shape[0]) * (rng.uniform(size=P.shape[0]) > 0.3)
    coarse = monotone_restriction(P, defect)
    for _ in range(20):
        w = coarse + rng.uniform(0, 1, P.shape[1])
        assert (P @ w >= defect - 1e-15).all()
    assert (P @ coarse >= defect - 1e-15).all()


@pytest.mark.parametrize("problem,cycles", [("obstacle_poisson1d[n=63]", 12),
                                            ("obstacle_poisson2d[n=31]", 14)])
@pytest.mark.parametrize("label", LABELS)
def test_converges_to_the_reference_monotonically(label, problem, cycles):
    task, solver, _ = bind(problem, label)
    energies = [task.evaluate()["test_loss"]]
    for _ in range(cycles):
        solver.step()
        metrics = task.evaluate()
        energies.append(metrics["test_loss"])
        if metrics["test_rel_l2"] <= 1e-10:
            break
    assert metrics["test_rel_l2"] <= 1e-10, (label, metrics)
    assert metrics["test_contact_wrong"] == 0.0
    scale = abs(energies[-1]) + 1.0
    assert all(b <= a + 1e-12 * scale for a, b in zip(energies, energies[1:])), energies


def test_a_v_cycle_charges_its_sweeps_residuals_and_assemblies():
    """Standard V(1,1) on 3 levels (n = 15 → 7 → 3): 2 sweeps on levels 0 and 1, the
    coarsest level's sweeps, one residual per non-coarsest level, and the Galerkin
    assemblies (two gradients on the finer level, first cycle only)."""
    task, solver, ledger = bind("obstacle_poisson1d[n=15]",
                                "mmg[pre_smooth=1,post_smooth=1,coarse_sweeps=5]")
    solver.step()
    assert [ledger.count("sweep", level) for level in range(3)] == [2, 2, 5]
    assert [ledger.count("forward", level) for level in range(3)] == [1, 1, 0]
    assert [ledger.count("grad", level) for level in range(3)] == [2, 2, 0]
    costs = [level.cost for level in task.hierarchy.levels]
    expected = sum(n * c.grad for n, c in zip([2 + 2, 2 + 2, 5], costs)) + \
        costs[0].forward + costs[1].forward
    assert ledger.work_units == pytest.approx(expected, rel=1e-12)
    solver.step()
    assert ledger.count("grad") == 4  # assembled once


@pytest.mark.parametrize("label", ["mmg[variant=truncated]", "tnnmg", "mmg[start=nested]"])
def test_resumed_run_continues_identically_with_the_same_work(label):
    problem = "obstacle_poisson1d[n=63]"
    task, solver, ledger = bind(problem, label)
    run_steps(solver, 2)
    saved = snapshot(task, solver, ledger)
    run_steps(solver, 2)
    task2, solver2, ledger2 = bind(problem, label)
    restore(task2, solver2, saved, ledger2)
    run_steps(solver2, 2)
    assert np.array_equal(task.model.x.detach().numpy(), task2.model.x.detach().numpy())
    assert ledger2.work_units == pytest.approx(ledger.work_units, rel=1e-12)

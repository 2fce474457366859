"""Bound constraints as a problem property: refusal and feasibility of every iterate.

Every registered solver either refuses a bounded task with the one line
``skip: problem has bound constraints`` or keeps every iterate — and, for the solvers
that evaluate through the oracle, every point it evaluates on the finest level —
within the bounds, exactly in floating point.
"""

import pytest
import torch

from ml2bench.accounting.oracle import Oracle
from ml2bench.problems.registry import make_task
from ml2bench.solvers.base import BOUNDS_SKIP
from ml2bench.solvers.monotone_mg import NEEDS_MATRIX
from ml2bench.solvers.registry import available_solvers, make_solver
from ml2bench.testing import bind

PROBLEMS = ["obstacle_poisson1d[n=31]", "obstacle_poisson2d[n=15]"]
BOUNDED = ["rmtr[region=box]", "rmtr[region=box,subproblem=lsr1]", "pgd", "mmg",
           "mmg[variant=truncated]", "mmg[start=nested]", "tnnmg", "tnnmg[start=nested]",
           "tnnmg[line_search=none]"]


def refusing():
    names = []
    for name in sorted(available_solvers()):
        if not make_solver(name).respects_bounds():
            names.append(name)
    return names


@pytest.mark.parametrize("name", refusing())
def test_solvers_that_cannot_respect_bounds_refuse_with_one_line(name):
    """Before any other check (``supports`` is called before ``init`` by the runner)."""
    task = make_task(PROBLEMS[0])
    assert make_solver(name).supports(task) == (False, BOUNDS_SKIP)


def test_rmtr_refuses_unless_its_region_is_the_box():
    task = make_task(PROBLEMS[0])
    for label in ("rmtr", "rmtr[region=ball]", "rmtr[region=prolongated]"):
        assert make_solver(label).supports(task) == (False, BOUNDS_SKIP)
    task, solver, _ = bind(PROBLEMS[0], "rmtr[region=box]")
    assert solver.supports(task) == (True, "")


def test_monotone_multigrids_refuse_problems_without_their_matrix():
    for label in ("mmg", "tnnmg"):
        task, solver, _ = bind("quadratic_poisson1d[n=15]", label)
        assert solver.supports(task) == (False, NEEDS_MATRIX)


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("label", BOUNDED)
def test_no_iterate_ever_violates_a_bound(label, problem, monkeypatch):
    evaluated = []
    for method in ("loss", "loss_and_grad"):
        original = getattr(Oracle, method)

        def checked(self, batch, level=0, *args, _original=original, **kwargs):
            if level == 0:
                evaluated.append(bool((self.model(0).x.detach() >= lower).all()))
            return _original(self, batch, level, *args, **kwargs)
        monkeypatch.setattr(Oracle, method, checked)
    task, solver, ledger = bind(problem, label)
    (lower,) = task.lower
    assert solver.supports(task) == (True, "")
    before = task.evaluate()["test_loss"]
    for _ in range(8):
        solver.step()
        solver.export_iterate()
        x = task.model.x.detach()
        assert bool((x >= lower).all()), f"{label}: min(x − ψ) = {float((x - lower).min())}"
    assert all(evaluated)
    assert task.evaluate()["test_loss"] < before and ledger.work_units > 0

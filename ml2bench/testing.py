"""Helpers for tests: drive a solver on a task without the runner."""

from __future__ import annotations

import torch

from ml2bench.metrics.ledger import WorkLedger
from ml2bench.metrics.oracle import Oracle
from ml2bench.problems.base import Task
from ml2bench.problems.registry import make_task
from ml2bench.solvers.base import Solver
from ml2bench.solvers.registry import make_solver


def bind(problem: str, solver_label: str, seed: int = 0) -> tuple[Task, Solver, WorkLedger]:
    """Build the task, a fresh ledger and the solver, initialised with ``seed``."""
    task = make_task(problem, seed)
    ledger = WorkLedger([level.cost for level in task.hierarchy.levels], task.num_train)
    solver = make_solver(solver_label)
    solver.init(task, Oracle(task, ledger), torch.Generator().manual_seed(seed))
    return task, solver, ledger


def run_steps(solver: Solver, steps: int) -> list[dict]:
    """``steps`` solver steps; returns their diagnostics."""
    return [solver.step() for _ in range(steps)]


def finest_loss(task: Task, solver: Solver) -> float:
    """Full-data objective of the solver's current iterate on the finest level."""
    solver.export_iterate()
    return task.full_objective(task.model)

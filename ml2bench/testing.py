"""Helpers for tests: drive a solver on a task without the runner."""

from __future__ import annotations

import io

import torch

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.accounting.precision import Precision
from ml2bench.problems.base import Task
from ml2bench.problems.registry import make_task
from ml2bench.solvers.base import Solver
from ml2bench.solvers.registry import make_solver


def bind(problem: str, solver_label: str, seed: int = 0,
         precision: str | None = None) -> tuple[Task, Solver, WorkLedger]:
    """Build the task, a fresh ledger and the solver, initialised with ``seed``; the
    oracle evaluates in ``precision`` (``None``: native; ``bf16``/``fp16``: autocast)."""
    task = make_task(problem, seed)
    ledger = WorkLedger([level.cost for level in task.hierarchy.levels], task.num_train)
    solver = make_solver(solver_label)
    oracle = Oracle(task, ledger, Precision(precision, task.device.type))
    solver.init(task, oracle, torch.Generator().manual_seed(seed))
    return task, solver, ledger


def run_steps(solver: Solver, steps: int) -> list[dict]:
    """``steps`` solver steps; returns their diagnostics."""
    return [solver.step() for _ in range(steps)]


def finest_loss(task: Task, solver: Solver) -> float:
    """Full-data objective of the solver's current iterate on the finest level."""
    solver.export_iterate()
    return task.full_objective(task.model)


def all_params(task: Task) -> list[torch.Tensor]:
    """Copies of the parameters of every level's model, finest first."""
    return [p.detach().clone() for lv in task.hierarchy.levels for p in lv.model.parameters()]


def snapshot(task: Task, solver: Solver, ledger: WorkLedger | None = None) -> bytes:
    """What the runner saves at a checkpoint (solver state, all levels' parameters,
    ledger), serialised with ``torch.save``."""
    buffer = io.BytesIO()
    torch.save({"solver": solver.state_dict(), "params": all_params(task),
                "ledger": ledger.state_dict() if ledger is not None else None}, buffer)
    return buffer.getvalue()


def restore(task: Task, solver: Solver, saved: bytes, ledger: WorkLedger | None = None) -> None:
    """Load a :func:`snapshot` into a freshly bound task/solver (and ledger)."""
    state = torch.load(io.BytesIO(saved), weights_only=False)
    with torch.no_grad():
        params = [p for lv in task.hierarchy.levels for p in lv.model.parameters()]
        for param, value in zip(params, state["params"]):
            param.copy_(value)
    solver.load_state_dict(state["solver"])
    if ledger is not None:
        ledger.load_state_dict(state["ledger"])


#: The problems of :func:`solver_fingerprint`, in order of preference (the first one a
#: solver supports: bound-constrained solvers such as ``mmg`` take the obstacle problem),
#: and the number of steps.
FINGERPRINT_PROBLEMS = ("ellipses_resnet[quick=true]", "obstacle_poisson1d[quick=true]")
FINGERPRINT_STEPS = 3


def fingerprint_problem(label: str) -> str | None:
    """The first of :data:`FINGERPRINT_PROBLEMS` that solver ``label`` supports."""
    for problem in FINGERPRINT_PROBLEMS:
        task, solver, _ = bind(problem, label)
        if solver.supports(task)[0]:
            return problem
    return None


def solver_fingerprint(label: str, problem: str | None = None,
                       steps: int = FINGERPRINT_STEPS, seed: int = 0) -> str | None:
    """SHA-256 of a solver's first ``steps`` steps on ``problem`` (default:
    :func:`fingerprint_problem`): every level's parameters (float64 bytes) and the work
    units after each step; None if the solver supports none of the problems.

    Computed in the portable numerics (:mod:`ml2bench.numerics`), so the same on every
    x86-64-v3 CPU; a change of it means the solver's numbers changed.
    """
    import hashlib

    problem = problem or fingerprint_problem(label)
    if problem is None:
        return None
    task, solver, ledger = bind(problem, label, seed)
    digest = hashlib.sha256()
    for _ in range(steps):
        solver.step()
        solver.export_iterate()
        for param in all_params(task):
            digest.update(param.detach().to(torch.float64).cpu().numpy().tobytes())
        digest.update(repr(ledger.work_units).encode())
    return digest.hexdigest()

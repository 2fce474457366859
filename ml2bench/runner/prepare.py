"""Preparing a run: validate its names and parameters, compute its identity.

:func:`prepare` turns a :class:`~ml2bench.runner.spec.RunSpec` into a
:class:`PreparedRun` — problem and solver resolved, parameters checked against their
declared ranges, the device available, the data present — and computes the
``config_hash`` and ``run_id`` under which its results are stored. Nothing is built
or written: a sweep prepares every run before any starts, so a typo fails fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import torch

from ml2bench.errors import UserError
from ml2bench.flatness.run_metrics import RunMetrics
from ml2bench.problems.registry import ProblemSpec, family_of, resolve_problem
from ml2bench.runner.spec import RunSpec, config_hash, run_id
from ml2bench.runner.threads import default_threads
from ml2bench.solvers.registry import make_solver


@dataclass
class PreparedRun:
    """A validated RunSpec with its identity, ready to execute."""

    spec: RunSpec
    run_id: str
    config_hash: str
    identity_columns: dict
    problem_spec: ProblemSpec
    problem_values: dict

    @property
    def label(self) -> str:
        return f"{self.spec.problem} × {self.spec.solver} (seed {self.spec.seed})"


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (must be available) or ``auto`` (cuda if available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r} was requested but CUDA is not available on this "
                            "machine; use --device cpu or --device auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise UserError(f"unknown device {name!r}; valid devices: cpu, cuda, auto")


def prepare(spec: RunSpec, jobs: int = 1) -> PreparedRun:
    """Validate names and parameters (raises UserError) and compute the run's identity.

    A spec without ``threads`` gets the house policy's count
    (:func:`~ml2bench.runner.threads.default_threads` for ``jobs`` parallel runs), so the
    prepared spec always names the thread count it runs with.
    """
    RunMetrics.parse(spec.metrics)
    if spec.threads is not None and (isinstance(spec.threads, bool)
                                     or not isinstance(spec.threads, int) or spec.threads < 1):
        raise UserError(f"threads must be a positive integer, got {spec.threads!r}")
    problem_spec, _, values = resolve_problem(spec.problem)
    if spec.threads is None:
        spec = replace(spec, threads=default_threads(problem_spec.threads_pay, jobs))
    solver = make_solver(spec.solver)
    resolve_device(spec.device)
    family = family_of(problem_spec)
    family.check_params(problem_spec.name, values)
    family.check_available(problem_spec.name, values)
    identity = spec.identity(problem_spec.version, values, solver.hparams)
    digest = config_hash(identity)
    rid = run_id(spec, digest)
    columns = {"run_id": rid, "config_hash": digest, "problem": problem_spec.name,
               "problem_version": problem_spec.version,
               "problem_params": json.dumps(values, sort_keys=True),
               "solver": solver.name, "solver_label": solver.label,
               "solver_params": json.dumps(solver.hparams, sort_keys=True, default=str),
               "seed": spec.seed}
    return PreparedRun(spec, rid, digest, columns, problem_spec, values)

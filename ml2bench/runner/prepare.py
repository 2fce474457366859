"""Preparing a run: validate its names and parameters, compute its identity.

:func:`prepare` turns a :class:`~ml2bench.runner.spec.RunSpec` into a
:class:`PreparedRun` — problem and solver resolved, parameters checked against their
declared ranges, the device available, the data present — and computes the
``config_hash`` and ``run_id`` under which its results are stored. Nothing is built
or written: a sweep prepares every run before any starts, so a typo fails fast.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

import torch

from ml2bench import numerics
from ml2bench.errors import UserError
from ml2bench.flatness.run_metrics import RunMetrics
from ml2bench.labels import format_label
from ml2bench.problems.registry import ProblemSpec, family_of, resolve_problem
from ml2bench.runner.checkpoint import check_spacing
from ml2bench.runner.spec import PRECISIONS, RunSpec, config_hash, run_id
from ml2bench.runner.threads import default_threads
from ml2bench.solvers.base import Solver
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
    solver: Solver  # constructed (hyperparameters validated), not yet bound to a task

    @property
    def label(self) -> str:
        """``problem × solver (seed s)`` in canonical labels, for progress and failures."""
        columns = self.identity_columns
        return f"{columns['problem_label']} × {columns['solver_label']} (seed {self.spec.seed})"


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


#: RunSpec fields that describe the run itself (not the problem or solver), stored in
#: the ``run_options`` column and used by the leaderboard to tell settings apart.
_NOT_OPTIONS = ("problem", "solver", "seed", "budget", "problem_version", "problem_params",
                "solver_params")


def check_options(spec: RunSpec) -> None:
    """Raise :class:`UserError` for run options out of range (negative caps, NaN...)."""
    def bad(value: Any) -> bool:
        return isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value)

    if bad(spec.seed) or spec.seed < 0 or int(spec.seed) != spec.seed:
        raise UserError(f"seed must be a non-negative integer, got {spec.seed!r}")
    if spec.budget is not None and (bad(spec.budget) or spec.budget <= 0):
        raise UserError(f"--budget must be a positive number of work units, got {spec.budget!r}")
    if spec.max_time is not None and (bad(spec.max_time) or spec.max_time <= 0):
        raise UserError(f"--max-time must be a positive number of seconds, got {spec.max_time!r}")
    if spec.max_epochs is not None and (bad(spec.max_epochs) or spec.max_epochs <= 0):
        raise UserError(f"max_epochs must be a positive number of epochs, got {spec.max_epochs!r}")
    if spec.checkpoint_every is not None and (bad(spec.checkpoint_every)
                                              or spec.checkpoint_every < 0):
        raise UserError("--checkpoint-every must be a number of work units >= 0 (0: after "
                        f"every step), got {spec.checkpoint_every!r}")


#: The problem ``dtype`` of the precisions that are parameter dtypes (and of the float32
#: master weights of the autocast ones).
_PRECISION_DTYPE = {"fp64": "float64", "fp32": "float32", "bf16": "float32", "fp16": "float32"}


def apply_precision(spec: RunSpec, values: dict[str, Any],
                    device: torch.device) -> tuple[RunSpec, dict[str, Any], str]:
    """Canonical precision: ``(spec, problem values, precision column)``.

    ``fp32``/``fp64`` set the problem's ``dtype`` parameter and become ``None`` (native),
    so ``P --precision fp64`` is the run ``P[dtype=float64]``. ``bf16``/``fp16`` keep
    float32 parameters (a float64 problem is converted: autocast does not lower float64)
    and autocast the oracle's evaluations. The column names the precision the run
    evaluates in (``fp32``/``fp64`` for native runs).
    """
    precision = spec.precision
    if precision is not None and precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision is None:
        return spec, values, {"float32": "fp32", "float64": "fp64"}[values["dtype"]]
    values = {**values, "dtype": _PRECISION_DTYPE[precision]}
    if precision in ("fp32", "fp64"):
        return replace(spec, precision=None), values, precision
    if not torch.amp.is_autocast_available(device.type):
        raise UserError(f"--precision {precision} needs autocast, which torch "
                        f"{torch.__version__} does not offer on device {device.type!r}")
    return spec, values, precision


def check_numerics(mode: str | None, device: torch.device) -> str:
    """The run's CPU numerics: ``mode`` checked, None → this process's mode
    (:func:`ml2bench.numerics.current`); ``native`` on a GPU (the mode pins CPU kernels)."""
    if device.type != "cpu":
        return numerics.NATIVE
    mode = numerics.current() if mode is None else mode
    if mode not in numerics.MODES:
        raise UserError(f"unknown numerics {mode!r}; valid: {', '.join(numerics.MODES)}")
    return mode


def canonical_problem_label(problem_spec: ProblemSpec, values: dict[str, Any]) -> str:
    """The shortest label that resolves to ``values``: ``name[quick=true,...]`` or
    ``name[...]`` with the parameters that differ from that baseline (ties: without
    ``quick``). Equal configurations spelled differently get the same label."""
    def differences(base: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k != "quick" and v != base.get(k)}

    plain = differences(problem_spec.resolve({}))
    quick = differences(problem_spec.resolve({"quick": True}))
    if problem_spec.quick and len(quick) < len(plain):
        return format_label(problem_spec.name, {"quick": True, **quick})
    return format_label(problem_spec.name, plain)


def check_solver_on_problem(solver, problem_spec: ProblemSpec, values: dict[str, Any]) -> None:
    """Solver parameters that cannot work on the problem (e.g. ``rmtr[levels=9]`` on a
    3-level problem) fail here, before any run of the sweep starts."""
    levels = family_of(problem_spec).num_levels(values)
    solver.check_problem(levels)


def prepare(spec: RunSpec, jobs: int = 1, remote: bool = False) -> PreparedRun:
    """Validate names, parameters and options (raises UserError) and compute the run's
    identity.

    The identity is canonical: the problem's resolved parameters (spec defaults, quick
    overrides and given values; ``quick`` itself is only a shortcut and left out) with
    ``budget`` set to the budget the run uses, the solver's hyperparameters with
    defaults filled in and types normalised, the canonical labels, the device the run
    uses, and the remaining run options (``max_time``, ``checkpoint_every``,
    ``stop_at_target``, checkpoint metrics), the thread count and a reduced precision
    (:func:`apply_precision`). ``sgd`` and ``sgd[lr=0.1]`` are one run.

    A spec without ``threads`` gets the house policy's count
    (:func:`~ml2bench.runner.threads.default_threads` for ``jobs`` parallel runs), so the
    prepared spec always names the thread count it runs with.

    ``remote``: the run executes on another machine (a SLURM job), so a ``cuda`` device
    is not checked here but on the job's node.
    """
    check_options(spec)
    RunMetrics.parse(spec.metrics)
    if spec.threads is not None and (isinstance(spec.threads, bool)
                                     or not isinstance(spec.threads, int) or spec.threads < 1):
        raise UserError(f"threads must be a positive integer, got {spec.threads!r}")
    problem_spec, _, values = resolve_problem(spec.problem)
    if spec.threads is None:
        spec = replace(spec, threads=default_threads(problem_spec.threads_pay, jobs))
    solver = make_solver(spec.solver)
    device = torch.device(spec.device) if remote and spec.device.startswith("cuda") \
        else resolve_device(spec.device)
    spec, values, precision = apply_precision(spec, values, device)
    spec = replace(spec, numerics=check_numerics(spec.numerics, device))
    family = family_of(problem_spec)
    if spec.budget is not None:
        values = {**values, "budget": float(spec.budget)}
    family.check_params(problem_spec.name, values)
    if values.get("budget") is not None:
        check_spacing(spec.checkpoint_every, float(values["budget"]))
    check_solver_on_problem(solver, problem_spec, values)
    family.check_available(problem_spec.name, values)
    problem_label = canonical_problem_label(problem_spec, values)
    params = {k: v for k, v in values.items() if k != "quick"}
    identity = spec.identity(problem_spec.version, params, solver.hparams)
    identity.update(problem=problem_label, solver=solver.label, budget=values["budget"],
                    device=str(device), solver_version=solver.version)
    digest = config_hash(identity)
    options = {k: v for k, v in identity.items() if k not in _NOT_OPTIONS}
    setting = config_hash({k: v for k, v in identity.items() if k != "seed"})
    rid = run_id(problem_label, solver.label, spec.seed, digest)
    columns = {"run_id": rid, "config_hash": digest, "problem": problem_spec.name,
               "problem_version": problem_spec.version,
               "problem_params": json.dumps(params, sort_keys=True),
               "solver": solver.name, "solver_version": solver.version,
               "solver_label": solver.label,
               "solver_params": json.dumps(solver.hparams, sort_keys=True, default=str),
               "seed": spec.seed, "setting_hash": setting, "problem_label": problem_label,
               "run_options": json.dumps(options, sort_keys=True, default=str),
               "precision": precision}
    return PreparedRun(spec, rid, digest, columns, problem_spec, values, solver)

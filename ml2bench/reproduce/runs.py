"""The runs a claim needs, through the ordinary runner (resumable, cached, any executor).

:func:`claim_specs` turns a scale's configuration into run specs
(:func:`ml2bench.runner.sweep.expand`); :func:`execute` runs them with
:func:`~ml2bench.runner.sweep.run_sweep` into the output folder, so that a second
``reproduce`` skips what is finished and resumes what was interrupted; :func:`collect`
reads each run's rows back from the results store by its run id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml2bench.reproduce.manifest import Claim
from ml2bench.runner.executors import as_executor
from ml2bench.runner.prepare import prepare
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import SweepReport, expand, run_sweep


@dataclass
class Run:
    """One run of a claim: the problem and solver as the manifest writes them, the
    solver's name, the seed and its results rows (None if it did not finish)."""

    problem: str
    solver: str
    name: str
    seed: int
    rows: pd.DataFrame | None


def claim_specs(claim: Claim, scale: str, device: str = "cpu") -> list:
    """The run specs of ``claim`` at ``scale`` (problems × solvers × seeds) on ``device``."""
    config = claim.scales[scale]
    return expand(config.problems, config.solvers, config.seeds, budget=config.budget,
                  device=device,
                  checkpoint_every=config.checkpoint_every, max_time=config.max_time,
                  max_epochs=config.max_epochs,
                  stop_at_target=config.stop_at_target)


def execute(claim: Claim, scale: str, out: str | Path, jobs: int = 1, executor=None,
            progress: bool = False, device: str = "cpu") -> tuple[list[Run], SweepReport]:
    """Run (or skip, when finished) the claim's runs into ``out`` on ``device``; the runs
    and the sweep's report."""
    specs = claim_specs(claim, scale, device)
    report = run_sweep(specs, str(out), jobs=jobs, progress=progress, executor=executor)
    return collect(specs, out, jobs, executor), report


def collect(specs: list, out: str | Path, jobs: int = 1, executor=None) -> list[Run]:
    """The rows of each spec's run from the store in ``out`` (sorted by step)."""
    executor = as_executor(executor)
    store = ResultsStore(out)
    runs = []
    for spec in executor.adapt(specs):
        prepared = prepare(spec, jobs, executor.remote)
        path = store.run_path(prepared.run_id)
        rows = pd.read_parquet(path).sort_values("step", kind="stable").reset_index(drop=True) \
            if path.exists() else None
        runs.append(Run(spec.problem, spec.solver, prepared.solver.name, spec.seed, rows))
    return runs

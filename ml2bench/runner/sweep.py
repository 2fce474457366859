"""Sweeps: problems × solvers × seeds, resumable, in-process or on a process pool.

Every run is validated before anything executes (a typo fails fast). Runs whose
results file exists with the same config hash are skipped and counted as up to date;
an interrupted run resumes from its last checkpoint. ``jobs > 1`` uses a local
``ProcessPoolExecutor`` (spawned workers). Each run executes with the thread count
its prepared spec names (``--threads``, else the house policy: one per job), in the
main process and in a worker alike, so a run gives the same numbers alone or in a
sweep.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tqdm import tqdm

from ml2bench.flatness.run_metrics import end_of_run_names
from ml2bench.runner.loop import execute
from ml2bench.runner.prepare import PreparedRun, prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore


@dataclass
class SweepReport:
    """What a sweep did: counts per final status and the runs that failed."""

    up_to_date: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def add(self, label: str, status: str) -> None:
        """Count one run's final ``status`` (``up-to-date`` if it was skipped)."""
        if status == "up-to-date":
            self.up_to_date += 1
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == "failed":
            self.failed.append(label)


def expand(problems: Sequence[str], solvers: Sequence[str], seeds: Iterable[int],
           **options) -> list[RunSpec]:
    """The cartesian product of problems, solvers and seeds as RunSpecs."""
    return [RunSpec(problem=p, solver=s, seed=seed, **options)
            for p in problems for s in solvers for seed in seeds]


def _execute_in_worker(prepared: PreparedRun, root: str) -> str:
    return execute(prepared, ResultsStore(root))


def run_sweep(specs: Sequence[RunSpec], out_dir: str, jobs: int = 1,
              progress: bool = True) -> SweepReport:
    """Validate, skip finished runs, execute the rest; returns a :class:`SweepReport`."""
    prepared = prepare_all(specs, jobs)  # every run valid before anything is created
    store = ResultsStore(out_dir)
    store.check_writable()
    report = SweepReport()
    todo = []
    for run in prepared:
        if store.is_finished(run.run_id, run.config_hash, end_of_run_names(run.spec.metrics)):
            report.add(run.label, "up-to-date")
            if store.final_status(run.run_id) == "failed":
                report.failed.append(f"{run.label} (failed in an earlier sweep)")
        else:
            todo.append(run)
    print(f"{len(prepared)} runs: {report.up_to_date} up to date, {len(todo)} to run",
          file=sys.stderr)
    bar = tqdm(total=len(todo), disable=not progress or not todo, unit="run", file=sys.stderr)
    try:
        if jobs <= 1 or len(todo) <= 1:
            for run in todo:
                bar.set_description(run.label[:60])
                report.add(run.label, execute(run, store))
                bar.update()
        else:
            _run_pool(todo, out_dir, jobs, report, bar)
    finally:
        bar.close()
    return report


def prepare_all(specs: Sequence[RunSpec], jobs: int = 1) -> list[PreparedRun]:
    """Prepare every run (UserError on the first invalid one) for ``jobs`` parallel
    runs, dropping repeats: two spellings of one configuration (``sgd``,
    ``sgd[lr=0.1]``) are one run."""
    runs: dict[str, PreparedRun] = {}
    for spec in specs:
        run = prepare(spec, jobs)
        runs.setdefault(run.run_id, run)
    return list(runs.values())


def _run_pool(todo: list[PreparedRun], out_dir: str, jobs: int, report: SweepReport,
              bar: tqdm) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(_execute_in_worker, run, out_dir): run for run in todo}
        for future in as_completed(futures):
            run = futures[future]
            report.add(run.label, future.result())
            bar.update()

"""Sweeps: problems × solvers × seeds, resumable, in-process or on a process pool.

Every run is validated before anything executes (a typo fails fast). Runs whose
results file exists with the same config hash are skipped and counted as up to date;
an interrupted run resumes from its last checkpoint. ``jobs > 1`` uses a local
``ProcessPoolExecutor`` (spawned workers). Each run executes with the thread count
its prepared spec names (``--threads``, else the house policy: one per job), in the
main process and in a worker alike, so a run gives the same numbers alone or in a
sweep.

Where the runs execute is an :class:`~ml2bench.runner.executors.Executor`: ``pool``
(the default, above), or ``local``/``slurm`` jobs through submitit, which meet in the
results store (:mod:`ml2bench.runner.executors`). A run whose job ended before it
finished (cancelled, killed, out of time) counts as ``unfinished`` and resumes from its
checkpoint when the sweep runs again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tqdm import tqdm

from ml2bench.flatness.names import end_of_run_names
from ml2bench.runner.executors import UNFINISHED, Executor, as_executor, run_prepared
from ml2bench.runner.prepare import PreparedRun, prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore


@dataclass
class SweepReport:
    """What a sweep did: counts per final status, the runs that failed and the runs
    left unfinished (their job ended first; a rerun resumes them), with why."""

    up_to_date: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)

    def add(self, label: str, status: str, note: str = "") -> None:
        """Count one run's final ``status`` (``up-to-date`` if it was skipped)."""
        if status == "up-to-date":
            self.up_to_date += 1
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == "failed":
            self.failed.append(label)
        elif status == UNFINISHED:
            self.unfinished.append(f"{label} ({note})" if note else label)


def expand(problems: Sequence[str], solvers: Sequence[str], seeds: Iterable[int],
           **options) -> list[RunSpec]:
    """The cartesian product of problems, solvers and seeds as RunSpecs."""
    return [RunSpec(problem=p, solver=s, seed=seed, **options)
            for p in problems for s in solvers for seed in seeds]


def run_sweep(specs: Sequence[RunSpec], out_dir: str, jobs: int = 1,
              progress: bool = True, executor: Executor | str | None = None) -> SweepReport:
    """Validate, skip finished runs, execute the rest; returns a :class:`SweepReport`.

    ``executor``: where the runs execute (an :class:`~ml2bench.runner.executors.Executor`
    or its name: ``pool``, the default, ``local`` or ``slurm``); ``jobs`` is the number
    of parallel processes (``pool``) or jobs at once (``local``; ``slurm``: the array's
    parallelism when above 1).
    """
    executor = as_executor(executor)  # a bad choice fails before any run is prepared
    # every run valid before anything is created or submitted
    prepared = prepare_all(executor.adapt(specs), jobs, executor.remote)
    store = ResultsStore(out_dir)
    store.check_writable()
    stale = store.remove_stale_temporaries()
    if stale:
        print(f"ml2bench: removed {len(stale)} temporary file(s) that an interrupted sweep left "
              f"in {out_dir} (e.g. {stale[0]})", file=sys.stderr)
    report = SweepReport()
    todo = []
    for run in prepared:
        if store.is_finished(run.run_id, run.config_hash, end_of_run_names(run.spec.metrics)):
            # a run killed between writing its results and removing its checkpoint
            # left a stale partial file (and its lock file): the run is finished, drop them
            store.drop_partial(run.run_id)
            store.remove_stale_lock(run.run_id)
            report.add(run.label, "up-to-date")
            if store.final_status(run.run_id) == "failed":
                report.failed.append(f"{run.label} (failed in an earlier sweep)")
        else:
            todo.append(run)
    print(f"{len(prepared)} runs: {report.up_to_date} up to date, {len(todo)} to run",
          file=sys.stderr)
    bar = tqdm(total=len(todo), disable=not progress or not todo, unit="run", file=sys.stderr)
    try:
        run_prepared(executor, todo, str(out_dir), jobs, report, bar)
    finally:
        bar.close()
    return report


def prepare_all(specs: Sequence[RunSpec], jobs: int = 1,
                remote: bool = False) -> list[PreparedRun]:
    """Prepare every run (UserError on the first invalid one) for ``jobs`` parallel
    runs, dropping repeats: two spellings of one configuration (``sgd``,
    ``sgd[lr=0.1]``) are one run. ``remote``: the runs execute on other machines
    (:func:`~ml2bench.runner.prepare.prepare`)."""
    runs: dict[str, PreparedRun] = {}
    for spec in specs:
        run = prepare(spec, jobs, remote)
        runs.setdefault(run.run_id, run)
    return list(runs.values())


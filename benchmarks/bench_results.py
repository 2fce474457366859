"""asv: results tracked across commits, not only times.

``asv run --python=same`` records, per commit,

* ``TrackQuickResults.track_wu_to_target`` — work units to the problem's target of the
  main multilevel-vs-single-level pairs at quick size (RMTR and TR with the L-SR1
  subproblem, MG/OPT, nested iteration, Adam), seed 0, no target stop, through the
  real runner; ``NaN`` when the target is not reached within the quick budget (asv
  shows it as a failed point, not as a number);
* ``TrackQuickResults.track_final_metric`` — the target metric at the end of the budget
  (test accuracy or relative L2 error), so a change is visible even when no solver
  reaches the target;
* ``PeakMemSolverStep.peakmem_step`` — peak resident memory of a process that builds
  ``peaks_resnet`` and takes one step of each solver family.

All numbers but the memory are deterministic (one thread, seeded), so any change
between commits is a change of the code. ``asv publish`` then writes the HTML pages
(``.asv/html``) with one graph per benchmark and parameter combination.
"""

import importlib
import math
import tempfile

import torch

from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import run_sweep
from ml2bench.testing import bind

PAIRS_PROBLEMS = ["peaks_resnet[quick=true]", "ellipses_resnet[quick=true]",
                  "poisson1d_pinn[quick=true]"]
PAIRS_SOLVERS = ["rmtr[subproblem=lsr1]", "tr[subproblem=lsr1]", "mgopt", "nested", "adam"]
FAMILIES = ["sgd", "lbfgs", "tr", "rmtr", "mgopt", "nested"]
#: The leaderboard module, imported as a module: asv would collect its ``time_to_target``
#: as a timing benchmark if the function were imported by name.
results_table = importlib.import_module("ml2bench.report.leaderboard")


class TrackQuickResults:
    """WU to target and final metric of the quick runs (seed 0, one thread), all run
    once per commit in ``setup_cache`` through the real runner."""

    params = (PAIRS_PROBLEMS, PAIRS_SOLVERS)
    param_names = ["problem", "solver"]
    timeout = 1200

    def setup_cache(self):
        torch.set_num_threads(1)
        specs = [RunSpec(problem=p, solver=s, seed=0, stop_at_target=False, threads=1)
                 for p in PAIRS_PROBLEMS for s in PAIRS_SOLVERS]
        with tempfile.TemporaryDirectory() as out:
            run_sweep(specs, out, progress=False)
            rows = ResultsStore(out).load_runs()
        reached = results_table.time_to_target(rows).set_index("run_id")
        results = {}
        for _, final in results_table.final_rows(rows).iterrows():
            hit = reached.loc[final["run_id"]]
            key = (final["problem_label"], final["solver_label"])
            results[key] = (float(hit["wu_to_target"]), float(final[hit["target_metric"]]))
        return results

    @staticmethod
    def _canonical(problem, solver):
        from ml2bench.runner.prepare import prepare
        columns = prepare(RunSpec(problem=problem, solver=solver, threads=1)).identity_columns
        return columns["problem_label"], columns["solver_label"]

    def track_wu_to_target(self, results, problem, solver):
        value = results[self._canonical(problem, solver)][0]
        return value if not math.isnan(value) else math.nan

    track_wu_to_target.unit = "WU"

    def track_final_metric(self, results, problem, solver):
        return results[self._canonical(problem, solver)][1]

    track_final_metric.unit = "test metric"


class PeakMemSolverStep:
    """Peak memory of building ``peaks_resnet`` and taking one step of a solver family."""

    params = FAMILIES
    param_names = ["solver"]

    def setup(self, solver):
        torch.set_num_threads(1)

    def peakmem_step(self, solver):
        _, bound, _ = bind("peaks_resnet", solver, seed=0)
        bound.step()

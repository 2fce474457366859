"""asv: time per solver step of each baseline on ``digits_cnn`` and ``peaks_resnet``.

Run with ``asv run --python=same`` (asv.conf.json uses the existing environment);
``asv continuous main HEAD`` compares commits.
"""

import torch

from ml2bench.testing import bind

BASELINES = ["sgd", "adam", "adamw", "lbfgs", "nested"]
PROBLEMS = ["digits_cnn", "peaks_resnet"]


class TimeSolverStep:
    """Wall time of one ``solver.step()`` (one mini-batch step; one L-BFGS step of
    ``max_iter`` iterations; one inner step for nested iteration)."""

    params = (PROBLEMS, BASELINES)
    param_names = ["problem", "solver"]
    timeout = 120

    def setup(self, problem, solver):
        torch.set_num_threads(1)
        self.task, self.solver, self.ledger = bind(problem, solver, seed=0)
        if not self.solver.supports(self.task)[0]:
            raise NotImplementedError("solver does not support this problem")  # asv: skip
        self.solver.step()  # warm-up

    def time_step(self, problem, solver):
        self.solver.step()


class TrackWorkUnitsPerStep:
    """Work units charged by one step (tracks accounting changes across commits)."""

    params = (PROBLEMS, BASELINES)
    param_names = ["problem", "solver"]

    def setup(self, problem, solver):
        torch.set_num_threads(1)
        self.task, self.solver, self.ledger = bind(problem, solver, seed=0)
        if not self.solver.supports(self.task)[0]:
            raise NotImplementedError

    def track_work_units(self, problem, solver):
        before = self.ledger.work_units
        self.solver.step()
        return self.ledger.work_units - before

    track_work_units.unit = "WU"

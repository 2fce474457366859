"""asv: cost of one solver step for every solver family — time, work units, memory.

Cases (:data:`_common.STEP_CASES`): every built-in solver on ``peaks_resnet[quick=true]``
(baselines, trust region, multilevel, domain decomposition; the single-level ones on its
finest level); seed 0, one torch thread.

* ``TimeSolverStep.time_step`` — wall time of one ``solver.step()`` (a mini-batch step,
  an L-BFGS step of ``max_iter`` iterations, an RMTR V-cycle, an APTS outer step);
* ``TrackWorkUnitsPerStep.track_work_units`` — work units the first step charges
  (deterministic: tracks accounting changes);
* ``TrackSolverStateMemory.track_state_mb`` — what a solver adds above the model and the
  data: MB of the tensors in its state (``state_dict()``: moments, L-BFGS/L-SR1 pairs,
  radii, per-level and per-subdomain copies) after three steps (deterministic);
* ``PeakMemSolverSteps.peakmem_steps`` — asv's peak resident memory of a process that
  builds the task and takes three steps. On CPU this is dominated by the interpreter,
  torch and the data (hundreds of MB): watch its changes, not its level; the solver's
  own share is ``track_state_mb``.
"""

from ._common import STEP_CASES, bound_solver, tensor_megabytes


class TimeSolverStep:
    """Wall time of one step, after one warm-up step."""

    params = STEP_CASES
    param_names = ["case"]
    timeout = 300

    def setup(self, case):
        self.task, self.solver, self.ledger = bound_solver(case)
        self.solver.step()  # warm-up

    def time_step(self, case):
        self.solver.step()


class TrackWorkUnitsPerStep:
    """Work units charged by the first step."""

    params = STEP_CASES
    param_names = ["case"]
    timeout = 300

    def setup(self, case):
        self.task, self.solver, self.ledger = bound_solver(case)

    def track_work_units(self, case):
        before = self.ledger.work_units
        self.solver.step()
        return self.ledger.work_units - before

    track_work_units.unit = "WU per step (lower is cheaper)"


class TrackSolverStateMemory:
    """MB of solver state after three steps (above the model and the data)."""

    params = STEP_CASES
    param_names = ["case"]
    timeout = 300

    def setup(self, case):
        self.task, self.solver, self.ledger = bound_solver(case)

    def track_state_mb(self, case):
        for _ in range(3):
            self.solver.step()
        return tensor_megabytes(self.solver.state_dict())

    track_state_mb.unit = "MB of solver state (lower is better)"


class PeakMemSolverSteps:
    """Peak resident memory of building the task and taking three steps."""

    params = STEP_CASES
    param_names = ["case"]
    timeout = 300

    def peakmem_steps(self, case):
        _, solver, _ = bound_solver(case)
        for _ in range(3):
            solver.step()

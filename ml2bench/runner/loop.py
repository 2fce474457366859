"""The run loop: one prepared run from task construction to its results file.

The loop only sequences named parts:

* the solver (``init``/``step``), whose clock runs only around ``step()``;
* :class:`~ml2bench.runner.stopping.StoppingCriterion` — budget, wall-time cap,
  target, divergence;
* :class:`~ml2bench.runner.checkpoint.CheckpointSchedule` — evaluations spaced in work
  units — and :class:`~ml2bench.runner.checkpoint.RunCheckpoint` — the resumable state
  saved at every checkpoint, so an interrupted run resumes with identical numbers;
* :func:`~ml2bench.runner.store.build_row` — rows in the store's column order;
* :class:`~ml2bench.flatness.run_metrics.RunMetrics` — checkpoint and end-of-run
  flatness metrics.

The budget is a hard limit (AlgoPerf's rule): the ledger refuses any evaluation past it
(:class:`~ml2bench.accounting.ledger.BudgetExhausted`), the step in progress is given up
and the solver's last accepted iterate (:meth:`~ml2bench.solvers.base.Solver.restore`)
is the run's final one, evaluated with status ``budget``, the last whole step's
diagnostics and ``info_budget_cut = 1``. So
``work_units ≤ budget`` in every row, and no metric comes from work beyond it.

Evaluations at checkpoints are timed separately (``eval_time_s``) and never charged to
the ledger (benchopt's callback rule). A failing run records ``status=failed`` with its
error and the rows evaluated so far.
"""

from __future__ import annotations

import math
import resource
import sys
import time
import traceback
from typing import Callable

import torch

from ml2bench import numerics
from ml2bench.accounting.ledger import BudgetExhausted, WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.accounting.precision import Precision
from ml2bench.errors import UserError
from ml2bench.flatness.run_metrics import RunMetrics
from ml2bench.hierarchy.cost_cache import cost_scope
from ml2bench.parallel import barrier, from_rank0, world
from ml2bench.problems.base import Task
from ml2bench.problems.registry import family_of
from ml2bench.runner.checkpoint import CheckpointSchedule, RunCheckpoint
from ml2bench.runner.environment import environment
from ml2bench.runner.prepare import PreparedRun, resolve_device
from ml2bench.runner.stopping import StoppingCriterion
from ml2bench.runner.store import ResultsStore, build_row

#: Loop counters saved in the resumable state.
LOOP_STATE = ("rows", "step", "time_s", "eval_time_s", "initial", "info")


#: Consecutive solver steps without any work (no evaluation charged to the ledger) after
#: which a run stops with status ``stalled``: a step that evaluates nothing cannot move
#: the iterate, so the run would never reach its budget (e.g. a trust-region method at
#: a stationary point of its model in full-batch mode).
STALL_STEPS = 100


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory: CUDA allocator peak on GPU, the process's max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RunLoop:
    """One executing run: its parts, counters and rows.

    Parameters
    ----------
    prepared : PreparedRun
        The validated run (its solver is constructed, not yet bound).
    store : ResultsStore
        Where rows, checkpoints, final models and flatness rows go.
    """

    def __init__(self, prepared: PreparedRun, store: ResultsStore) -> None:
        self.prepared, self.store, self.spec = prepared, store, prepared.spec
        self.device = resolve_device(self.spec.device)
        if self.device.type == "cpu":  # the kernels the run's identity names
            numerics.ensure(self.spec.numerics or numerics.current())
        self.task: Task = family_of(prepared.problem_spec).make_task(
            prepared.problem_spec.name, prepared.problem_values, self.spec.seed, self.device)
        self.solver = prepared.solver
        budget = self.spec.budget if self.spec.budget is not None else self.task.budget
        self.stopping = StoppingCriterion(
            budget, self.spec.max_time, self.task.target if self.spec.stop_at_target else None,
            max_epochs=self.spec.max_epochs)
        self.schedule = CheckpointSchedule(self._checkpoint_spacing(budget))
        self.checkpoint = RunCheckpoint(store, prepared.run_id, prepared.config_hash)
        self.ledger = WorkLedger([lv.cost for lv in self.task.hierarchy.levels],
                                 self.task.num_train)
        self.ledger.limit = budget  # a hard limit: no evaluation past it
        self.oracle = Oracle(self.task, self.ledger, Precision(self.spec.precision,
                                                               self.device.type))
        self.env = environment(self.device)
        self.metrics = RunMetrics.parse(self.spec.metrics)
        self.dynamics = self.metrics.checkpoint_tracker(self.task, self.spec.seed)
        self.rows: list[dict] = []
        self.step = 0
        self.time_s = 0.0
        self.eval_time_s = 0.0
        self.info: dict[str, float] = {}  # the last step's diagnostics
        self.initial: dict | None = None  # metrics of the problem's initial point

    def _checkpoint_spacing(self, budget: float) -> float:
        """``--checkpoint-every``, else the problem's spacing, else ``budget / 50``."""
        if self.spec.checkpoint_every is not None:
            return self.spec.checkpoint_every
        if self.task.checkpoint_every is not None:
            return self.task.checkpoint_every
        return budget / 50

    @property
    def budget(self) -> float:
        """The run's work-unit budget."""
        return self.stopping.budget

    # -- evaluation ------------------------------------------------------------------
    def _timed_metrics(self) -> dict:
        """The finest model's logging metrics (solver clock paused, no ledger)."""
        start = time.perf_counter()
        try:
            if self.solver.task is not None:
                self.solver.export_iterate()
            return self.task.evaluate()
        finally:
            self.eval_time_s += time.perf_counter() - start

    def evaluate(self, status: str = "ok", error: str = "") -> dict:
        """Evaluate the finest model and append a results row."""
        try:
            metrics = self._timed_metrics()
        except Exception as exc:  # evaluating a broken iterate (e.g. inf) must not lose the row
            metrics = {"train_loss": math.nan, "grad_norm": math.nan}
            error = error or f"evaluation failed: {exc}"
        g0 = (self.initial or {}).get("grad_norm") or math.nan
        metrics["grad_norm_rel"] = metrics["grad_norm"] / g0 if g0 else math.nan
        info = {f"info_{k}": float(v) for k, v in self.info.items()}
        if self.dynamics is not None and status == "ok":  # M8 logging: eval time, no ledger
            measured = time.perf_counter()
            metrics.update(self.dynamics.columns(self.step, info, self.solver))
            self.eval_time_s += time.perf_counter() - measured
        row = build_row({
            **self.prepared.identity_columns, **self.env, **metrics, **info,
            "step": self.step,
            "epoch": self.solver.epoch if self.solver.task is not None else 0.0,
            "work_units": self.ledger.work_units,
            "work_units_parallel": self.ledger.work_units_parallel,
            "comm_bytes": self.ledger.comm_bytes,
            "grad_evals": self.ledger.count("grad"), "hvp_evals": self.ledger.hvp_count(),
            "time_s": self.time_s, "eval_time_s": self.eval_time_s,
            "peak_mem_mb": peak_memory_mb(self.device), "status": status, "error": error})
        self.rows.append(row)
        self.schedule.advance(self.ledger.work_units)
        return row

    def _stop_reason(self, row: dict) -> str | None:
        return self.stopping.reason(row, self.ledger.work_units, self.time_s)

    # -- resumable state -------------------------------------------------------------
    def save_state(self) -> None:
        """Save the resumable state (models, solver, ledger, loop counters)."""
        loop_state = {key: getattr(self, key) for key in LOOP_STATE}
        loop_state["next_checkpoint"] = self.schedule.next
        loop_state["num_threads"] = torch.get_num_threads()
        loop_state["precision"] = self.oracle.precision.state_dict()
        with self.solver.whole_state():  # distributed: gathered on rank 0, which saves
            self.checkpoint.save(self.task.hierarchy.levels, self.solver, self.ledger,
                                 loop_state)

    def restore_state(self, state: dict) -> None:
        """Continue from a saved state (the solver is bound already)."""
        loop_state = RunCheckpoint.restore(state, self.task.hierarchy.levels, self.solver,
                                           self.ledger, self.device)
        for key in LOOP_STATE:
            setattr(self, key, loop_state[key])
        self.schedule.next = loop_state["next_checkpoint"]
        if "precision" in loop_state:
            self.oracle.precision.load_state_dict(loop_state["precision"])

    # -- the run ---------------------------------------------------------------------
    def run(self) -> str:
        """Execute to the end; returns the final status (results file written)."""
        supported, reason = self.solver.supports(self.task)
        if not supported:
            self.initial = self._timed_metrics()
            self.evaluate("skipped", reason)
            self.store.write_run(self.prepared.run_id, self.rows)
            return "skipped"
        self.check_distributed()
        state = self.checkpoint.load()
        barrier()  # every rank has read the same state before rank 0 writes the next
        if state is not None and state["loop"].get("num_threads") != torch.get_num_threads():
            state = None  # saved with another thread count: its numbers would differ; restart
        if state is None:
            # the reference for grad_norm_rel and divergence: the problem's initial point,
            # the same for every solver (before a solver may move it, e.g. nested iteration)
            self.initial = self._timed_metrics()
        self.solver.init(self.task, self.oracle, torch.Generator().manual_seed(self.spec.seed))
        if state is not None:
            self.restore_state(state)
        else:
            self.evaluate()
            self.save_state()
        self.stopping.initial_loss = self.initial["train_loss"]
        status = self._iterate()
        self.rows[-1]["status"] = status
        self.store.save_model(self.prepared.run_id, self.final_model())
        self.store.write_run(self.prepared.run_id, self.rows)
        # the results are complete: what follows cannot make the run fail
        self.after_write("removing its checkpoint", self.checkpoint.drop)
        self.after_write("computing its end-of-run metrics", self.write_flatness)
        return status

    def after_write(self, what: str, step: Callable[[], object]) -> bool:
        """Call ``step()``, a bookkeeping step after the run's results file is written;
        False (and one warning line on stderr naming the run, ``what`` failed and why)
        if it raised. Its failure cannot make a run whose results are complete
        ``failed``: the results file is left as it is, and the same ``ml2bench run``
        command redoes the step (a checkpoint beside a finished run is removed, missing
        end-of-run metrics are computed from the saved final model)."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - any failure: reported, the result stands
            print(f"ml2bench: warning: run {self.prepared.label} [{self.prepared.run_id}] "
                  f"finished and its results are written, but {what} failed "
                  f"({type(exc).__name__}: {exc}); the same `ml2bench run` command retries it",
                  file=sys.stderr)
            return False
        return True

    def check_distributed(self) -> None:
        """Under ``torch.distributed``: a DD solver with one subdomain per process."""
        size = world()[1]
        if size == 1:
            return
        if not self.solver.distributed:
            raise UserError(f"{self.solver.name} does not run distributed; "
                            "run it in one process (without torchrun / --nproc)")
        if self.solver.hparams["subdomains"] != size:
            raise UserError(f"{self.solver.label()} has {self.solver.hparams['subdomains']} "
                            f"subdomains but {size} processes run it: use --nproc "
                            f"{self.solver.hparams['subdomains']}")

    def _iterate(self) -> str:
        """Step until the stopping rule says why to stop; evaluate at checkpoints."""
        cuda = self.device.type == "cuda"
        status = self._stop_reason(self.rows[-1])
        idle, work_units = 0, self.ledger.work_units
        while status is None:
            start = time.perf_counter()
            snapshot = self.solver.snapshot()
            try:
                self.info = self.solver.step()
            except BudgetExhausted:  # the budget ends inside this step: its last accepted
                self.solver.restore(snapshot)  # iterate is the run's final one
                self.info = {**self.info, "budget_cut": 1.0}  # the last whole step's
                status = "budget"
            if cuda:
                torch.cuda.synchronize(self.device)
            self.time_s += time.perf_counter() - start
            self.time_s = from_rank0(self.time_s)  # distributed: one clock, same stops
            self.step += 1
            if status is not None:
                self.evaluate()
                return status
            idle = idle + 1 if self.ledger.work_units == work_units else 0
            work_units = self.ledger.work_units
            if idle >= STALL_STEPS:  # no work, so no change: the solver cannot go on
                self.evaluate()
                return "stalled"
            if not (self.schedule.due(work_units) or self.stopping.evaluation_due(
                    work_units, self.time_s, self.info.get("batch_loss", 0.0),
                    self.solver.epoch)):
                continue
            status = self._stop_reason(self.evaluate())
            if status is None:
                self.save_state()
        return status

    # -- end of run ------------------------------------------------------------------
    def final_model(self) -> dict:
        """The finest model's final ``state_dict`` (CPU) with the run's identity."""
        state = {k: v.detach().cpu().clone() for k, v in self.task.model.state_dict().items()}
        return {"config_hash": self.prepared.config_hash,
                "problem_label": self.prepared.identity_columns["problem_label"],
                "seed": self.spec.seed, "solver_label": self.prepared.identity_columns[
                    "solver_label"], "state_dict": state}

    def load_final_model(self) -> bool:
        """Load the saved final model into the finest model; False if there is none."""
        state = self.store.load_model(self.prepared.run_id, self.prepared.config_hash)
        if state is None:
            return False
        self.task.model.load_state_dict(state["state_dict"])
        return True

    def write_flatness(self) -> None:
        """End-of-run metrics of the final model to the flatness table (its own cost
        columns; not solver work: no ledger, no solver clock)."""
        keys = ("run_id", "config_hash", "problem", "solver", "solver_label", "seed")
        identity = {k: self.prepared.identity_columns[k] for k in keys}
        row = self.metrics.final_row(self.task, self.spec.seed, identity)
        if row is not None:
            self.store.write_flatness(self.prepared.run_id, [row])


def execute(prepared: PreparedRun, store: ResultsStore) -> str:
    """Run ``prepared`` unless its results exist; returns the status or ``up-to-date``.

    Errors inside the run are recorded as ``status=failed`` with the message (and the
    rows evaluated so far); user errors (bad names, parameters, missing data) propagate.
    Once the run's results file is written the run's status stands: a failing step
    after it (removing the checkpoint, end-of-run metrics) is a warning
    (:meth:`RunLoop.after_write`), never a ``failed`` row.
    A run whose results exist but whose requested flatness table is missing gets it
    computed from its saved final model (status ``flatness``, or ``up-to-date`` with a
    warning if that fails), without retraining.
    One process at a time executes a run (:meth:`ResultsStore.run_lock`): a process
    that finds another one executing it waits, then finds it finished (``up-to-date``).
    The run executes with ``prepared.spec.threads`` intra-op threads (the previous count
    is restored afterwards), whatever process executes it.
    """
    metrics = RunMetrics.parse(prepared.spec.metrics).end_of_run
    if store.is_finished(prepared.run_id, prepared.config_hash, metrics):
        return "up-to-date"
    with store.run_lock(prepared.run_id):
        # another process may have finished it while this one waited (rank 0 decides)
        if from_rank0(store.is_finished(prepared.run_id, prepared.config_hash, metrics)):
            return "up-to-date"
        return _execute_locked(prepared, store)


def _execute_locked(prepared: PreparedRun, store: ResultsStore) -> str:
    """:func:`execute` once this process holds the run's lock."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(prepared.spec.threads or 1)
    loop = None
    try:
        spec = prepared.problem_spec
        sizes = {k: v for k, v in prepared.problem_values.items() if k != "budget"}
        with cost_scope(spec.name, spec.version, sizes, resolve_device(prepared.spec.device).type):
            loop = RunLoop(prepared, store)
        if store.is_trained(prepared.run_id, prepared.config_hash) \
                and loop.load_final_model():  # trained; only (some) flatness is missing
            return "flatness" if loop.after_write("computing its end-of-run metrics",
                                                  loop.write_flatness) else "up-to-date"
        return loop.run()
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a failing run is recorded and the sweep goes on
        message = f"{type(exc).__name__}: {exc} | " + \
            traceback.format_exc(limit=3).replace("\n", " ")
        if loop is None:
            rows = [{**prepared.identity_columns, "step": 0, "status": "failed", "error": message,
                     **environment(resolve_device(prepared.spec.device))}]
        else:
            loop.evaluate("failed", message)
            rows = loop.rows
        store.write_run(prepared.run_id, rows)
        store.set_aside_partial(prepared.run_id)  # kept as *.failed, not deleted
        if world()[1] > 1:  # the other ranks wait in a collective: end the process group
            raise
        return "failed"
    finally:
        torch.set_num_threads(previous_threads)

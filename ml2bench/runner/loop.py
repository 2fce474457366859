"""The run loop: one RunSpec from task construction to its results file.

The solver's clock runs only around ``solver.step()``; evaluations at checkpoints
(spaced in work units) are timed separately (``eval_time_s``) and never charged to
the ledger (benchopt's callback rule). A run stops at the WU budget, the wall-time cap,
the target, or a divergence (NaN/Inf, or a loss rising by more than 1e3 × the initial
magnitude). Its state is saved at every checkpoint, so an interrupted run resumes from
its last checkpoint with identical numbers; a failing run records ``status=failed``.
"""

from __future__ import annotations

import math
import resource
import time
import traceback

import torch

from ml2bench.errors import UserError
from ml2bench.flatness.run_metrics import RunMetrics
from ml2bench.accounting.cost_cache import cost_scope
from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.problems.base import Task
from ml2bench.problems.registry import family_of
from ml2bench.runner.environment import environment
from ml2bench.runner.prepare import PreparedRun, resolve_device
from ml2bench.runner.store import ResultsStore
from ml2bench.solvers.base import Solver
from ml2bench.solvers.registry import make_solver

DIVERGENCE_FACTOR = 1e3


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory: CUDA allocator peak on GPU, the process's max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RunLoop:
    """State of one executing run (counters, rows) and its checkpoint logic."""

    def __init__(self, prepared: PreparedRun, store: ResultsStore) -> None:
        self.prepared, self.store, self.spec = prepared, store, prepared.spec
        self.device = resolve_device(self.spec.device)
        self.task: Task = family_of(prepared.problem_spec).make_task(
            prepared.problem_spec.name, prepared.problem_values, self.spec.seed, self.device)
        self.solver: Solver = make_solver(self.spec.solver)
        self.budget = self.spec.budget if self.spec.budget is not None else self.task.budget
        every = self.spec.checkpoint_every
        if every is None:
            every = self.task.checkpoint_every if self.task.checkpoint_every is not None \
                else self.budget / 50
        self.checkpoint_every = every
        self.ledger = WorkLedger([lv.cost for lv in self.task.hierarchy.levels], self.task.num_train)
        self.oracle = Oracle(self.task, self.ledger)
        self.env = environment(self.device)
        self.metrics = RunMetrics.parse(self.spec.metrics)
        self.dynamics = self.metrics.checkpoint_tracker(self.task, self.spec.seed)
        self.rows: list[dict] = []
        self.step = 0
        self.time_s = 0.0
        self.eval_time_s = 0.0
        self.next_checkpoint = 0.0
        self.info: dict[str, float] = {}  # the last step's diagnostics
        self.initial = None

    # -- checkpoints ---------------------------------------------------------------
    def evaluate(self, status: str = "ok", error: str = "") -> dict:
        """Evaluate the finest model and append a results row (clock paused)."""
        start = time.perf_counter()
        try:
            if self.solver.task is not None:
                self.solver.export_iterate()
            metrics = self.task.evaluate()
        except Exception as exc:  # evaluation of a broken iterate (e.g. inf) must not kill the row
            metrics = {"train_loss": math.nan, "grad_norm": math.nan}
            error = error or f"evaluation failed: {exc}"
        info = self.info_columns
        g0 = (self.initial or {}).get("grad_norm") or math.nan
        metrics["grad_norm_rel"] = metrics["grad_norm"] / g0 if g0 else math.nan
        if self.dynamics is not None and status == "ok":  # M8 logging: eval time, no ledger
            metrics.update(self.dynamics.columns(self.step, info, self.solver))
        self.eval_time_s += time.perf_counter() - start
        row = {**self.prepared.identity_columns, "step": self.step,
               "epoch": self.solver.epoch if self.solver.task is not None else 0.0,
               "work_units": self.ledger.work_units,
               "work_units_parallel": self.ledger.work_units_parallel,
               "grad_evals": self.ledger.count("grad"), "hvp_evals": self.ledger.count("hvp"),
               "time_s": self.time_s, "eval_time_s": self.eval_time_s,
               "peak_mem_mb": peak_memory_mb(self.device), "test_acc": math.nan,
               "test_rel_l2": math.nan, **metrics, **info,
               "status": status, "error": error, **self.env}
        self.rows.append(row)
        if self.checkpoint_every <= 0:  # evaluate after every step
            self.next_checkpoint = 0.0
        else:
            while self.next_checkpoint <= self.ledger.work_units:
                self.next_checkpoint += self.checkpoint_every
        return row

    def reference_metrics(self) -> dict:
        """Metrics of the task's initial finest model (timed as evaluation)."""
        start = time.perf_counter()
        metrics = self.task.evaluate()
        self.eval_time_s += time.perf_counter() - start
        return metrics

    @property
    def info_columns(self) -> dict[str, float]:
        """The last step's diagnostics as ``info_*`` columns (built at checkpoints only)."""
        return {f"info_{k}": float(v) for k, v in self.info.items()}

    def diverged(self, row: dict) -> bool:
        loss = row["train_loss"]
        if not math.isfinite(loss):
            return True
        reference = self.initial["train_loss"]
        return loss - reference > DIVERGENCE_FACTOR * max(abs(reference), 1.0)

    def save_state(self) -> None:
        models = [[p.detach().cpu().clone() for p in lv.model.parameters()]
                  for lv in self.task.hierarchy.levels]
        buffers = [[b.detach().cpu().clone() for b in lv.model.buffers()]
                   for lv in self.task.hierarchy.levels]
        self.store.save_partial(self.prepared.run_id, {
            "config_hash": self.prepared.config_hash, "models": models, "buffers": buffers,
            "solver": self.solver.state_dict(), "ledger": self.ledger.state_dict(),
            "rows": self.rows, "step": self.step, "time_s": self.time_s,
            "eval_time_s": self.eval_time_s, "next_checkpoint": self.next_checkpoint,
            "initial": self.initial, "info": self.info, "num_threads": torch.get_num_threads()})

    def restore_state(self, state: dict) -> None:
        with torch.no_grad():
            for level, params, buffers in zip(self.task.hierarchy.levels, state["models"],
                                              state["buffers"]):
                for p, v in zip(level.model.parameters(), params):
                    p.copy_(v.to(self.device))
                for b, v in zip(level.model.buffers(), buffers):
                    b.copy_(v.to(self.device))
        self.solver.load_state_dict(state["solver"])
        self.ledger.load_state_dict(state["ledger"])
        for key in ("rows", "step", "time_s", "eval_time_s", "next_checkpoint", "initial"):
            setattr(self, key, state[key])
        self.info = state["info"]

    # -- main loop -----------------------------------------------------------------
    def stop_reason(self, row: dict | None) -> str | None:
        if row is not None and self.diverged(row):
            return "diverged"
        if row is not None and self.spec.stop_at_target and self.task.target.reached(row):
            return "target"
        if self.ledger.work_units >= self.budget:
            return "budget"
        if self.spec.max_time is not None and self.time_s >= self.spec.max_time:
            return "timeout"
        return None

    def run(self) -> str:
        """Execute to the end; returns the final status (results file written)."""
        supported, reason = self.solver.supports(self.task)
        if not supported:
            self.initial = self.reference_metrics()
            self.evaluate("skipped", reason)
            self.store.write_run(self.prepared.run_id, self.rows)
            return "skipped"
        state = self.store.load_partial(self.prepared.run_id, self.prepared.config_hash)
        if state is not None and state.get("num_threads") != torch.get_num_threads():
            state = None  # saved with another thread count: its numbers would differ; restart
        if state is None:
            # the reference for grad_norm_rel and divergence: the problem's initial point,
            # the same for every solver (before a solver may move it, e.g. nested iteration)
            self.initial = self.reference_metrics()
        generator = torch.Generator().manual_seed(self.spec.seed)
        self.solver.init(self.task, self.oracle, generator)
        if state is not None:
            self.restore_state(state)
        else:
            self.evaluate()
            self.save_state()
        status = self._iterate()
        self.rows[-1]["status"] = status
        self.store.save_model(self.prepared.run_id, self.final_model())
        self.store.write_run(self.prepared.run_id, self.rows)
        self.store.drop_partial(self.prepared.run_id)
        self.write_flatness()
        return status

    # -- end of run ----------------------------------------------------------------
    def final_model(self) -> dict:
        """The finest model's final ``state_dict`` (CPU) with the run's identity."""
        state = {k: v.detach().cpu().clone() for k, v in self.task.model.state_dict().items()}
        return {"config_hash": self.prepared.config_hash, "problem_label": self.spec.problem,
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

    def _iterate(self) -> str:
        cuda = self.device.type == "cuda"
        status = self.stop_reason(self.rows[-1])
        while status is None:
            start = time.perf_counter()
            info = self.solver.step()
            if cuda:
                torch.cuda.synchronize(self.device)
            self.time_s += time.perf_counter() - start
            self.step += 1
            self.info = info
            batch_loss = info.get("batch_loss", 0.0)
            due = (self.ledger.work_units >= self.next_checkpoint
                   or self.ledger.work_units >= self.budget
                   or not math.isfinite(batch_loss)
                   or (self.spec.max_time is not None and self.time_s >= self.spec.max_time))
            if not due:
                continue
            row = self.evaluate()
            status = self.stop_reason(row)
            if status is None:
                self.save_state()
        return status


def execute(prepared: PreparedRun, store: ResultsStore) -> str:
    """Run ``prepared`` unless its results exist; returns the status or ``up-to-date``.

    Errors inside the run are recorded as ``status=failed`` with the message (and the
    rows evaluated so far); user errors (bad names, parameters, missing data) propagate.
    A run whose results exist but whose requested flatness table is missing gets it
    computed from its saved final model (status ``flatness``), without retraining.
    The run executes with ``prepared.spec.threads`` intra-op threads (the previous count
    is restored afterwards), whatever process executes it.
    """
    metrics = RunMetrics.parse(prepared.spec.metrics).end_of_run
    if store.is_finished(prepared.run_id, prepared.config_hash, metrics):
        return "up-to-date"
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(prepared.spec.threads or 1)
    loop = None
    try:
        spec = prepared.problem_spec
        with cost_scope(spec.name, spec.version, prepared.problem_values,
                        resolve_device(prepared.spec.device).type):
            loop = RunLoop(prepared, store)
        if store.is_trained(prepared.run_id, prepared.config_hash) \
                and loop.load_final_model():  # trained; only (some) flatness is missing
            loop.write_flatness()
            return "flatness"
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
        store.drop_partial(prepared.run_id)
        return "failed"
    finally:
        torch.set_num_threads(previous_threads)

"""Execution backends of a sweep: where the prepared runs execute.

* ``pool`` (default): in this process (``jobs == 1``) or on a local
  ``ProcessPoolExecutor`` of ``jobs`` spawned workers.
* ``local`` and ``slurm``: through `submitit <https://github.com/facebookincubator/submitit>`_
  (``AutoExecutor(folder=OUT/submitit, cluster=...)``), an existing cluster engine — not a
  home-made scheduler. One job per run by default, ``chunk`` runs per job; ``local``
  starts each job as a subprocess of this machine (at most ``jobs`` at once), ``slurm``
  submits one job array to SLURM (``jobs > 1`` caps how many of its jobs run at once).

The results store is the meeting point: every job executes its runs with
:func:`~ml2bench.runner.loop.execute`, which writes each run's files atomically and
skips finished runs, and the submitting process waits for the jobs and counts each
run's status from the job's result, else from the store. A cancelled, killed or
timed-out job leaves its runs' partial checkpoints; running the same command again
resumes them with identical numbers. On SLURM a job that reaches its time limit
requeues itself (submitit's checkpointing: the same runs again, resumed from their
checkpoints). Each job's stdout and stderr are in ``OUT/submitit/<job id>_0_log.out|err``.

This module imports neither torch nor submitit at import time; :func:`check_executor`
gives the one-line errors of a bad choice (unknown name, submitit missing, no ``sbatch``).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ml2bench.errors import UserError

if TYPE_CHECKING:
    from ml2bench.runner.prepare import PreparedRun
    from ml2bench.runner.spec import RunSpec

#: Backend names and what they do (``--executor``).
EXECUTORS = {
    "pool": "in this process, or a local process pool of --jobs workers",
    "local": "submitit jobs started on this machine (at most --jobs at once)",
    "slurm": "submitit jobs submitted to SLURM as one job array",
}
#: Time limit of a SLURM job when ``slurm_time`` is not given (minutes).
DEFAULT_SLURM_MINUTES = 60
#: Time limit of a ``local`` job when ``slurm_time`` is not given (minutes): a week.
DEFAULT_LOCAL_MINUTES = 7 * 24 * 60
#: Environment variables a job gets from the submitting process (data and cost-cache folders).
FORWARDED_ENV = ("ML2BENCH_DATA", "ML2BENCH_CACHE")
#: SLURM commands submitit needs to submit a job (``sbatch``) and to find the cluster (``srun``).
SLURM_TOOLS = ("sbatch", "srun")
#: Least seconds between two looks at SLURM jobs.
SLURM_POLL_S = 5.0
#: Status of a run whose job ended before the run finished (it resumes on the next sweep).
UNFINISHED = "unfinished"


@dataclass(frozen=True)
class Executor:
    """Where a sweep's runs execute.

    Parameters
    ----------
    name : str
        ``pool``, ``local`` or ``slurm`` (:data:`EXECUTORS`).
    chunk : int
        Runs per submitit job (``local``, ``slurm``); 1: one job per run.
    slurm_partition : str, optional
        SLURM partition (``slurm_partition``).
    slurm_time : float, optional
        Time limit of each job in minutes (``timeout_min``; default
        :data:`DEFAULT_SLURM_MINUTES` on SLURM, a week for ``local``).
    slurm_gpus : int, optional
        GPUs per job (``gpus_per_node``; default: 0, or for ``local`` the visible GPUs
        when runs use CUDA).
    poll_s : float
        Seconds between two looks at the jobs' states (SLURM: at least
        :data:`SLURM_POLL_S`).
    """

    name: str = "pool"
    chunk: int = 1
    slurm_partition: str | None = None
    slurm_time: float | None = None
    slurm_gpus: int | None = None
    poll_s: float = 0.5

    @property
    def uses_submitit(self) -> bool:
        """Whether the runs execute as submitit jobs."""
        return self.name in ("local", "slurm")

    @property
    def remote(self) -> bool:
        """Whether runs execute on other machines (SLURM nodes)."""
        return self.name == "slurm"

    def check(self) -> None:
        """Raise :class:`UserError` (one line) for a bad name, option or missing tool."""
        check_executor(self)

    def adapt(self, specs: Sequence[RunSpec]) -> list[RunSpec]:
        """``specs`` as this executor runs them: on SLURM, ``device="auto"`` becomes the
        device of the job's node (``cuda`` with ``slurm_gpus``, else ``cpu``), since a
        run's identity names its device and the login node cannot tell."""
        if not self.remote:
            return list(specs)
        auto = "cuda" if self.slurm_gpus else "cpu"
        return [replace(s, device=auto) if s.device == "auto" else s for s in specs]


def as_executor(executor: Executor | str | None) -> Executor:
    """An :class:`Executor` from a name (``None``: ``pool``), checked."""
    if executor is None:
        executor = Executor()
    elif isinstance(executor, str):
        executor = Executor(name=executor)
    check_executor(executor)
    return executor


def check_executor(executor: Executor) -> None:
    """One-line :class:`UserError` for an unknown name, a bad option, a missing
    ``submitit`` or (``slurm``) a missing ``sbatch``."""
    if executor.name not in EXECUTORS:
        raise UserError(f"unknown executor {executor.name!r}; valid executors: "
                        f"{', '.join(EXECUTORS)}")
    if isinstance(executor.chunk, bool) or not isinstance(executor.chunk, int) \
            or executor.chunk < 1:
        raise UserError(f"--chunk must be a positive integer, got {executor.chunk!r}")
    if executor.slurm_time is not None and not executor.slurm_time > 0:
        raise UserError(f"--slurm-time must be a positive number of minutes, "
                        f"got {executor.slurm_time!r}")
    if executor.slurm_gpus is not None and (isinstance(executor.slurm_gpus, bool) or not
                                            isinstance(executor.slurm_gpus, int)
                                            or executor.slurm_gpus < 0):
        raise UserError(f"--slurm-gpus must be a non-negative integer, got "
                        f"{executor.slurm_gpus!r}")
    if not executor.uses_submitit:
        return
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UserError(f"--executor {executor.name} needs the submitit package, which is not "
                        "installed; pip install 'ml2bench[cluster]' (or: pip install "
                        "submitit)") from None
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None] \
        if executor.name == "slurm" else []
    if missing:
        raise UserError(f"--executor slurm needs SLURM's {' and '.join(missing)} "
                        f"command{'s' if len(missing) > 1 else ''}, not on PATH; run on a "
                        "SLURM login node, or use --executor local")


# -- the job -------------------------------------------------------------------------------

class RunChunk:
    """A submitit job's work: execute ``runs`` into the store at ``root``, in order.

    Returns ``{run_id: status}``. Finished runs are skipped (``up-to-date``), an
    unfinished one resumes from its checkpoint, so the same chunk can run again after a
    cancelled job or a requeue (:meth:`checkpoint`, submitit's protocol).
    """

    def __init__(self, runs: Sequence[PreparedRun], root: str,
                 env: dict[str, str] | None = None) -> None:
        self.runs, self.root = list(runs), str(root)
        self.env = dict(env if env is not None else
                        {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})

    def __call__(self) -> dict[str, str]:
        from ml2bench.runner.loop import execute
        from ml2bench.runner.store import ResultsStore

        os.environ.update(self.env)
        store = ResultsStore(self.root)
        statuses = {}
        for run in self.runs:
            start = time.perf_counter()
            print(f"run {run.label} [{run.run_id}]: started", flush=True)
            statuses[run.run_id] = execute(run, store)
            print(f"run {run.label} [{run.run_id}]: {statuses[run.run_id]} "
                  f"({time.perf_counter() - start:.1f} s)", flush=True)
        return statuses

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit's requeue hook (time limit, preemption): run the same chunk again;
        finished runs are skipped and the interrupted one resumes from its checkpoint."""
        import submitit

        return submitit.helpers.DelayedSubmission(RunChunk(self.runs, self.root, self.env),
                                                  *args, **kwargs)


def chunks(runs: Sequence[PreparedRun], size: int) -> list[list[PreparedRun]]:
    """``runs`` in consecutive groups of ``size`` (the last may be shorter)."""
    return [list(runs[i:i + size]) for i in range(0, len(runs), size)]


def job_outcome(job, runs: Sequence[PreparedRun], root: str) -> dict[str, tuple[str, str]]:
    """``{run_id: (status, note)}`` of a finished job's runs: from the job's result, else
    (cancelled, killed, failed job) from the store: a finished run's final status, else
    :data:`UNFINISHED` with why and where the job's log is."""
    from ml2bench.runner.store import ResultsStore

    statuses: dict[str, str] = {}
    why = ""
    if job.paths.result_pickle.exists():
        try:
            statuses = dict(job.result())
        except Exception as exc:  # the job raised (e.g. a UserError on its node)
            why = f"the job failed: {_last_error(str(exc))}"
    else:
        why = f"the job ended without a result ({job.state.lower()}: cancelled, killed or " \
              "out of time)"
    store = ResultsStore(root)
    outcome = {}
    for run in runs:
        status = statuses.get(run.run_id)
        if status is None or status == "up-to-date":  # finished by an earlier attempt or not
            finished = store.is_trained(run.run_id, run.config_hash)
            status = (store.final_status(run.run_id) or UNFINISHED) if finished else UNFINISHED
        note = ""
        if status == UNFINISHED:
            note = f"job {job.job_id}: {why or 'the run did not finish'}; log {job.paths.stderr}"
        outcome[run.run_id] = (status, note)
    return outcome


def _last_error(message: str) -> str:
    """The exception line of the traceback in a submitit job error's ``message``."""
    parts = [p for p in message.split("-" * 22) if p.strip()]
    trace = parts[1] if len(parts) >= 3 else message
    lines = [line.strip() for line in trace.splitlines()
             if line.strip() and not line.startswith((" ", "\t"))]
    return lines[-1] if lines else message.strip().splitlines()[0]


# -- the backends ---------------------------------------------------------------------------

def run_prepared(executor: Executor, todo: list[PreparedRun], out_dir: str, jobs: int,
                 report, bar) -> None:
    """Execute ``todo`` on ``executor``, adding each run's status to ``report``
    (a :class:`~ml2bench.runner.sweep.SweepReport`) and advancing the progress ``bar``."""
    if executor.uses_submitit:
        SubmititBackend(executor, out_dir, jobs).run(todo, report, bar)
    elif jobs <= 1 or len(todo) <= 1:
        from ml2bench.runner.loop import execute
        from ml2bench.runner.store import ResultsStore

        store = ResultsStore(out_dir)
        for run in todo:
            bar.set_description(run.label[:60])
            report.add(run.label, execute(run, store))
            bar.update()
    else:
        _run_pool(todo, out_dir, jobs, report, bar)


def _execute_in_worker(prepared: PreparedRun, root: str) -> str:
    from ml2bench.runner.loop import execute
    from ml2bench.runner.store import ResultsStore

    return execute(prepared, ResultsStore(root))


def _run_pool(todo: list[PreparedRun], out_dir: str, jobs: int, report, bar) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(_execute_in_worker, run, out_dir): run for run in todo}
        for future in as_completed(futures):
            run = futures[future]
            report.add(run.label, future.result())
            bar.update()


class SubmititBackend:
    """Runs as submitit jobs (``local`` or ``slurm``), logs in ``OUT/submitit``."""

    def __init__(self, executor: Executor, out_dir: str, jobs: int = 1) -> None:
        self.executor, self.jobs = executor, max(1, jobs)
        self.out_dir = str(Path(out_dir).resolve())  # the same folder seen from every node
        self.folder = Path(self.out_dir) / "submitit"

    def parameters(self, runs: Sequence[PreparedRun]) -> dict[str, Any]:
        """submitit parameters: the job's time limit, CPUs (the runs' largest thread
        count), GPUs and partition (``slurm_*``) and a job name."""
        executor = self.executor
        minutes = executor.slurm_time or (DEFAULT_SLURM_MINUTES if executor.name == "slurm"
                                          else DEFAULT_LOCAL_MINUTES)
        gpus = executor.slurm_gpus
        if gpus is None:
            gpus = self._local_gpus(runs) if executor.name == "local" else 0
        params: dict[str, Any] = {
            "timeout_min": max(1, math.ceil(minutes)), "gpus_per_node": gpus, "nodes": 1,
            "tasks_per_node": 1, "name": "ml2bench",
            "cpus_per_task": max(run.spec.threads or 1 for run in runs)}
        if executor.name == "slurm":
            if executor.slurm_partition:
                params["slurm_partition"] = executor.slurm_partition
            if self.jobs > 1:
                params["slurm_array_parallelism"] = self.jobs
        return params

    @staticmethod
    def _local_gpus(runs: Sequence[PreparedRun]) -> int:
        """GPUs a local job must see: submitit's local executor hides every GPU
        (``CUDA_VISIBLE_DEVICES=""``) unless asked for some."""
        from ml2bench.runner.prepare import resolve_device

        if not any(resolve_device(run.spec.device).type == "cuda" for run in runs):
            return 0
        import torch

        return torch.cuda.device_count()

    def make(self, runs: Sequence[PreparedRun]):
        """The configured ``submitit.AutoExecutor``."""
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.executor.name)
        executor.update_parameters(**self.parameters(runs))
        return executor

    def submit(self, executor, groups: Sequence[Sequence[PreparedRun]]) -> list:
        """One job per group (on SLURM, one job array)."""
        calls = [RunChunk(group, self.out_dir) for group in groups]
        if len(calls) == 1:
            return [executor.submit(calls[0])]
        return executor.submit_array(calls)

    def run(self, todo: list[PreparedRun], report, bar) -> None:
        """Submit ``todo`` (``local``: at most ``jobs`` jobs at once), wait, count."""
        if not todo:
            return
        executor = self.make(todo)
        groups = chunks(todo, self.executor.chunk)
        window = self.jobs if self.executor.name == "local" else len(groups)
        # SLURM states come through the shared file system and sacct: look less often
        poll = self.executor.poll_s if self.executor.name == "local" \
            else max(self.executor.poll_s, SLURM_POLL_S)
        waiting = list(groups)
        running: list[tuple[Any, list[PreparedRun]]] = []
        print(f"{len(groups)} {self.executor.name} job(s) of up to {self.executor.chunk} "
              f"run(s); logs in {self.folder}", file=sys.stderr)
        try:
            while waiting or running:
                free = window - len(running)
                if waiting and free > 0:
                    batch, waiting = waiting[:free], waiting[free:]
                    running += list(zip(self.submit(executor, batch), batch))
                still = []
                for job, group in running:
                    if not job.done():
                        still.append((job, group))
                        continue
                    outcome = job_outcome(job, group, self.out_dir)
                    for run in group:
                        status, note = outcome[run.run_id]
                        report.add(run.label, status, note)
                        bar.update()
                running = still
                if running:
                    time.sleep(poll)
        except KeyboardInterrupt:  # no job left behind: a rerun resumes from checkpoints
            for job, _ in running:
                try:
                    job.cancel(check=False)
                except Exception:  # noqa: BLE001 - best effort while interrupted
                    pass
            raise

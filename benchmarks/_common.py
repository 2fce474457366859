"""Helpers of the asv benchmarks (not benchmarks themselves).

asv imports every module of ``benchmarks/`` and collects every public name that matches
``time_*``, ``track_*``, ``mem_*``, ``peakmem_*``, ``timeraw_*`` (and classes ``Time*``,
``Track*``, ...): helpers must not be named so, here or imported into a benchmark module
(``tests/benchmarks/test_asv.py`` checks that every collected benchmark publishes a value).
"""

from __future__ import annotations

import importlib
import math
import tempfile

import torch

#: Every built-in solver — every family — on one multilevel problem (the single-level
#: solvers run its finest level); "problem solver" strings, asv's parameter values.
STEP_CASES = [f"peaks_resnet[quick=true] {s}" for s in (
    "sgd", "adam", "lbfgs",                                # baselines (torch.optim)
    "tr", "tr[subproblem=lsr1]",                           # trust region
    "rmtr", "mgopt", "nested",                             # multilevel
    "apts_d", "apts_p", "aspqn", "mspqn")]                 # domain decomposition

def split_case(case: str) -> tuple[str, str]:
    """``"problem solver"`` → ``(problem, solver)``."""
    problem, solver = case.split(" ", 1)
    return problem, solver


def bound_solver(case: str):
    """The task, solver (bound, seed 0, one torch thread) and ledger of a case; raises
    ``NotImplementedError`` (asv: skipped) if the solver does not support the problem."""
    from ml2bench.testing import bind

    torch.set_num_threads(1)
    problem, solver = split_case(case)
    task, bound, ledger = bind(problem, solver, seed=0)
    if not bound.supports(task)[0]:
        raise NotImplementedError(f"{solver} does not support {problem}")
    return task, bound, ledger


def tensor_megabytes(obj, seen: set | None = None) -> float:
    """MB of the tensor storages reachable from ``obj`` (dicts, lists, tuples), each
    storage counted once."""
    seen = set() if seen is None else seen
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        if storage.data_ptr() in seen:
            return 0.0
        seen.add(storage.data_ptr())
        return storage.nbytes() / 2**20
    if isinstance(obj, dict):
        return sum(tensor_megabytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_megabytes(v, seen) for v in obj)
    return 0.0


def run_pairs(pairs: list[str], stop_at_target: bool) -> dict[str, tuple[float, float]]:
    """Run each ``"problem solver"`` pair once (seed 0, one thread) through the real
    runner; per pair ``(WU to target, final value of the target metric)`` (NaN WU: the
    target was not reached)."""
    from ml2bench.runner.prepare import prepare
    from ml2bench.runner.spec import RunSpec
    from ml2bench.runner.store import ResultsStore
    from ml2bench.runner.sweep import run_sweep

    torch.set_num_threads(1)
    specs = {pair: RunSpec(problem=split_case(pair)[0], solver=split_case(pair)[1], seed=0,
                           stop_at_target=stop_at_target, threads=1) for pair in pairs}
    with tempfile.TemporaryDirectory() as out:
        run_sweep(list(specs.values()), out, progress=False)
        rows = ResultsStore(out).load_runs()
    # the module, not its names: a time_to_target here would be collected by asv
    board = importlib.import_module("ml2bench.report.leaderboard")
    reached = board.time_to_target(rows).set_index("run_id")
    finals = board.final_rows(rows).set_index("run_id")
    results = {}
    for pair, spec in specs.items():
        run_id = prepare(spec).run_id
        hit = reached.loc[run_id]
        value = finals.loc[run_id].get(hit["target_metric"], math.nan)
        results[pair] = (float(hit["wu_to_target"]), float(value))
    return results


def measured_markdown(command: str, body: str) -> str:
    """A measured table as the documentation includes it: a line naming the command that
    measured it and the machine (CPU, ISA level, numerics, threads, torch, commit, date),
    then ``body``. Times depend on the machine's load, which this line cannot know."""
    import datetime

    from ml2bench import numerics
    from ml2bench.runner.environment import git_commit

    columns = numerics.environment_columns("cpu")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    return (f"Measured by `{command}` on {columns['cpu_model']} ({columns['cpu_isa']}, "
            f"{columns['numerics']} numerics, {torch.get_num_threads()} torch thread(s)), "
            f"torch {torch.__version__}, commit {git_commit()[:10]}, {when}.\n\n{body.rstrip()}\n")


def write_measured_markdown(path: str, command: str, body: str) -> None:
    """Write :func:`measured_markdown` to ``path`` atomically."""
    from ml2bench.files import write_text

    write_text(path, measured_markdown(command, body))

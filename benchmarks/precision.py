"""Reduced precision: WU to target, final accuracy and ``hess_max`` per precision.

For ``adam``, ``lbfgs`` (default hyperparameters), ``tr`` and ``rmtr`` (the stochastic
L-SR1 configuration of ``benchmarks/multilevel_speedup.py``) on
``peaks_resnet[quick=true]`` and ``digits_cnn[quick=true]``, every precision of
``--precisions`` (default ``fp32,bf16``; on a GPU e.g. ``--device cuda --precisions
fp32,bf16,fp16``) runs through the runner (``--precision``,
:mod:`ml2bench.accounting.precision`): parameters in float32, the oracle's model
evaluations autocast to bf16/fp16 (fp16 with dynamic loss scaling). The runs stop at
the problem's target (test accuracy 0.9 on peaks, 0.95 on digits) or at the budget
(``--budget``, default 50 WU; the quick budgets are 15), evaluated every
``--checkpoint-every`` WU (default 0.25: the resolution of WU to target; evaluations are
not charged) and compute ``hess_max`` (largest Hessian eigenvalue of the final float32
model on the training subset ``D_H``, in float32, :mod:`ml2bench.flatness`; ``--metrics hess_max``).

Printed: one line per problem × solver × precision — median WU to target over the seeds
that reach it (``—``: none within the budget), seeds reaching it, final test accuracy
(median over seeds, the float32 master weights evaluated in float32), ``hess_max``
(median) and wall time — then per (problem, solver) the ratio WU(bf16)/WU(fp32), and as
the last line ``bf16_wu_ratio=<median over the pairs where both reach the target>``
(``nan`` if no pair does).

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/precision.py [--seeds 3]
        [--budget WU] [--precisions fp32,bf16] [--device cpu] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import itertools
import math
import platform
import statistics
import tempfile
import time

import pandas as pd
from ml2bench import numerics

numerics.configure_torch()  # the kernels every ml2bench run uses (portable default),
#                             for the bare loops too

import torch  # noqa: E402

from ml2bench.problems.registry import resolve_problem
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep

PROBLEMS = ["peaks_resnet[quick=true]", "digits_cnn[quick=true]"]
SOLVERS = ["adam", "lbfgs", "tr", "rmtr"]


def solver_label(solver: str, problem: str) -> str:
    """``tr`` and ``rmtr`` in the stochastic L-SR1 configuration of
    ``benchmarks/multilevel_speedup.py`` (the problem's batch size, one batch per step /
    cycle; no Hessian-vector products); ``adam`` and ``lbfgs`` with their defaults."""
    if solver not in ("tr", "rmtr"):
        return solver
    batch_size = resolve_problem(problem)[2]["batch_size"]
    return f"{solver}[batch_size={batch_size},subproblem=lsr1]"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration")
    parser.add_argument("--budget", type=float, default=50.0, help="budget in WU per run")
    parser.add_argument("--checkpoint-every", type=float, default=0.25,
                        help="evaluation spacing in WU (the resolution of WU to target)")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--out", default=None, help="results folder (default: temporary)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (process pool)")
    return parser.parse_args(argv)


def median(values) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else math.nan


def fmt(value: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def summaries(out: str) -> pd.DataFrame:
    """One row per run: problem, solver, precision, seed, reached, WU, accuracy, hess_max."""
    store = ResultsStore(out)
    runs = store.load_runs()
    flat = store.load_flatness()
    hess = dict(zip(flat["run_id"], flat["hess_max"])) if "hess_max" in flat else {}
    records = []
    for run_id, rows in runs.groupby("run_id"):
        rows = rows.sort_values("step")
        last = rows.iloc[-1]
        reached = last["status"] == "target"
        base = next(p for p in PROBLEMS if p.split("[")[0] == last["problem"])
        records.append({"problem": base, "solver": last["solver"],
                        "precision": last["precision"], "seed": int(last["seed"]),
                        "reached": reached, "wu": last["work_units"] if reached else math.nan,
                        "acc": last["test_acc"], "hess_max": hess.get(run_id, math.nan),
                        "time": last["time_s"], "status": last["status"],
                        "error": last["error"]})
    return pd.DataFrame(records)


def main(argv=None) -> None:
    args = parse_args(argv)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    out = args.out or tempfile.mkdtemp(prefix="ml2bench-precision-")
    specs = []
    for precision in precisions:
        for problem in PROBLEMS:
            specs += expand([problem], [solver_label(s, problem) for s in SOLVERS],
                            range(args.seeds), budget=args.budget, device=args.device,
                            precision=precision, metrics=("hess_max",),
                            checkpoint_every=args.checkpoint_every)
    start = time.perf_counter()
    run_sweep(specs, out, jobs=args.jobs, progress=False)
    elapsed = time.perf_counter() - start
    frame = summaries(out)
    print(f"machine: {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s) per run, device "
          f"{args.device}, {args.seeds} seed(s), sweep {elapsed:.0f} s, results in {out}")
    print(f"\n{'problem':26s} {'solver':7s} {'prec':5s} {'WU→target':>10s} {'reached':>8s} "
          f"{'test_acc':>9s} {'hess_max':>9s} {'time s':>7s}  status")
    cells = {}
    for problem, solver, precision in itertools.product(PROBLEMS, SOLVERS, precisions):
        group = frame[(frame.problem == problem) & (frame.solver == solver)
                      & (frame.precision == precision)]
        if group.empty:
            continue
        if set(group["status"]) == {"skipped"}:  # e.g. rmtr on a one-level problem
            print(f"{problem:26s} {solver:7s} {precision:5s} skipped: "
                  f"{group['error'].iloc[0].removeprefix('skip:').strip()}")
            continue
        wu = median(group["wu"])
        cells[(problem, solver, precision)] = wu
        print(f"{problem:26s} {solver:7s} {precision:5s} {fmt(wu):>10s} "
              f"{f'{int(group.reached.sum())}/{len(group)}':>8s} {fmt(median(group['acc'])):>9s} "
              f"{fmt(median(group['hess_max'])):>9s} {fmt(median(group['time']), 2):>7s}  "
              f"{'/'.join(sorted(set(group['status'])))}")
    ratios = []
    print()
    for problem in PROBLEMS:
        for solver in SOLVERS:
            fp32 = cells.get((problem, solver, "fp32"), math.nan)
            bf16 = cells.get((problem, solver, "bf16"), math.nan)
            ratio = bf16 / fp32 if math.isfinite(fp32) and math.isfinite(bf16) else math.nan
            if math.isfinite(ratio):
                ratios.append(ratio)
            print(f"{problem:26s} {solver:7s} WU(bf16)/WU(fp32) = {fmt(ratio)}")
    print(f"bf16_wu_ratio={fmt(median(ratios)) if ratios else 'nan'}")


if __name__ == "__main__":
    main()

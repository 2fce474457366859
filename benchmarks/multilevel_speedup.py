"""Multilevel speedup: work units and wall time to target of RMTR against its baselines.

On ``peaks_resnet``, ``ellipses_resnet``, ``swissroll_resnet`` and ``poisson1d_pinn``
(``[quick=true]`` sizes and budgets with ``--quick``), every solver of

    rmtr, mgopt, tr, nested, adam, sgd

is tuned under the **same trial budget**: three values of one hyperparameter — the
learning rate of ``adam``, ``sgd``, ``mgopt`` (Adam smoother) and ``nested`` (Adam
inner solver), the initial radius of ``tr`` and ``rmtr`` — namely its default × {⅓, 1,
3}, each run on seed 0; the value with the fewest work units to the problem's target
wins (if none reaches it: the best test metric). The winner then runs on the other
seeds (seed 0's run is reused). ``tr`` and ``rmtr`` share one configuration: stochastic
mode with the problem's batch size (one batch per step / per cycle, the same batch for
the ratio tests) and the same subproblem (``--subproblem``, default ``lsr1``: Hessian-
vector products cost ≈ 3 gradients on these networks, L-SR1 none).

WU to target is the runner's ``work_units`` when it stopped at the target (status
``target``); a run that does not reach it within its budget is censored (∞ in the
medians; in a speedup ratio its budget is used as a bound, marked ``≥``/``≤``; a
problem where neither solver reaches the target is left out of the geometric mean).
Printed: the table (problem × solver: chosen value, median WU to target, seeds reaching
it, median wall time to target, median best test metric), RMTR's per-level diagnostics
(share of the WU, cycles reaching the level, decrease contributed, coarse acceptance),
per-problem speedups and, as the last line,
``speedup_wu_tr=<WU(tr)/WU(rmtr)> speedup_wu_adam=<WU(adam)/WU(rmtr)>`` (geometric
means over problems). The published anchor: RMTR trains ResNets with a speedup of more
than 3× at equal validation accuracy (Gaedke-Merzhäuser, Kopaničáková & Krause, ESAIM
Proc. 71, 2021) — measure, do not assume.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/multilevel_speedup.py [--quick] [--seeds 3]
        [--subproblem lsr1|cg] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import pandas as pd
import torch

from ml2bench.problems.registry import resolve_problem
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep
from ml2bench.solvers.registry import make_solver
from ml2bench.testing import bind

PROBLEMS = ["peaks_resnet", "ellipses_resnet", "swissroll_resnet", "poisson1d_pinn"]
FACTORS = (1 / 3, 1.0, 3.0)


@dataclass(frozen=True)
class Entry:
    """A solver of the comparison: fixed hyperparameters and the one that is tuned."""

    name: str
    knob: str
    default: float
    stochastic_tr: bool = False

    def labels(self, batch_size: int, subproblem: str) -> list[str]:
        """The three canonical labels tried (default × ⅓, 1, 3)."""
        fixed = {"batch_size": batch_size, "subproblem": subproblem} if self.stochastic_tr else {}
        labels = []
        for factor in FACTORS:
            params = {**fixed, self.knob: float(f"{self.default * factor:.3g}")}
            body = ",".join(f"{k}={v}" for k, v in params.items())
            labels.append(make_solver(f"{self.name}[{body}]").label)
        return labels


SOLVERS = [Entry("rmtr", "radius", 1.0, stochastic_tr=True),
           Entry("mgopt", "lr", 1e-2),
           Entry("tr", "radius", 1.0, stochastic_tr=True),
           Entry("nested", "lr", 1e-2),
           Entry("adam", "lr", 1e-2),
           Entry("sgd", "lr", 0.1)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the problems' [quick=true] sizes")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per tuned solver")
    parser.add_argument("--subproblem", default="lsr1", choices=("lsr1", "cg"),
                        help="TR subproblem of tr and rmtr")
    parser.add_argument("--out", default=None, help="results folder (default: temporary)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (process pool)")
    return parser.parse_args(argv)


def problem_label(name: str, quick: bool) -> str:
    return f"{name}[quick=true]" if quick else name


def summarise(rows: pd.DataFrame) -> dict:
    """One run: reached?, WU and time to target (∞ if not), best metric, final WU."""
    metric = "test_acc" if rows["test_acc"].notna().any() else "test_rel_l2"
    last = rows.iloc[-1]
    reached = last["status"] == "target"
    best = rows[metric].max() if metric == "test_acc" else rows[metric].min()
    return {"reached": reached, "wu": last["work_units"] if reached else math.inf,
            "time": last["time_s"] if reached else math.inf, "best": best,
            "metric": metric, "final_wu": last["work_units"], "status": last["status"]}


def load_summaries(out: str) -> dict:
    """``{(problem, solver_label, seed): summary}`` for every finished run in ``out``."""
    frame = ResultsStore(out).load_runs()
    summaries = {}
    for (problem, label, seed), rows in frame.groupby(["problem", "solver_label", "seed"]):
        summaries[(problem, label, int(seed))] = summarise(rows.sort_values("step"))
    return summaries


def better(a: dict, b: dict) -> bool:
    """Is run ``a`` better than ``b``: fewer WU to target, else a better best metric."""
    if a["wu"] != b["wu"]:
        return a["wu"] < b["wu"]
    return a["best"] > b["best"] if a["metric"] == "test_acc" else a["best"] < b["best"]


def tune(args, out: str) -> dict:
    """Seed-0 runs of the three values of every solver; returns the chosen labels."""
    specs, candidates = [], {}
    for name in PROBLEMS:
        label = problem_label(name, args.quick)
        batch_size = resolve_problem(label)[2]["batch_size"]
        for entry in SOLVERS:
            candidates[(name, entry.name)] = entry.labels(batch_size, args.subproblem)
            specs += expand([label], candidates[(name, entry.name)], [0])
    run_sweep(specs, out, jobs=args.jobs, progress=False)
    summaries = load_summaries(out)
    chosen = {}
    for (name, solver), labels in candidates.items():
        best = labels[0]
        for label in labels[1:]:
            if better(summaries[(name, label, 0)], summaries[(name, best, 0)]):
                best = label
        chosen[(name, solver)] = best
    return chosen


def run_seeds(args, out: str, chosen: dict) -> dict:
    """The chosen configurations on seeds 1..seeds−1 (seed 0 is reused)."""
    specs = []
    for (name, _), label in chosen.items():
        specs += expand([problem_label(name, args.quick)], [label], range(1, args.seeds))
    if specs:
        run_sweep(specs, out, jobs=args.jobs, progress=False)
    return load_summaries(out)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def fmt(value: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def table(args, chosen: dict, summaries: dict) -> dict:
    """Print the problem × solver table; return the median WU to target per cell."""
    print(f"\n{'problem':18s} {'solver':9s} {'chosen':>16s} {'WU→target':>10s} {'reached':>8s} "
          f"{'time→target':>12s} {'best metric':>16s} {'WU used':>8s}")
    cells = {}
    for (name, solver), label in chosen.items():
        runs = [summaries[(name, label, s)] for s in range(args.seeds)
                if (name, label, s) in summaries]
        wu, seconds = median([r["wu"] for r in runs]), median([r["time"] for r in runs])
        reached = sum(r["reached"] for r in runs)
        best = median([r["best"] for r in runs])
        budget = max(r["final_wu"] for r in runs)
        knob = next(e.knob for e in SOLVERS if e.name == solver)
        value = make_solver(label).hparams[knob]
        cells[(name, solver)] = {"wu": wu, "budget": budget}
        print(f"{name:18s} {solver:9s} {knob + '=' + fmt(value):>16s} {fmt(wu):>10s} "
              f"{f'{reached}/{len(runs)}':>8s} "
              f"{fmt(seconds, 2) + ' s' * math.isfinite(seconds):>12s} "
              f"{runs[0]['metric'] + ' ' + fmt(best):>16s} {fmt(budget):>8s}")
    return cells


def speedup(cells: dict, other: str) -> tuple[float, list[str]]:
    """Geometric mean over problems of WU(other)/WU(rmtr), censored runs as bounds."""
    logs, notes = [], []
    for name in PROBLEMS:
        a, b = cells[(name, other)], cells[(name, "rmtr")]
        if not math.isfinite(a["wu"]) and not math.isfinite(b["wu"]):
            notes.append(f"{name}: neither reaches the target (left out)")
            continue
        num = a["wu"] if math.isfinite(a["wu"]) else a["budget"]
        den = b["wu"] if math.isfinite(b["wu"]) else b["budget"]
        mark = "≥" if not math.isfinite(a["wu"]) else ("≤" if not math.isfinite(b["wu"]) else "")
        notes.append(f"{name}: {mark}{num / den:.3g}")
        logs.append(math.log(num / den))
    return (math.exp(sum(logs) / len(logs)) if logs else math.nan), notes


def level_diagnostics(args, chosen: dict, summaries: dict) -> None:
    """Why RMTR wins or not: per-level WU share, visits, decreases, coarse acceptance."""
    print("\nRMTR per-level diagnostics (seed 0, chosen configuration, to the same WU):")
    print(f"{'problem':18s} {'level':>5s} {'WU share':>9s} {'cycles here':>11s} "
          f"{'smooth decr.':>12s} {'corr. decr.':>11s} {'coarse acc.':>11s}")
    for name in PROBLEMS:
        label = chosen[(name, "rmtr")]
        cap = summaries[(name, label, 0)]["final_wu"]
        task, solver, ledger = bind(problem_label(name, args.quick), label, seed=0)
        infos = []
        while ledger.work_units < cap:
            infos.append(solver.step())
        shares = ledger.work_units_by_level()
        for level, share in enumerate(shares):
            visited = sum(math.isfinite(i[f"radius_l{level}"]) for i in infos) / len(infos)
            smooth = sum(i[f"decrease_l{level}"] for i in infos)
            correction = sum(i.get(f"correction_decrease_l{level}", 0.0) for i in infos)
            tried = sum(math.isfinite(i.get(f"coarse_rho_l{level}", math.nan)) for i in infos)
            accepted = sum(i.get(f"coarse_accepted_l{level}", 0.0) for i in infos)
            rate = f"{accepted:.0f}/{tried}" if level else "—"
            print(f"{name:18s} {level:5d} {share / sum(shares):9.2f} {visited:11.2f} "
                  f"{smooth:12.3g} {correction if level else math.nan:11.3g} {rate:>11s}")
        fine = sum(i["decrease_l0"] + i.get("correction_decrease_l1", 0.0) for i in infos)
        from_coarse = sum(i.get("correction_decrease_l1", 0.0) for i in infos)
        print(f"{'':18s} coarse corrections: {from_coarse / fine:.0%} of the fine decrease for "
              f"{1 - shares[0] / sum(shares):.0%} of the WU ({len(infos)} cycles)")


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        chosen = tune(args, out)
        summaries = run_seeds(args, out, chosen)
        mode = "quick sizes" if args.quick else "full sizes"
        print(f"multilevel_speedup: {mode}, {args.seeds} seeds, 3 trials per solver, "
              f"tr/rmtr subproblem={args.subproblem}, torch threads=1")
        cells = table(args, chosen, summaries)
        level_diagnostics(args, chosen, summaries)
    results = {other: speedup(cells, other) for other in ("tr", "adam", "mgopt", "nested", "sgd")}
    print("\nWU(solver)/WU(rmtr) per problem (≥/≤: bound from a censored run):")
    for other, (mean, notes) in results.items():
        print(f"  {other:7s} geo-mean {fmt(mean)}: " + "; ".join(notes))
    print(f"total wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(f"speedup_wu_tr={results['tr'][0]:.3g} speedup_wu_adam={results['adam'][0]:.3g}")


if __name__ == "__main__":
    main()

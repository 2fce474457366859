"""Domain-decomposition scaling: parallel work units to target of APTS / Schwarz L-BFGS.

``apts_d`` (data decomposition) on ``digits_cnn`` and the ResNet toy problem
``peaks_resnet``; ``aspqn`` and ``mspqn`` (Schwarz-preconditioned L-BFGS, layer
subdomains) on the three PINNs of Kopaničáková et al. (SISC 2024) — ``burgers_pinn``,
``klein_gordon_pinn``, ``allen_cahn_pinn`` (float64, ``precision="fp64"``). Every DD
solver runs with D simulated subdomains, D = 1, 2, 4, 8 (``--quick``: 1, 2, 4); the
baselines ``tr``, ``lbfgs`` and ``adam`` (default hyperparameters, no tuning) run on
every problem. ``--quick``: the problems' ``[quick=true]`` sizes, 1 seed, and
``local_steps=3`` for ``aspqn``/``mspqn`` (their default 10 makes one step cost 20–47
WU, more than a quick budget allows); full: the default sizes, 2 seeds, ``local_steps``
at its default.

Budgets are in total work units (the runner's cap is ``work_units``): the problem's
default budget for a baseline, × D for a DD run with D subdomains, so that every run
can spend about the same critical path (``work_units_parallel``). Runs stop at the
target.

Measured per run: ``work_units_parallel`` (DD runs; equal to ``work_units`` for the
sequential baselines) at the first checkpoint where the problem's target is reached
(:func:`ml2bench.report.leaderboard.time_to_target`), else censored (∞), together with
the best test metric within the budget. Per cell: the median over seeds (∞ if any seed
does not reach the target). Speedup rule: per problem, WU(best baseline) /
WU_parallel(best DD solver and D), only over problems where at least one DD
configuration **and** at least one baseline reach the target; geometric mean over those
problems (``nan`` if none).

The gloo part times the real CLI, ``ml2bench run --problem P --solver
'apts_p[subdomains=2]' --nproc 2 --budget B --out D --no-progress`` against the same
command without ``--nproc`` (simulated), fresh output folders, ``digits_cnn[quick=true]``;
wall time of the whole command (start-up included). If the CLI has no ``--nproc`` (not
listed in ``ml2bench run --help``, or the command exits with status 2), it prints
``gloo_efficiency_2=nan`` and a one-line reason.

Last line: ``dd_speedup_wu_parallel=<WU(best baseline)/WU_parallel(best DD)>
gloo_efficiency_2=<T_sim/(2·T_2ranks)>``.

Published anchors (second-hand until the paper's table is read, not reproduced at quick
sizes): L-BFGS relative L2 errors 6.1e-4 (Klein–Gordon), 4.6e-4 (Burgers), 6.0e-4
(Allen–Cahn); MSPQN ≈ 8–10× and ASPQN ≈ 28–39× faster than L-BFGS.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/dd_scaling.py [--quick] [--seeds N]
        [--out DIR] [--jobs N] [--no-gloo]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import torch

from ml2bench.problems.registry import resolve_problem
# imported under a private name: asv collects module names matching time_* as benchmarks
from ml2bench.report.leaderboard import time_to_target as _time_to_target
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import run_sweep
from ml2bench.solvers.registry import make_solver

PROBLEMS = {"digits_cnn": "apts_d", "peaks_resnet": "apts_d",
            "burgers_pinn": "schwarz", "klein_gordon_pinn": "schwarz",
            "allen_cahn_pinn": "schwarz"}
PINNS = {"burgers_pinn", "klein_gordon_pinn", "allen_cahn_pinn"}
BASELINES = ("tr", "lbfgs", "adam")
GLOO_PROBLEM = "digits_cnn[quick=true]"
GLOO_SOLVER = "apts_p[subdomains=2]"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="quick sizes, D in {1,2,4}, 1 seed, local_steps=3 (≤ 5 min, 2 cores)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default: 1 quick, 2 full)")
    parser.add_argument("--out", default=None, help="results folder (default: temporary)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (process pool)")
    parser.add_argument("--no-gloo", action="store_true", help="skip the real 2-rank gloo run")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.quick else 2
    return args


def problem_label(name: str, quick: bool) -> str:
    return f"{name}[quick=true]" if quick else name


def dd_solvers(name: str, quick: bool) -> list[tuple[str, int, str]]:
    """``(solver, D, label)`` for the DD solvers of problem ``name``."""
    subdomains = (1, 2, 4) if quick else (1, 2, 4, 8)
    if PROBLEMS[name] == "apts_d":
        return [("apts_d", D, f"apts_d[subdomains={D}]") for D in subdomains]
    local = ",local_steps=3" if quick else ""
    return [(solver, D, f"{solver}[subdomains={D}{local}]")
            for solver in ("aspqn", "mspqn") for D in subdomains]


def build_specs(args) -> tuple[list[RunSpec], list[dict]]:
    """Every run, and the cells (problem, solver, D, label) of the table."""
    specs, cells = [], []
    for name in PROBLEMS:
        label = problem_label(name, args.quick)
        budget = float(resolve_problem(label)[2]["budget"])
        precision = "fp64" if name in PINNS else None
        entries = [(b, 0, b) for b in BASELINES] + dd_solvers(name, args.quick)
        for solver, D, solver_label in entries:
            solver_label = make_solver(solver_label).label  # canonical, as stored
            cell_budget = budget * max(D, 1)
            cells.append({"problem": name, "solver": solver, "D": D, "label": solver_label,
                          "budget": cell_budget})
            for seed in range(args.seeds):
                specs.append(RunSpec(problem=label, solver=solver_label, seed=seed,
                                     budget=cell_budget, stop_at_target=True,
                                     precision=precision))
    return specs, cells


def summarise(frame: pd.DataFrame) -> dict:
    """``{(problem, solver_label, seed): {wu, wu_par, best, metric, status, ...}}``."""
    hits = _time_to_target(frame).set_index("run_id")
    out = {}
    for run_id, rows in frame.groupby("run_id"):
        rows = rows.sort_values("step")
        first = rows.iloc[0]
        hit = hits.loc[run_id]
        metric = hit["target_metric"]
        values = rows[metric] if metric in rows else pd.Series(np.nan, index=rows.index)
        best = values.max() if hit["higher_is_better"] else values.min()
        if bool(hit["reached"]):
            at = rows[np.isclose(rows["work_units"].astype(float), hit["wu_to_target"])].iloc[0]
            wu, wu_par = float(at["work_units"]), float(at["work_units_parallel"])
        else:
            wu = wu_par = math.inf
        last = rows.iloc[-1]
        key = (first["problem"].split("[")[0], first["solver_label"], int(first["seed"]))
        out[key] = {"wu": wu, "wu_par": wu_par, "best": best, "metric": metric,
                    "threshold": hit["threshold"], "status": last["status"],
                    "final_wu": float(last["work_units"]),
                    "final_wu_par": float(last["work_units_parallel"]),
                    "time": float(last["time_s"])}
    return out


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def fmt(value: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def table(args, cells: list[dict], runs: dict) -> None:
    print(f"\n{'problem':18s} {'solver':7s} {'D':>2s} {'reached':>7s} {'WU→tgt':>8s} "
          f"{'WU_par→tgt':>10s} {'best metric':>18s} {'target':>7s} {'WU used':>8s} "
          f"{'WU_par used':>11s} {'wall':>6s}")
    for cell in cells:
        rs = [runs[(cell["problem"], cell["label"], s)] for s in range(args.seeds)
              if (cell["problem"], cell["label"], s) in runs]
        if not rs:
            cell.update(wu=math.inf, wu_par=math.inf)
            print(f"{cell['problem']:18s} {cell['solver']:7s} (no run)")
            continue
        reached = sum(math.isfinite(r["wu"]) for r in rs)
        cell["wu"] = median(r["wu"] for r in rs) if reached == len(rs) else math.inf
        cell["wu_par"] = median(r["wu_par"] for r in rs) if reached == len(rs) else math.inf
        best = median(r["best"] for r in rs)
        D = str(cell["D"]) if cell["D"] else "—"
        print(f"{cell['problem']:18s} {cell['solver']:7s} {D:>2s} {f'{reached}/{len(rs)}':>7s} "
              f"{fmt(cell['wu']):>8s} {fmt(cell['wu_par']):>10s} "
              f"{rs[0]['metric'] + ' ' + fmt(best):>18s} {fmt(rs[0]['threshold']):>7s} "
              f"{fmt(median(r['final_wu'] for r in rs)):>8s} "
              f"{fmt(median(r['final_wu_par'] for r in rs)):>11s} "
              f"{median(r['time'] for r in rs):5.1f}s")


def speedup(cells: list[dict]) -> tuple[float, list[str]]:
    """Geometric mean of WU(best baseline)/WU_par(best DD) over problems where both reach."""
    logs, notes = [], []
    for name in PROBLEMS:
        base = [c for c in cells if c["problem"] == name and c["D"] == 0]
        dd = [c for c in cells if c["problem"] == name and c["D"] > 0]
        b = min(base, key=lambda c: c["wu"])
        d = min(dd, key=lambda c: c["wu_par"])
        if not (math.isfinite(b["wu"]) and math.isfinite(d["wu_par"])):
            why = ("no baseline" if not math.isfinite(b["wu"]) else "") + \
                  (" and " if not math.isfinite(b["wu"]) and not math.isfinite(d["wu_par"])
                   else "") + ("no DD solver" if not math.isfinite(d["wu_par"]) else "")
            notes.append(f"{name}: {why} reaches the target (left out)")
            continue
        ratio = b["wu"] / d["wu_par"]
        notes.append(f"{name}: {b['solver']} {fmt(b['wu'])} / {d['solver']}[D={d['D']}] "
                     f"{fmt(d['wu_par'])} = {ratio:.3g}")
        logs.append(math.log(ratio))
    return (math.exp(sum(logs) / len(logs)) if logs else math.nan), notes


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ml2bench", "run", *args]


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, done


def gloo(args, scratch: str) -> tuple[float, str]:
    """``(T_sim / (2 T_2ranks), note)``; ``nan`` and the reason when ``--nproc`` is missing."""
    if args.no_gloo:
        return math.nan, "skipped (--no-gloo)"
    helptext = subprocess.run(cli("--help"), capture_output=True, text=True).stdout
    if "--nproc" not in helptext:
        return math.nan, "`ml2bench run` has no --nproc in this checkout (not merged yet)"
    budget = "5"
    common = ["--problem", GLOO_PROBLEM, "--solver", GLOO_SOLVER, "--budget", budget,
              "--no-progress"]
    t_sim, sim = timed(cli(*common, "--out", os.path.join(scratch, "gloo_sim")))
    if sim.returncode != 0:
        return math.nan, f"simulated run failed (exit {sim.returncode}): " + \
            (sim.stderr.strip().splitlines() or ["?"])[-1]
    t_par, par = timed(cli(*common, "--nproc", "2", "--out", os.path.join(scratch, "gloo_2")))
    if par.returncode != 0:
        reason = (par.stderr.strip().splitlines() or ["?"])[-1]
        return math.nan, f"--nproc 2 run failed (exit {par.returncode}): {reason}"
    eff = t_sim / (2 * t_par)
    return eff, (f"{GLOO_PROBLEM} {GLOO_SOLVER} budget {budget} WU: simulated {t_sim:.1f} s, "
                 f"2 gloo ranks {t_par:.1f} s (whole command, start-up included)")


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or os.path.join(scratch, "runs")
        specs, cells = build_specs(args)
        run_sweep(specs, out, jobs=args.jobs, progress=False)
        runs = summarise(ResultsStore(out).load_runs())
        mode = "quick sizes, local_steps=3 (aspqn/mspqn)" if args.quick else "full sizes"
        print(f"dd_scaling: {mode}, {args.seeds} seed(s), D simulated, torch threads=1; "
              "budget = problem budget × D (total WU); baselines untuned")
        table(args, cells, runs)
        ratio, notes = speedup(cells)
        print("\nWU(best baseline)/WU_parallel(best DD) per problem:")
        for note in notes:
            print(f"  {note}")
        eff, note = gloo(args, scratch)
        print(f"\ngloo: {note}")
    print(f"total wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(f"dd_speedup_wu_parallel={ratio:.3g} gloo_efficiency_2={eff:.3g}")


if __name__ == "__main__":
    main()

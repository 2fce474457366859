"""Domain-decomposition scaling: wall time per outer step, solver state per rank, launcher
start-up — and (``--wu-to-target``) parallel work units to target.

**Time per outer step** (issue 22.3). For each DD solver that runs distributed
(``apts_d``, ``apts_p``, ``aspqn[local_steps=3]``) and D = 2 (``--max-d 4`` adds D = 4;
on a 2-core machine 4 ranks share 2 cores), ``benchmarks/_dd_steps.py`` runs the
solver with D subdomains twice: in one process (the simulated run: the same iterates,
every subdomain in sequence) and as D gloo ranks under ``torchrun`` (one subdomain per
rank). Each process uses one torch thread; launcher and interpreter start-up, imports
and building the task are excluded; one warm-up step, then ``--steps`` steps (default
5), each started together after a barrier. ``T_1`` and ``T_D`` are the medians of the
step times (rank 0's for the distributed run, whose step ends with its last
collective). Efficiency ``T_1 / (D · T_D)``; beside it the work-unit speedup of a step,
``WU / WU_parallel`` (the ledger's critical path), and the efficiency it predicts,
``(WU/WU_parallel) / D`` — below 1 where work is replicated on every rank (a serial
phase); the prediction is in FLOP-measured work units, not seconds, so a measured
efficiency may differ from it either way. Problem,
chosen so that one step costs far more than its collectives (compute dominates):
``peaks_resnet[width=32,levels=1,train_size=2000]`` — the dense ResNet-ODE of the peaks
problem with 65 blocks of width 32 (68 901 parameters), 2000 training points, one level
(``--quick``: ``width=16,train_size=1000``). For a result below 0.8 the benchmark prints
why: the ledger's prediction, and the communication share ``(collectives per step ×
measured all-reduce time of P + 1 entries) / T_D``.

**Solver state per rank** (issue 22.2). ``apts_p[split=rows]`` (every tensor's rows in D
contiguous groups: subdomains of equal size; the default ``split=tensor`` deals whole
tensors, and with few large tensors one subdomain gets nearly all parameters) on
``peaks_resnet[width=256,blocks=8,levels=1,train_size=500]`` (8 blocks: the block-stacked
tensors' rows split evenly for D = 1, 2, 4), D =
1, 2, 4 processes (D = 1: one process), 3 steps (the L-SR1 memories fill in the first):
the peak over the steps of the bytes of the tensors the solver's state holds, the
largest over the ranks (``_dd_steps.held_bytes``: iterate cache, L-SR1 memories with
their compact-form factors; not the model, the data or the decomposition's index
sets), and the largest peak RSS of a rank's process. ``dd_mem_ratio_2_over_1`` is for
``global_steps=0`` (the local phase's memories are the whole state besides the iterate
cache); the default ``global_steps=1`` adds a global L-SR1 memory that every rank holds
whole, measured and printed beside it.

**Launcher start-up** (issue 22.4): 3 seeds of ``apts_d[subdomains=2]`` on
``poisson1d_regression[quick=true]`` (budget 20 WU each) through ``ml2bench run
--nproc 2``: one command per seed (a process group started per run) against one command
for the 3 seeds (one process group for the sweep). Start-up is the wall time less the
runs' own loop time (``time_s``): torchrun, D interpreters and imports, joining the
group, building the tasks; printed per run and as a share of the wall time. The runs are
small on purpose: what is compared is the start-up each run pays, not computing.
``--no-launch`` skips it.

Writes ``results/dd_scaling.md`` (``--md``): the tables and the machine line
(processor, cores, load average before and after, torch, commit). Last line:
``dd_step_efficiency_apts_d_2=<e> dd_mem_ratio_2_over_1=<r>`` (then
``dd_speedup_wu_parallel=<s>`` with ``--wu-to-target``). Runs in about two minutes on a
quiet 2-core machine.

**Work units to target** (``--wu-to-target``; the earlier study, simulated, unchanged):
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

Published anchors (second-hand until the paper's table is read, not reproduced at quick
sizes): L-BFGS relative L2 errors 6.1e-4 (Klein–Gordon), 4.6e-4 (Burgers), 6.0e-4
(Allen–Cahn); MSPQN ≈ 8–10× and ASPQN ≈ 28–39× faster than L-BFGS.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/dd_scaling.py [--quick] [--steps K]
        [--max-d 4] [--no-launch] [--md FILE]
        [--wu-to-target [--seeds N] [--out DIR] [--jobs N]]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ml2bench.cli import free_port
from ml2bench.problems.registry import resolve_problem
# imported under a private name: asv collects module names matching time_* as benchmarks
from ml2bench.report.leaderboard import time_to_target as _time_to_target
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import run_sweep
from ml2bench.solvers.registry import make_solver

ROOT = Path(__file__).resolve().parents[1]
#: Step-time problem: compute dominates a step (module docstring).
TIME_PROBLEM = "peaks_resnet[width=32,levels=1,train_size=2000]"
TIME_PROBLEM_QUICK = "peaks_resnet[width=16,levels=1,train_size=1000]"
TIME_SOLVERS = ("apts_d", "apts_p", "aspqn[local_steps=3]")
#: Memory problem: many parameters, cheap steps.
MEM_PROBLEM = "peaks_resnet[width=256,blocks=8,levels=1,train_size=500]"
MEM_SOLVER = "apts_p[split=rows,global_steps=0]"
MEM_SOLVER_DEFAULT = "apts_p[split=rows]"
MEM_STEPS = 3
LAUNCH_PROBLEM = "poisson1d_regression[quick=true]"
LAUNCH_SOLVER = "apts_d[subdomains=2]"
LAUNCH_BUDGET = 20
LAUNCH_SEEDS = (0, 1, 2)

PROBLEMS = {"digits_cnn": "apts_d", "peaks_resnet": "apts_d",
            "burgers_pinn": "schwarz", "klein_gordon_pinn": "schwarz",
            "allen_cahn_pinn": "schwarz"}
PINNS = {"burgers_pinn", "klein_gordon_pinn", "allen_cahn_pinn"}
BASELINES = ("tr", "lbfgs", "adam")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller step-time problem; with --wu-to-target: quick sizes, "
                             "D in {1,2,4}, 1 seed, local_steps=3")
    parser.add_argument("--steps", type=int, default=5, help="timed outer steps per run")
    parser.add_argument("--max-d", type=int, default=2, choices=(2, 4),
                        help="largest D of the step-time measurement")
    parser.add_argument("--no-launch", action="store_true",
                        help="skip the launcher start-up measurement")
    parser.add_argument("--md", default=str(ROOT / "results" / "dd_scaling.md"),
                        help="markdown file written with the tables and the machine line")
    parser.add_argument("--wu-to-target", action="store_true",
                        help="also run the work-units-to-target study (simulated)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="--wu-to-target: seeds (default: 1 quick, 2 full)")
    parser.add_argument("--out", default=None,
                        help="--wu-to-target: results folder (default: temporary)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="--wu-to-target: parallel runs (process pool)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
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


def environment() -> dict:
    """One torch thread per process; this checkout first on the path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def with_subdomains(label: str, D: int) -> str:
    """``apts_d`` → ``apts_d[subdomains=D]``; ``aspqn[local_steps=3]`` →
    ``aspqn[local_steps=3,subdomains=D]``."""
    if label.endswith("]"):
        return f"{label[:-1]},subdomains={D}]"
    return f"{label}[subdomains={D}]"


def measure(problem: str, solver: str, processes: int, steps: int, warmup: int,
            scratch: str) -> dict:
    """One run of ``_dd_steps.py``: one process, or ``processes`` gloo ranks."""
    out = os.path.join(scratch, f"steps_{len(os.listdir(scratch))}.json")
    worker = [str(ROOT / "benchmarks" / "_dd_steps.py"), problem, solver,
              "--steps", str(steps), "--warmup", str(warmup), "--out", out]
    if processes == 1:
        command = [sys.executable, *worker]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                   "--nproc-per-node", str(processes), "--master-addr", "127.0.0.1",
                   "--master-port", str(free_port()), *worker]
    done = subprocess.run(command, capture_output=True, text=True, env=environment())
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"dd_scaling: {solver} on {processes} process(es) failed "
                         f"(exit {done.returncode}): {tail}")
    with open(out) as handle:
        return json.load(handle)


def step_times(args, scratch: str) -> tuple[list[dict], list[str]]:
    """Per solver and D: T_1 (simulated, one process), T_D (D ranks), efficiency, WU
    speedup, communication share; and the explanations of results below 0.8."""
    problem = TIME_PROBLEM_QUICK if args.quick else TIME_PROBLEM
    rows, notes = [], []
    for base in TIME_SOLVERS:
        for D in (2, 4) if args.max_d == 4 else (2,):
            label = with_subdomains(base, D)
            one = measure(problem, label, 1, args.steps, 1, scratch)
            par = measure(problem, label, D, args.steps, 1, scratch)
            t1 = statistics.median(one["ranks"][0]["times"])
            tD = statistics.median(par["ranks"][0]["times"])
            eff = t1 / (D * tD)
            wu_speedup = statistics.median(par["wu"]) / statistics.median(par["wu_parallel"])
            comm = statistics.median(par["collectives"]) * max(
                r["allreduce_s"] for r in par["ranks"]) / tD
            row = {"solver": base.split("[")[0], "label": label, "D": D, "T1": t1, "TD": tD,
                   "efficiency": eff, "wu_speedup": wu_speedup, "bound": wu_speedup / D,
                   "comm_share": comm, "collectives": statistics.median(par["collectives"]),
                   "parameters": par["parameters"]}
            rows.append(row)
            if eff < 0.8:
                why = (f"{label}: efficiency {eff:.2f} < 0.8 — the ledger's critical path "
                       f"predicts (WU/WU_parallel)/D = {row['bound']:.2f}")
                if row["bound"] < 0.8:
                    why += (" (its global phase is replicated on every rank: serial "
                            f"fraction of a step's work ≈ {serial_fraction(wu_speedup, D):.2f})")
                why += (f"; communication ≈ {100 * comm:.1f} % of a step "
                        f"({row['collectives']:g} all-reduces of P + 1 entries)")
                if D > (os.cpu_count() or 1):
                    why += f"; {D} ranks share {os.cpu_count()} cores"
                elif row["bound"] >= 0.8 and comm < 0.1:
                    why += ("; neither explains it: the processes did not get a core each "
                            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
                notes.append(why)
    return rows, notes


def serial_fraction(wu_speedup: float, D: int) -> float:
    """Amdahl's serial fraction ``s`` of a step's work from its WU speedup
    ``1 / (s + (1 − s)/D)``."""
    return (D / wu_speedup - 1) / (D - 1)


def memory(args, scratch: str) -> tuple[list[dict], float]:
    """Peak held solver state and RSS per rank, D = 1, 2, 4; the ratio D=2 / D=1 of
    ``MEM_SOLVER``."""
    rows = []
    for base, subdomains in ((MEM_SOLVER, (1, 2, 4)), (MEM_SOLVER_DEFAULT, (1, 2))):
        for D in subdomains:
            result = measure(MEM_PROBLEM, with_subdomains(base, D), D, MEM_STEPS, 0, scratch)
            held = [r["held_bytes"] for r in result["ranks"]]
            rss = [r["peak_rss_bytes"] for r in result["ranks"]]
            rows.append({"label": base, "D": D, "held": max(held), "rss": max(rss),
                         "parameters": result["parameters"]})
    by = {(r["label"], r["D"]): r["held"] for r in rows}
    return rows, by[(MEM_SOLVER, 2)] / by[(MEM_SOLVER, 1)]


def launch_overhead(scratch: str) -> dict:
    """Start-up share of ``--nproc 2`` runs: one command per seed, then one for all."""
    common = ["--problem", LAUNCH_PROBLEM, "--solver", LAUNCH_SOLVER, "--budget",
              str(LAUNCH_BUDGET), "--nproc", "2", "--no-progress", "--checkpoint-every", "0"]
    result = {}
    for mode in ("per_run", "one_group"):
        out = os.path.join(scratch, f"launch_{mode}")
        commands = ([cli(*common, "--seeds", str(s), "--out", out) for s in LAUNCH_SEEDS]
                    if mode == "per_run" else
                    [cli(*common, "--seeds", ",".join(map(str, LAUNCH_SEEDS)), "--out", out)])
        start = time.perf_counter()
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True, env=environment())
            if done.returncode != 0:
                raise SystemExit("dd_scaling: launcher measurement failed: "
                                 + (done.stderr.strip().splitlines() or ["?"])[-1])
        wall = time.perf_counter() - start
        frame = ResultsStore(out).load_runs()
        loop = float(frame.groupby("run_id")["time_s"].max().sum())
        result[mode] = {"wall": wall, "loop": loop, "commands": len(commands)}
    # start-up = everything but the runs' own loops (torchrun, D interpreters, imports,
    # joining the group, building the tasks), per run and as a share of the wall time
    for r in result.values():
        r["overhead"] = max(r["wall"] - r["loop"], 0.0)
        r["per_run"] = r["overhead"] / len(LAUNCH_SEEDS)
        r["share"] = r["overhead"] / r["wall"]
    return result


def machine_line(load_before: tuple) -> str:
    """Processor, cores, load average before and after, torch, commit."""
    from ml2bench.runner.environment import environment as run_environment
    env = run_environment(torch.device("cpu"))
    after = os.getloadavg()
    return (f"{env['cpu_model']} ({env['cpu_isa']}), {os.cpu_count()} cores, 1 torch thread "
            f"per process, load average {load_before[0]:.2f} before / {after[0]:.2f} after "
            f"(1 min), torch {env['torch_version']}, ml2bench {env['ml2bench_version']} @ "
            f"{env['git_commit'][:8]}, {env['started_at'][:16]} UTC")


def report(args, machine: str, times: list[dict], notes: list[str], mem: list[dict],
           launch: dict | None) -> str:
    """The markdown tables (printed and written to ``--md``)."""
    problem = TIME_PROBLEM_QUICK if args.quick else TIME_PROBLEM
    lines = [f"Machine: {machine}.", "",
             f"Time per outer step on `{problem}` ({times[0]['parameters']} parameters), "
             f"median of {args.steps} steps after one warm-up, start-up excluded; T₁: one "
             "process (the simulated run, same iterates), T_D: D gloo ranks.", "",
             "| solver | D | T₁ (s) | T_D (s) | efficiency T₁/(D·T_D) | WU speedup WU/WU_par "
             "| WU prediction (WU speedup)/D | communication share |",
             "|---|---|---|---|---|---|---|---|"]
    for r in times:
        lines.append(f"| `{r['label']}` | {r['D']} | {r['T1']:.3f} | {r['TD']:.3f} | "
                     f"{r['efficiency']:.2f} | {r['wu_speedup']:.2f} | {r['bound']:.2f} | "
                     f"{100 * r['comm_share']:.1f} % |")
    if notes:
        lines += ["", "Below 0.8:", ""] + [f"- {note}" for note in notes]
    lines += ["", f"Peak solver state per rank (tensors held by the solver's state, max over "
              f"{MEM_STEPS} steps, largest rank; not the model or data) and the largest peak RSS "
              f"of a rank's process, on "
              f"`{MEM_PROBLEM}` ({mem[0]['parameters']} parameters):", "",
              "| solver | D | solver state per rank (MB) | ratio to D = 1 | peak RSS (MB) |",
              "|---|---|---|---|---|"]
    base = {r["label"]: r["held"] for r in mem if r["D"] == 1}
    for r in mem:
        lines.append(f"| `{r['label']}` | {r['D']} | {r['held'] / 1e6:.1f} | "
                     f"{r['held'] / base[r['label']]:.2f} | {r['rss'] / 1e6:.0f} |")
    if launch is not None:
        lines += ["", f"Launcher start-up: {len(LAUNCH_SEEDS)} runs of `{LAUNCH_SOLVER}` on "
                  f"`{LAUNCH_PROBLEM}` ({LAUNCH_BUDGET} WU each) with `--nproc 2`:", "",
                  "| launch | commands | wall (s) | runs' loop time (s) | start-up per run (s) "
                  "| start-up share |",
                  "|---|---|---|---|---|---|"]
        for mode, what in (("per_run", "one process group per run"),
                           ("one_group", "one process group for the sweep")):
            r = launch[mode]
            lines.append(f"| {what} | {r['commands']} | {r['wall']:.1f} | {r['loop']:.1f} | "
                         f"{r['per_run']:.1f} | {100 * r['share']:.0f} % |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    start, load_before = time.perf_counter(), os.getloadavg()
    ratio = math.nan
    with tempfile.TemporaryDirectory() as scratch:
        times, notes = step_times(args, scratch)
        mem, mem_ratio = memory(args, scratch)
        launch = None if args.no_launch else launch_overhead(scratch)
        text = report(args, machine_line(load_before), times, notes, mem, launch)
        print(text)
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(text)
        if args.wu_to_target:
            out = args.out or os.path.join(scratch, "runs")
            specs, cells = build_specs(args)
            run_sweep(specs, out, jobs=args.jobs, progress=False)
            runs = summarise(ResultsStore(out).load_runs())
            mode = "quick sizes, local_steps=3 (aspqn/mspqn)" if args.quick else "full sizes"
            print(f"work units to target: {mode}, {args.seeds} seed(s), D simulated, "
                  "torch threads=1; budget = problem budget × D (total WU); baselines untuned")
            table(args, cells, runs)
            ratio, wu_notes = speedup(cells)
            print("\nWU(best baseline)/WU_parallel(best DD) per problem:")
            for note in wu_notes:
                print(f"  {note}")
    print(f"total wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)
    apts_d = next(r["efficiency"] for r in times if r["solver"] == "apts_d" and r["D"] == 2)
    last = f"dd_step_efficiency_apts_d_2={apts_d:.3g} dd_mem_ratio_2_over_1={mem_ratio:.3g}"
    if args.wu_to_target:
        last += f" dd_speedup_wu_parallel={ratio:.3g}"
    print(last)


if __name__ == "__main__":
    main()

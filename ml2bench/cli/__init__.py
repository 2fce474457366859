"""The ``ml2bench`` command line.

``list``, ``describe``, ``run``, ``tune``, ``table``, ``plot``, ``profile``, ``report``,
``landscape``, ``reproduce`` and
``data``. User errors print one line (``ml2bench: error: ...``) and exit with status 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ml2bench.cli.arguments import folder
from ml2bench.cli.executor_args import add_executor_arguments, executor_from_args
from ml2bench.errors import UserError

DEFAULT_OUT = "runs/latest"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise UserError(message[0].upper() + message[1:] if message else message)


def build_parser() -> Parser:
    """The argument parser of every subcommand; imports neither torch nor matplotlib."""
    parser = Parser(prog="ml2bench", description="Benchmark suite for multilevel and "
                    "domain-decomposition training of neural networks.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, required=True)

    listing = sub.add_parser("list", help="list problems, solvers or suites")
    listing.add_argument("what", choices=("problems", "solvers", "suites"))

    describe = sub.add_parser("describe", help="a problem's levels: blocks, parameters, cost")
    describe.add_argument("problem")

    run = sub.add_parser("run", help="run a suite or problems × solvers × seeds")
    run.add_argument("suite", nargs="?", help="suite name (quick, standard) or .toml path")
    run.add_argument("--problem", action="append", default=[], help="problem label (repeatable)")
    run.add_argument("--solver", action="append", default=[], help="solver label (repeatable)")
    run.add_argument("--seeds", default=None, help="e.g. 0-4 or 0,1 (default 0)")
    run.add_argument("--budget", type=float, default=None, help="budget in work units")
    run.add_argument("--max-time", type=float, default=None, help="wall-time cap per run (s)")
    run.add_argument("--checkpoint-every", type=float, default=None,
                     help="evaluation spacing in WU (0: every step; default budget/50)")
    run.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    run.add_argument("--jobs", type=int, default=1,
                     help="parallel processes (--executor pool), jobs at once (local) or the "
                          "job array's parallelism when above 1 (slurm)")
    run.add_argument("--threads", type=int, default=None,
                     help="torch intra-op threads per run (default: 1, or cores // jobs for "
                          "problems whose spec says threads_pay = true)")
    run.add_argument("--out", default=DEFAULT_OUT, type=folder, help="output directory")
    run.add_argument("--quick", action="store_true", help="quick sizes for every problem")
    run.add_argument("--no-target-stop", action="store_true",
                     help="keep going after the target is reached")
    run.add_argument("--metrics", default=None,
                     help="end-of-run flatness metrics, e.g. hess_max,hess_trace,sharp_avg")
    run.add_argument("--precision", default=None,
                     help="evaluation precision: fp64/fp32 set the problems' dtype; bf16/fp16 "
                          "keep float32 parameters and autocast the model evaluations "
                          "(fp16 with loss scaling); default: each problem's dtype")
    run.add_argument("--data-dir", default=None, help="image data directory")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--nproc", type=int, default=None,
                     help="run the DD runs truly parallel: D processes (D = the solvers' "
                          "subdomains) under torch.distributed, started once with torchrun "
                          "for the whole sweep")
    add_executor_arguments(run)
    add_numerics_argument(run)

    _add_tune_parser(sub)

    table = sub.add_parser("table", help="leaderboard table to stdout")
    table.add_argument("--out", default=DEFAULT_OUT, type=folder, help="results directory")
    table.add_argument("--format", default="md", choices=("md", "csv", "latex"))
    table.add_argument("--flatness", action="store_true", help="add flatness metric columns")
    table.add_argument("--compare", default=None, metavar="FILE",
                       help="compare with a committed leaderboard (Markdown) in every number "
                            "but times; exit 1 if they differ")

    plot = sub.add_parser("plot", help="convergence plots (PNG per problem)")
    plot.add_argument("--out", default=DEFAULT_OUT, type=folder, help="results directory")
    plot.add_argument("--x", default="work_units", choices=("work_units", "time_s", "epoch"))

    profile = sub.add_parser("profile", help="performance profiles and integrated scores "
                             "(WU to target, time to target, peak memory)")
    profile.add_argument("--out", default=DEFAULT_OUT, type=folder, help="results directory")
    profile.add_argument("--r-max", type=float, default=4.0,
                         help="upper limit of the score's integral over τ (AlgoPerf: 4)")
    profile.add_argument("--format", default="md", choices=("md", "csv", "latex"))

    report = sub.add_parser("report", help="tables + figures + HTML in one folder")
    report.add_argument("--out", default=DEFAULT_OUT, type=folder, help="results directory")

    _add_reproduce_parser(sub)

    _add_optional_parsers(sub)
    return parser


def _add_tune_parser(sub) -> None:
    tune = sub.add_parser("tune", help="tune every solver with the same budget (AlgoPerf "
                          "external tuning), then re-run the chosen configurations")
    tune.add_argument("suite", nargs="?", help="suite name (quick, standard) or .toml path")
    tune.add_argument("--problem", action="append", default=[], help="problem label (repeatable)")
    tune.add_argument("--solver", action="append", default=[],
                      help="solver label (repeatable); parameters it fixes are not searched")
    tune.add_argument("--trials", type=int, required=True,
                      help="quasi-random trials per problem and solver (the same for all)")
    tune.add_argument("--seeds", default=None,
                      help="study seeds: every trial runs on each (default: the suite's, else 0)")
    tune.add_argument("--final-seeds", default="100-101",
                      help="fresh seeds the chosen configuration is re-run on (default 100-101)")
    tune.add_argument("--search-seed", type=int, default=0,
                      help="seed of the Halton sequence, the same for every solver (default 0)")
    tune.add_argument("--budget", type=float, default=None, help="budget per run in work units")
    tune.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    tune.add_argument("--jobs", type=int, default=1, help="parallel processes")
    tune.add_argument("--out", default=DEFAULT_OUT, type=folder, help="output directory")
    tune.add_argument("--quick", action="store_true", help="quick sizes for every problem")
    tune.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(tune)
    add_numerics_argument(tune)


def _add_reproduce_parser(sub) -> None:
    reproduce = sub.add_parser("reproduce", help="reproduce the published claims of "
                               "paper/claims.toml: runs, verdicts, figures, claims.md")
    reproduce.add_argument("claims", nargs="*", metavar="CLAIM",
                           help="claim ids (T1 … T5, M1, M2; default: all)")
    reproduce.add_argument("--scale", default="quick", choices=("quick", "full"),
                           help="quick: 2 CPU cores in minutes; full: the papers' scale")
    reproduce.add_argument("--out", default=None, type=folder,
                           help="results directory (default runs/reproduce/<scale>)")
    reproduce.add_argument("--paper", default=None,
                           help="folder with claims.toml; results/, figures/ and claims.md "
                                "are written there (default: the checkout's paper/)")
    reproduce.add_argument("--list", action="store_true",
                           help="list the claims and their published values, run nothing")
    reproduce.add_argument("--jobs", type=int, default=1, help="parallel runs")
    reproduce.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    reproduce.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(reproduce)
    add_numerics_argument(reproduce)


def _add_optional_parsers(sub) -> None:
    from ml2bench.cli.calibrate import add_calibrate_parser
    from ml2bench.cli.landscape_args import add_landscape_parser
    from ml2bench.data.cli import add_data_parser
    add_data_parser(sub)
    add_landscape_parser(sub)
    add_calibrate_parser(sub)


def cmd_list(args) -> int:
    """``ml2bench list problems|solvers|suites``: names and one-line descriptions; a
    plugin's line ends with its distribution, a refused or broken plugin is one warning."""
    warnings: list[str] = []
    if args.what == "problems":
        from ml2bench.problems.registry import family_plugins, load_specs, plugin_specs
        specs = load_specs()
        from_plugin, warnings = plugin_specs()
        dists = {name: family_plugins()[spec.family].dist for name, spec in from_plugin.items()}
        width = max(len(n) for n in specs)
        for name, spec in specs.items():
            print(f"{name:<{width}}  v{spec.version}  {spec.description}{_plugin_tag(dists, name)}")
    elif args.what == "solvers":
        from ml2bench.solvers.registry import plugin_warnings, solver_descriptions, solver_plugins
        solvers = solver_descriptions()
        dists = {name: plugin.dist for name, plugin in solver_plugins().items()}
        warnings = plugin_warnings()
        width = max(len(n) for n in solvers)
        for name, description in solvers.items():
            print(f"{name:<{width}}  {description}{_plugin_tag(dists, name)}")
    else:
        from ml2bench.runner.suite import available_suites, load_suite
        for name in available_suites():
            suite = load_suite(name)
            print(f"{name:<10}  {len(suite.problems)} problems × {len(suite.solvers)} solvers × "
                  f"{len(suite.seeds)} seeds  {suite.description}")
    for line in warnings:
        print(f"ml2bench: warning: {line}", file=sys.stderr)
    return 0


def _plugin_tag(dists: dict[str, str], name: str) -> str:
    return f"  [plugin {dists[name]}]" if name in dists else ""


def cmd_describe(args) -> int:
    """``ml2bench describe P``: the problem, its data and its levels table with measured costs."""
    import torch

    from ml2bench.problems.registry import make_task, resolve_problem

    torch.set_num_threads(1)
    spec, _, _ = resolve_problem(args.problem)
    task = make_task(args.problem, 0, "cpu")
    print(f"{spec.name} (version {spec.version}): {spec.description}")
    print(f"training samples {task.num_train}, test samples {task.test[0].shape[0]}, "
          f"batch size {task.batch_size}, budget {task.budget:g} WU, "
          f"target {task.target.metric} {'>=' if task.target.higher_is_better else '<='} "
          f"{task.target.threshold:g}")
    rows = task.hierarchy.table()
    if len(task.hierarchy) > 1:
        from ml2bench.hierarchy.consistency import level_values, transfer_errors

        x0 = [p.detach().clone() for p in task.model.parameters()]
        errors = transfer_errors(task.hierarchy, x0)
        losses = level_values(task.hierarchy, x0, task.full_objective)
        for row, error, loss in zip(rows, errors, losses):
            row["|x0-PΠx0|/|x0|"] = error
            row["f_l(Πx0)"] = loss
    costs = [k for k in rows[0] if k.startswith("cost_")]
    extra = [k for k in rows[0] if k not in ("level", "parameters", *costs)]
    header = ["level", *extra, "parameters", *(k.replace("_", " ") for k in costs)]
    lines = [[str(r["level"]), *(_fmt(r[k]) for k in extra), str(r["parameters"]),
              *(f"{r[k]:.3f}" for k in costs)] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))
    if len(task.hierarchy) > 1:
        print("|x0-PΠx0|/|x0|: the initial point projected to the level and prolongated back, "
              "relative error on the parameters the transfers move (block weights); "
              "f_l(Πx0): the level's training objective there (level 0: f_0(x0))")
    print("costs: FLOPs relative to one finest-level forward+backward pass on the same batch "
          "(measured with the FLOP counter); hvp: a Hessian-vector product that linearises "
          "the gradient, hvp more: each further product through that linearisation")
    return 0


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def check_cores(threads: int | None, jobs: int, executor) -> None:
    """Refuse absurd ``--threads``/``--jobs`` (UserError); warn (one line on stderr) when
    the runs oversubscribe this machine's cores (:func:`~ml2bench.runner.threads.check_threads`)."""
    from ml2bench.runner.threads import check_threads
    warning = check_threads(threads, jobs, local=not executor.remote)
    if warning:
        print(f"ml2bench: warning: {warning}", file=sys.stderr)


def cmd_run(args) -> int:
    """``ml2bench run``: a suite or problems × solvers × seeds; exit 1 if runs failed."""
    if args.jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {args.jobs}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be a positive integer, got {args.threads}")
    if args.budget is not None and args.budget <= 0:
        raise UserError(f"--budget must be a positive number of work units, got {args.budget:g}")
    executor = executor_from_args(args)
    from ml2bench.runner.suite import load_suite, parse_seeds, with_quick
    from ml2bench.runner.sweep import expand, run_sweep

    if args.data_dir:
        os.environ["ML2BENCH_DATA"] = str(Path(args.data_dir).expanduser().resolve())
    suite = load_suite(args.suite) if args.suite else None
    problems = args.problem or (suite.problems if suite else [])
    solvers = args.solver or (suite.solvers if suite else [])
    if not problems or not solvers:
        raise UserError("nothing to run: give a suite, or at least one --problem and one --solver")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else (suite.seeds if suite else [0])
    if args.quick or (suite and suite.quick):
        problems = [with_quick(p) for p in problems]
    metrics = args.metrics.split(",") if args.metrics else (suite.metrics if suite else [])
    budget = args.budget if args.budget is not None else (suite.budget if suite else None)
    specs = expand(problems, solvers, seeds, budget=budget, device=args.device,
                   max_time=args.max_time, checkpoint_every=args.checkpoint_every,
                   stop_at_target=not args.no_target_stop, threads=args.threads,
                   precision=args.precision,
                   metrics=tuple(m.strip() for m in metrics if m.strip()))
    check_cores(args.threads, min(args.jobs, len(specs)), executor)
    if args.nproc is not None:
        return launch_torchrun(args, specs)
    from ml2bench.parallel import init_from_env, launched, shutdown, world
    if launched():  # started by torchrun: one process per subdomain
        if args.jobs != 1 or args.executor != "pool":
            raise UserError("under torchrun a sweep runs in this process: no --jobs/--executor")
        init_from_env(args.device)
    rank = world()[0]
    try:
        report = run_sweep(specs, args.out, jobs=args.jobs,
                           progress=not args.no_progress and rank == 0,
                           executor=executor)
    finally:
        shutdown()
    if rank != 0:  # rank 0 reports
        return 0
    done = ", ".join(f"{n} {s}" for s, n in sorted(report.statuses.items())) or "nothing new"
    total = report.up_to_date + sum(report.statuses.values())
    print(f"{total} runs: {report.up_to_date} up to date; {done}; results in {args.out}")
    for label in report.failed:
        print(f"failed: {label} (see the error column of its results file)", file=sys.stderr)
    for label in report.unfinished:
        print(f"unfinished: {label}", file=sys.stderr)
    if report.unfinished:
        print(f"ml2bench: {len(report.unfinished)} of {total} runs unfinished; run the same "
              "command again to resume them from their checkpoints", file=sys.stderr)
    if report.failed:  # diverged is a result; failed is not: exit 1 so that scripts notice
        print(f"ml2bench: {len(report.failed)} of {total} runs failed", file=sys.stderr)
    return 1 if report.failed or report.unfinished else 0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_torchrun(args, specs) -> int:
    """``--nproc D``: rerun this command without ``--nproc`` under ``torchrun
    --nproc-per-node D`` on this machine; its exit status. Every run of the sweep must be
    of a solver that runs distributed with ``subdomains = D``: the D processes start
    (and join their process group) once and run the sweep's runs one after the other,
    so a sweep over seeds or solvers pays the launcher's start-up once, not per run."""
    import subprocess
    from ml2bench.runner.sweep import prepare_all

    if args.nproc < 1:
        raise UserError(f"--nproc must be a positive integer, got {args.nproc}")
    if args.jobs != 1 or args.executor != "pool":
        raise UserError("--nproc runs each run in D processes here: no --jobs or --executor")
    for run in prepare_all(specs):
        solver = run.solver
        if not solver.distributed:
            raise UserError(f"--nproc: {solver.name} does not run distributed (valid: apts_d, "
                            "apts_p, aspqn)")
        if solver.hparams["subdomains"] != args.nproc:
            raise UserError(f"--nproc {args.nproc} needs {solver.name} with subdomains="
                            f"{args.nproc}, got subdomains={solver.hparams['subdomains']}")
    argv, skip = [], False
    for item in args.argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            argv.append(item)
    import ml2bench
    root = str(Path(ml2bench.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    port = free_port()
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
               "--nproc-per-node", str(args.nproc), "--master-addr", "127.0.0.1",
               "--master-port", str(port), "-m", "ml2bench"] + argv
    from ml2bench.parallel import die_with_parent
    # torchrun dies with this process (and its ranks with it): a kill -9 stops them all
    return subprocess.call(command, env=env, preexec_fn=die_with_parent)


def cmd_tune(args) -> int:
    """``ml2bench tune``: equal-budget tuning; exit 1 if runs failed."""
    if args.jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {args.jobs}")
    if args.budget is not None and args.budget <= 0:
        raise UserError(f"--budget must be a positive number of work units, got {args.budget:g}")
    if args.search_seed < 0:
        raise UserError(f"--search-seed must be a non-negative integer, got {args.search_seed}")
    from ml2bench.runner.suite import load_suite, parse_seeds, with_quick
    from ml2bench.tuning import check_seeds, search_dimensions, tune

    suite = load_suite(args.suite) if args.suite else None
    problems = args.problem or (suite.problems if suite else [])
    solvers = args.solver or (suite.solvers if suite else [])
    if not problems or not solvers:
        raise UserError("nothing to tune: give a suite, or at least one --problem and one "
                        "--solver")
    for solver in solvers:
        search_dimensions(solver)  # unknown solver or parameter: one line, before any run
    seeds = parse_seeds(args.seeds) if args.seeds is not None else (suite.seeds if suite else [0])
    final_seeds = parse_seeds(args.final_seeds)
    check_seeds(seeds, final_seeds)
    if args.quick or (suite and suite.quick):
        problems = [with_quick(p) for p in problems]
    budget = args.budget if args.budget is not None else (suite.budget if suite else None)
    executor = executor_from_args(args)
    check_cores(None, args.jobs, executor)
    report = tune(problems, solvers, args.trials, seeds, args.out, final_seeds=final_seeds,
                  search_seed=args.search_seed, jobs=args.jobs, progress=not args.no_progress,
                  executor=executor, budget=budget, device=args.device)
    failed = []
    for name, sweep in (("trials", report.trials), ("final", report.finals)):
        done = sum(sweep.statuses.values())
        print(f"{name}: {done + sweep.up_to_date} runs ({done} run now, {sweep.up_to_date} "
              "up to date)")
        failed += sweep.failed
    for entry in report.entries:
        score = "inf" if entry["score"] is None else f"{entry['score']:.3g}"
        print(f"{entry['problem']} × {entry['solver']}: {entry['trials']}×"
              f"{len(entry['studies'])} trials×studies, score {score} WU to target, "
              f"chosen {entry['chosen']}")
    print(f"tuning record: {Path(args.out) / 'tuning.json'}; leaderboard: "
          f"ml2bench table --out {args.out}")
    for label in failed:
        print(f"failed: {label} (see the error column of its results file)", file=sys.stderr)
    return 1 if failed else 0


def _load_results(out: str):
    """The store and its runs; unreadable files are skipped and listed (third value).

    Parquet files of other data (not written by ml2bench) are skipped with one warning
    line naming them; a folder with nothing else is an error naming them.
    """
    from ml2bench.runner.store import IDENTIFYING, ResultsStore
    store = ResultsStore(out)
    unreadable: list[str] = []
    runs = store.load_runs(unreadable)
    foreign = store.foreign_files()
    what = "is not an ml2bench results file" if len(foreign) == 1 else \
        "are not ml2bench results files"
    named = (f"{', '.join(map(str, foreign))} {what} (ml2bench's have the columns "
             f"{', '.join(IDENTIFYING)})")
    if runs.empty:
        _check_readable(unreadable)
        if foreign:
            raise UserError(f"no ml2bench results in {out}/runs: {named}; give --out the "
                            "folder that `ml2bench run --out` wrote")
        raise UserError(f"no results in {out}/runs; run e.g. `ml2bench run quick --out {out}` first")
    if foreign:
        print(f"ml2bench: warning: skipped {named}; move them out of {out}", file=sys.stderr)
    return store, runs, unreadable


def _check_readable(unreadable: list[str]) -> None:
    """After the output of the readable runs: one error line for the skipped files."""
    unreadable = list(dict.fromkeys(unreadable))
    if unreadable:
        from ml2bench.runner.store import REPAIR
        raise UserError(f"skipped {len(unreadable)} unreadable results file(s): "
                        f"{'; '.join(unreadable)}; {REPAIR}")


def _ranked_results(out: str):
    """The store, the runs to rank and the unreadable files, plus the tuning record:
    with ``tuning.json`` the tuning trials are left out (the final runs of the chosen
    configurations are the entries), for every view of the results alike."""
    from ml2bench.report.tuned import load_record, without_trials
    store, runs, unreadable = _load_results(out)
    return store, without_trials(runs, out), unreadable, load_record(out)


def cmd_table(args) -> int:
    """``ml2bench table``: the leaderboard of a results folder to stdout."""
    from ml2bench.report.leaderboard import format_table, leaderboard
    from ml2bench.report.tuned import final_marks, header_text
    store, runs, unreadable, record = _ranked_results(args.out)
    flatness = store.load_flatness(unreadable) if args.flatness else None
    if args.flatness and (flatness is None or flatness.empty):
        raise UserError(f"no flatness results in {args.out}/flatness; run with --metrics first")
    tuned = None
    if record:  # the trials were the tuning; the final runs of the choices are the entries
        tuned = final_marks(record)
        print(header_text(record, args.format), end="")
    text = format_table(leaderboard(runs, flatness=flatness, tuned=tuned), args.format)
    print(text, flush=True)
    from ml2bench.report.environment import mixed_warning
    from ml2bench.report.ranking import rule_note
    print(rule_note(args.format), end="", flush=True)
    warning = mixed_warning(runs)
    if warning:
        print(f"ml2bench: warning: {warning}", file=sys.stderr)
    _check_readable(unreadable)
    if args.compare:
        return _compare_with(text, args.compare, args.format)
    return 0


def _compare_with(text: str, path: str, fmt: str) -> int:
    """``table --compare FILE``: 0 if ``text`` matches FILE in every number but times,
    else the differences on stderr and 1."""
    from ml2bench.report.compare import differences
    if fmt != "md":
        raise UserError(f"--compare reads Markdown leaderboards; use --format md, not {fmt}")
    try:
        reference = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot read --compare {path}: {error.strerror}") from None
    found = differences(reference, text)
    if not found:
        print(f"ml2bench: the leaderboard matches {path} in every number but times",
              file=sys.stderr)
        return 0
    print(f"ml2bench: the leaderboard differs from {path} ({len(found)} differences; "
          "times are not compared):", file=sys.stderr)
    for line in found[:40]:
        print(f"  {line}", file=sys.stderr)
    return 1


def cmd_plot(args) -> int:
    """``ml2bench plot``: convergence plots, one PNG per problem (unchanged ones kept)."""
    from ml2bench.files import writing_to
    from ml2bench.report.plots import plot_all
    _, runs, unreadable, _ = _ranked_results(args.out)
    with writing_to(Path(args.out) / "plots"):
        paths = plot_all(runs, Path(args.out) / "plots", x=args.x)
    for path in paths:
        print(path)
    _check_readable(unreadable)
    return 0


def cmd_profile(args) -> int:
    """``ml2bench profile``: performance profiles (PNG per measure) and the score table."""
    import math
    if not math.isfinite(args.r_max) or args.r_max <= 1:
        raise UserError(f"--r-max must be a finite number greater than 1, got {args.r_max:g}")
    from ml2bench.files import write_text, writing_to
    from ml2bench.report.profiles import (measure_tables, profile_notes, ratio_rows,
                                          score_table, write_profiles)
    from ml2bench.report.tables import format_table
    _, runs, unreadable, _ = _ranked_results(args.out)
    tables = measure_tables(runs)
    scores = score_table(tables, args.r_max)
    print(format_table(scores, args.format), flush=True)
    folder = Path(args.out) / "profiles"
    notes = profile_notes(tables, args.r_max)
    with writing_to(folder):
        paths = write_profiles(tables, folder, args.r_max)
        write_text(folder / "scores.md", format_table(scores, "md") + "\n"
                   + "".join(f"- {line}\n" for line in notes))
        write_text(folder / "ratios.csv", format_table(ratio_rows(tables), "csv"))
    for line in notes:
        print(line, file=sys.stderr)
    print(f"profiles: {', '.join(str(p) for p in paths)}; table: {folder / 'scores.md'}",
          file=sys.stderr)
    _check_readable(unreadable)
    return 0


def cmd_report(args) -> int:
    """``ml2bench report``: tables, figures and an HTML page in one folder."""
    from ml2bench.files import writing_to
    from ml2bench.report.html import write_report
    _, _, unreadable = _load_results(args.out)
    with writing_to(Path(args.out) / "report"):
        print(write_report(args.out, Path(args.out) / "report", unreadable=unreadable))
    _check_readable(unreadable)
    return 0


COMMANDS = {"list": cmd_list, "describe": cmd_describe, "run": cmd_run, "tune": cmd_tune,
            "table": cmd_table, "plot": cmd_plot, "profile": cmd_profile, "report": cmd_report}


def dispatch(args) -> int:
    """Run the subcommand named in ``args``; returns the exit status."""
    if args.command == "data":
        from ml2bench.data.cli import run_data_command
        return run_data_command(args)
    if args.command == "landscape":
        from ml2bench.cli.landscape import run_landscape_command
        return run_landscape_command(args)
    if args.command == "calibrate":
        from ml2bench.cli.calibrate import run_calibrate_command
        return run_calibrate_command(args)
    if args.command == "reproduce":
        from ml2bench.reproduce.command import run_reproduce
        return run_reproduce(args, None if args.list else executor_from_args(args))
    return COMMANDS[args.command](args)


def add_numerics_argument(parser) -> None:
    """``--numerics portable|native`` (:mod:`ml2bench.numerics`) for a computing command."""
    from ml2bench.numerics import MODE_VARIABLE, MODES, PORTABLE
    parser.add_argument("--numerics", choices=MODES, default=None,
                        help=f"CPU kernels: {PORTABLE} (default; bit-identical numbers on "
                             "every x86-64-v3 CPU, Intel or AMD) or native (the CPU's fastest "
                             f"kernels; numbers depend on the CPU); default ${MODE_VARIABLE} "
                             f"or {PORTABLE}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn user errors into one line and exit status 2.

    The CPU numerics (:func:`ml2bench.numerics.configure`) are chosen before anything
    imports torch."""
    from ml2bench import numerics
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        numerics.configure(getattr(args, "numerics", None))
        return dispatch(args)
    except UserError as error:
        print(f"ml2bench: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `ml2bench table | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("ml2bench: interrupted; finished runs and checkpoints are saved, "
              "run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

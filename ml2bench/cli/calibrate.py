"""``ml2bench calibrate``: recalibrate problems' targets from reference runs.

The parser imports neither torch nor matplotlib (it is built at every start of the
command line); the rule is :mod:`ml2bench.studies.target_calibration`.
"""

from __future__ import annotations

import sys

from ml2bench.errors import UserError

#: Where the reference runs go unless ``--out`` says otherwise.
DEFAULT_OUT = "runs/calibration"


def add_calibrate_parser(subparsers) -> None:
    """Register the ``calibrate`` sub-command."""
    parser = subparsers.add_parser(
        "calibrate", help="calibrate problems' targets from reference runs (AlgoPerf-style "
                          "rule; prints the runs, --write updates the specs)")
    parser.add_argument("suite", nargs="?", help="a suite whose problems to calibrate "
                        "(quick, standard or a .toml path)")
    parser.add_argument("--problem", action="append", default=[],
                        help="problem name (repeatable; default: the suite's problems)")
    parser.add_argument("--scale", choices=("quick", "full"), default=None,
                        help="quick or full size (default: the suite's, else quick)")
    parser.add_argument("--seeds", default=None,
                        help="calibration seeds, e.g. 0-1 (default: the suite's, else 0-1)")
    parser.add_argument("--fraction", type=float, default=None,
                        help="fraction of the budget by which the reference must reach the "
                             "target (default 0.5)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs")
    parser.add_argument("--out", default=DEFAULT_OUT, help="folder of the reference runs")
    parser.add_argument("--write", action="store_true",
                        help="write each target and its provenance into problems/<name>.toml")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(numerics="portable")  # targets are calibrated in portable numerics


def run_calibrate_command(args) -> int:
    """Run the reference solvers, print each problem's reference runs and target."""
    from ml2bench.problems.registry import load_specs, spec_directory
    from ml2bench.runner.suite import load_suite, parse_seeds
    from ml2bench.studies.target_calibration import FRACTION, calibrate, write_target

    if args.jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {args.jobs}")
    suite = load_suite(args.suite) if args.suite else None
    problems = args.problem or (suite.problems if suite else [])
    if not problems:
        raise UserError("nothing to calibrate: give a suite or at least one --problem")
    scale = args.scale or ("quick" if suite is None or suite.quick else "full")
    seeds = parse_seeds(args.seeds) if args.seeds else (suite.seeds if suite else [0, 1])
    fraction = FRACTION if args.fraction is None else args.fraction
    results = calibrate(problems, scale, seeds, args.out, fraction, args.jobs,
                        progress=not args.no_progress)
    specs = load_specs()
    for calibration in results:
        print(calibration.table(), end="\n\n")
        if args.write:
            path = spec_directory() / f"{calibration.problem}.toml"
            if calibration.problem not in specs or not path.is_file():
                print(f"ml2bench: warning: {calibration.problem} has no spec file in "
                      f"{spec_directory()}; target not written", file=sys.stderr)
                continue
            write_target(path, calibration)
            print(f"wrote {path}: target {calibration.target:g} ({scale})")
    return 0

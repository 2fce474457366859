"""Depth scaling v2: a regime map of where multilevel training pays (smoothness weight × K × data).

Three ResNet-ODE families (``peaks_resnet``, ``ellipses_resnet``, and ``spirals_resnet``
held out: it chose no setting), the time-smoothness weight α of Haber & Ruthotto's
regulariser over a fixed log grid (weight decay of the shared layers fixed at the
published 5e-6), K blocks from 17 up to 257, full batch; solvers ``tr`` (lsr1),
``lbfgs``, ``adam`` (single level) and ``nested``, ``mgopt``, ``rmtr`` with each region
(ball, prolongated, box). Per cell (family, α, K): median over seeds of the WU and the
wall time to f* (f* = median over seeds of adam's train loss after a fixed number of WU
on the smallest K), censored runs kept censored, runs ending at the constant predictor's
loss counted; the map value is best multilevel / best single-level median WU with a
bootstrap interval over seeds. The protocol, formulas and references are in
:mod:`ml2bench.studies.depth_scaling`; this script is its thin caller.

Scales (stated in the output):

* ``--quick``: K = 17, 65; α = 5e-6, 1e-3, 1e-2, 0.1; 3 seeds; 400 training points per
  family; 90 WU per run (576 runs plus the RMTR level diagnostics).
* full (default): K = 17, 33, 65, 129, 257; α = 5e-6, 1e-3, 1e-2, 0.03, 0.1, 0.3;
  5 seeds; the families' default data; 200 WU. ``--estimate`` prints its run count and
  CPU time (measured seconds per WU × the run cost per WU-second, measured by short runs
  of every solver) without running; run it with
  ``--executor local`` (submitit jobs on this machine) or ``--executor slurm``.
  ``--depths``, ``--alphas``, ``--families`` run a part of the map (the output says which).

Printed: per family the constant predictor's loss, hess_max and the regulariser/data
curvature ratios, per α the target and the table of solvers × K, the map (ratios with
intervals) with the cells where multilevel pays / does not pay / is undecided, pooled
exponents, RMTR's per-level visit rates (regions, and pre_smooth=0), the paths of the
figure and of the Markdown summary (``RESULTS/depth_scaling_<scale>.png|md``, default
``results/``), and as the last line, per family, the ratio at the largest K for every α
and the α from which multilevel pays::

    depth_map K=<K>: <family> r(α)=<α>:<r>,… pays_from=<α|none> pays_from_without_nested=<α|none>; …

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/depth_scaling.py [--quick]
        [--seeds N] [--out DIR] [--results DIR] [--jobs N] [--estimate]
        [--depths 17,33] [--alphas 1e-3,0.1] [--families peaks_resnet,...]
        [--executor pool|local|slurm [--chunk N --slurm-partition P --slurm-time MIN]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ml2bench import numerics

numerics.configure_torch()  # the kernels every ml2bench run uses (portable default)

from ml2bench.cli.executor_args import add_executor_arguments, executor_from_args  # noqa: E402
from ml2bench.errors import UserError  # noqa: E402


def _list(kind, name):
    def parse(text):
        try:
            return tuple(kind(v) for v in text.split(",") if v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} takes comma-separated numbers, "
                                             f"got {text!r}") from None
    return parse


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="K = 17, 65; 4 weights; 3 seeds; 400 training points")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell")
    parser.add_argument("--out", default=None,
                        help="runs folder, cached (default: runs/depth_scaling_<scale>)")
    parser.add_argument("--results", default="results",
                        help="folder of the figure and the Markdown summary (default results)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="parallel runs (default 2: the two cores of the reference machine)")
    parser.add_argument("--estimate", action="store_true",
                        help="print the scale's run count and CPU time (also written to "
                             "RESULTS/depth_scaling_<scale>_estimate.md), run nothing")
    parser.add_argument("--factor", type=float, default=None,
                        help="--estimate: run cost per WU-second (default: measured by short "
                             "runs of every solver)")
    parser.add_argument("--depths", type=_list(int, "depths"), default=None)
    parser.add_argument("--alphas", type=_list(float, "alphas"), default=None)
    parser.add_argument("--families", type=lambda t: tuple(v for v in t.split(",") if v),
                        default=None)
    parser.add_argument("--no-diagnostics", action="store_true",
                        help="skip the RMTR level replays")
    add_executor_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Run (or estimate) the study at the chosen scale."""
    from ml2bench.studies import depth_scaling as ds

    args = parse_args(argv)
    scale = "quick" if args.quick else "full"
    try:
        config = ds.SCALES[scale]
        for name in args.families or ():
            if name not in ds.FAMILIES:
                raise UserError(f"unknown family {name!r}; valid families: "
                                f"{', '.join(ds.FAMILIES)}")
        for k in args.depths or ():
            ds.levels_for(k)
        if args.seeds is not None and args.seeds < 1:
            raise UserError(f"--seeds must be a positive integer, got {args.seeds}")
        if args.factor is not None and not args.factor > 0:
            raise UserError(f"--factor must be a positive number, got {args.factor}")
        if args.jobs < 1:
            raise UserError(f"--jobs must be a positive integer, got {args.jobs}")
        executor = executor_from_args(args)
        if args.estimate:
            cost = ds.estimate_cost(ds.replace(config, depths=args.depths or config.depths,
                                               alphas=args.alphas or config.alphas),
                                    args.seeds or config.seeds, args.families or ds.FAMILIES,
                                    factor=args.factor)
            text = ds.format_estimate(scale, cost)
            print(text)
            path = Path(args.results) / f"depth_scaling_{scale}_estimate.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"<!-- written by `python benchmarks/depth_scaling.py --estimate"
                            f"{' --quick' if args.quick else ''}`; rerun it rather than "
                            f"editing -->\n\n{text} (measured on the machine that ran "
                            "the command, its load included).\n")
            print(f"written: {path}")
            return
    except ValueError as error:
        raise UserError(f"--depths: {error}; valid depths are 4·2^j + 1 (17, 33, 65, 129, "
                        "257, …)") from None
    out = Path(args.out or f"runs/depth_scaling_{scale}")
    ds.run_study(scale, out, seeds=args.seeds, jobs=args.jobs, executor=executor,
                 depths=args.depths, alphas=args.alphas, families=args.families,
                 results=Path(args.results), diagnostics=not args.no_diagnostics)


if __name__ == "__main__":
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

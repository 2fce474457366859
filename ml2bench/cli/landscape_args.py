"""Arguments of ``ml2bench landscape`` (no torch, no matplotlib: the parser is built at
every start of the command line). The command itself is
:func:`ml2bench.cli.landscape.run_landscape_command`, imported only when it runs."""

from __future__ import annotations

from ml2bench.cli.arguments import folder

KINDS = ("slice1d", "slice2d", "interpolate", "density")


def add_landscape_parser(subparsers) -> None:
    """Register the ``landscape`` sub-command."""
    parser = subparsers.add_parser("landscape", help="loss-landscape figures of saved final models")
    parser.add_argument("--out", default="runs/latest", type=folder, help="results directory")
    parser.add_argument("--problem", default=None, help="problem name or label (default: all)")
    parser.add_argument("--solvers", default=None,
                        help="comma-separated solver labels or names (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: the smallest)")
    parser.add_argument("--kind", default="all", choices=(*KINDS, "all"))
    parser.add_argument("--points", type=int, default=51,
                        help="points of 1-D curves and interpolations; 2-D grid points//2 per side")
    parser.add_argument("--subset", type=int, default=5000, help="evaluation subset size, the number of samples in D_H")
    parser.add_argument("--slq-steps", type=int, default=80, help="Lanczos steps of the density")

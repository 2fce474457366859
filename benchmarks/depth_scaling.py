"""Depth scaling: WU to a fixed train loss against the number of ResNet blocks K.

The ResNet analogue of mesh independence (issue 10, point 4). ``peaks_resnet`` and
``ellipses_resnet`` with K = 17, 33, 65, 129, 257 blocks (``--quick``: 17, 33, 65; the
coarsest level always has 5 blocks, so 3, 4, 5, … levels), full batch, 2 seeds, two
regulariser weights (the published α = 5e-6 and an α₂ whose time-derivative curvature
≈ 4α/h on K = 17 equals the data loss's ``hess_max`` at the initial point). Solvers,
default hyperparameters: ``tr`` (lsr1, cauchy), ``lbfgs``, ``adam``, ``nested``,
``mgopt``, ``rmtr`` (lsr1; regions ball, prolongated, box). Every run has a fixed WU
budget (the runner stops only at test-metric targets); the WU to the train-loss target
f* (adam's train loss after a fixed number of WU on K = 17, seed 0) are read from the
recorded rows, censored at the budget. ``WU ∝ K^p`` is fitted per solver and seed (log-log
least squares; ≥ where deep runs are censored). The protocol, formulas and references are
in :mod:`ml2bench.studies.depth_scaling`; this script is its thin caller.

Printed: α₂ and hess_max, the table (case × solver × K), exponents with their spread,
RMTR's per-level diagnostics at the deepest K, the figure path (``OUT/depth_scaling.png``,
``OUT`` = ``--out``, default ``runs/depth_scaling_quick`` / ``_full``; runs are cached there),
and as the last line
``depth_exponent_tr=<p> depth_exponent_rmtr=<p> wu_ratio_tr_over_rmtr_at_max_depth=<r>``.

Measured (``--quick``, 2-core CPU, torch threads 1, 216 runs plus the RMTR diagnostics):
3 min 34 s wall, 3 min 27 s CPU (deterministic: a second run gave identical numbers; on
the CPU shared with other jobs expect up to about twice that). α₂ = 0.16 (peaks,
hess_max = 2.07) and 0.15 (ellipses, hess_max = 1.86). Last line::

    depth_exponent_tr=0.276 depth_exponent_rmtr=-0.0203 wu_ratio_tr_over_rmtr_at_max_depth=0.765

Table and reading: README section "Depth scaling". Full scale (K up to 257, default data,
200 WU) is not run here; estimated at 1–1.5 h on one core (README).

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/depth_scaling.py [--quick]
        [--seeds N] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml2bench.studies.depth_scaling import run_study


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="K = 17, 33, 65, small data")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 2)")
    parser.add_argument("--out", default=None,
                        help="results folder, runs cached there (default: runs/depth_scaling_<scale>)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (process pool)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Run the study at the chosen scale."""
    args = parse_args(argv)
    scale = "quick" if args.quick else "full"
    out = Path(args.out or f"runs/depth_scaling_{scale}")
    run_study(scale, out, seeds=args.seeds, jobs=args.jobs)


if __name__ == "__main__":
    main()

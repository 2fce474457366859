"""Multilevel speedup: like-for-like (one level vs many) and against tuned baselines.

A thin command line over :func:`ml2bench.studies.multilevel_speedup.run_study` (its
module docstring has the protocol and the formulas). On ``peaks_resnet``,
``ellipses_resnet``, ``swissroll_resnet`` and ``poisson1d_pinn`` (``[quick=true]`` sizes
and budgets with ``--quick``) it prints

(a) **like-for-like**: each method — TR with the Cauchy point, L-SR1 TR (hybrid: batch
    ×1.5 after a cycle without decrease, and fixed batch), MG/OPT with SGD / Adam /
    L-BFGS smoothers — with ``levels=1`` against the same solver on all levels, same
    batch mode, same tuning grid (default × {⅓, 1, 3} of the radius / learning rate on
    seed 0), same budget;
(b) ``rmtr`` (stochastic, the problem's batch, ``--subproblem``) against tuned
    ``mgopt``, ``tr``, ``nested``, ``adam``, ``sgd`` and ``lbfgs`` (same grid);

then RMTR's per-level diagnostics, the per-problem WU ratios (censored runs as bounds,
``≥``/``≤``) and, as the last line,
``speedup_wu_tr=<WU(tr)/WU(rmtr)> speedup_wu_adam=<WU(adam)/WU(rmtr)>
speedup_wu_like_for_like=<WU(1 level)/WU(multilevel)>`` (geometric means over problems,
and over pairs × problems for the last). The published anchor: > 3× at equal validation
accuracy (Gaedke-Merzhäuser, Kopaničáková & Krause, ESAIM Proc. 71, 2021) — measure, do
not assume.

Measured (``--quick``, 2 seeds, one torch thread; 272 runs plus RMTR's diagnostics
replay, version-2 problems, ``rmtr``'s default ``prolongated`` region), fresh results
folder on the 2-core CPU with nothing else running: 195 s wall with ``--jobs 2`` (an
earlier configuration: 4 min 41 s with ``--jobs 1``). Last line::

    speedup_wu_tr=2.29 speedup_wu_adam=0.842 speedup_wu_like_for_like=0.748

(only ``ellipses_resnet`` — and ``peaks_resnet`` for ``nested`` — has targets reached
within the quick budgets; ``speedup_wu_tr`` is a lower bound; the script prints the
tables; docs/studies/multilevel_speedup.md describes them).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/multilevel_speedup.py [--quick] [--seeds N]
        [--subproblem lsr1|cg] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ml2bench.studies.multilevel_speedup import final_line, run_study


def parse_args(argv=None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the problems' [quick=true] sizes")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per tuned solver (default: 2 quick, 3 full)")
    parser.add_argument("--subproblem", default="lsr1", choices=("lsr1", "cg"),
                        help="TR subproblem of tr and rmtr in table (b)")
    parser.add_argument("--out", default=None, help="results folder (default: temporary)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (process pool)")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Run the study, print its tables and the final line."""
    args = parse_args(argv)
    scale = "quick" if args.quick else "full"
    with tempfile.TemporaryDirectory() as scratch:
        result = run_study(scale, Path(args.out or scratch), seeds=args.seeds, jobs=args.jobs,
                           subproblem=args.subproblem)
    tables = result["tables"]
    for key in ("header", "like_for_like", "vs_baselines", "diagnostics", "speedups", "notes"):
        if tables[key]:
            print(f"\n{tables[key]}" if key != "header" else tables[key])
    print(f"total wall time {result['seconds']:.0f} s", file=sys.stderr)
    print(final_line(result))
    return result


if __name__ == "__main__":
    main()

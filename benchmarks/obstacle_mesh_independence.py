"""Mesh independence under constraints: cycles to a fixed accuracy on the obstacle problems.

For each grid size and solver, the solver is bound to ``obstacle_poisson1d[n]`` /
``obstacle_poisson2d[n]`` (start ``max(ψ, 0)``, levels down to 3 points per direction)
and stepped until the error to the discrete solution ``test_rel_l2 ≤ --tol`` (default
1e-8) or ``--cap`` steps. Printed per solver and n: cycles (steps), work units there,
the asymptotic rate ``ρ = (e_K/e_I)^{1/(K−I)}`` (``I`` the first step with the
reference's contact set) and the seconds. The last line gives, per solver, the ratio of
its cycles at the largest n to those at the smallest (``>`` where the largest did not
converge within the cap): ≈ 1 for a mesh-independent method, growing for the projected
single-level baseline (its iterations grow like the condition number, ``O(h⁻²)``).

Solvers: ``mmg`` (Kornhuber's standard monotone multigrid), its truncated version and
``tnnmg`` from nested iteration, plain ``tnnmg`` from the problem's start (its cycles to
find the contact set grow with n: the truncated coarse corrections cannot lift nodes
off the obstacle), ``rmtr[region=box]`` and the projected baseline ``pgd`` (SPG).

``--quick`` (the default): 1D n = 63, 127, 255 and 2D n = 15, 31, pgd capped at 300
steps — well under a minute on one core. ``--full``: 1D n = 63…1023 and 2D n = 31…255
(the 2D references are computed once and cached, a few seconds at 255²).

``--markdown PATH`` also writes the table as Markdown with the machine it ran on (the
documentation includes ``results/obstacle_mesh_independence.md``; ``make docs-data``).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/obstacle_mesh_independence.py [--full]
[--solvers "a;b[k=v,...]"] [--tol 1e-8] [--cap 300] [--markdown PATH]``
"""

from __future__ import annotations

import argparse
import time

import torch

SOLVERS = ["mmg", "mmg[variant=truncated,start=nested]", "tnnmg[start=nested]", "tnnmg",
           "rmtr[region=box]", "pgd"]
QUICK = {"obstacle_poisson1d": (63, 127, 255), "obstacle_poisson2d": (15, 31)}
FULL = {"obstacle_poisson1d": (63, 127, 255, 511, 1023),
        "obstacle_poisson2d": (31, 63, 127, 255)}


def cycles_to_tolerance(problem: str, label: str, tol: float, cap: int) -> dict:
    """Steps until ``test_rel_l2 ≤ tol`` (None if not within ``cap``), WU, rate, seconds."""
    from ml2bench.testing import bind

    task, solver, ledger = bind(problem, label)
    errors, identified, reached = [], None, None
    start = time.perf_counter()
    for step in range(1, cap + 1):
        solver.step()
        metrics = task.evaluate()
        errors.append(metrics["test_rel_l2"])
        if identified is None and metrics["test_contact_wrong"] == 0:
            identified = step
        if metrics["test_rel_l2"] <= tol:
            reached = step
            break
    rate = None
    if reached and identified and reached > identified:
        rate = (errors[reached - 1] / errors[identified - 1]) ** (1 / (reached - identified))
    return {"cycles": reached, "wu": ledger.work_units, "rate": rate,
            "seconds": time.perf_counter() - start, "last": len(errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="n up to 1023 (1D), 255² (2D)")
    parser.add_argument("--quick", action="store_true", help="the default small sizes")
    parser.add_argument("--solvers", default=";".join(SOLVERS), help="labels separated by ;")
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--cap", type=int, default=None,
                        help="steps per run (default 300 quick, 2000 full)")
    parser.add_argument("--markdown", default=None, metavar="PATH",
                        help="also write the table as Markdown to PATH")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = FULL if args.full else QUICK
    cap = args.cap or (2000 if args.full else 300)
    solvers = [s for s in args.solvers.split(";") if s]
    ratios = {}
    markdown = []
    for family, ns in sizes.items():
        markdown += [f"\n`{family}`: cycles to `test_rel_l2 ≤ {args.tol:g}` "
                     "(work units, asymptotic rate ρ; `>k`: not within the cap)\n",
                     "| solver | " + " | ".join(f"n = {n}" for n in ns) + " |",
                     "|---|" + "---:|" * len(ns)]
        print(f"\n{family}: cycles to test_rel_l2 ≤ {args.tol:g} (WU, asymptotic rate ρ, s)")
        for label in solvers:
            cells, counts = [], {}
            for n in ns:
                r = cycles_to_tolerance(f"{family}[n={n}]", label, args.tol, cap)
                counts[n] = r["cycles"]
                rate = "—" if r["rate"] is None else f"{r['rate']:.2g}"
                shown = f">{r['last']}" if r["cycles"] is None else str(r["cycles"])
                cells.append(f"n={n}: {shown} ({r['wu']:.0f} WU, ρ {rate}, {r['seconds']:.1f}s)")
            print(f"  {label:40s} " + "; ".join(cells))
            markdown.append(f"| `{label}` | " + " | ".join(
                cell.split(": ", 1)[1].rsplit(", ", 1)[0] + ")" for cell in cells) + " |")
            first, last = counts[ns[0]], counts[ns[-1]]
            dim = "1D" if family.endswith("1d") else "2D"
            if first is None:
                ratios[f"{label} {dim}"] = "n/a"
            elif last is None:
                ratios[f"{label} {dim}"] = f">{cap / first:.1f}"
            else:
                ratios[f"{label} {dim}"] = f"{last / first:.2g}"
    last = ("ratios cycles(n_max)/cycles(n_min): "
            + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    print("\n" + last)
    if args.markdown:
        from _common import write_measured_markdown

        command = "python benchmarks/obstacle_mesh_independence.py" + (" --full" if args.full else "")
        write_measured_markdown(args.markdown, command, "\n".join(markdown) + f"\n\n{last}\n")


if __name__ == "__main__":
    main()

"""Mesh independence (``kind = "mesh_independence"``): cycles to ``‖g‖ ≤ gtol‖g₀‖``
against the grid size ``n``.

Analysis keys: ``multilevel`` (solver names whose cycle counts must not grow with n),
``single_level`` (shown for contrast, not judged), ``gtol`` (default 1e-8). Cycles of a
run: the first ``step`` whose ``grad_norm_rel`` is at most ``gtol`` (the runner records
every step with ``checkpoint_every = 0``); the work units there too. Tolerance keys:
``cycle_spread`` (max − min cycles over n, per solver) and ``max_cycles``.
"""

from __future__ import annotations

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, first_reach, median, \
    problem_param


def cycles_table(runs, names, gtol: float) -> tuple[dict, dict]:
    """``{solver: {n: cycles}}`` and ``{solver: {n: WU}}`` (None: not reached),
    medians over seeds; keys are the solver labels as the manifest writes them."""
    cycles: dict = {}
    work: dict = {}
    for run in by_name(runs, names):
        n = str(problem_param(run.rows, "n"))
        step = first_reach(run.rows, "grad_norm_rel", gtol, higher=False, x="step")
        wu = first_reach(run.rows, "grad_norm_rel", gtol, higher=False)
        cycles.setdefault(run.solver, {}).setdefault(n, []).append(step)
        work.setdefault(run.solver, {}).setdefault(n, []).append(wu)

    def reduce(table):
        out = {}
        for solver, per_n in table.items():
            out[solver] = {}
            for n in sorted(per_n, key=int):
                values = per_n[n]
                out[solver][n] = None if any(v is None for v in values) else median(values)
        return out
    cycles, work = reduce(cycles), reduce(work)
    cycles = {s: {n: (int(c) if c is not None and c == int(c) else c) for n, c in t.items()}
              for s, t in cycles.items()}
    return cycles, work


def compute(claim, runs) -> Outcome:
    """Cycle counts per solver and n; reproduced if every multilevel solver's counts
    stay within ``cycle_spread`` and ``max_cycles``."""
    analysis, tolerance = claim.analysis, claim.tolerance
    gtol = float(analysis.get("gtol", 1e-8))
    spread = float(tolerance.get("cycle_spread", 2))
    cap = float(tolerance.get("max_cycles", 12))
    multi, multi_wu = cycles_table(runs, analysis.get("multilevel", ["rmtr", "mgopt"]), gtol)
    single, single_wu = cycles_table(runs, analysis.get("single_level", []), gtol)
    checks, notes, parts = [], [], []
    for solver, per_n in multi.items():
        counts = list(per_n.values())
        ok = all(c is not None for c in counts) and \
            max(counts) - min(counts) <= spread and max(counts) <= cap
        checks.append(ok)
        shown = "/".join("—" if c is None else f"{c:g}" for c in counts)
        parts.append(f"{solver}: {shown}")
        if not ok:
            notes.append(f"{solver} cycles {shown} exceed spread {spread:g} or cap {cap:g}")
    for solver, per_n in single.items():
        parts.append(f"{solver}: " + "/".join("—" if c is None else f"{c:g}"
                                              for c in per_n.values()))
    sizes = sorted({n for t in (*multi.values(), *single.values()) for n in t}, key=int)
    ours = f"cycles at n = {'/'.join(sizes)}: " + "; ".join(parts) + \
        (" (— = not within the budget)" if single else "")
    verdict = count(checks) if checks else "not reproduced"
    reason = "; ".join(notes) if notes else \
        (f"every multilevel count within +{spread:g} over n = {sizes[0]}…{sizes[-1]}"
         if checks else "no multilevel run finished")
    return Outcome(values={"cycles": {**multi, **single}, "work_units": {**multi_wu,
                                                                         **single_wu}},
                   ours=ours, verdict=verdict, reason=reason,
                   series={"multilevel": list(multi), "single_level": list(single)})

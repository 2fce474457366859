"""Mesh independence (``kind = "mesh_independence"``): cycles to ``‖g‖ ≤ gtol‖g₀‖``
against the grid size ``n``.

Analysis keys: ``multilevel`` (solver names whose cycle counts must not grow with n),
``single_level`` (shown for contrast, not judged), ``gtol`` (default 1e-8), ``column``
(the results column brought below ``gtol``; default ``grad_norm_rel``; the obstacle
problems use ``test_rel_l2``, the error to the discrete solution). Cycles of a
run: the first ``step`` whose ``column`` is at most ``gtol`` (the runner records
every step with ``checkpoint_every = 0``); the work units there too. Tolerance keys:
``cycle_spread`` (max − min cycles over n, per solver) and ``max_cycles``.

Bound-constrained claims (M3) add ``rate_cap`` (tolerance): the **asymptotic rate**
of a run, ``ρ = (e_K / e_I)^{1/(K − I)}`` with ``e`` the ``column``, ``I`` the first step
whose contact set is the reference's (``test_contact_wrong = 0``) and ``K`` the step that
reaches ``gtol`` (Kornhuber 1994 reports such rates), must not exceed ``rate_cap`` at any
n for a judged solver (undefined when ``K = I``: reached in the step that found the
contact set).
"""

from __future__ import annotations

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, first_reach, median, \
    problem_param


def asymptotic_rate(rows, column: str, gtol: float) -> float | None:
    """``(e_K/e_I)^{1/(K−I)}``: error reduction per step from the first step with the
    reference's contact set (``I``) to the first reaching ``gtol`` (``K``); None if
    either is missing or ``K = I``."""
    identified = first_reach(rows, "test_contact_wrong", 0.0, higher=False, x="step") \
        if "test_contact_wrong" in rows else None
    reached = first_reach(rows, column, gtol, higher=False, x="step")
    if identified is None or reached is None or reached <= identified:
        return None
    by_step = rows.set_index("step")[column]
    return float((by_step[reached] / by_step[identified]) ** (1.0 / (reached - identified)))


def cycles_table(runs, names, gtol: float, column: str = "grad_norm_rel",
                 rates: dict | None = None) -> tuple[dict, dict]:
    """``{solver: {n: cycles}}`` and ``{solver: {n: WU}}`` (None: not reached),
    medians over seeds; keys are the solver labels as the manifest writes them.
    ``rates``, if given, receives ``{solver: {n: asymptotic rate}}``."""
    cycles: dict = {}
    work: dict = {}
    for run in by_name(runs, names):
        n = str(problem_param(run.rows, "n"))
        step = first_reach(run.rows, column, gtol, higher=False, x="step")
        wu = first_reach(run.rows, column, gtol, higher=False)
        cycles.setdefault(run.solver, {}).setdefault(n, []).append(step)
        work.setdefault(run.solver, {}).setdefault(n, []).append(wu)
        if rates is not None:
            rates.setdefault(run.solver, {}).setdefault(n, []).append(
                asymptotic_rate(run.rows, column, gtol))

    def reduce(table):
        out = {}
        for solver, per_n in table.items():
            out[solver] = {}
            for n in sorted(per_n, key=int):
                values = per_n[n]
                out[solver][n] = None if any(v is None for v in values) else median(values)
        return out
    cycles, work = reduce(cycles), reduce(work)
    if rates is not None:
        rates.update(reduce(rates))
    cycles = {s: {n: (int(c) if c is not None and c == int(c) else c) for n, c in t.items()}
              for s, t in cycles.items()}
    return cycles, work


def compute(claim, runs) -> Outcome:
    """Cycle counts per solver and n; reproduced if every multilevel solver's counts
    stay within ``cycle_spread`` and ``max_cycles`` (and, with ``rate_cap``, its
    asymptotic rates stay below it at every n)."""
    analysis, tolerance = claim.analysis, claim.tolerance
    gtol = float(analysis.get("gtol", 1e-8))
    column = analysis.get("column", "grad_norm_rel")
    spread = float(tolerance.get("cycle_spread", 2))
    cap = float(tolerance.get("max_cycles", 12))
    rate_cap = tolerance.get("rate_cap")
    rates: dict | None = {} if rate_cap is not None else None
    multi, multi_wu = cycles_table(runs, analysis.get("multilevel", ["rmtr", "mgopt"]), gtol,
                                   column, rates)
    single, single_wu = cycles_table(runs, analysis.get("single_level", []), gtol, column)
    checks, notes, parts = [], [], []
    for solver, per_n in multi.items():
        counts = list(per_n.values())
        ok = all(c is not None for c in counts) and \
            max(counts) - min(counts) <= spread and max(counts) <= cap
        shown = "/".join("—" if c is None else f"{c:g}" for c in counts)
        if not ok:
            notes.append(f"{solver} cycles {shown} exceed spread {spread:g} or cap {cap:g}")
        if rates is not None:
            solver_rates = list(rates.get(solver, {}).values())
            # None: the contact set was found at the step that reached gtol (no
            # asymptotic phase to measure); a run that never reached it fails above
            rates_ok = all(r is None or (r == r and r <= float(rate_cap)) for r in solver_rates)
            shown += " (ρ " + "/".join("—" if r is None or r != r else f"{r:.2g}"
                                       for r in solver_rates) + ")"
            if not rates_ok:
                notes.append(f"{solver} asymptotic rates exceed {float(rate_cap):g}")
            ok = ok and rates_ok
        checks.append(ok)
        parts.append(f"{solver}: {shown}")
    for solver, per_n in single.items():
        parts.append(f"{solver}: " + "/".join("—" if c is None else f"{c:g}"
                                              for c in per_n.values()))
    sizes = sorted({n for t in (*multi.values(), *single.values()) for n in t}, key=int)
    ours = f"cycles at n = {'/'.join(sizes)}: " + "; ".join(parts) + \
        (" (— = not within the budget)" if single else "")
    verdict = count(checks) if checks else "not reproduced"
    rate_words = f", asymptotic rates ≤ {float(rate_cap):g}" if rate_cap is not None else ""
    reason = "; ".join(notes) if notes else \
        (f"every multilevel count within +{spread:g} over n = {sizes[0]}…{sizes[-1]}"
         f"{rate_words}" if checks else "no multilevel run finished")
    values = {"cycles": {**multi, **single}, "work_units": {**multi_wu, **single_wu}}
    if rates is not None:
        values["rates"] = rates
    return Outcome(values=values, ours=ours, verdict=verdict, reason=reason,
                   series={"multilevel": list(multi), "single_level": list(single),
                           "column": column, "gtol": gtol})

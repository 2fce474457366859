"""Comparable validation accuracy (``kind = "accuracy_parity"``): a method against
baselines at the same budget.

Analysis keys: ``method`` (solver name, e.g. ``apts_d``; each of its labels — e.g. the
subdomain counts — is judged), ``baselines`` (names). Our value: the final ``test_acc``
of each label, median over seeds. Tolerance key: ``accuracy_gap``: every method label's
accuracy is at least the best baseline's minus this. A label that misses it is reported
with its diagnostics: the solver steps it took in the budget and their mean cost in WU,
beside the best baseline's step count (few, expensive outer iterations explain most gaps
at a small budget).
"""

from __future__ import annotations

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, final, fmt, median


def compute(claim, runs) -> Outcome:
    """Final accuracies per label; reproduced if every method label is within
    ``accuracy_gap`` of the best baseline (per problem)."""
    method = claim.analysis.get("method", "apts_d")
    baselines = claim.analysis.get("baselines", ["adam", "sgd"])
    gap = float(claim.tolerance.get("accuracy_gap", 0.02))
    values, checks, notes, parts = {}, [], [], []
    for problem in dict.fromkeys(r.problem for r in runs):
        here = [r for r in runs if r.problem == problem]
        accuracy = {}
        for run in by_name(here, [method, *baselines]):
            accuracy.setdefault(run.solver, []).append(final(run.rows, "test_acc"))
        accuracy = {label: median(v) for label, v in accuracy.items()}
        base = [accuracy[r.solver] for r in by_name(here, baselines)]
        best = max(base) if base else float("nan")
        best_run = next((r for r in by_name(here, baselines) if accuracy[r.solver] == best), None)
        for run in by_name(here, method):
            if run.seed != min(r.seed for r in here if r.solver == run.solver):
                continue
            ok = accuracy[run.solver] >= best - gap
            checks.append(ok)
            if not ok:
                notes.append(f"{run.solver} {fmt(accuracy[run.solver])} vs best baseline "
                             f"{fmt(best)} (gap > {gap:g}; {step_diagnostic(run, best_run)})")
        key = problem.split("[")[0]
        values[key] = accuracy
        parts.append(f"{key}: " + ", ".join(f"{k} {fmt(v)}" for k, v in accuracy.items()))
    reason = "; ".join(notes) if notes else \
        f"every {method} accuracy within {gap:g} of the best baseline"
    return Outcome(values=values, ours="; ".join(parts), verdict=count(checks), reason=reason)


def step_diagnostic(run, baseline) -> str:
    """``"N steps of ≈c WU (W WU), <baseline> M steps"``: how many solver steps a run took
    in its budget and what one cost, beside the baseline's step count."""
    steps = int(run.rows["step"].max())
    work = final(run.rows, "work_units")
    text = f"{steps} steps of ≈{fmt(work / max(steps, 1), 2)} WU in {fmt(work)} WU"
    if baseline is not None:
        text += f", {baseline.solver} {int(baseline.rows['step'].max())} steps"
    return text

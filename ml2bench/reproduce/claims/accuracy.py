"""Comparable validation accuracy (``kind = "accuracy_parity"``): a method against
baselines at the same budget.

Analysis keys: ``method`` (solver name, e.g. ``apts_d``; each of its labels — e.g. the
subdomain counts — is judged), ``baselines`` (names). Our value: the final ``test_acc``
of each label, median over seeds, shown with the cost it took (epochs, serial WU and
parallel WU: the critical path over subdomains), medians over seeds. The rule is
:func:`parity`, a function of the numbers alone, so that it can be applied to the
authors' published numbers too. Tolerance key: ``accuracy_gap``: every method label's
accuracy is at least the best baseline's minus this. A label that misses it is reported
with its diagnostics: the solver steps it took in the budget and their mean cost in WU,
beside the best baseline's step count (few, expensive outer iterations explain most gaps
at a small budget).
"""

from __future__ import annotations

import math

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, final, fmt, median


def parity(accuracy: dict, methods, baselines, gap: float) -> tuple[list[bool], list[str]]:
    """The verdict rule of comparable accuracy, on numbers alone.

    Every method label ``m`` passes if ``acc(m) ≥ max_b acc(b) − gap`` over the baseline
    labels ``b``. Applied to our medians over seeds and, in the tests, to the authors'
    own published means (``tests/reproduce/data/authors_values.csv``), which must pass.

    Parameters
    ----------
    accuracy : dict
        Accuracy (a fraction) per label.
    methods, baselines : sequence of str
        The labels judged and the labels they are compared with.
    gap : float
        The tolerance (a fraction).

    Returns
    -------
    checks : list of bool
        One per method label, in order.
    failures : list of str
        ``"<label> <acc> vs best baseline <acc> (gap > <gap>)"`` per failing label.
    """
    best = max((accuracy[b] for b in baselines), default=math.nan)
    checks, failures = [], []
    for label in methods:
        ok = accuracy[label] >= best - gap
        checks.append(ok)
        if not ok:
            failures.append(f"{label} {fmt(accuracy[label])} vs best baseline {fmt(best)} "
                            f"(gap > {gap:g}")
    return checks, failures


def compute(claim, runs) -> Outcome:
    """Final accuracies per label; reproduced if every method label is within
    ``accuracy_gap`` of the best baseline (per problem)."""
    method = claim.analysis.get("method", "apts_d")
    baselines = claim.analysis.get("baselines", ["adam", "sgd"])
    gap = float(claim.tolerance.get("accuracy_gap", 0.02))
    values, checks, notes, parts = {}, [], [], []
    for problem in dict.fromkeys(r.problem for r in runs):
        here = [r for r in runs if r.problem == problem]
        accuracy, cost = {}, {}
        for run in by_name(here, [method, *baselines]):
            accuracy.setdefault(run.solver, []).append(final(run.rows, "test_acc"))
            cost.setdefault(run.solver, []).append(
                [final(run.rows, c) for c in ("epoch", "work_units", "work_units_parallel")])
        accuracy = {label: median(v) for label, v in accuracy.items()}
        cost = {label: [median(c) for c in zip(*v)] for label, v in cost.items()}
        base_labels = list(dict.fromkeys(r.solver for r in by_name(here, baselines)))
        best = max((accuracy[b] for b in base_labels), default=math.nan)
        best_run = next((r for r in by_name(here, baselines) if accuracy[r.solver] == best), None)
        labels = list(dict.fromkeys(r.solver for r in by_name(here, method)))
        ok, failures = parity(accuracy, labels, base_labels, gap)
        checks += ok
        for label, text in zip([lb for lb, good in zip(labels, ok) if not good], failures):
            run = next(r for r in by_name(here, method) if r.solver == label)
            notes.append(f"{text}; {step_diagnostic(run, best_run)})")
        key = problem.split("[")[0]
        values[key] = accuracy
        values[f"{key}.cost"] = cost
        parts.append(f"{key}: " + ", ".join(
            f"{k} {fmt(v)} ({fmt(cost[k][0], 3)} epochs, {fmt(cost[k][1], 3)} WU, "
            f"{fmt(cost[k][2], 3)} parallel WU)" for k, v in accuracy.items()))
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

"""Less training cost at on-par accuracy under a fixed epoch schedule
(``kind = "fixed_schedule"``).

The protocol of Chang, Meng, Haber, Tung & Begert (ICLR 2018, arXiv 1710.10348): the
multi-level method trains a shallow network, then repeatedly interpolates it to twice
the depth (halving the step size h) and goes on training, for a fixed number of epochs
in all; the baseline trains the final depth from scratch for the same epochs. The paper
reports the *total* training time of each and the final accuracies ("reducing training
time by more than 40 % with superior or on-par accuracy", abstract) — not the work to
reach a target. Both runs here stop at the same ``max_epochs`` (the run option), so
the comparison is final accuracy and total cost at the end of the schedule.

Analysis keys: ``method`` (e.g. ``nested``), ``baseline`` (e.g. ``adam``), ``x`` (the
cost column, ``work_units`` by default; ``work_units_parallel`` is shown beside).
Our value per problem: the medians over seeds of each one's final ``test_acc`` and
final cost; ``reduction = 1 − cost(method)/cost(baseline)``. The rule is
:func:`judge`, a function of those numbers alone. Tolerance keys: ``min_reduction``
(the published 0.40), ``accuracy_gap`` (on par: the method's accuracy ≥ the
baseline's − gap).
"""

from __future__ import annotations

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, final, fmt, median


def judge(accuracy: float, baseline_accuracy: float, reduction: float,
          min_reduction: float, gap: float) -> tuple[str, str]:
    """The verdict of one problem: ``reproduced`` if ``reduction ≥ min_reduction`` and
    ``accuracy ≥ baseline_accuracy − gap``; ``partly`` if one of the two holds or the
    cost is lower at all (``reduction > 0``) at par; else ``not reproduced``. Returns
    the verdict and a one-line reason."""
    on_par = accuracy >= baseline_accuracy - gap
    cheaper = reduction >= min_reduction
    why = (f"cost −{100 * reduction:.0f} % (needs ≥ {100 * min_reduction:.0f} %), "
           f"accuracy {fmt(accuracy)} vs {fmt(baseline_accuracy)} "
           f"({'on par' if on_par else f'below by more than {gap:g}'})")
    if on_par and cheaper:
        return "reproduced", why
    if on_par or cheaper:
        return "partly", why
    return "not reproduced", why


def compute(claim, runs) -> Outcome:
    """Final accuracy and total cost of method and baseline per problem at the end of
    the common epoch schedule; the verdict by :func:`judge` over the problems."""
    method = claim.analysis.get("method", "nested")
    baseline = claim.analysis.get("baseline", "adam")
    x = claim.analysis.get("x", "work_units")
    other = "work_units_parallel" if x == "work_units" else "work_units"
    min_reduction = float(claim.tolerance.get("min_reduction", 0.40))
    gap = float(claim.tolerance.get("accuracy_gap", 0.01))
    values, verdicts, notes, parts = {}, [], [], []
    for problem in dict.fromkeys(r.problem for r in runs):
        here = [r for r in runs if r.problem == problem]
        key = problem.split("[")[0]
        mine, base = by_name(here, method), by_name(here, baseline)
        if not mine or not base:
            notes.append(f"{key}: no finished {method if not mine else baseline} run")
            verdicts.append("not reproduced")
            continue
        entry = {}
        for name, group in ((method, mine), (baseline, base)):
            entry[name] = {c: median(final(r.rows, c) for r in group)
                           for c in ("test_acc", x, other, "epoch")}
        reduction = 1.0 - entry[method][x] / entry[baseline][x]
        entry["reduction"] = reduction
        verdict, why = judge(entry[method]["test_acc"], entry[baseline]["test_acc"],
                             reduction, min_reduction, gap)
        verdicts.append(verdict)
        notes.append(f"{key}: {why}")
        values[key] = entry
        parts.append(
            f"{key} at {fmt(entry[baseline]['epoch'], 3)} epochs: {method} acc "
            f"{fmt(entry[method]['test_acc'])}, {fmt(entry[method][x])} {x} "
            f"({fmt(entry[method][other])} {other}); {baseline} acc "
            f"{fmt(entry[baseline]['test_acc'])}, {fmt(entry[baseline][x])} {x}; "
            f"cost −{100 * reduction:.0f} %")
    verdict = count([v == "reproduced" for v in verdicts])
    if verdict == "not reproduced" and any(v == "partly" for v in verdicts):
        verdict = "partly"
    return Outcome(values=values, ours="; ".join(parts), verdict=verdict,
                   reason="; ".join(notes))

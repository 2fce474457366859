"""Speedup to a target accuracy (``kind = "speedup"``): a method against a baseline.

Analysis keys: ``method`` and ``baseline`` (solver names), ``x`` (``work_units``, the
default, or ``time_s``), ``target`` (a validation accuracy; ``"common"``: the highest
accuracy both reach, see :func:`_target`; default ``"problem"``: each problem's own
target). Per problem, ``x`` to the first checkpoint at or above the target, median over
seeds (a seed that never reaches it counts as ∞); speedup = baseline / method. A
baseline whose median is ∞ counts with its final ``x`` (the speedup is then a lower
bound, ``≥``); a method whose median is ∞ gives no speedup. Over problems: the geometric mean of those with a speedup.
Tolerance keys: ``min_speedup`` (the published factor), ``accuracy_gap`` (the method's
best accuracy at least the baseline's minus this: "at equal accuracy").
"""

from __future__ import annotations

import math
import statistics

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, fmt, median, problem_param


def judge(speedup: float | None, parity: bool, min_speedup: float) -> str:
    """The verdict rule of a speedup claim, on numbers alone: ``reproduced`` if the
    (geometric-mean) ``speedup ≥ min_speedup`` at accuracy ``parity``; ``partly`` if the
    speedup is above 1; else ``not reproduced`` (None: no speedup measured). The
    published statement itself ("more than factor three at the same accuracy": speedup
    3 at parity) passes (tests/reproduce/test_published_values.py)."""
    if speedup is not None and speedup >= min_speedup and parity:
        return "reproduced"
    if speedup is not None and speedup > 1.0:
        return "partly"
    return "not reproduced"


def _to_target(runs, target: float, x: str) -> tuple[float, bool]:
    """Median ``x`` to ``target`` over ``runs`` (a run that never reaches it counts as
    ∞) and whether that median is finite; if not, the median of the runs' final ``x``
    (a lower bound) and False."""
    hits, finals = [], []
    for run in runs:
        hit = run.rows[run.rows["test_acc"] >= target]
        hits.append(float(hit[x].iloc[0]) if len(hit) else math.inf)
        finals.append(float(run.rows[x].iloc[-1]))
    hits.sort()
    middle = statistics.median(hits)
    if math.isfinite(middle):
        return middle, True
    return median(finals), False


def _target(claim, mine, base) -> float:
    """The target accuracy: ``analysis.target`` as a number, ``"common"`` (the highest
    accuracy both reach: the smaller of the two medians over seeds of the best
    accuracy), or by default the problem's own target."""
    target = claim.analysis.get("target", "problem")
    if target == "common":
        return min(median(r.rows["test_acc"].max() for r in mine),
                   median(r.rows["test_acc"].max() for r in base))
    if target == "problem":
        return float(problem_param(mine[0].rows, "target"))
    return float(target)


def compute(claim, runs) -> Outcome:
    """Speedups per problem and their geometric mean; reproduced if it is at least
    ``min_speedup`` at parity, partly if above 1, else not reproduced."""
    method = claim.analysis["method"]
    baseline = claim.analysis["baseline"]
    x = claim.analysis.get("x", "work_units")
    min_speedup = float(claim.tolerance.get("min_speedup", 1.0))
    gap = float(claim.tolerance.get("accuracy_gap", 0.01))
    per_problem, logs, notes, parts, parity = {}, [], [], [], True
    for problem in dict.fromkeys(r.problem for r in runs):
        here = [r for r in runs if r.problem == problem]
        mine, base = by_name(here, method), by_name(here, baseline)
        if not mine or not base:
            notes.append(f"{problem}: runs missing")
            continue
        target = _target(claim, mine, base)
        x_method, method_reached = _to_target(mine, target, x)
        x_base, base_reached = _to_target(base, target, x)
        best_method = median(r.rows["test_acc"].max() for r in mine)
        best_base = median(r.rows["test_acc"].max() for r in base)
        speed = x_base / x_method if method_reached and x_method else None
        bound = "≥" if speed is not None and not base_reached else ""
        if not base_reached and not method_reached:
            notes.append(f"{problem}: neither reaches {target:.3g}")
        elif not method_reached:
            notes.append(f"{problem}: {method} does not reach {target:.3g}")
        if best_method < best_base - gap:
            parity = False
            notes.append(f"{problem}: {method} best accuracy {fmt(best_method)} below "
                         f"{baseline}'s {fmt(best_base)}")
        if speed is not None:
            logs.append(math.log(speed))
        per_problem[problem] = {"target": target, f"{x}_method": x_method,
                                f"{x}_baseline": x_base, "method_reached": method_reached,
                                "baseline_reached": base_reached, "speedup": speed,
                                "bound": bound, "best_acc_method": best_method,
                                "best_acc_baseline": best_base}
        parts.append(f"{problem.split('[')[0]}: {bound}{fmt(speed, 2)}× "
                     f"({baseline} {fmt(x_base)}, {method} {fmt(x_method)} {x} to "
                     f"acc {target:.3g})")
    mean = math.exp(sum(logs) / len(logs)) if logs else None
    verdict = judge(mean, parity, min_speedup)
    head = f"geometric-mean speedup {fmt(mean, 2)}× vs published ≥ {min_speedup:g}×"
    reason = head + (f"; {'; '.join(notes)}" if notes else "")
    return Outcome(values={"speedup": mean, "per_problem": per_problem},
                   ours=f"{fmt(mean, 2)}× ({'; '.join(parts)})", verdict=verdict,
                   reason=reason)

"""Schwarz-preconditioned L-BFGS on PINNs (``kind = "pinn_schwarz"``).

Analysis keys: ``baseline`` (``lbfgs``), ``methods`` (``["aspqn", "mspqn"]``). Per
problem: the baseline's final ``test_rel_l2`` (median over seeds) and, per method, the
speedup ``WU_baseline / WU_method`` to reach the baseline's final error of the same
seed (the baseline's WU: where it first reached it after the start), median over
seeds; a seed whose method never reaches it counts 0, and a median of 0 is no
speedup.
``x``: the cost the verdict counts — ``work_units`` (serial, every subdomain's work
summed: ml2bench's stricter reading) or ``work_units_parallel`` (the critical path over
subdomains: the paper's ``#g_ev``, which ``SPQNTrainerRight.compute_num_loss_grad_evals``
of the authors' code counts as ``2 + k_s`` per ASPQN epoch whatever the number of
subdomains, ``2 + D·k_s`` for MSPQN, 1 per L-BFGS iteration); the other unit's speedup
is shown beside it (``values[...]["speedup_other"]``).
A problem where L-BFGS does not reduce the error shows nothing and counts as a failed
check. A problem whose median L-BFGS error at ``LATE`` (3/4) of the budget is not above its
final error is noted: the speedups then measure a plateau, not the claim.
Tolerance keys: ``min_speedup`` (every method on every problem), ``error_factor``
(our L-BFGS error within this factor of a published one, where one was read: keys
``lbfgs_error.<problem>`` of ``[[claim.published]]``).
"""

from __future__ import annotations

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, final, first_reach, fmt, median


#: The two cost units of the rows: serial and critical-path work units.
UNITS = ("work_units", "work_units_parallel")
#: Fraction of the budget after which the baseline should still improve: a quick scale
#: shows the claim only if L-BFGS is not yet at a plateau (issue 18).
LATE = 0.75


def _reach(rows, error: float, x: str = "work_units") -> float | None:
    """``x`` (WU) of the first checkpoint after the start with ``test_rel_l2 ≤ error``
    (None: never, or only at the start: no progress)."""
    return first_reach(rows[rows["step"] > 0], "test_rel_l2", error, higher=False, x=x)


def error_at(rows, fraction: float) -> float:
    """``test_rel_l2`` at the last checkpoint within ``fraction`` of the run's final
    serial WU (its value there: how far training had gone by then)."""
    cap = fraction * float(rows["work_units"].iloc[-1])
    return final(rows[rows["work_units"] <= cap], "test_rel_l2")


def _speedup(base, runs, targets, x: str) -> tuple[float | None, list[float]]:
    """Median over seeds of ``x(baseline to its final error) / x(method to it)`` (a seed
    that never reaches it counts 0; a median of 0 is None) and the ratios."""
    base_x = {r.seed: _reach(r.rows, targets[r.seed], x) for r in base}
    ratios = []
    for run in runs:
        if not base_x.get(run.seed):
            continue
        wu = _reach(run.rows, targets[run.seed], x)
        ratios.append(base_x[run.seed] / wu if wu else 0.0)
    speed = median(ratios) if ratios else None
    return (None if speed == 0.0 else speed), ratios


def compute(claim, runs) -> Outcome:
    """L-BFGS errors and Schwarz speedups per PDE; reproduced if every speedup is at
    least ``min_speedup`` and every read published error is matched within
    ``error_factor``."""
    baseline = claim.analysis.get("baseline", "lbfgs")
    methods = claim.analysis.get("methods", ["aspqn", "mspqn"])
    min_speedup = float(claim.tolerance.get("min_speedup", 1.0))
    factor = float(claim.tolerance.get("error_factor", 10.0))
    x = claim.analysis.get("x", "work_units")
    other = next(u for u in UNITS if u != x)
    values, checks, notes, parts = {}, [], [], []
    for problem in dict.fromkeys(r.problem for r in runs):
        here = [r for r in runs if r.problem == problem]
        base = by_name(here, baseline)
        if not base:
            notes.append(f"{problem}: no {baseline} run finished")
            checks.append(False)
            continue
        error = median(final(r.rows, "test_rel_l2") for r in base)
        targets = {r.seed: final(r.rows, "test_rel_l2") for r in base}
        base_wu = {r.seed: _reach(r.rows, targets[r.seed], x) for r in base}
        entry = {"lbfgs_error": error, "speedup": {}, "speedup_other": {}, "reached": {},
                 "final_error": {}, "unit": x}
        key = problem.split("[")[0]
        initial = median(float(r.rows["test_rel_l2"].iloc[0]) for r in base)
        entry["initial_error"] = initial
        late = median(error_at(r.rows, LATE) for r in base)
        entry["lbfgs_error_late"] = late
        weak = error >= initial  # every method "reaches" an error never improved on
        if weak:
            checks.append(False)
            notes.append(f"{key}: L-BFGS does not reduce the error ({fmt(initial)} → "
                         f"{fmt(error)}), the comparison is weak")
        elif late <= error:
            notes.append(f"{key}: L-BFGS no longer improves over the last "
                         f"{1 - LATE:.0%} of its budget ({fmt(late)} → {fmt(error)}): the "
                         "speedups measure a plateau")
        published = claim.published_value(f"lbfgs_error.{key}")
        if published is not None:
            ok = published / factor <= error <= published * factor
            checks.append(ok)
            if not ok:
                notes.append(f"{key}: L-BFGS error {fmt(error)} vs published {published:g}")
        text = []
        for method in methods:
            method_runs = by_name(here, method)
            speed, ratios = _speedup(base, method_runs, targets, x)
            entry["speedup"][method] = speed
            entry["speedup_other"][method] = _speedup(base, method_runs, targets, other)[0]
            entry["reached"][method] = sum(1 for ratio in ratios if ratio > 0)
            entry["final_error"][method] = median(final(r.rows, "test_rel_l2")
                                                  for r in method_runs)
            ok = speed is not None and speed >= min_speedup
            text.append(f"{method} {fmt(speed, 2)}× ({fmt(entry['speedup_other'][method], 2)}× "
                        f"in {other}; final {fmt(entry['final_error'][method])})")
            if weak:  # a weak comparison's speedups are not evidence either way
                continue
            checks.append(ok)
            if not base_wu or not any(base_wu.values()):
                notes.append(f"{key}: L-BFGS makes no progress (final error ≥ initial)")
            elif not ok:
                notes.append(f"{key}: {method} " + ("does not reach L-BFGS's error"
                                                     if speed is None else
                                                     f"speedup {fmt(speed, 2)}×"))
        values[key] = entry
        parts.append(f"{key}: L-BFGS {fmt(error)}, " + ", ".join(text))
    verdict = count(checks)
    reason = "; ".join(notes) if notes else \
        f"every method reaches L-BFGS's final error ≥ {min_speedup:g}× sooner ({x})"
    reason = f"[speedups in {x}] {reason}"
    return Outcome(values=values, ours="; ".join(parts), verdict=verdict, reason=reason)

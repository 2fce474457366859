"""Schwarz-preconditioned L-BFGS on PINNs (``kind = "pinn_schwarz"``).

Analysis keys: ``baseline`` (``lbfgs``), ``methods`` (``["aspqn", "mspqn"]``). Per
problem: the baseline's final ``test_rel_l2`` (median over seeds) and, per method, the
speedup ``WU_baseline / WU_method`` to reach that error (the baseline's WU: where it
first reached its own final error; a method that never reaches it has no speedup).
Tolerance keys: ``min_speedup`` (every method on every problem), ``error_factor``
(our L-BFGS error within this factor of a published one, where one was read: keys
``lbfgs_error.<problem>`` of ``[[claim.published]]``).
"""

from __future__ import annotations

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import by_name, count, final, first_reach, fmt, median


def compute(claim, runs) -> Outcome:
    """L-BFGS errors and Schwarz speedups per PDE; reproduced if every speedup is at
    least ``min_speedup`` and every read published error is matched within
    ``error_factor``."""
    baseline = claim.analysis.get("baseline", "lbfgs")
    methods = claim.analysis.get("methods", ["aspqn", "mspqn"])
    min_speedup = float(claim.tolerance.get("min_speedup", 1.0))
    factor = float(claim.tolerance.get("error_factor", 10.0))
    values, checks, notes, parts = {}, [], [], []
    for problem in dict.fromkeys(r.problem for r in runs):
        here = [r for r in runs if r.problem == problem]
        base = by_name(here, baseline)
        if not base:
            notes.append(f"{problem}: no {baseline} run finished")
            checks.append(False)
            continue
        error = median(final(r.rows, "test_rel_l2") for r in base)
        base_wu = median(first_reach(r.rows, "test_rel_l2", error, higher=False) for r in base)
        entry = {"lbfgs_error": error, "lbfgs_wu": base_wu, "speedup": {}, "final_error": {}}
        key = problem.split("[")[0]
        published = claim.published_value(f"lbfgs_error.{key}")
        if published is not None:
            ok = published / factor <= error <= published * factor
            checks.append(ok)
            if not ok:
                notes.append(f"{key}: L-BFGS error {fmt(error)} vs published {published:g}")
        text = []
        for method in methods:
            mine = by_name(here, method)
            wu = [first_reach(r.rows, "test_rel_l2", error, higher=False) for r in mine]
            reached = [w for w in wu if w is not None]
            speed = base_wu / median(reached) if reached and len(reached) == len(wu) else None
            entry["speedup"][method] = speed
            entry["final_error"][method] = median(final(r.rows, "test_rel_l2") for r in mine)
            ok = speed is not None and speed >= min_speedup
            checks.append(ok)
            if not ok:
                notes.append(f"{key}: {method} " + ("does not reach L-BFGS's error"
                                                     if speed is None else
                                                     f"speedup {fmt(speed, 2)}×"))
            text.append(f"{method} {fmt(speed, 2)}×")
        values[key] = entry
        parts.append(f"{key}: L-BFGS {fmt(error)}, " + ", ".join(text))
    verdict = count(checks)
    reason = "; ".join(notes) if notes else \
        f"every method reaches L-BFGS's final error ≥ {min_speedup:g}× sooner (WU)"
    return Outcome(values=values, ours="; ".join(parts), verdict=verdict, reason=reason)

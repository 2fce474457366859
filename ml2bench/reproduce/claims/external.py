"""Claims computed by a study of another part of ml2bench (``kind = "external"``).

The scale's ``study`` names a module with ``run_study(scale: str, out: Path) -> dict``
returning ``{"exponents": {solver: p}, "wu": {solver: {K: wu}}}`` (the depth study,
:mod:`ml2bench.studies.depth_scaling`). When that module is not importable the claim is
``not run`` and says so. Analysis keys: ``multilevel`` and ``single_level`` (solver
names among the exponents). Tolerance keys: ``max_multilevel_exponent`` (every
multilevel exponent at most this) and ``min_gap`` (the smallest single-level exponent
exceeds the largest multilevel one by at least this).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ml2bench.reproduce.claims import Outcome
from ml2bench.reproduce.claims.common import fmt


def load_study(name: str):
    """The study module ``name``, or None if it (or its package) is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and (name == error.name or name.startswith(error.name + ".")):
            return None
        raise


def compute(claim, scale: str, out: str | Path, jobs: int = 1) -> Outcome:
    """Run the scale's study into ``out`` (``jobs`` runs at once) and judge its exponents
    (``not run`` if the study module is not installed)."""
    name = claim.scales[scale].study
    module = load_study(name)
    if module is None:
        return Outcome(values={}, ours="—", verdict="not run",
                       reason=f"{name} is not installed")
    data = module.run_study(scale, Path(out), jobs=jobs)
    exponents = {k: float(v) for k, v in data.get("exponents", {}).items()}
    wu = {s: {str(k): v for k, v in per.items()} for s, per in data.get("wu", {}).items()}
    multi = [exponents[s] for s in claim.analysis.get("multilevel", []) if s in exponents]
    single = [exponents[s] for s in claim.analysis.get("single_level", []) if s in exponents]
    cap = float(claim.tolerance.get("max_multilevel_exponent", 0.5))
    gap = float(claim.tolerance.get("min_gap", 0.3))
    ours = ", ".join(f"{s} p = {fmt(p, 2)}" for s, p in exponents.items()) or "—"
    if not multi or not single:
        return Outcome(values={"exponents": exponents, "wu": wu}, ours=ours,
                       verdict="not reproduced",
                       reason="the study gave no multilevel or no single-level exponent")
    low = max(multi) <= cap
    apart = min(single) - max(multi) >= gap
    verdict = "reproduced" if low and apart else ("partly" if low or apart else
                                                  "not reproduced")
    reason = (f"largest multilevel exponent {fmt(max(multi), 2)} (cap {cap:g}), smallest "
              f"single-level {fmt(min(single), 2)} (gap ≥ {gap:g} needed)")
    return Outcome(values={"exponents": exponents, "wu": wu}, ours=ours, verdict=verdict,
                   reason=reason)

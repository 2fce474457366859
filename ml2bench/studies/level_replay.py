"""RMTR's per-level diagnostics of one run, replayed step by step.

The runner logs solver diagnostics only at checkpoints, so a study that wants every
cycle replays the run in-process with :func:`ml2bench.testing.bind` (the runner's
iterates, bit for bit) up to a work-unit mark and sums the cycles' ``info`` entries per
level ``l`` (see :mod:`ml2bench.solvers.rmtr`): the share of the work units spent on
the level, the fraction of cycles that took a smoothing step on it (``radius_l``
finite), the fraction that visited it (a smoothing step or a coarse correction from it
tried on level ``l−1``: ``radius_l`` or ``coarse_rho_l`` finite), the decrease
of ``h_l`` by its smoothing (``decrease_l``), the decrease of ``h_{l−1}`` by its
accepted corrections (``correction_decrease_l``) and the corrections accepted/tried.
"""

from __future__ import annotations

import math


def replay_levels(problem: str, solver: str, work_units: float, seed: int = 0) -> list[dict]:
    """Replay ``solver`` on ``problem`` until ``work_units`` and reduce its cycles per level.

    Parameters
    ----------
    problem, solver : str
        The run's problem and solver labels.
    work_units : float
        Steps are taken while the ledger is below this mark.
    seed : int
        The run's seed.

    Returns
    -------
    list of dict
        One row per level: ``level``, ``blocks`` (None for a model without blocks),
        ``wu_share``, ``cycles_reached`` (smoothed on), ``cycles_visited``,
        ``smooth_decrease``, ``correction_decrease`` (NaN on level 0), ``skipped_region``
        and ``skipped_kappa`` (recursions to the level not made, by reason), ``accepted``
        and ``tried`` (coarse corrections; 0 on level 0) and ``cycles``.
    """
    from ml2bench.testing import bind

    task, runner, ledger = bind(problem, solver, seed=seed)
    infos = []
    while ledger.work_units < work_units:
        infos.append(runner.step())
    shares = ledger.work_units_by_level()
    total = sum(shares)
    cycles = max(len(infos), 1)

    def summed(key: str) -> float:
        return sum(i.get(key, 0.0) for i in infos)

    rows = []
    for level, share in enumerate(shares):
        rows.append({
            "level": level,
            "blocks": getattr(task.hierarchy.levels[level].model, "num_blocks", None),
            "wu_share": share / total if total else math.nan,
            "cycles_reached": sum(math.isfinite(i.get(f"radius_l{level}", math.nan))
                                  for i in infos) / cycles,
            "cycles_visited": sum(math.isfinite(i.get(f"radius_l{level}", math.nan))
                                  or math.isfinite(i.get(f"coarse_rho_l{level}", math.nan))
                                  for i in infos) / cycles,
            "smooth_decrease": summed(f"decrease_l{level}"),
            "correction_decrease": summed(f"correction_decrease_l{level}") if level
            else math.nan,
            "skipped_region": summed(f"skipped_region_l{level}"),
            "skipped_kappa": summed(f"skipped_kappa_l{level}"),
            "accepted": summed(f"coarse_accepted_l{level}"),
            "tried": sum(math.isfinite(i.get(f"coarse_rho_l{level}", math.nan))
                         for i in infos),
            "cycles": len(infos)})
    return rows

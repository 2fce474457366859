"""The one ranking rule of every output: leaderboard, report, profiles, ``ml2bench table``.

Per problem, solver settings are ranked lexicographically by

1. the **fraction of seeds that reached the target** — descending (a solver that reached
   it on 2 of 2 seeds ranks above one that reached it on 1 of 2, however fast that one
   was);
2. the **median work units to target over the seeds that reached it** — ascending;
3. the **median final value of the target metric** — in its better direction (higher
   accuracy, lower error or gradient norm);

then by label, so that the order is total and stable. Skipped settings (the solver
declined the problem) come last.

This is AlgoPerf's priority (Dahl et al. 2023: a submission that does not reach the
target in enough studies is not scored on its time) made lexicographic, with benchopt's
habit of falling back to the final objective value when nothing reaches the target.

The performance profiles follow the same rule (:func:`rule_costs`): on each problem only
the settings with the best fraction of seeds reached get a finite cost (their median WU
or time to target over the seeds that reached it); the others count as ``∞``. So the
profile's best solver on a problem is the rule's best, and a faster solver that reached
the target on fewer seeds never gets a better ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The rule, as printed under every table that ranks solvers.
RULE = ("Ranking (per problem): the fraction of seeds that reached the target (more first), "
        "then the median WU to target over the seeds that reached it (fewer first), then the "
        "median final value of the target metric (better first).")
#: The same rule as the performance profiles apply it.
PROFILE_RULE = ("Per problem, only the solvers with the best fraction of seeds reaching the "
                "target get a finite cost (their median over the seeds that reached it); "
                "the others, skipped ones and missing ones count as ∞ (the ranking rule).")


def rule_note(fmt: str) -> str:
    """The rule as text to print under a table in format ``fmt``: a Markdown paragraph,
    a LaTeX comment, nothing for CSV (which programs read; the rule is in docs/guide/results.md)."""
    if fmt == "md":
        return f"\n{RULE}\n"
    if fmt == "latex":
        return f"% {RULE}\n"
    return ""


def rank_key(fraction: float, wu: float, final: float, higher: bool) -> tuple:
    """A sort key (smaller = better) of one setting under the ranking rule.

    Parameters
    ----------
    fraction : float
        Fraction of its seeds that reached the target (NaN: none ran, counts as 0).
    wu : float
        Median WU to target over the seeds that reached it (NaN if none did).
    final : float
        Median final value of the target metric (NaN: unknown, ranks last on this key).
    higher : bool
        Whether larger values of the target metric are better.
    """
    fraction = 0.0 if not np.isfinite(fraction) else float(fraction)
    wu = float(wu) if np.isfinite(wu) else np.inf
    final = float(final)
    final = (-final if higher else final) if np.isfinite(final) else np.inf
    return (-fraction, wu, final)


def rank_order(frame: pd.DataFrame, fraction: str = "_fraction", wu: str = "wu_to_target",
               final: str = "_final", higher: str = "_higher", label: str = "solver",
               skipped: str | None = "_skipped") -> pd.Index:
    """The index of ``frame``'s rows (settings of one problem) in rank order.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per setting with the columns named by the other arguments.
    fraction, wu, final, higher, label : str
        Columns: fraction of seeds reached, median WU to target, median final target
        metric, whether higher is better (bool), and the label (last tie-break).
    skipped : str, optional
        Boolean column: settings the solver declined, ranked last.
    """
    keys = [rank_key(row[fraction], row[wu], row[final], bool(row[higher]))
            for _, row in frame.iterrows()]
    sort = pd.DataFrame(keys, columns=["_f", "_w", "_m"], index=frame.index)
    sort["_s"] = frame[skipped].astype(bool) if skipped and skipped in frame else False
    sort["_l"] = frame[label].astype(str)
    return sort.sort_values(["_s", "_f", "_w", "_m", "_l"], kind="stable").index


def best_mask(frame: pd.DataFrame, **columns) -> pd.Series:
    """Rows whose rank key equals the best one (ties: several); skipped rows never.

    ``columns`` are the column names of :func:`rank_order` (same defaults).
    """
    names = {"fraction": "_fraction", "wu": "wu_to_target", "final": "_final",
             "higher": "_higher", "skipped": "_skipped", **columns}
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=bool)
    keys = pd.Series([rank_key(r[names["fraction"]], r[names["wu"]], r[names["final"]],
                               bool(r[names["higher"]])) for _, r in frame.iterrows()],
                     index=frame.index)
    ran = ~frame[names["skipped"]].astype(bool) if names["skipped"] in frame else \
        pd.Series(True, index=frame.index)
    if not ran.any():
        return pd.Series(False, index=frame.index)
    best = min(keys[ran])
    return ran & keys.map(lambda k: k == best)


def rule_costs(runs: pd.DataFrame, column: str) -> pd.Series:
    """Per (problem label, solver label): the profile cost under the ranking rule.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per seed run (:func:`ml2bench.report.leaderboard.seed_runs`), with
        ``_label``, ``_solver``, ``status``, ``reached`` and ``column``.
    column : str
        The cost of a run that reached the target (``wu_to_target`` or
        ``time_to_target_s``).

    Returns
    -------
    pandas.Series
        Indexed by (``_label``, ``_solver``): the median of ``column`` over the seeds that
        reached the target for the settings with the problem's best fraction of seeds
        reached (> 0); ``∞`` for every other setting (fewer seeds reached, skipped).
    """
    ran = runs["status"] != "skipped"
    hit = runs["reached"].eq(True) & ran
    values = pd.to_numeric(runs[column], errors="coerce").astype(float).where(hit)
    frame = runs.assign(_hit=hit.astype(float), _value=values, _ran=ran)
    grouped = frame.groupby(["_label", "_solver"], sort=True)
    fraction = grouped["_hit"].sum() / grouped["_ran"].sum().replace(0, np.nan)
    fraction = fraction.fillna(0.0)
    cost = grouped["_value"].median()
    best = fraction.groupby(level=0).transform("max")
    keep = (fraction > 0) & np.isclose(fraction, best) & np.isfinite(cost)
    return cost.where(keep, np.inf)

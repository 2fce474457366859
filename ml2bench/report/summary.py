"""The report's conclusion: per problem the best solver(s) by the ranking rule, and whether
the best multilevel or domain-decomposition solver beat the best single-level one.

Input is the leaderboard with its rank columns (``leaderboard(..., rank_columns=True)``);
the rule is :mod:`ml2bench.report.ranking`'s, the families :mod:`ml2bench.report.families`'
(single level = baselines and trust region).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml2bench.report.families import DD, MULTILEVEL, SINGLE_LEVEL, family_of, solver_name
from ml2bench.report.ranking import best_mask, rank_key, rank_order
from ml2bench.report.tables import format_number

#: Columns of :func:`summary_table`.
COLUMNS = ["problem", "target", "best", "reached", "WU to target", "final",
           "multilevel / DD vs single level"]


def _key(row: pd.Series) -> tuple:
    return rank_key(row["_fraction"], row["wu_to_target"], row["_final"], bool(row["_higher"]))


def _best_of(rows: pd.DataFrame, families) -> pd.Series | None:
    """The best-ranked row of ``rows`` whose solver is in one of ``families`` (None if no
    such row ran)."""
    family = rows["solver"].map(lambda label: family_of(solver_name(label)) in families)
    chosen = rows[family.astype(bool) & ~rows["_skipped"].astype(bool)]
    return None if chosen.empty else chosen.loc[rank_order(chosen)[0]]


def _final_text(row: pd.Series) -> str:
    return f"{row['_target_metric']} {format_number(row['_final'])}"


def compare(multi: pd.Series | None, single: pd.Series | None) -> str:
    """One sentence: did the best multilevel/DD row beat the best single-level row, and by
    how much (seeds reached, WU to target, or final target metric — the first key of the
    ranking rule on which they differ)."""
    if multi is None:
        return "no multilevel or DD solver ran"
    if single is None:
        return f"{multi['solver']}: no single-level solver ran"
    a, b = _key(multi), _key(single)
    verdict = "yes" if a < b else ("tie" if a == b else "no")
    pair = f"{multi['solver']} vs {single['solver']}"
    if a[0] != b[0]:
        how = f"target reached on {multi['reached']} vs {single['reached']} seeds"
    elif np.isfinite(a[1]) and np.isfinite(b[1]):
        wu_m, wu_s = float(multi["wu_to_target"]), float(single["wu_to_target"])
        if wu_m > 0 and wu_s > 0 and wu_m != wu_s:
            factor = wu_s / wu_m if wu_m < wu_s else wu_m / wu_s
            word = "fewer" if wu_m < wu_s else "more"
            how = (f"{format_number(wu_m)} vs {format_number(wu_s)} WU to target "
                   f"({factor:.2f}× {word})")
        else:
            how = f"{format_number(wu_m)} vs {format_number(wu_s)} WU to target"
    else:
        how = (f"neither reached the target; final {multi['_target_metric']} "
               f"{format_number(multi['_final'])} vs {format_number(single['_final'])}")
    return f"{verdict}: {pair}, {how}"


def summary_table(board: pd.DataFrame) -> pd.DataFrame:
    """One row per problem: the conclusion of its leaderboard rows.

    Parameters
    ----------
    board : pandas.DataFrame
        ``leaderboard(df, rank_columns=True)``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: the problem, its target, the best solver label(s) by the
        ranking rule (ties joined by ``" = "``), their seeds reached, median WU to target
        and final target metric, and :func:`compare` of the best multilevel/DD solver
        with the best single-level one (baselines, trust region).
    """
    records = []
    for problem, rows in board.groupby("problem", sort=True):
        best = rows[best_mask(rows)]
        if best.empty:
            records.append([problem, rows["target"].iloc[0], "", "", np.nan, "",
                            "every solver skipped"])
            continue
        top = best.iloc[0]
        records.append([problem, top["target"], " = ".join(best["solver"]), top["reached"],
                        top["wu_to_target"], _final_text(top),
                        compare(_best_of(rows, (MULTILEVEL, DD)), _best_of(rows, SINGLE_LEVEL))])
    return pd.DataFrame(records, columns=COLUMNS)

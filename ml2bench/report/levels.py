"""Per-level diagnostics of multilevel runs, as tables for the report.

Multilevel solvers log what every level did in the cycle before each checkpoint as
``info_<quantity>_l<level>`` columns (``rmtr``: ``decrease``, ``smooth_accepted``,
``radius``, and for ``l ≥ 1`` ``coarse_rho``, ``coarse_accepted``,
``correction_decrease``; ``mgopt``: ``alpha``, ``coarse_accepted``,
``correction_decrease``; see the solvers' module docstrings). :func:`level_tables` gives
one table per solver label: a row per (problem, level), the median of each quantity over
the logged cycles of all its runs (every seed), and the derived

``coarse_share_l = correction_decrease_l / (decrease_{l−1} + correction_decrease_l)``,

the share of the decrease of level ``l−1``'s objective in a cycle that came from the
corrections of level ``l`` (NaN where that decrease is zero or not logged).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ml2bench.report.leaderboard import SKIPPED, problem_labels

#: ``info_<quantity>_l<level>``.
LEVEL_COLUMN = re.compile(r"^info_(?P<quantity>.+)_l(?P<level>\d+)$")
#: Display order of the quantities (others follow, sorted).
QUANTITY_ORDER = ("decrease", "correction_decrease", "coarse_share", "coarse_rho",
                  "coarse_accepted", "smooth_accepted", "radius", "alpha")
#: Display headers of the quantities.
QUANTITY_HEADERS = {
    "decrease": "smoothing decrease", "correction_decrease": "correction decrease",
    "coarse_share": "coarse share", "coarse_rho": "coarse ρ",
    "coarse_accepted": "coarse accepted", "smooth_accepted": "smoothing accepted",
    "radius": "radius", "alpha": "α"}


def level_columns(df: pd.DataFrame) -> dict[str, dict[int, str]]:
    """Per quantity, per level, the ``info_*_l<level>`` column of ``df`` holding it."""
    found: dict[str, dict[int, str]] = {}
    for column in df.columns:
        match = LEVEL_COLUMN.match(str(column))
        if match:
            found.setdefault(match["quantity"], {})[int(match["level"])] = column
    return found


def _values(rows: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in rows:
        return pd.Series(np.nan, index=rows.index, dtype=float)
    return pd.to_numeric(rows[column], errors="coerce").astype(float)


def _coarse_share(rows: pd.DataFrame, columns: dict[str, dict[int, str]], level: int
                  ) -> pd.Series:
    """Per row: the share of level ``level − 1``'s decrease due to level ``level``."""
    correction = _values(rows, columns.get("correction_decrease", {}).get(level))
    smoothing = _values(rows, columns.get("decrease", {}).get(level - 1))
    total = smoothing + correction  # NaN where either is not logged (e.g. mgopt)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = correction / total
    return share.where(total != 0)


def _median(values: pd.Series) -> float:
    return float(values.median()) if values.notna().any() else np.nan


def level_rows(rows: pd.DataFrame, columns: dict[str, dict[int, str]]) -> list[dict]:
    """Rows ``level, cycles, <quantity medians>`` of one (problem, solver).

    ``cycles`` counts the logged cycles (results rows with a value on that level).
    """
    levels = sorted({level for per_level in columns.values() for level in per_level})
    table = []
    for level in levels:
        values = {q: _values(rows, per_level.get(level)) for q, per_level in columns.items()}
        if level > 0 and "correction_decrease" in columns:
            values["coarse_share"] = _coarse_share(rows, columns, level)
        logged = pd.concat(list(values.values()), axis=1).notna().any(axis=1)
        if not logged.any():
            continue
        record = {"level": level, "cycles": int(logged.sum())}
        record.update({q: _median(v[logged]) for q, v in values.items()})
        table.append(record)
    return table


def level_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per multilevel solver label, the per-level diagnostics of its runs.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table (:meth:`~ml2bench.runner.store.ResultsStore.load_runs`).

    Returns
    -------
    dict of str to pandas.DataFrame
        Solver label → columns ``problem, level, cycles`` and the medians of the
        quantities in :data:`QUANTITY_ORDER` order (display headers of
        :data:`QUANTITY_HEADERS`), one row per (problem, level). Solvers without
        per-level columns (single-level methods) and skipped runs are left out.
    """
    columns = level_columns(df)
    if df.empty or not columns:
        return {}
    df = df.assign(_problem=problem_labels(df))
    if "status" in df:
        skipped = df.loc[df["status"] == SKIPPED, "run_id"].unique()
        df = df[~df["run_id"].isin(skipped)]
    tables = {}
    for solver, solver_rows in df.groupby("solver_label", sort=True):
        records = []
        for problem, rows in solver_rows.groupby("_problem", sort=True):
            records += [{"problem": problem, **r} for r in level_rows(rows, columns)]
        if records:
            tables[str(solver)] = _ordered(pd.DataFrame(records))
    return tables


def levels_long(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The tables of :func:`level_tables` as one, with a first column ``solver``."""
    if not tables:
        return pd.DataFrame(columns=["solver", "problem", "level", "cycles"])
    long = pd.concat([t.assign(solver=s) for s, t in tables.items()], ignore_index=True)
    headers = [QUANTITY_HEADERS.get(q, q) for q in QUANTITY_ORDER]
    quantities = [h for h in headers if h in long] + sorted(
        c for c in long if c not in headers and c not in ("solver", "problem", "level", "cycles"))
    return long[["solver", "problem", "level", "cycles", *quantities]]


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Quantity columns in display order, all-missing ones dropped, display headers."""
    quantities = [c for c in table.columns if c not in ("problem", "level", "cycles")]
    quantities = [q for q in QUANTITY_ORDER if q in quantities] + sorted(
        q for q in quantities if q not in QUANTITY_ORDER)
    quantities = [q for q in quantities if table[q].notna().any()]
    table = table[["problem", "level", "cycles", *quantities]]
    return table.rename(columns=QUANTITY_HEADERS)

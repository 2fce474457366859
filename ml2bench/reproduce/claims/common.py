"""Helpers shared by the claim kinds: metrics of a run, first crossing of a target,
medians over seeds, formatting."""

from __future__ import annotations

import json
import math
import statistics

import pandas as pd


def metric_of(rows: pd.DataFrame) -> str:
    """``test_acc`` for a classification run, else ``test_rel_l2``."""
    return "test_acc" if rows["test_acc"].notna().any() else "test_rel_l2"


def problem_param(rows: pd.DataFrame, key: str):
    """A resolved problem parameter of a run (from its ``problem_params`` JSON)."""
    return json.loads(rows["problem_params"].iloc[0]).get(key)


def first_reach(rows: pd.DataFrame, column: str, target: float, higher: bool,
                x: str = "work_units") -> float | None:
    """``x`` at the first row whose ``column`` reaches ``target`` (None if never)."""
    values = rows[column]
    hit = rows[values >= target] if higher else rows[values <= target]
    return float(hit[x].iloc[0]) if len(hit) else None


def final(rows: pd.DataFrame, column: str) -> float:
    """The last finite value of ``column`` (NaN if none)."""
    values = rows[column].dropna()
    return float(values.iloc[-1]) if len(values) else math.nan


def median(values) -> float:
    """Median of the finite values (NaN if none)."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(statistics.median(values)) if values else math.nan


def fmt(value, digits: int = 3) -> str:
    """A number in ``digits`` significant digits (``—`` for None/NaN)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


def by_name(runs, names) -> list:
    """The finished runs whose solver name is in ``names``."""
    names = [names] if isinstance(names, str) else list(names)
    return [r for r in runs if r.name in names and r.rows is not None]


def count(verdicts: list[bool]) -> str:
    """``reproduced`` if all hold, ``partly`` if some, else ``not reproduced``."""
    if verdicts and all(verdicts):
        return "reproduced"
    return "partly" if any(verdicts) else "not reproduced"

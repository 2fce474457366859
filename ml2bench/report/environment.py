"""The environment of every number: which software and machine produced which runs.

Every results row carries the environment columns of
:data:`ml2bench.runner.store.ENVIRONMENT`. :func:`environments` groups the runs by
everything but the start time and lists, per distinct environment, the time span in
which its runs started and which (problem, solver) rows of the leaderboard they feed.
"""

from __future__ import annotations

import pandas as pd

from ml2bench.report.leaderboard import final_rows, problem_labels

#: Columns that define an environment, with their display headers (start time aside).
KEYS = {"ml2bench_version": "ml2bench", "git_commit": "git commit",
        "torch_version": "torch", "device": "device", "device_name": "device name",
        "num_threads": "threads", "hostname": "host"}
MISSING = "—"


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    text = str(value)
    return text if text.strip() else MISSING


def _used_by(runs: pd.DataFrame) -> str:
    """``problem · solver (n runs)`` for each (problem, solver) among ``runs``."""
    counts = runs.groupby(["_problem", "solver_label"], sort=True).size()
    return "; ".join(f"{p} · {s} ({n} run{'s' if n != 1 else ''})"
                     for (p, s), n in counts.items())


def environments(df: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct environment of the runs in ``df``.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table; environment columns it lacks (older results) show ``—``.

    Returns
    -------
    pandas.DataFrame
        Columns ``environment`` (``E1``, ``E2``, … in order of first start), the
        headers of :data:`KEYS`, ``started`` (first – last start time of its runs),
        ``runs`` (how many) and ``used by`` (the problems and solvers they ran).
    """
    columns = ["environment", *KEYS.values(), "started", "runs", "used by"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    finals = final_rows(df.assign(_problem=problem_labels(df)))
    keys = pd.DataFrame({header: (finals[c].map(_text) if c in finals else MISSING)
                         for c, header in KEYS.items()}, index=finals.index)
    started = finals["started_at"].map(_text) if "started_at" in finals else \
        pd.Series(MISSING, index=finals.index)
    finals = finals.assign(_started=started, _key=keys.apply(tuple, axis=1))
    records = []
    for key, runs in finals.groupby("_key", sort=False):
        times = sorted(t for t in runs["_started"] if t != MISSING)
        span = (times[0] if times[0] == times[-1] else f"{times[0]} – {times[-1]}") \
            if times else MISSING
        records.append({**dict(zip(KEYS.values(), key)), "started": span,
                        "runs": len(runs), "used by": _used_by(runs),
                        "_first": times[0] if times else ""})
    table = pd.DataFrame(records).sort_values("_first", kind="stable")
    table.insert(0, "environment", [f"E{i + 1}" for i in range(len(table))])
    return table[columns].reset_index(drop=True)

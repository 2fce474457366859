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
#: What decides a CPU's numbers (issue 17's environment columns), shown where recorded.
NUMERICS_HEADERS = {"cpu_model": "CPU", "cpu_capability": "CPU capability", "blas": "BLAS",
                    "onednn": "oneDNN", "numerics": "numerics"}


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
        headers of :data:`KEYS` and of the :data:`NUMERICS_HEADERS` columns the results
        have, ``started`` (first – last start time of its runs),
        ``runs`` (how many) and ``used by`` (the problems and solvers they ran).
    """
    shown = {**KEYS, **{c: h for c, h in NUMERICS_HEADERS.items() if c in df}}
    columns = ["environment", *shown.values(), "started", "runs", "used by"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    finals = final_rows(df.assign(_problem=problem_labels(df)))
    keys = pd.DataFrame({header: (finals[c].map(_text) if c in finals else MISSING)
                         for c, header in shown.items()}, index=finals.index)
    started = finals["started_at"].map(_text) if "started_at" in finals else \
        pd.Series(MISSING, index=finals.index)
    finals = finals.assign(_started=started, _key=keys.apply(tuple, axis=1))
    records = []
    for key, runs in finals.groupby("_key", sort=False):
        times = sorted(t for t in runs["_started"] if t != MISSING)
        span = (times[0] if times[0] == times[-1] else f"{times[0]} – {times[-1]}") \
            if times else MISSING
        records.append({**dict(zip(shown.values(), key)), "started": span,
                        "runs": len(runs), "used by": _used_by(runs),
                        "_first": times[0] if times else ""})
    table = pd.DataFrame(records).sort_values("_first", kind="stable")
    table.insert(0, "environment", [f"E{i + 1}" for i in range(len(table))])
    return table[columns].reset_index(drop=True)


#: Environment columns that decide the numbers (issue 17): runs differing in any of them
#: may differ in their numbers for the same seed. ``hostname``, ``started_at`` and
#: ``git_commit`` are left out (the same code on another host or at another time gives the
#: same numbers; code changes are the solver's and problem's versions).
NUMERICS_KEYS = ("torch_version", "device", "num_threads", "cpu_model", "cpu_isa",
                 "cpu_capability", "blas", "onednn", "numerics")
#: The CPU levels on which the portable numerics give the same bits whatever the model
#: (:mod:`ml2bench.numerics`): portable runs are compared on "x86-64-v3 or newer"
#: instead of their CPU model and level.
PORTABLE_LEVELS = ("x86-64-v3", "x86-64-v4")


def mixed_environments(df: pd.DataFrame) -> list[str]:
    """What differs between the runs of a results folder, in the columns that decide the
    numbers (:data:`NUMERICS_KEYS`); empty if the runs agree. Runs in the portable
    numerics are compared without their CPU model, and on whether their CPU is
    x86-64-v3 or newer (where the portable bits are the same on every CPU).

    Columns absent from the results (older files) and missing values are ignored: only
    values that were recorded are compared.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table.

    Returns
    -------
    list of str
        One text per differing column, e.g. ``"cpu_capability: avx2 (4 runs), avx512
        (2 runs)"``.
    """
    if df.empty or "run_id" not in df:
        return []
    present = [c for c in NUMERICS_KEYS if c in df]
    if not present:
        return []
    runs = df.drop_duplicates("run_id", keep="last").copy()
    if "numerics" in runs:  # portable runs: the CPU model does not decide their bits
        portable = runs["numerics"] == "portable"
        if "cpu_model" in runs:
            runs["cpu_model"] = runs["cpu_model"].astype(object).mask(portable, MISSING)
        if "cpu_isa" in runs:
            level = runs["cpu_isa"].map(
                lambda v: "x86-64-v3 or newer" if v in PORTABLE_LEVELS else _text(v))
            runs["cpu_isa"] = runs["cpu_isa"].astype(object).mask(portable, level)
    lines = []
    for column in present:
        values = runs[column].map(_text)
        counts = values[values != MISSING].value_counts().sort_index()
        if len(counts) > 1:
            lines.append(f"{column}: " + ", ".join(
                f"{value} ({n} run{'s' if n != 1 else ''})" for value, n in counts.items()))
    return lines


def mixed_warning(df: pd.DataFrame) -> str | None:
    """One line saying that the results mix environments (None if they do not)."""
    lines = mixed_environments(df)
    if not lines:
        return None
    return ("results mix environments whose numbers may differ for the same seed — "
            + "; ".join(lines) + "; compare runs of one environment only")

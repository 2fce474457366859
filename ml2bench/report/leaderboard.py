"""The leaderboard: one row per (problem, solver) from the long results table.

Input is the frame of :meth:`ml2bench.runner.store.ResultsStore.load_runs` (one row per
checkpoint; the last row of a run, the one with the largest ``step``, carries its final
status). Per run we take the final row (:func:`final_rows`) and the first checkpoint
where the problem's target is reached (:func:`time_to_target`); per (problem, solver)
we report medians over seeds (:func:`leaderboard`; over two seeds the median is their
mean). A row is one *setting*: one problem variant, one solver configuration and the
same run options; each seed counts once (:func:`one_run_per_seed`), and settings of one
solver that differ in run options get labels that say how (:func:`solver_labels`).

Targets (:func:`target_of`): the threshold is the problem parameter ``target``; the
metric is the problem's test metric (``test_acc``, reached when ``>=`` the threshold,
for classification; ``test_rel_l2``, reached when ``<=``, for regressions and PINNs),
except for problems listed in :data:`TARGET_METRIC_OVERRIDES` (the convex quadratic,
whose target is on the relative gradient norm ``grad_norm_rel``).

When one results folder holds several variants of a problem (different parameters,
e.g. ``quick=true`` and full size, or different spec versions), each variant gets its
own label, ``name[k=v,...]`` with the parameters that differ (:func:`problem_labels`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ml2bench.labels import format_label
from ml2bench.report.ranking import rank_order
from ml2bench.report.tables import format_table  # noqa: F401  (part of this module's API)

#: Problems whose time-to-target metric is not their test metric.
TARGET_METRIC_OVERRIDES = {"quadratic_poisson1d": "grad_norm_rel"}
#: End-of-run metrics shown (when present in the flatness table), in this order.
FLATNESS_METRICS = ("hess_max", "hess_min", "hess_trace", "sharp_avg", "sharp_worst",
                    "keskar_eps", "param_norm")
#: Final statuses in the order the status summary lists them.
STATUS_ORDER = ("target", "budget", "stalled", "timeout", "diverged", "failed", "skipped", "ok")
SKIPPED = "skipped"


def parse_params(problem_params: Any) -> dict:
    """The problem parameters as a dict (``problem_params`` is JSON text or a mapping)."""
    if problem_params is None or (isinstance(problem_params, float) and np.isnan(problem_params)):
        return {}
    if isinstance(problem_params, str):
        return json.loads(problem_params) if problem_params.strip() else {}
    return dict(problem_params)


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (accuracies)."""
    return metric.endswith("acc")


@lru_cache(maxsize=None)
def _registry_metric(problem: str) -> str | None:
    """The test metric the problem family declares, or None if it cannot be looked up."""
    try:
        from ml2bench.problems.registry import family_class, load_specs

        return family_class(load_specs()[problem].family).metric
    except Exception:  # unknown problem, no spec folder: the caller falls back
        return None


def target_of(problem: str, problem_params: Any,
              metric: str | None = None) -> tuple[str, float, bool]:
    """The time-to-target rule of a problem: which metric, which threshold, which direction.

    Parameters
    ----------
    problem : str
        Problem name (the ``problem`` column).
    problem_params : str or dict
        The resolved problem parameters (JSON text as stored, or a dict); the
        threshold is its ``target`` entry (NaN if absent: never reached).
    metric : str, optional
        The problem's test metric as observed in the results (``test_acc`` or
        ``test_rel_l2``). If omitted, the problem family declared in the registry
        decides, else ``test_acc``.

    Returns
    -------
    metric : str
        Column holding the metric: ``test_acc``, ``test_rel_l2`` or, for problems in
        :data:`TARGET_METRIC_OVERRIDES`, e.g. ``grad_norm_rel``.
    threshold : float
    higher_is_better : bool
        True: reached when ``value >= threshold``; False: when ``value <= threshold``.
    """
    params = parse_params(problem_params)
    threshold = float(params.get("target", np.nan))
    chosen = TARGET_METRIC_OVERRIDES.get(problem) or metric or _registry_metric(problem) \
        or "test_acc"
    return chosen, threshold, higher_is_better(chosen)


def reached(values, threshold: float, higher: bool) -> np.ndarray:
    """Boolean mask of ``values`` that reach ``threshold`` (NaN never does)."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return values >= threshold if higher else values <= threshold


def metric_column(df: pd.DataFrame) -> str:
    """``test_acc`` if that column has any value in ``df``, else ``test_rel_l2``."""
    if "test_acc" in df and df["test_acc"].notna().any():
        return "test_acc"
    return "test_rel_l2"


def problem_metric(problem: str, df: pd.DataFrame) -> str:
    """The test metric of ``problem``: the one with values in ``df``; if neither has any
    (all runs failed before an evaluation), the one its family declares in the registry
    (so that the target shown is right), else ``test_rel_l2``."""
    for column in ("test_acc", "test_rel_l2"):
        if column in df and df[column].notna().any():
            return column
    return _registry_metric(problem) or metric_column(df)


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by run, then step (then work units), keeping ties stable."""
    keys = [k for k in ("run_id", "step", "work_units") if k in df]
    return df.sort_values(keys, kind="stable")


def final_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The last row (largest ``step``) of every run, one row per ``run_id``.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table.

    Returns
    -------
    pandas.DataFrame
        Same columns, sorted by ``run_id``, fresh index.
    """
    if df.empty:
        return df.copy()
    return _ordered(df).groupby("run_id", sort=True).tail(1).reset_index(drop=True)


def problem_labels(df: pd.DataFrame) -> pd.Series:
    """A display label per row: the problem name, made unique across parameter variants.

    A problem seen with a single (version, parameters) combination keeps its name. With
    several, each variant becomes ``name[k=v,...]`` listing the parameters whose values
    differ between the variants (prefixed by ``version=N`` if versions differ).

    Parameters
    ----------
    df : pandas.DataFrame
        Needs ``problem``; uses ``problem_params`` and ``problem_version`` if present.

    Returns
    -------
    pandas.Series
        Aligned with ``df``'s index.
    """
    if df.empty:
        return pd.Series([], index=df.index, dtype=object)
    labels = df["problem"].astype(str).astype(object).copy()
    params = df["problem_params"] if "problem_params" in df else pd.Series("", index=df.index)
    versions = df["problem_version"] if "problem_version" in df else pd.Series(0, index=df.index)
    for name in labels.unique():
        rows = df.index[df["problem"] == name]
        variants = {(str(versions[i]), str(params[i])) for i in rows}
        if len(variants) < 2:
            continue
        # ``quick`` only selects values (older results still carry it): not a difference
        parsed = {v: {**{k: x for k, x in parse_params(v[1]).items() if k != "quick"},
                      "version": v[0]} for v in variants}
        keys = sorted({k for d in parsed.values() for k in d})
        varying = [k for k in keys if len({repr(d.get(k)) for d in parsed.values()}) > 1]
        for i in rows:
            values = parsed[(str(versions[i]), str(params[i]))]
            labels[i] = format_label(name, {k: values.get(k) for k in varying})
    return labels


def time_to_target(df: pd.DataFrame) -> pd.DataFrame:
    """Per run: the first checkpoint where the target is reached.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table.

    Returns
    -------
    pandas.DataFrame
        One row per run: ``run_id``, ``target_metric``, ``threshold``,
        ``higher_is_better``, ``reached`` (bool), ``wu_to_target`` and
        ``time_to_target_s`` (``work_units`` and ``time_s`` of that checkpoint; NaN if
        never reached). Skipped runs never reach the target.
    """
    columns = ["run_id", "target_metric", "threshold", "higher_is_better", "reached",
               "wu_to_target", "time_to_target_s"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    observed = {name: problem_metric(name, group)
                for name, group in df.groupby("problem", sort=False)}
    records = []
    for run_id, run in _ordered(df).groupby("run_id", sort=True):
        first = run.iloc[0]
        metric, threshold, higher = target_of(first["problem"], first.get("problem_params"),
                                              observed[first["problem"]])
        values = run[metric] if metric in run else pd.Series(np.nan, index=run.index)
        hits = np.flatnonzero(reached(values, threshold, higher))
        if (run["status"] == SKIPPED).any():
            hits = hits[:0]
        hit = run.iloc[hits[0]] if len(hits) else None
        records.append([run_id, metric, threshold, higher, hit is not None,
                        float(hit["work_units"]) if hit is not None else np.nan,
                        float(hit["time_s"]) if hit is not None else np.nan])
    return pd.DataFrame(records, columns=columns)


def status_summary(statuses, reasons=()) -> str:
    """Counts of final statuses, e.g. ``"budget 2, diverged 1"``.

    If all runs were skipped: ``"skipped"``, followed by the reasons the solver gave
    (``reasons``: the ``error`` column of the skipped runs), e.g.
    ``"skipped: needs >= 2 levels"``.
    """
    counts = pd.Series(list(statuses), dtype=object).value_counts()
    if len(counts) == 1 and counts.index[0] == SKIPPED:
        texts = [str(r).removeprefix("skip:").strip() for r in reasons
                 if isinstance(r, str) and r.strip()]
        texts = list(dict.fromkeys(texts))
        return f"{SKIPPED}: {'; '.join(texts)}" if texts else SKIPPED
    order = [s for s in STATUS_ORDER if s in counts] + sorted(set(counts.index) - set(STATUS_ORDER))
    return ", ".join(f"{s} {counts[s]}" for s in order)


def _median(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").astype(float)
    return float(values.median()) if values.notna().any() else np.nan


def _setting(row: pd.Series) -> str:
    value = row.get("setting_hash")
    return value if isinstance(value, str) else ""


def solver_labels(finals: pd.DataFrame) -> pd.Series:
    """The solver label per final row, extended by the run options in which settings of
    one (problem, solver) differ, e.g. ``sgd (max_time=5)`` beside ``sgd (max_time=none)``.

    A setting is everything in a run's identity except its seed (``setting_hash``); the
    problem parameters and the solver's are already in the problem and solver labels,
    the rest (``max_time``, ``checkpoint_every``, ``stop_at_target``, device, checkpoint
    metrics) is in ``run_options``. Results without these columns (older files) are
    grouped by the labels alone.
    """
    labels = finals["solver_label"].astype(str).astype(object).copy()
    if "setting_hash" not in finals:
        return labels
    for _, group in finals.groupby(["_label", "solver_label"], sort=False):
        settings = {_setting(row): row.get("run_options") for _, row in group.iterrows()}
        settings.pop("", None)  # older results: the same labels, the one setting there is
        if len(settings) < 2:
            continue
        options = {h: parse_params(o) for h, o in settings.items()}
        keys = sorted({k for o in options.values() for k in o})
        varying = [k for k in keys if len({repr(o.get(k)) for o in options.values()}) > 1]
        for index, row in group.iterrows():
            chosen = options.get(_setting(row))
            text = "older results" if chosen is None else ", ".join(
                f"{k}={_option_text(chosen.get(k))}" for k in varying)
            labels[index] = f"{row['solver_label']} ({text or _setting(row)[:8]})"
    return labels


def _option_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "+".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def one_run_per_seed(finals: pd.DataFrame) -> pd.DataFrame:
    """At most one run per (problem label, solver label, seed): the latest started.

    Runs of one configuration and seed share their run id, so duplicates only come from
    results written by older versions (whose identity was not canonical); a table never
    counts a seed twice.
    """
    if finals.empty or "seed" not in finals:
        return finals
    keys = [k for k in ("started_at", "run_id") if k in finals]
    ordered = finals.sort_values(keys, kind="stable", na_position="first")
    kept = ordered.drop_duplicates(["_label", "_solver", "seed"], keep="last")
    return kept.sort_values("run_id", kind="stable").reset_index(drop=True)


def seed_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The runs a leaderboard row summarizes: one final row per (setting, seed).

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table (not empty).

    Returns
    -------
    pandas.DataFrame
        The final row of every run (:func:`final_rows`) with its time-to-target columns
        (:func:`time_to_target`: ``reached``, ``wu_to_target``, ``time_to_target_s``,
        ...), the problem label ``_label`` (:func:`problem_labels`) and the setting's
        solver label ``_solver`` (:func:`solver_labels`), at most one run per seed
        (:func:`one_run_per_seed`).
    """
    finals = final_rows(df.assign(_label=problem_labels(df)))
    finals = finals.merge(time_to_target(df), on="run_id", how="left")
    return one_run_per_seed(finals.assign(_solver=solver_labels(finals)))


def _summarize(group: pd.DataFrame, metric: str, extra: list[str]) -> dict:
    """One leaderboard row from the final rows (+ target and flatness columns) of a group,
    with the rank helper columns ``_fraction``, ``_final``, ``_higher``, ``_skipped``."""
    first = group.iloc[0]
    ran = group[group["status"] != SKIPPED]
    target = first["target_metric"], first["threshold"], first["higher_is_better"]
    sign = ">=" if target[2] else "<="
    row = {"problem": first["_label"],
           "target": f"{target[0]} {sign} {target[1]:g}" if np.isfinite(target[1]) else "",
           "solver": first["_solver"], "seeds": int(group["seed"].nunique())}
    for column in dict.fromkeys([metric, target[0]]):
        row[column] = _median(ran[column]) if column in ran else np.nan
    row["train_loss"] = _median(ran["train_loss"]) if "train_loss" in ran else np.nan
    row.update({name: _median(ran[name]) for name in extra})
    row["wu_to_target"] = _median(ran["wu_to_target"])
    row["time_to_target_s"] = _median(ran["time_to_target_s"])
    row["reached"] = f"{int(ran['reached'].sum())}/{len(ran)}" if len(ran) else ""
    reasons = group["error"] if "error" in group else ()
    row["status"] = status_summary(group["status"], reasons)
    row.update({"_fraction": float(ran["reached"].mean()) if len(ran) else 0.0,
                "_final": row[target[0]], "_higher": bool(target[2]),
                "_skipped": ran.empty, "_target_metric": target[0]})
    return row


def _flatness_medians(finals: pd.DataFrame, flatness: pd.DataFrame | None
                      ) -> tuple[pd.DataFrame, list[str]]:
    """``finals`` with the flatness metrics merged by ``run_id``, and the names merged."""
    if flatness is None or flatness.empty or "run_id" not in flatness:
        return finals, []
    present = [m for m in FLATNESS_METRICS if m in flatness]
    metrics = flatness[["run_id"] + present].drop_duplicates("run_id", keep="last")
    clash = [m for m in present if m in finals]
    return finals.drop(columns=clash).merge(metrics, on="run_id", how="left"), present


def leaderboard(df: pd.DataFrame, flatness: pd.DataFrame | None = None,
                tuned: Mapping[str, str] | None = None,
                rank_columns: bool = False) -> pd.DataFrame:
    """One row per (problem, solver): medians over seeds of final and time-to-target numbers.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table (:meth:`ResultsStore.load_runs`).
    flatness : pandas.DataFrame, optional
        End-of-run metrics keyed by ``run_id`` (:meth:`ResultsStore.load_flatness`);
        the medians of those in :data:`FLATNESS_METRICS` that are present are added
        after ``train_loss``.
    tuned : mapping, optional
        Run id → mark (e.g. the tuning budget ``"4×1"``) of the runs of tuned
        configurations (:func:`ml2bench.report.tuned.final_marks`); if given, a ``tuned``
        column after ``solver`` holds the mark of each row's runs (empty if none).
    rank_columns : bool
        Keep the helper columns of the ranking rule (``_fraction``, ``_final``,
        ``_higher``, ``_skipped``, ``_target_metric``; see
        :mod:`ml2bench.report.ranking`) at the end.

    Returns
    -------
    pandas.DataFrame
        Columns ``problem, target, solver, seeds``, the median final test metric named
        after it (``test_acc`` and/or ``test_rel_l2``) and, where a target is on another
        metric, that metric too (``grad_norm_rel``: every target's metric is a column),
        ``train_loss``, flatness medians, ``wu_to_target`` and ``time_to_target_s``
        (medians over the seeds that reached the target), ``reached`` (``"k/n"``) and
        ``status`` (final status counts). Skipped runs contribute no numbers; an
        all-skipped row has status ``"skipped"``. Problems are sorted by label; within
        a problem, rows follow the ranking rule (:data:`ml2bench.report.ranking.RULE`),
        all-skipped rows last.
    """
    if df.empty:
        return pd.DataFrame(columns=["problem", "target", "solver", "seeds", "train_loss",
                                     "wu_to_target", "time_to_target_s", "reached", "status"])
    finals, extra = _flatness_medians(seed_runs(df), flatness)
    rows, metrics = [], []
    for label, problem_rows in finals.groupby("_label", sort=True):
        metric = problem_metric(problem_rows["problem"].iloc[0],
                                df[df["run_id"].isin(problem_rows["run_id"])])
        metrics.append(metric)
        for _, group in problem_rows.groupby("_solver", sort=True):
            row = _summarize(group, metric, extra)
            metrics.append(row["_target_metric"])
            if tuned is not None:
                row["tuned"] = next((tuned[r] for r in group["run_id"] if r in tuned), "")
            rows.append(row)
    board = _sort(pd.DataFrame(rows))
    test_metrics = [m for m in ("test_acc", "test_rel_l2") if m in metrics]
    metric_columns = test_metrics + [m for m in dict.fromkeys(metrics) if m not in test_metrics]
    order = ["problem", "target", "solver", *(["tuned"] if tuned is not None else []),
             "seeds", *metric_columns, "train_loss", *extra,
             "wu_to_target", "time_to_target_s", "reached", "status"]
    if rank_columns:
        order += RANK_COLUMNS
    return board[order].reset_index(drop=True)


#: The helper columns of the ranking rule that ``leaderboard(rank_columns=True)`` keeps.
RANK_COLUMNS = ["_fraction", "_final", "_higher", "_skipped", "_target_metric"]


def _sort(board: pd.DataFrame) -> pd.DataFrame:
    """Problems by label; within a problem the ranking rule (:func:`ranking.rank_order`)."""
    order = []
    for _, rows in board.groupby("problem", sort=True):
        order.extend(rank_order(rows))
    return board.loc[order]

r"""Tuning under equal budgets: AlgoPerf's external-tuning ruleset on ml2bench runs.

``ml2bench tune`` gives every solver the same tuning budget on every problem and
ranks what each achieves with it (Dahl et al., *Benchmarking Neural Network Training
Algorithms*, arXiv:2306.07179, the external-tuning ruleset):

1. **Search.** Each solver declares a search space on its hyperparameters
   (:class:`~ml2bench.labels.SearchSpace` on its :class:`~ml2bench.labels.Param`\ s).
   :func:`sample_configurations` draws ``trials`` points from it with a scrambled
   Halton sequence (``scipy.stats.qmc.Halton``), seeded by the search seed — the same
   seed and the same number of trials for every solver. The unit cube is mapped per
   dimension: log-uniform ``exp(log lo + u (log hi − log lo))``, uniform
   ``lo + u (hi − lo)`` (rounded for integer parameters), choice ``choices[⌊u k⌋]``.
   Floats are rounded to three significant digits, so that labels stay readable
   (``adam[lr=0.00316]``). Hyperparameters fixed in the solver's label
   (``sgd[nesterov=true]``) are not searched. Dimensions with one value (a one-element
   choice) are constants. **A solver with no free dimension has nothing to tune: it
   gets one trial (its label as given), documented as ``trials = 1`` in the record.**
   Points that coincide (a choice-only space smaller than ``trials``) are one run.
2. **Studies.** Every trial runs on every study seed (``--seeds``): a study is one
   seed. The trials are ordinary runs in the results store, so a sweep is resumable
   and a second call runs nothing.
3. **Score.** Per (problem, solver): for every study, the best trial's WU to target
   (``∞`` if no trial reached it); the score is the median of these over the studies.
   The *chosen* configuration is the trial with the smallest median WU to target over
   the studies; ties (e.g. no trial reached the target) are broken by the median final
   target metric, then by the trial order.
4. **Final runs.** The chosen configuration is re-run on fresh seeds (``--final-seeds``,
   default 100–101, disjoint from the study seeds by rule) for the leaderboard.

The record of all this, ``OUT/tuning.json``
(:data:`ml2bench.report.tuned.RECORD_NAME`, written atomically),
holds per problem × solver the search space, the budget (trials × studies), the
sampled configurations with their runs and scores, the chosen label and the final
runs; ``ml2bench table`` uses it to hide the trial runs, mark the tuned entries and
print the search spaces and budget above the leaderboard
(:mod:`ml2bench.report.tuned`). WU to target that is never reached is stored as
``null``.

The record's read side (:func:`~ml2bench.report.tuned.load_record`,
:func:`~ml2bench.report.tuned.without_trials`) lives in :mod:`ml2bench.report.tuned`,
so that the report does not import the tuner: this module sits above both the runner
(it runs sweeps) and the report (it scores runs with the leaderboard's metrics).
It imports neither torch nor pandas at import time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ml2bench.errors import UserError
from ml2bench.labels import SearchSpace, format_label, format_value, parse_label
from ml2bench.report.tuned import load_record, record_path

#: Version of the record's layout.
RECORD_VERSION = 1
#: Seeds of the final runs when none are given (disjoint from the usual study seeds).
DEFAULT_FINAL_SEEDS = (100, 101)
#: Most trials per problem and solver: each is a run on every study seed, and AlgoPerf's
#: external tuning uses 5 to 100; more is a typo (the sweep would only prepare runs).
MAX_TRIALS = 1000
#: Significant digits of sampled floats.
DIGITS = 3


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: its name, distribution and whether it is an integer."""

    name: str
    space: SearchSpace
    integer: bool = False

    def value(self, u: float) -> Any:
        """The value at ``u`` in ``[0, 1)`` of the unit interval (see the module docstring)."""
        space = self.space
        if space.kind == "choice":
            choices = space.choices
            return choices[min(int(u * len(choices)), len(choices) - 1)]
        if space.kind == "log_uniform":
            low, high = math.log(space.low), math.log(space.high)
            value = math.exp(low + u * (high - low))
        elif space.kind == "uniform":
            value = space.low + u * (space.high - space.low)
        else:
            raise ValueError(f"{self.name}: unknown search space kind {space.kind!r}")
        if self.integer:
            return int(min(max(round(value), math.ceil(space.low)), math.floor(space.high)))
        value = float(f"{value:.{DIGITS}g}")
        return min(max(value, space.low), space.high)

    @property
    def constant(self) -> bool:
        """True if the space has a single value (nothing to search)."""
        if self.space.kind == "choice":
            return len(self.space.choices) <= 1
        return self.space.low == self.space.high

    def describe(self) -> str:
        """E.g. ``lr ~ log-uniform[0.0001, 0.1]`` or ``momentum ∈ {0.0, 0.9}``."""
        space = self.space
        if space.kind == "choice":
            return f"{self.name} ∈ {{{', '.join(format_value(c) for c in space.choices)}}}"
        kind = space.kind.replace("_", "-") + (" int" if self.integer else "")
        return f"{self.name} ~ {kind}[{space.low:g}, {space.high:g}]"


def search_dimensions(solver_label: str) -> tuple[str, dict[str, Any], list[Dimension]]:
    """The solver's name, the parameters fixed in its label and its searched dimensions.

    Dimensions are the declared hyperparameters with a ``search`` space that the label
    does not fix, sorted by name (the order of the Halton coordinates). Raises
    :class:`UserError` for an unknown solver or parameter.
    """
    from ml2bench.labels import ParamSet
    from ml2bench.solvers.registry import solver_class

    name, fixed = parse_label(solver_label)
    declared = solver_class(name).params
    ParamSet.validate(name, declared, fixed)  # unknown keys and bad values fail here
    dims = [Dimension(key, param.search, param.kind is int)
            for key, param in sorted(declared.items())
            if param.search is not None and key not in fixed]
    return name, fixed, dims


def describe_space(solver_label: str) -> str:
    """The search space of a solver label in one line (``"none"`` if empty)."""
    _, _, dims = search_dimensions(solver_label)
    return ", ".join(d.describe() for d in dims) or "none"


def sample_configurations(solver_name: str, trials: int, seed: int = 0) -> list[dict]:
    """``trials`` hyperparameter configurations drawn by scrambled Halton search.

    Parameters
    ----------
    solver_name : str
        A solver name or label; parameters fixed in the label are not searched (and
        not part of the returned dicts).
    trials : int
        Number of trials (1 … :data:`MAX_TRIALS`), the same for every solver.
    seed : int
        Seed of the scrambled Halton sequence (``scipy.stats.qmc.Halton``), the same
        for every solver.

    Returns
    -------
    list of dict
        ``trials`` dicts of searched values (constants included), or a single empty
        dict if the solver has no free dimension (nothing to tune: one trial).
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise UserError(f"--trials must be a positive integer at most {MAX_TRIALS} (each trial "
                        f"is a run on every study seed), got {trials!r}")
    _, _, dims = search_dimensions(solver_name)
    free = [d for d in dims if not d.constant]
    constants = {d.name: d.value(0.0) for d in dims if d.constant}
    if not free:
        return [dict(constants)] if constants else [{}]
    from scipy.stats import qmc

    points = qmc.Halton(d=len(free), scramble=True, seed=seed).random(trials)
    return [{**constants, **{d.name: d.value(float(u)) for d, u in zip(free, point)}}
            for point in points]


def trial_labels(solver_label: str, trials: int, seed: int = 0) -> list[str]:
    """The labels of the trials of ``solver_label`` (fixed parameters kept)."""
    name, fixed, _ = search_dimensions(solver_label)
    return [format_label(name, {**fixed, **config})
            for config in sample_configurations(solver_label, trials, seed)]


def median_best(wu) -> float:
    """The score: median over studies of the best trial's WU to target.

    Parameters
    ----------
    wu : array-like, shape (trials, studies)
        WU to target of each trial on each study seed, ``inf`` (or NaN) if not reached.

    Returns
    -------
    float
        ``median_s min_t wu[t, s]``; ``inf`` if the median study did not reach it.
    """
    import numpy as np

    return float(np.median(_not_reached_inf(wu).min(axis=0)))


def choose_trial(wu, tie_break=None) -> int:
    """Index of the chosen trial: smallest median WU to target over the studies.

    Parameters
    ----------
    wu : array-like, shape (trials, studies)
        WU to target (``inf``/NaN: not reached).
    tie_break : array-like, shape (trials, studies), optional
        Lower is better (e.g. the final metric, sign-adjusted); its median over the
        studies orders trials with equal median WU (NaN last). Remaining ties: the
        first trial.
    """
    import numpy as np

    wu = _not_reached_inf(wu)
    first = np.median(wu, axis=1)
    second = np.zeros(len(wu)) if tie_break is None else \
        np.median(_not_reached_inf(tie_break), axis=1)
    order = sorted(range(len(wu)), key=lambda t: (first[t], second[t], t))
    return order[0]


def _not_reached_inf(values):
    """``values`` as a float array of shape (trials, studies), NaN replaced by ``inf``."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    values = values.reshape(len(values), -1)
    return np.where(np.isnan(values), np.inf, values)


@dataclass
class TuningReport:
    """What :func:`tune` did: the sweep reports of the trials and final runs, and the
    record entries (one per problem × solver)."""

    trials: Any = None
    finals: Any = None
    entries: list[dict] = field(default_factory=list)


def tune(problems: Sequence[str], solvers: Sequence[str], trials: int, seeds: Sequence[int],
         out: str, final_seeds: Sequence[int] = DEFAULT_FINAL_SEEDS, search_seed: int = 0,
         jobs: int = 1, progress: bool = True, executor=None, **options) -> TuningReport:
    """Tune every solver on every problem with the same budget, then re-run the choices.

    Parameters
    ----------
    problems, solvers : sequence of str
        Problem and solver labels.
    trials : int
        Trials per (problem, solver) (one for a solver with nothing to tune).
    seeds : sequence of int
        The study seeds; every trial runs on each.
    out : str
        Results folder (the trials, the final runs and ``tuning.json``).
    final_seeds : sequence of int
        Seeds of the re-runs of the chosen configurations; disjoint from ``seeds``.
    search_seed : int
        Seed of the Halton sequence, the same for every solver.
    jobs : int
        Parallel runs.
    progress : bool
        Show progress bars.
    executor : Executor or str, optional
        Where the runs execute (:mod:`ml2bench.runner.executors`; default: the local pool).
    **options
        Further :class:`~ml2bench.runner.spec.RunSpec` fields (``budget``, ``device``...).

    Returns
    -------
    TuningReport
    """
    from ml2bench.runner.prepare import prepare
    from ml2bench.runner.spec import RunSpec
    from ml2bench.runner.sweep import run_sweep

    check_seeds(seeds, final_seeds)
    plan = []  # (problem, solver, labels, run ids[trial][study], prepared of the first run)
    specs: list[RunSpec] = []
    for problem in problems:
        for solver in solvers:
            labels = trial_labels(solver, trials, search_seed)
            runs = []
            for label in labels:
                row = [RunSpec(problem=problem, solver=label, seed=s, **options) for s in seeds]
                specs.extend(row)
                runs.append([prepare(spec, jobs) for spec in row])
            plan.append((solver, labels, runs))
    report = TuningReport()
    report.trials = run_sweep(specs, out, jobs=jobs, progress=progress, executor=executor)
    frame = _load_runs(out, [r.run_id for _, _, runs in plan for row in runs for r in row])
    finals: list[RunSpec] = []
    for solver, labels, runs in plan:
        entry = _score_entry(solver, labels, runs, frame, trials, seeds, search_seed)
        chosen = [RunSpec(problem=runs[0][0].spec.problem, solver=entry["chosen"], seed=s,
                          **options) for s in final_seeds]
        entry["final_seeds"] = list(final_seeds)
        entry["final_runs"] = [prepare(spec, jobs).run_id for spec in chosen]
        finals.extend(chosen)
        report.entries.append(entry)
    write_record(out, report.entries)  # before the final runs: an interruption keeps it
    report.finals = run_sweep(finals, out, jobs=jobs, progress=progress, executor=executor)
    return report


def check_seeds(seeds: Sequence[int], final_seeds: Sequence[int]) -> None:
    """Study and final seeds must be non-empty and disjoint (:class:`UserError` if not)."""
    if not seeds or not final_seeds:
        raise UserError("tuning needs at least one study seed (--seeds) and one final seed "
                        "(--final-seeds)")
    shared = sorted(set(seeds) & set(final_seeds))
    if shared:
        raise UserError(f"seed {shared[0]} is both a study seed (--seeds) and a final seed "
                        "(--final-seeds); the final runs need fresh seeds")


def _load_runs(out: str, run_ids: Sequence[str]):
    """The rows of the given runs (those with a readable results file)."""
    import pandas as pd

    from ml2bench.runner.store import ResultsStore

    store, frames = ResultsStore(out), []
    for rid in dict.fromkeys(run_ids):
        path = store.run_path(rid)
        try:
            frames.append(pd.read_parquet(path))
        except Exception:  # missing or unreadable: that run never reached the target
            continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _score_entry(solver: str, labels: list[str], runs: list[list], frame, trials: int,
                 seeds: Sequence[int], search_seed: int) -> dict:
    """The record entry of one (problem, solver): configurations, scores, choice."""
    import numpy as np

    from ml2bench.report.leaderboard import final_rows, higher_is_better, time_to_target

    hits = time_to_target(frame).set_index("run_id") if len(frame) else None
    last = final_rows(frame).set_index("run_id") if len(frame) else None
    wu = np.full((len(labels), len(seeds)), np.inf)
    final = np.full_like(wu, np.nan)  # final target metric: the tie-break
    metric = ""
    for t, row in enumerate(runs):
        for s, run in enumerate(row):
            if hits is None or run.run_id not in hits.index:
                continue
            hit = hits.loc[run.run_id]
            metric = hit["target_metric"]
            if bool(hit["reached"]):
                wu[t, s] = float(hit["wu_to_target"])
            final[t, s] = float(last.loc[run.run_id].get(metric, np.nan))
    best = choose_trial(wu, -final if metric and higher_is_better(metric) else final)
    first = runs[0][0]
    configurations = [{"label": row[0].identity_columns["solver_label"],
                       "runs": [run.run_id for run in row],
                       "wu_to_target": [_finite(v) for v in wu[t]],
                       "median_wu_to_target": _finite(float(np.median(wu[t]))),
                       "final_metric": [_finite(v) for v in final[t]]}
                      for t, row in enumerate(runs)]
    return {"problem": first.identity_columns["problem_label"], "solver": solver,
            "target_metric": metric,
            "search_space": describe_space(solver), "sampler": "halton",
            "search_seed": search_seed, "trials": len(labels), "trials_asked": trials,
            "studies": list(seeds), "budget": float(first.problem_values["budget"]),
            "configurations": configurations, "score": _finite(median_best(wu)),
            "chosen": runs[best][0].identity_columns["solver_label"]}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def write_record(out: str | Path, entries: Sequence[dict]) -> Path:
    """Merge ``entries`` into ``OUT/tuning.json`` (one entry per problem × solver label;
    a new entry replaces an older one of the same pair) and write it atomically."""
    from ml2bench.files import write_text

    merged = {(e["problem"], e["solver"]): e for e in load_record(out)}
    merged.update({(e["problem"], e["solver"]): e for e in entries})
    data = {"version": RECORD_VERSION,
            "ruleset": "AlgoPerf external tuning (arXiv:2306.07179): the same number of "
                       "quasi-random trials per solver; score = median over studies of "
                       "the best trial's WU to target (null: not reached)",
            "entries": [merged[k] for k in sorted(merged)]}
    return write_text(record_path(out), json.dumps(data, indent=1, sort_keys=True) + "\n")

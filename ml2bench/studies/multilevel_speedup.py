r"""Multilevel speedup study: like-for-like pairs and tuned baselines, WU to target.

The published claim — RMTR trains residual networks more than 3× faster at equal
validation accuracy (Gaedke-Merzhäuser, Kopaničáková & Krause, ESAIM Proc. 71, 2021) —
compares the **same** gradient-based method on one level and on many; Kopaničáková &
Krause (SIAM J. Sci. Comput. 45(3), 2023) add the hybrid stochastic–deterministic
regime (mini-batches growing towards the full batch). This study measures both readings
on ``peaks_resnet``, ``ellipses_resnet``, ``swissroll_resnet`` and ``poisson1d_pinn``
(version 2, level-consistent; ``[quick=true]`` specs at ``scale="quick"``).

**(a) Like-for-like.** Each smoother on one level against its multilevel form,
the two members of a pair differing *only* in ``levels`` (:data:`PAIRS`):

================  ===================================================================
pair              members (``levels=1`` / all levels of the problem's hierarchy)
================  ===================================================================
TR-Cauchy         ``rmtr[subproblem=cauchy,batch_size=B,batch_growth=1.5]``
L-SR1 TR          ``rmtr[subproblem=lsr1,batch_size=B,batch_growth=1.5]``
L-SR1 TR fixed    ``rmtr[subproblem=lsr1,batch_size=B]`` (no growth; a control, the
                  multilevel member is table (b)'s ``rmtr``; not in the overall mean)
MG/OPT-SGD        ``mgopt[smoother=sgd]`` (problem's batch)
MG/OPT-Adam       ``mgopt[smoother=adam]`` (problem's batch)
MG/OPT-L-BFGS     ``mgopt[smoother=lbfgs]`` (full batch)
================  ===================================================================

``B`` is the problem's batch size. The single-level member is the same solver with
``levels=1``, not the plain single-level solver, because the two are **not** identical
by construction with mini-batches: ``rmtr[levels=1]`` takes ``coarse_steps`` (5) TR
iterations per batch and grows the batch after a cycle that decreased nothing, ``tr``
one iteration per batch and grows after every rejected step; ``mgopt[levels=1]`` takes
``coarse_steps`` smoother steps per batch with its own flat-vector smoothers, ``sgd``/
``adam``/``lbfgs`` are ``torch.optim`` one step per batch (``lbfgs``: five iterations).
Only full-batch ``rmtr[levels=1]`` equals ``coarse_steps`` steps of ``tr`` with the same
subproblem. The **hybrid regime** is the TR pairs' ``batch_growth = 1.5`` (``rmtr``'s
option: ``B ← min(N, ⌈1.5 B⌉)`` after a cycle without decrease; a value from the
README's example, not tuned). Since every accepted step decreases the batch objective, a
cycle without decrease is rare: on the quick problems the batch grew in 0 of 64 hybrid
runs (2 of 64 with the ``ball`` region), so there the regime is the fixed-batch one (``run_study`` reports the count
as ``hybrid_growth``; a growth schedule independent of acceptance is not an option of
``rmtr`` and is not invented here). MG/OPT has no growing-batch option, so its pairs run with
the fixed problem batch (SGD, Adam) or the full batch (L-BFGS). ``rmtr[subproblem=cauchy]``
is first-order TR: the Cauchy point on the exact Hessian (one Hessian-vector product per
iteration).

**(b) Against tuned baselines**: ``rmtr`` (stochastic, the problem's batch, subproblem
``lsr1`` or ``cg``) against ``mgopt`` (Adam), ``tr`` (the same configuration as
``rmtr``), ``nested`` (Adam inner solver), ``adam``, ``sgd`` and ``lbfgs`` (full batch,
five iterations a step).

**Protocol** (both tables, every solver alike). One knob is tuned under the same trial
budget — the initial radius ``Δ0`` of ``tr``/``rmtr``, the learning rate of all others —
over its default × {⅓, 1, 3}, each value on seed 0; the value with the fewest work units
to the problem's target wins (if none reaches it: the best test metric). The winner then
runs on seeds ``1 … seeds−1`` (seed 0's run is reused). Both members of a pair get the
same grid, the same budget (the problem's WU budget) and the same batch mode.

**Work units to target**: the runner's ``work_units`` of a run that stopped with status
``target``; a run that did not is *censored* (∞). A cell is the median over seeds (∞ if
the median run is censored: with 2 seeds both must reach the target), and its *budget*
the largest WU a seed used. A ratio of two cells ``a/b`` (:func:`wu_ratio`) uses a
censored cell's budget as a bound: ``≥`` if ``a`` is censored, ``≤`` if ``b`` is; a
problem where both are censored is left out. Speedups:

.. math::

    S_{\rm pair} = \exp\Big(\frac{1}{|P_{\rm pair}|}\sum_{p\in P_{\rm pair}}
        \log\frac{W_p(\text{single})}{W_p(\text{multi})}\Big),\qquad
    S_{\rm like\ for\ like} = \exp\Big(\frac{1}{\sum_k |P_k|}\sum_k\sum_{p\in P_k}
        \log\frac{W_p(\text{single}_k)}{W_p(\text{multi}_k)}\Big),

over the problems ``P_k`` entering pair ``k`` (the second is the geometric mean over all
pair × problem ratios, not over the pairs' means), and ``speedup_wu_tr``,
``speedup_wu_adam`` the geometric means over problems of ``W_p(tr)/W_p(rmtr)`` and
``W_p(adam)/W_p(rmtr)`` in table (b). Censored ratios enter as their bound values, so a
mean with a bound in it is itself a bound (the tables mark every one).

References
----------
C. Gaedke-Merzhäuser, A. Kopaničáková, R. Krause, *Multilevel minimization for deep
residual networks*, ESAIM: Proc. Surveys 71, 2021;
A. Kopaničáková, R. Krause, *Globally convergent multilevel training of deep residual
networks*, SIAM J. Sci. Comput. 45(3), 2023;
S. Gratton, A. Sartenaer, Ph. L. Toint, SIAM J. Optim. 19(1), 2008 (RMTR);
S. G. Nash, Optim. Methods Softw. 14, 2000 (MG/OPT).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ml2bench.problems.registry import resolve_problem
from ml2bench.runner.store import ResultsStore
from ml2bench.runner.sweep import expand, run_sweep
from ml2bench.solvers.registry import make_solver
from ml2bench.studies.level_replay import replay_levels

#: The problems of the study (version 2, level-consistent).
PROBLEMS = ("peaks_resnet", "ellipses_resnet", "swissroll_resnet", "poisson1d_pinn")
#: The tuning grid: default × these factors, for every solver.
FACTORS = (1 / 3, 1.0, 3.0)
#: Batch growth factor of the hybrid regime (``rmtr``'s ``batch_growth``).
HYBRID_GROWTH = 1.5
#: Seeds per tuned solver when ``run_study`` is given ``seeds=None``.
DEFAULT_SEEDS = {"quick": 2, "full": 3}
#: Placeholder value of ``batch_size`` replaced by the problem's batch size.
PROBLEM_BATCH = "problem"


@dataclass(frozen=True)
class Entry:
    """A solver configuration of the study: fixed hyperparameters and one tuned knob.

    Parameters
    ----------
    name
        Display name in the tables.
    solver
        Registry name (``rmtr``, ``mgopt``, ``tr``, ...).
    knob
        The tuned hyperparameter; tried at ``default × f`` for ``f`` in :data:`FACTORS`.
    default
        The knob's default value.
    fixed
        Further hyperparameters as ``(name, value)`` pairs; the value
        :data:`PROBLEM_BATCH` stands for the problem's batch size.
    """

    name: str
    solver: str
    knob: str
    default: float
    fixed: tuple = ()

    def params(self, batch_size: int) -> dict:
        """The fixed hyperparameters with the problem's batch size filled in.

        Parameters
        ----------
        batch_size
            The problem's batch size.

        Returns
        -------
        dict
            ``{name: value}``.
        """
        return {k: (batch_size if v == PROBLEM_BATCH else v) for k, v in self.fixed}

    def labels(self, batch_size: int) -> list[str]:
        """The canonical labels of the tuning grid, ``default × {⅓, 1, 3}``.

        Parameters
        ----------
        batch_size
            The problem's batch size.

        Returns
        -------
        list of str
            One canonical solver label per factor of :data:`FACTORS`.
        """
        labels = []
        for factor in FACTORS:
            params = {**self.params(batch_size), self.knob: float(f"{self.default * factor:.3g}")}
            body = ",".join(f"{k}={v}" for k, v in params.items())
            labels.append(make_solver(f"{self.solver}[{body}]").label)
        return labels


@dataclass(frozen=True)
class Pair:
    """A like-for-like pair: one method on one level (``single``) and on all (``multi``).

    Parameters
    ----------
    name
        Display name.
    single, multi
        The two entries; they differ only in ``levels`` (``1`` for ``single``).
    control
        A control pair, printed but left out of ``speedup_wu_like_for_like`` (so that a
        method is not counted twice).
    """

    name: str
    single: Entry
    multi: Entry
    control: bool = False


def make_pair(name: str, solver: str, knob: str, default: float, control: bool = False,
              **fixed) -> Pair:
    """A pair whose members share every setting but ``levels``.

    Parameters
    ----------
    name
        Display name of the pair.
    solver
        A multilevel solver with a ``levels`` hyperparameter.
    knob, default
        The tuned hyperparameter and its default.
    control
        See :class:`Pair`.
    **fixed
        The shared fixed hyperparameters.

    Returns
    -------
    Pair
        ``single`` with ``levels=1`` added, ``multi`` with the hierarchy's levels.
    """
    shared = tuple(fixed.items())
    return Pair(name, Entry(f"{name} 1-level", solver, knob, default, (("levels", 1),) + shared),
                Entry(f"{name} multilevel", solver, knob, default, shared), control)


#: Table (a): the like-for-like pairs.
PAIRS = (
    make_pair("TR-Cauchy", "rmtr", "radius", 1.0, subproblem="cauchy",
              batch_size=PROBLEM_BATCH, batch_growth=HYBRID_GROWTH),
    make_pair("L-SR1 TR", "rmtr", "radius", 1.0, subproblem="lsr1",
              batch_size=PROBLEM_BATCH, batch_growth=HYBRID_GROWTH),
    make_pair("L-SR1 TR fixed", "rmtr", "radius", 1.0, control=True, subproblem="lsr1",
              batch_size=PROBLEM_BATCH),
    make_pair("MG/OPT-SGD", "mgopt", "lr", 0.1, smoother="sgd"),
    make_pair("MG/OPT-Adam", "mgopt", "lr", 1e-2, smoother="adam"),
    make_pair("MG/OPT-L-BFGS", "mgopt", "lr", 1.0, smoother="lbfgs"),
)


def baselines(subproblem: str = "lsr1") -> tuple[Entry, ...]:
    """Table (b): ``rmtr`` and the tuned baselines.

    Parameters
    ----------
    subproblem
        TR subproblem of ``tr`` and ``rmtr`` (``lsr1`` or ``cg``); both run stochastic
        with the problem's batch size (one batch per step / per cycle).

    Returns
    -------
    tuple of Entry
        ``rmtr`` first, then ``mgopt``, ``tr``, ``nested``, ``adam``, ``sgd``, ``lbfgs``.
    """
    tr_fixed = (("batch_size", PROBLEM_BATCH), ("subproblem", subproblem))
    return (Entry("rmtr", "rmtr", "radius", 1.0, tr_fixed),
            Entry("mgopt", "mgopt", "lr", 1e-2),
            Entry("tr", "tr", "radius", 1.0, tr_fixed),
            Entry("nested", "nested", "lr", 1e-2),
            Entry("adam", "adam", "lr", 1e-2),
            Entry("sgd", "sgd", "lr", 0.1),
            Entry("lbfgs", "lbfgs", "lr", 1.0))


def problem_label(name: str, scale: str) -> str:
    """The problem label at a scale: ``name[quick=true]`` for ``quick``, else ``name``.

    Parameters
    ----------
    name
        Problem name.
    scale
        ``quick`` or ``full``.

    Returns
    -------
    str
        The label.
    """
    return f"{name}[quick=true]" if scale == "quick" else name


# -- reduction of runs -------------------------------------------------------------------
def summarise(rows) -> dict:
    """One run's summary: reached?, WU and time to target (∞ if not), best metric.

    Parameters
    ----------
    rows
        The run's rows (a ``pandas.DataFrame`` sorted by step).

    Returns
    -------
    dict
        ``reached``, ``wu``, ``time``, ``best``, ``metric``, ``final_wu``, ``status``,
        ``batch_growth`` (largest over first logged batch size; NaN if not logged).
    """
    metric = "test_acc" if rows["test_acc"].notna().any() else "test_rel_l2"
    last = rows.iloc[-1]
    reached = last["status"] == "target"
    best = rows[metric].max() if metric == "test_acc" else rows[metric].min()
    batch = rows["info_batch_size"].dropna() if "info_batch_size" in rows else []
    growth = float(batch.max() / batch.iloc[0]) if len(batch) else math.nan
    return {"reached": bool(reached), "wu": float(last["work_units"]) if reached else math.inf,
            "time": float(last["time_s"]) if reached else math.inf, "best": float(best),
            "metric": metric, "final_wu": float(last["work_units"]), "status": last["status"],
            "batch_growth": growth}


def load_summaries(out: Path) -> dict:
    """``{(problem, solver_label, seed): summary}`` for every finished run in ``out``.

    Parameters
    ----------
    out
        Results folder of the runner.

    Returns
    -------
    dict
        Summaries by :func:`summarise`.
    """
    frame = ResultsStore(str(out)).load_runs()
    return {(problem, label, int(seed)): summarise(rows.sort_values("step"))
            for (problem, label, seed), rows in frame.groupby(["problem", "solver_label", "seed"])}


def better(a: dict, b: dict) -> bool:
    """Whether run ``a`` beats ``b``: fewer WU to target, else a better best metric.

    Parameters
    ----------
    a, b
        Run summaries (:func:`summarise`).

    Returns
    -------
    bool
    """
    if a["wu"] != b["wu"]:
        return a["wu"] < b["wu"]
    return a["best"] > b["best"] if a["metric"] == "test_acc" else a["best"] < b["best"]


@dataclass(frozen=True)
class Cell:
    """One (problem, solver) cell: median over seeds.

    Parameters
    ----------
    wu
        Median WU to target (∞ if the median run is censored).
    budget
        Largest WU used by a seed (the bound for a censored cell).
    reached, runs
        Seeds reaching the target, seeds run.
    time, best
        Median wall time to target (s, ∞ if censored), median best test metric.
    metric
        ``test_acc`` or ``test_rel_l2``.
    """

    wu: float
    budget: float
    reached: int = 0
    runs: int = 0
    time: float = math.inf
    best: float = math.nan
    metric: str = "test_acc"

    @property
    def censored(self) -> bool:
        """Whether the median run did not reach the target (``wu = ∞``)."""
        return not math.isfinite(self.wu)


def median(values: list[float]) -> float:
    """``statistics.median`` (∞ counts as a value), NaN for no values.

    Parameters
    ----------
    values
        Numbers.

    Returns
    -------
    float
    """
    return statistics.median(values) if values else math.nan


def make_cell(runs: list[dict]) -> Cell:
    """Reduce the seeds' summaries of one (problem, solver) to a :class:`Cell`.

    Parameters
    ----------
    runs
        Summaries (:func:`summarise`), one per seed.

    Returns
    -------
    Cell
    """
    return Cell(wu=median([r["wu"] for r in runs]), budget=max(r["final_wu"] for r in runs),
                reached=sum(r["reached"] for r in runs), runs=len(runs),
                time=median([r["time"] for r in runs]), best=median([r["best"] for r in runs]),
                metric=runs[0]["metric"])


@dataclass(frozen=True)
class Ratio:
    """A WU ratio ``a/b`` of two cells, possibly a bound.

    Parameters
    ----------
    value
        The ratio, with a censored cell's budget in place of its WU.
    bound
        ``""`` (exact), ``"≥"`` (``a`` censored: a lower bound) or ``"≤"`` (``b``
        censored: an upper bound).
    """

    value: float
    bound: str = ""

    def __str__(self) -> str:
        return f"{self.bound}{self.value:.3g}"


def wu_ratio(a: Cell, b: Cell) -> Ratio | None:
    """``WU(a)/WU(b)`` with censored cells as bounds; None when both are censored.

    Parameters
    ----------
    a, b
        Numerator and denominator cells.

    Returns
    -------
    Ratio or None
        ``a.wu/b.wu``; ``a.budget/b.wu`` marked ``≥`` if ``a`` is censored;
        ``a.wu/b.budget`` marked ``≤`` if ``b`` is.
    """
    if a.censored and b.censored:
        return None
    num = a.budget if a.censored else a.wu
    den = b.budget if b.censored else b.wu
    return Ratio(num / den, "≥" if a.censored else ("≤" if b.censored else ""))


def geometric_mean(ratios: list[Ratio]) -> float:
    """``exp(mean(log rᵢ))`` of the ratios' values (bounds as their values); NaN if none.

    Parameters
    ----------
    ratios
        Ratios (:class:`Ratio`).

    Returns
    -------
    float
    """
    if not ratios:
        return math.nan
    return math.exp(sum(math.log(r.value) for r in ratios) / len(ratios))


def pair_speedups(cells: dict, pairs=PAIRS, problems=PROBLEMS) -> dict:
    """Like-for-like speedups ``WU(single)/WU(multi)``: per pair and over all.

    Parameters
    ----------
    cells
        ``{(problem, entry_name): Cell}``.
    pairs, problems
        The pairs and problems.

    Returns
    -------
    dict
        ``per_problem``: ``{pair: {problem: Ratio or None}}``; ``per_pair``:
        ``{pair: geometric mean over its problems}``; ``overall``: the geometric mean
        over all pair × problem ratios of the pairs that are not controls (NaN if none).
    """
    per_problem, per_pair, every = {}, {}, []
    for pair in pairs:
        ratios = {p: wu_ratio(cells[(p, pair.single.name)], cells[(p, pair.multi.name)])
                  for p in problems}
        per_problem[pair.name] = ratios
        kept = [r for r in ratios.values() if r is not None]
        per_pair[pair.name] = geometric_mean(kept)
        if not pair.control:
            every += kept
    return {"per_problem": per_problem, "per_pair": per_pair, "overall": geometric_mean(every)}


def baseline_speedups(cells: dict, others, reference: str = "rmtr",
                      problems=PROBLEMS) -> dict:
    """Speedups ``WU(other)/WU(rmtr)`` per baseline: per problem and geometric mean.

    Parameters
    ----------
    cells
        ``{(problem, entry_name): Cell}``.
    others
        Names of the baselines.
    reference
        The multilevel solver in the denominator.
    problems
        The problems.

    Returns
    -------
    dict
        ``{other: {"mean": float, "per_problem": {problem: Ratio or None}}}``.
    """
    result = {}
    for other in others:
        ratios = {p: wu_ratio(cells[(p, other)], cells[(p, reference)]) for p in problems}
        result[other] = {"mean": geometric_mean([r for r in ratios.values() if r is not None]),
                         "per_problem": ratios}
    return result


def final_line(result: dict) -> str:
    """The last line: ``speedup_wu_tr=… speedup_wu_adam=… speedup_wu_like_for_like=…``.

    Parameters
    ----------
    result
        The dictionary returned by :func:`run_study` (or one with the three keys).

    Returns
    -------
    str
        Three ``key=value`` fields, values with 3 significant digits (``nan`` if none).
    """
    keys = ("speedup_wu_tr", "speedup_wu_adam", "speedup_wu_like_for_like")
    return " ".join(f"{k}={result[k]:.3g}" for k in keys)


# -- the runs ----------------------------------------------------------------------------
def _fmt(value: float, digits: int = 3) -> str:
    return "—" if not math.isfinite(value) else f"{value:.{digits}g}"


def tune_and_run(entries, problems, scale: str, out: Path, seeds: int, jobs: int) -> dict:
    """Tune every entry on every problem (seed 0, :data:`FACTORS`), run the winners' seeds.

    Parameters
    ----------
    entries
        :class:`Entry` objects (names unique).
    problems
        Problem names.
    scale
        ``quick`` or ``full``.
    out
        Results folder (runs already there are reused).
    seeds
        Seeds per winner (seed 0 included).
    jobs
        Parallel runs.

    Returns
    -------
    dict
        ``{(problem, entry_name): (chosen_label, [summaries per seed])}``.
    """
    specs, candidates = [], {}
    for name in problems:
        label = problem_label(name, scale)
        batch_size = resolve_problem(label)[2]["batch_size"]
        for entry in entries:
            candidates[(name, entry.name)] = entry.labels(batch_size)
            specs += expand([label], candidates[(name, entry.name)], [0])
    run_sweep(_unique(specs), str(out), jobs=jobs, progress=False)
    summaries = load_summaries(out)
    chosen = {}
    for (name, entry_name), labels in candidates.items():
        best = labels[0]
        for label in labels[1:]:
            if better(summaries[(name, label, 0)], summaries[(name, best, 0)]):
                best = label
        chosen[(name, entry_name)] = best
    specs = []
    for (name, _), label in chosen.items():
        specs += expand([problem_label(name, scale)], [label], range(1, seeds))
    if specs:
        run_sweep(_unique(specs), str(out), jobs=jobs, progress=False)
        summaries = load_summaries(out)
    return {key: (label, [summaries[(key[0], label, s)] for s in range(seeds)])
            for key, label in chosen.items()}


def _unique(specs):
    seen, unique = set(), []
    for spec in specs:
        key = (spec.problem, spec.solver, spec.seed)
        if key not in seen:
            seen.add(key)
            unique.append(spec)
    return unique


def _table(runs: dict, entries, problems, title: str) -> tuple[str, list[dict]]:
    """Text table and rows: problem × entry, chosen knob, median WU, reached, time, best."""
    lines = [title, f"{'problem':17s} {'solver':26s} {'chosen':>14s} {'WU→target':>10s} "
             f"{'reached':>8s} {'time→target':>12s} {'best metric':>17s} {'WU used':>8s}"]
    rows = []
    for name in problems:
        for entry in entries:
            label, summaries = runs[(name, entry.name)]
            cell = make_cell(summaries)
            value = make_solver(label).hparams[entry.knob]
            rows.append({"problem": name, "solver": entry.name, "label": label,
                         "knob": entry.knob, "value": value, "wu": cell.wu,
                         "budget": cell.budget, "reached": cell.reached, "runs": cell.runs,
                         "time": cell.time, "best": cell.best, "metric": cell.metric})
            seconds = _fmt(cell.time, 2) + " s" * math.isfinite(cell.time)
            lines.append(f"{name:17s} {entry.name:26s} {entry.knob + '=' + _fmt(value):>14s} "
                         f"{_fmt(cell.wu):>10s} {f'{cell.reached}/{cell.runs}':>8s} "
                         f"{seconds:>12s} {cell.metric + ' ' + _fmt(cell.best):>17s} "
                         f"{_fmt(cell.budget):>8s}")
    return "\n".join(lines), rows


def level_diagnostics(runs: dict, entry_name: str, problems, scale: str) -> str:
    """RMTR's per-level diagnostics of seed 0's chosen run, replayed to the same WU.

    Per level: its share of the work units, the fraction of cycles reaching it, the
    decrease of ``h_l`` by its smoothing, the decrease of ``h_{l−1}`` by its accepted
    corrections and the corrections accepted/tried; then the share of the fine decrease
    ``Σ correction_decrease_l1 / Σ (decrease_l0 + correction_decrease_l1)`` brought by
    coarse corrections against the coarse levels' share of the WU.

    Parameters
    ----------
    runs
        Output of :func:`tune_and_run`.
    entry_name
        The ``rmtr`` entry.
    problems
        Problem names.
    scale
        ``quick`` or ``full``.

    Returns
    -------
    str
        The table.
    """
    lines = [f"RMTR per-level diagnostics ({entry_name}; seed 0, chosen configuration, "
             "to the same WU):",
             f"{'problem':17s} {'level':>5s} {'WU share':>9s} {'cycles here':>11s} "
             f"{'smooth decr.':>12s} {'corr. decr.':>11s} {'coarse acc.':>11s}"]
    for name in problems:
        label, summaries = runs[(name, entry_name)]
        levels = replay_levels(problem_label(name, scale), label, summaries[0]["final_wu"])
        for row in levels:
            level = row["level"]
            rate = f"{row['accepted']:.0f}/{row['tried']}" if level else "—"
            lines.append(f"{name:17s} {level:5d} {row['wu_share']:9.2f} "
                         f"{row['cycles_reached']:11.2f} {row['smooth_decrease']:12.3g} "
                         f"{row['correction_decrease']:11.3g} {rate:>11s}")
        from_coarse = levels[1]["correction_decrease"]
        fine = levels[0]["smooth_decrease"] + from_coarse
        share = from_coarse / fine if fine else math.nan
        lines.append(f"{'':17s} coarse corrections: {share:.0%} of the fine decrease for "
                     f"{1 - levels[0]['wu_share']:.0%} of the WU ({levels[0]['cycles']} cycles)")
    return "\n".join(lines)


def hybrid_growth(out: Path, entries, problems, scale: str) -> tuple[int, int, float]:
    """How often the hybrid regime grew the batch: over every run of the given entries.

    Parameters
    ----------
    out
        Results folder.
    entries
        The entries with ``batch_growth > 1``.
    problems, scale
        Problem names and scale.

    Returns
    -------
    tuple
        ``(runs whose batch grew, runs, largest final/initial batch ratio)``.
    """
    summaries = load_summaries(out)
    grown, total, largest = 0, 0, 1.0
    for name in problems:
        batch_size = resolve_problem(problem_label(name, scale))[2]["batch_size"]
        for entry in entries:
            for label in entry.labels(batch_size):
                for (problem, run_label, _), summary in summaries.items():
                    if problem == name and run_label == label:
                        total += 1
                        growth = summary["batch_growth"]
                        if growth > 1.0:
                            grown += 1
                            largest = max(largest, growth)
    return grown, total, largest


def _ratio_text(ratios: dict) -> str:
    return "; ".join(f"{p}: {r}" if r is not None else f"{p}: neither reaches (left out)"
                     for p, r in ratios.items())


def run_study(scale: str, out: Path, seeds: int | None = None, jobs: int = 1, *,
              subproblem: str = "lsr1", problems=PROBLEMS, pairs=PAIRS,
              diagnostics: bool = True) -> dict:
    """Run the multilevel speedup study: like-for-like pairs and tuned baselines.

    See the module docstring for the protocol and the formulas of the speedups.

    Parameters
    ----------
    scale
        ``quick`` (the problems' ``[quick=true]`` sizes and budgets) or ``full``.
    out
        Results folder; finished runs there are reused (the runner's cache).
    seeds
        Seeds per tuned solver (seed 0 included); None: 2 (quick) or 3 (full).
    jobs
        Parallel runs (process pool).
    subproblem
        TR subproblem of ``tr`` and ``rmtr`` in table (b).
    problems, pairs
        Restrict the study (tests, exploration).
    diagnostics
        Replay RMTR's chosen runs for its per-level diagnostics.

    Returns
    -------
    dict
        ``like_for_like``: ``{pair: S_pair}``; ``vs_baselines``: ``{"tr": …, "adam": …,
        "mgopt": …, "nested": …, "sgd": …, "lbfgs": …}`` (``WU(x)/WU(rmtr)``);
        ``speedup_wu_like_for_like``, ``speedup_wu_tr``, ``speedup_wu_adam``;
        ``per_problem``: the ratios (:class:`Ratio`, None where left out) of both tables;
        ``tables``: the printed texts (``like_for_like``, ``vs_baselines``,
        ``diagnostics``, ``speedups``, ``notes``); ``rows``: the cells as dicts;
        ``hybrid_growth``: ``(runs whose batch grew, hybrid runs, largest growth)``;
        ``seconds``: wall time.
    """
    if scale not in DEFAULT_SEEDS:
        raise ValueError(f"scale={scale!r}: expected 'quick' or 'full'")
    seeds = seeds or DEFAULT_SEEDS[scale]
    out = Path(out)
    torch.set_num_threads(1)
    start = time.perf_counter()
    base = baselines(subproblem)
    pair_entries = [e for pair in pairs for e in (pair.single, pair.multi)]
    runs = tune_and_run(pair_entries + list(base), problems, scale, out, seeds, jobs)
    cells = {key: make_cell(summaries) for key, (_, summaries) in runs.items()}

    header = (f"multilevel_speedup: {scale} sizes, {seeds} seeds, 3 trials per solver "
              f"(default × ⅓, 1, 3 on seed 0), torch threads=1")
    text_a, rows_a = _table(runs, pair_entries, problems,
                            "(a) like-for-like: each method on one level (levels=1) and on all")
    text_b, rows_b = _table(runs, base, problems,
                            f"(b) rmtr against tuned baselines (tr/rmtr subproblem={subproblem},"
                            " the problem's batch)")
    like = pair_speedups(cells, pairs, problems)
    others = [e.name for e in base if e.name != "rmtr"]
    vs = baseline_speedups(cells, others, "rmtr", problems)
    lines = ["WU(1-level)/WU(multilevel) per problem (≥/≤: bound from a censored run):"]
    for pair in pairs:
        lines.append(f"  {pair.name:15s} geo-mean {_fmt(like['per_pair'][pair.name])}"
                     f"{' (control)' if pair.control else ''}: "
                     + _ratio_text(like["per_problem"][pair.name]))
    lines.append(f"  all pairs × problems (controls left out): geo-mean {_fmt(like['overall'])}")
    lines.append("WU(solver)/WU(rmtr) per problem (≥/≤: bound from a censored run):")
    for other in others:
        lines.append(f"  {other:7s} geo-mean {_fmt(vs[other]['mean'])}: "
                     + _ratio_text(vs[other]["per_problem"]))
    hybrid = [e for e in pair_entries if dict(e.fixed).get("batch_growth", 1.0) > 1.0]
    grown, total, largest = hybrid_growth(out, hybrid, problems, scale)
    notes = ("Notes: single level = the same solver with levels=1 (rmtr[levels=1] takes "
             "coarse_steps TR iterations per batch, mgopt[levels=1] coarse_steps smoother "
             "steps: not identical to tr/adam/sgd/lbfgs with mini-batches). Hybrid regime: "
             f"the TR pairs grow the batch ×{HYBRID_GROWTH} after a cycle without decrease "
             f"(rmtr's batch_growth); the batch grew in {grown} of {total} such runs "
             f"(largest ×{largest:.3g}), so this is nearly the fixed-batch regime. MG/OPT has "
             "no growing-batch option (fixed problem batch for SGD/Adam, full batch for "
             "L-BFGS). poisson1d_pinn's batch is its whole training set (64 points): every "
             "run there is full batch. A cell is the median over seeds with a censored seed "
             "as ∞ (with 2 seeds both must reach the target).")
    diag = level_diagnostics(runs, "rmtr", problems, scale) if diagnostics else ""
    result = {
        "like_for_like": dict(like["per_pair"]),
        "vs_baselines": {k: v["mean"] for k, v in vs.items()},
        "speedup_wu_like_for_like": like["overall"],
        "speedup_wu_tr": vs["tr"]["mean"],
        "speedup_wu_adam": vs["adam"]["mean"],
        "per_problem": {"like_for_like": like["per_problem"],
                        "vs_baselines": {k: v["per_problem"] for k, v in vs.items()}},
        "tables": {"header": header, "like_for_like": text_a, "vs_baselines": text_b,
                   "diagnostics": diag, "speedups": "\n".join(lines), "notes": notes},
        "rows": {"like_for_like": rows_a, "vs_baselines": rows_b},
        "hybrid_growth": (grown, total, largest),
    }
    result["seconds"] = time.perf_counter() - start
    return result

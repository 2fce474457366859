"""Performance profiles and the integrated score over problems.

For problems ``p`` and solvers ``s`` let ``t[p, s]`` be a cost (smaller is better).
The *performance ratio* of Dolan & Moré (2002) is

.. math::  r_{p,s} = t_{p,s} / \\min_{s'} t_{p,s'},

(``∞`` where ``s`` failed on ``p``), the *performance profile* of solver ``s`` is the
step function

.. math::  \\rho_s(\\tau) = \\frac{1}{|P|}\\,\\bigl|\\{p \\in P : r_{p,s} \\le \\tau\\}\\bigr|,

the share of problems it solves within a factor ``τ`` of the best solver, and the
*integrated score* of AlgoPerf (Dahl et al., 2023) is

.. math::  B_s = \\frac{1}{r_{\\max} - 1} \\int_1^{r_{\\max}} \\rho_s(\\tau)\\,d\\tau,
           \\qquad r_{\\max} = 4,

which is 1 for a solver that is the best on every problem and 0 for one that is never
within ``r_max`` of the best. It is computed exactly: each problem contributes the
length ``max(0, r_max − r_{p,s})`` of the interval where its indicator is 1.

Two measures are built from a results table (:func:`measure_tables`):

- ``work_units``: WU to target, the first checkpoint that reaches the problem's target
  (:func:`ml2bench.report.leaderboard.time_to_target`);
- ``time_s``: solver wall time to target, the same checkpoint's ``time_s``.

There is no memory profile: a run's ``peak_mem_mb`` is, on CPU, the whole process's
maximum resident memory (interpreter, torch, data, model), which dwarfs what a solver
adds, so every solver's ratio was ≈ 1 and the profile ranked nothing. What a solver adds
is tracked by the asv benchmarks instead (``benchmarks/bench_solver_steps.py``).

Rules (stated, as AlgoPerf states its own):

- One value per (problem, solver) by the ranking rule of every output
  (:func:`ml2bench.report.ranking.rule_costs`): only the settings with the problem's
  best fraction of seeds reaching the target get a finite cost, the median over the
  seeds that reached it; the others count as ``∞``. Seeds stand for AlgoPerf's studies;
  a setting counts each seed once (:func:`leaderboard.seed_runs`).
- A solver that was skipped on a problem (``status`` ``skipped``: e.g. a multilevel
  solver on a one-level problem) or not run on it at all has ``t = ∞`` there, as
  AlgoPerf counts a missing submission: the profile compares solvers on the same
  problems.
- A problem that no solver solved (every ``t`` infinite) is dropped from the profile
  (it cannot tell solvers apart and has no best value); ``|P|`` counts the others.
- Where the best value is 0 (target met at the first checkpoint), solvers with 0 have
  ratio 1 and the others ``∞``.

Problems are the leaderboard's problem labels (one per parameter variant) and solvers its
solver labels (one per setting); see :mod:`ml2bench.report.leaderboard`.

References
----------
E. D. Dolan and J. J. Moré, "Benchmarking optimization software with performance
profiles", Math. Program. 91 (2002), 201–213.

G. E. Dahl et al., "Benchmarking Neural Network Training Algorithms", arXiv:2306.07179
(2023): AlgoPerf's performance profiles and integrated score.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ml2bench.report.families import solver_name, solver_styles
from ml2bench.report.leaderboard import seed_runs
from ml2bench.report.ranking import PROFILE_RULE, rule_costs

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: AlgoPerf's upper limit of the integrated ratio.
R_MAX = 4.0
#: The measures: name → (per-run column, axis/caption text).
MEASURES = {"work_units": ("wu_to_target", "WU to target"),
            "time_s": ("time_to_target_s", "time to target")}


def _check_r_max(r_max: float) -> float:
    r_max = float(r_max)
    if not np.isfinite(r_max) or r_max <= 1:
        raise ValueError(f"r_max must be a finite number > 1, got {r_max:g}")
    return r_max


def performance_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Dolan–Moré performance ratios ``r[p, s] = t[p, s] / min_s t[p, s]``.

    Parameters
    ----------
    table : pandas.DataFrame
        Costs ``t[p, s] >= 0``: one row per problem, one column per solver, smaller is
        better; ``∞`` or NaN where the solver failed (did not reach the target, was
        skipped or not run).

    Returns
    -------
    pandas.DataFrame
        The same solvers; the problems some solver solved (a row with no finite value
        is dropped). Ratios are ``>= 1``, exactly 1 for the best solver(s) of a
        problem, ``∞`` where the solver failed. If the best value is 0, solvers with 0
        get 1 and the others ``∞``.
    """
    costs = table.astype(float).fillna(np.inf)
    best = costs.min(axis=1)
    costs = costs[np.isfinite(best)]
    best = best[np.isfinite(best)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = costs.div(best, axis=0)
    ratios = ratios.mask(costs.eq(best, axis=0), 1.0)
    return ratios.fillna(np.inf)


def profile_taus(ratios: pd.DataFrame, r_max: float = R_MAX) -> np.ndarray:
    """The points where the profiles on ``[1, r_max]`` change: 1, the ratios in
    ``(1, r_max]`` and ``r_max``, sorted and unique."""
    r_max = _check_r_max(r_max)
    values = ratios.to_numpy(dtype=float).ravel()
    inside = values[(values > 1) & (values <= r_max)]
    return np.unique(np.concatenate([[1.0, r_max], inside]))


def profile(ratios: pd.DataFrame, taus) -> pd.DataFrame:
    """Performance profiles ``ρ_s(τ) = |{p : r[p, s] <= τ}| / |P|``.

    Parameters
    ----------
    ratios : pandas.DataFrame
        Performance ratios (:func:`performance_ratios`): problems × solvers.
    taus : array_like
        Where to evaluate (``τ >= 1``). ``ρ_s`` is a right-continuous step function:
        at a ratio the jump is included.

    Returns
    -------
    pandas.DataFrame
        One row per ``τ`` (index ``tau``), one column per solver; NaN for every solver
        if there are no problems.
    """
    taus = np.asarray(taus, dtype=float).ravel()
    values = ratios.astype(float).fillna(np.inf).to_numpy()
    if values.shape[0] == 0:
        shares = np.full((len(taus), values.shape[1]), np.nan)
    else:
        shares = (values[None, :, :] <= taus[:, None, None]).mean(axis=1)
    return pd.DataFrame(shares, index=pd.Index(taus, name="tau"), columns=ratios.columns)


def integrated_score(ratios: pd.DataFrame, r_max: float = R_MAX) -> pd.Series:
    """AlgoPerf's integrated score ``B_s = (1/(r_max − 1)) ∫₁^{r_max} ρ_s(τ) dτ``.

    Exact for the step function: problem ``p`` adds ``1/|P|`` to ``ρ_s`` on
    ``[r[p, s], ∞)``, so ``B_s = Σ_p max(0, r_max − max(1, r[p, s])) / (|P| (r_max − 1))``.

    Parameters
    ----------
    ratios : pandas.DataFrame
        Performance ratios (:func:`performance_ratios`): problems × solvers.
    r_max : float
        Upper limit of the integral (> 1); AlgoPerf uses 4.

    Returns
    -------
    pandas.Series
        One score in ``[0, 1]`` per solver (NaN if there are no problems).

    Raises
    ------
    ValueError
        If ``r_max`` is not a finite number greater than 1.
    """
    r_max = _check_r_max(r_max)
    values = ratios.astype(float).fillna(np.inf).to_numpy()
    if values.shape[0] == 0:
        return pd.Series(np.nan, index=ratios.columns, dtype=float)
    lengths = np.clip(r_max - np.maximum(values, 1.0), 0.0, None)
    return pd.Series(lengths.mean(axis=0) / (r_max - 1.0), index=ratios.columns)


def measure_tables(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Costs per problem and solver for the measures.

    Parameters
    ----------
    df : pandas.DataFrame
        Long results table (:meth:`ResultsStore.load_runs`).

    Returns
    -------
    dict of str to pandas.DataFrame
        For each key of :data:`MEASURES` (``work_units``, ``time_s``): problems
        (leaderboard labels, index ``problem``) × solvers (setting labels, columns
        ``solver``), the cost under the ranking rule (:func:`ranking.rule_costs`; see
        the module docstring); ``∞`` where a solver has no run on a problem. Sorted by
        label.
    """
    if df.empty:
        empty = pd.DataFrame(index=pd.Index([], name="problem"),
                             columns=pd.Index([], name="solver"), dtype=float)
        return {name: empty.copy() for name in MEASURES}
    runs = seed_runs(df)
    tables = {}
    for name, (column, _) in MEASURES.items():
        table = rule_costs(runs, column).unstack()
        table = table.astype(float).fillna(np.inf).sort_index().sort_index(axis=1)
        table.index.name, table.columns.name = "problem", "solver"
        tables[name] = table
    return tables


def score_table(tables: dict[str, pd.DataFrame], r_max: float = R_MAX) -> pd.DataFrame:
    """One row per solver: its integrated score per measure and the problems it solved.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        :func:`measure_tables`.
    r_max : float
        Upper limit of the score's integral.

    Returns
    -------
    pandas.DataFrame
        Columns ``solver``, ``score_<measure>`` per measure (:func:`integrated_score`;
        NaN where the profile has no problem) and ``solved`` (``"k/n"``: problems where
        the solver has a finite WU cost under the ranking rule — it reached the target
        on the problem's best fraction of seeds —, of all ``n`` problems in the
        results). Sorted by the WU score (best first), then solver label.
    """
    solvers = sorted({s for table in tables.values() for s in table.columns})
    frame = pd.DataFrame({"solver": pd.Series(solvers, dtype=object)})
    for name, table in tables.items():
        scores = integrated_score(performance_ratios(table), r_max)
        frame[f"score_{name}"] = frame["solver"].map(scores).astype(float)
    wu = tables.get("work_units", pd.DataFrame())
    solved = np.isfinite(wu.reindex(columns=solvers).astype(float).fillna(np.inf)).sum()
    frame["solved"] = [f"{int(solved.get(s, 0))}/{len(wu)}" for s in solvers]
    keys = [k for k in ("score_work_units", "solver") if k in frame]
    return frame.sort_values(keys, ascending=[k != "score_work_units" for k in keys],
                             na_position="last", kind="stable").reset_index(drop=True)


def ratio_rows(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Long table of every measure's costs and ratios: ``measure, problem, solver, value,
    ratio`` (``ratio`` empty for problems dropped from the profile)."""
    parts = []
    for name, table in tables.items():
        ratios = performance_ratios(table)
        long = table.stack().rename("value").reset_index()
        long["ratio"] = [ratios.at[p, s] if p in ratios.index else np.nan
                         for p, s in zip(long["problem"], long["solver"])]
        parts.append(long.assign(measure=name))
    if not parts:
        return pd.DataFrame(columns=["measure", "problem", "solver", "value", "ratio"])
    out = pd.concat(parts, ignore_index=True)
    return out[["measure", "problem", "solver", "value", "ratio"]]


def profile_figure(table: pd.DataFrame, measure: str, r_max: float = R_MAX) -> Figure:
    """The performance profiles of one measure on ``τ ∈ [1, r_max]`` (not saved).

    Parameters
    ----------
    table : pandas.DataFrame
        Costs of the measure (one entry of :func:`measure_tables`).
    measure : str
        Its key in :data:`MEASURES` (axis and title text).
    r_max : float

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a step line of ``ρ_s`` per solver (log2 ``τ`` axis), best score
        first and thickest (so that equal profiles stay visible); colour, line style
        and marker per solver family (:func:`ml2bench.report.families.solver_styles`);
        the legend, outside the axes on the right, gives each solver's score ``B``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    r_max = _check_r_max(r_max)
    ratios = performance_ratios(table)
    taus = profile_taus(ratios, r_max)
    rho = profile(ratios, taus)
    scores = integrated_score(ratios, r_max)
    fig = Figure(figsize=(8.4, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    styles = solver_styles({solver: solver_name(solver) for solver in ratios.columns})
    ranked = sorted(ratios.columns, key=lambda solver: (
        -np.nan_to_num(scores[solver], nan=-1.0), solver))
    width = {solver: max(1.2, 3.2 - 0.5 * rank) for rank, solver in enumerate(ranked)}
    handles = {}
    for solver in ranked:  # thickest first, so that equal profiles stay visible
        if not np.isfinite(scores[solver]):
            continue
        # colour, line style and marker follow the label and its family; width the rank
        handles[solver], = ax.step(taus, rho[solver], where="post", linewidth=width[solver],
                alpha=0.9, markersize=5, markevery=max(1, len(taus) // 6),
                label=f"{solver} (B = {scores[solver]:.3f})",
                **styles[solver])
    ax.set_xscale("log", base=2)
    ax.set_xlim(1, r_max)
    ax.set_ylim(-0.02, 1.02)
    ticks = [2.0 ** k for k in range(int(np.floor(np.log2(r_max))) + 1)]
    ax.set_xticks(ticks + ([r_max] if r_max not in ticks else []))
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlabel("τ (ratio to the best solver)")
    ax.set_ylabel("ρ(τ): share of problems within τ of the best")
    text = MEASURES.get(measure, (measure, measure))[1]
    dropped = len(table) - len(ratios)
    count = f"{len(ratios)} problem{'' if len(ratios) == 1 else 's'}"
    ax.set_title(f"Profile: {text}, {count}" + (f" ({dropped} unsolved, dropped)"
                                                 if dropped else ""), fontsize="medium")
    ax.grid(True, which="major", alpha=0.3)
    if handles:  # legend in family order (baseline, trust region, multilevel, DD)
        order = [s for s in styles if s in handles]
        fig.legend([handles[s] for s in order], [handles[s].get_label() for s in order],
                   loc="outside right upper", fontsize="small", frameon=False)
    else:
        ax.text(0.5, 0.5, "no problem in the profile", ha="center", transform=ax.transAxes)
    return fig


def write_profiles(tables: dict[str, pd.DataFrame], out_dir: str | Path,
                   r_max: float = R_MAX) -> list[Path]:
    """Write ``profile_<measure>.png`` for every measure into ``out_dir`` (atomically).

    Returns
    -------
    list of pathlib.Path
        The PNG paths, in the order of ``tables``.
    """
    from ml2bench.report.plots import save_figure

    return [save_figure(profile_figure(table, name, r_max), Path(out_dir) / f"profile_{name}.png")
            for name, table in tables.items()]


def profile_notes(tables: dict[str, pd.DataFrame], r_max: float = R_MAX) -> list[str]:
    """One line per measure: how many problems its profile has, and the rules."""
    lines = []
    for name, table in tables.items():
        kept = len(performance_ratios(table))
        dropped = len(table) - kept
        text = MEASURES.get(name, (name, name))[1]
        lines.append(f"{text}: {kept} problem{'' if kept == 1 else 's'}" + (
            f" ({dropped} dropped: no solver reached the target)" if dropped else ""))
    lines.append(f"B = integral of the profile over τ in [1, {r_max:g}] / {r_max - 1:g}. "
                 + PROFILE_RULE)
    return lines

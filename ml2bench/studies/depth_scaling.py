"""Depth scaling: work units to a fixed train loss against the number of ResNet blocks.

The ResNet analogue of mesh independence (issue 10, point 4). A dense ResNet-ODE with
``K`` blocks is forward Euler on ``[0, T]`` with node spacing ``h = T/(K−1)``
(algorithms.md §1); refining ``K`` refines the time grid as refining ``n`` refines the
grid of ``quadratic_poisson1d``. A multilevel method whose cost to a fixed accuracy does
not grow with ``K`` is depth-independent, as RMTR/MG-OPT are mesh-independent on the
Poisson energy (Gratton, Sartenaer & Toint, SIAM J. Optim. 19 (2008); Nash, Optim.
Methods Softw. 14 (2000)).

Protocol
--------
* Problems ``peaks_resnet`` and ``ellipses_resnet`` (version 2, level-consistent) with
  ``K ∈ {17, 33, 65, 129, 257}`` (``quick``: ``{17, 33, 65}``) and ``L`` levels such that
  the coarsest level has 5 blocks, ``K = 4·2^{L−1} + 1`` (:func:`levels_for`).
  ``quick``: 500 points generated, 400 for training (both problems), full batch.
* Regulariser weight ``α`` (the problem parameter ``reg``) on a second axis: the published
  ``α₁ = 5e-6`` (Meganet's peaks example) and a matched ``α₂`` whose largest curvature of
  the time-derivative term on ``K = 17`` equals the largest Hessian eigenvalue of the
  *data* loss at the initial point (:func:`matched_alpha`). The block term
  ``α R(θ) = (α/2h) Σ_k ‖θ_{k+1} − θ_k‖²`` has Hessian ``(α/h)·(L_K ⊗ I)`` with ``L_K`` the
  path-graph Laplacian, whose largest eigenvalue is ``2 + 2cos(π/K) ≈ 4``, so

  .. math::

      λ_{\\max}(α ∇²R) = \\frac{α}{h}\\,\\bigl(2 + 2\\cos(π/K)\\bigr) ≈ \\frac{4α}{h}
      = \\frac{4α (K − 1)}{T},

  which grows linearly with ``K`` in the oscillatory-in-time directions. ``α₂`` is set
  so that this equals ``hess_max`` (Lanczos, :func:`ml2bench.flatness.hess_max`, of the
  cross-entropy on the training set, seed 0, ``K = 17``), rounded to two digits; on
  ``K = 33, 65, …`` the regulariser's curvature is then 2, 4, … times the data's.
  ``reg`` scales the whole regulariser, so ``α₂`` also puts a weight decay
  ``(α₂/2)‖θ_shared‖²`` on the opening layer and classifier.
* Solvers, full batch, default hyperparameters (no tuning, never weakened): ``tr`` with
  the ``lsr1`` and ``cauchy`` subproblems, ``lbfgs``, ``adam``, ``nested``, ``mgopt``, and
  ``rmtr`` (``subproblem=lsr1``) with each coarse region ``ball``, ``prolongated``,
  ``box``. Full batch: the problem's ``batch_size`` is set to the training-set size,
  which ``adam``, ``nested`` and ``mgopt`` use; ``tr``, ``rmtr`` and ``lbfgs`` are
  full-batch by default.
* Stopping and the target. The runner stops at a *test-metric* target and has no
  train-loss criterion (:mod:`ml2bench.runner.stopping`), so every run is made with a
  fixed work-unit budget and ``stop_at_target=False``; the WU to the train-loss target
  ``f*`` are read from the recorded rows — the ``work_units`` of the first evaluated
  row with ``train_loss ≤ f*`` (:func:`wu_to_target`), censored at the budget if no row
  reaches it. ``f*`` is fixed per problem and ``α`` by one rule: the train loss (data
  term plus ``α R``) ``adam`` has reached after ``target_wu`` WU on ``K = 17``, seed 0
  (``quick``: 30 of a 90-WU budget, rows every 1.5 WU; ``full``: 60 of 200, every 2 WU).
  A WU to ``f*`` is resolved to one step or one row spacing, whichever is longer
  (``lbfgs`` ≈ 5–6 WU a step, an ``rmtr`` cycle 3–13 WU).
* Exponent: per solver and seed, the least-squares slope ``p`` of ``log WU`` on
  ``log K`` (:func:`fit_exponent`), i.e. ``WU ≈ c·K^p``. A censored point enters at the
  budget, a lower bound on its WU: if every censored depth is deeper than every reached
  one, ``p`` is a lower bound (``≥``); other censoring patterns are flagged ``mixed``;
  all censored gives ``nan``. Reported: the median over seeds and the spread (min–max).
* Headline (the last line): ``depth_exponent_tr`` and ``depth_exponent_rmtr`` are the
  medians over problems, ``α`` and seeds of ``p`` for ``tr[subproblem=lsr1]`` and for
  ``rmtr[subproblem=lsr1]`` with its default region (``prolongated``);
  ``wu_ratio_tr_over_rmtr_at_max_depth`` is the geometric mean over problems and ``α``
  of the seed-median WU ratio at the largest ``K`` (a censored side enters at its
  budget).

Reading the exponents: WU are priced per level (one WU = one finest forward+backward
over the training set), so a fixed amount of work on a fixed-size level becomes cheaper
in WU as ``K`` grows. ``nested`` spends ``coarse_steps = 50`` inner steps on the 5-block
coarsest level first; when ``f*`` is reached there or soon after, its WU fall like
``1/K`` (``p ≈ −1``) without any faster convergence. The same holds, less strongly, for
the coarse-level share of ``rmtr`` and ``mgopt`` cycles.

Outputs: the table (case × solver × K median WU, the exponent), RMTR's per-level
diagnostics at the largest ``K`` (share of the WU per level, cycles reaching the level,
decrease and coarse acceptance, as in ``benchmarks/multilevel_speedup.py``), the figure
``depth_scaling.png`` (WU against K, log-log, one panel per problem × α).

References
----------
E. Haber and L. Ruthotto, Inverse Problems 34 (2018) 014004; A. Kopaničáková and
R. Krause, SISC 45(3) (2023); S. Gratton, A. Sartenaer and Ph. L. Toint, SIAM J. Optim.
19 (2008); S. G. Nash, Optim. Methods Softw. 14 (2000).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ml2bench.models import ode_time

#: Solver keys of the study and their labels (full batch, default hyperparameters).
SOLVERS = {
    "tr_lsr1": "tr[subproblem=lsr1]",
    "tr_cauchy": "tr[subproblem=cauchy]",
    "lbfgs": "lbfgs",
    "adam": "adam",
    "nested": "nested",
    "mgopt": "mgopt",
    "rmtr_ball": "rmtr[subproblem=lsr1,region=ball]",
    "rmtr_prolongated": "rmtr[subproblem=lsr1,region=prolongated]",
    "rmtr_box": "rmtr[subproblem=lsr1,region=box]",
}
#: The solvers the last line compares (``tr`` and ``rmtr`` with their default options).
HEADLINE = {"tr": "tr_lsr1", "rmtr": "rmtr_prolongated"}
PROBLEMS = ("peaks_resnet", "ellipses_resnet")
#: Meganet's peaks value of the time-derivative regulariser weight.
ALPHA_PUBLISHED = 5e-6
#: Final time of the ODE of both problems.
T_FINAL = 5.0
#: Blocks on the coarsest level of every hierarchy.
COARSEST_BLOCKS = 5


@dataclass(frozen=True)
class Scale:
    """Sizes of one scale of the study.

    Parameters
    ----------
    depths : tuple of int
        Finest-level block counts ``K``.
    seeds : int
        Seeds per configuration.
    budget : float
        Work-unit budget of every run.
    target_wu : float
        ``f*`` is the train loss ``adam`` reaches after this many WU on the smallest ``K``.
    data : dict
        Problem-parameter overrides per problem (data sizes).
    quick : bool
        Whether the labels carry ``quick=true``.
    checkpoint_every : float
        WU between evaluated rows (the resolution of the WU to ``f*``; a step longer
        than this is evaluated after every step).
    """

    depths: tuple[int, ...]
    seeds: int
    budget: float
    target_wu: float
    data: dict = field(default_factory=dict)
    quick: bool = False
    checkpoint_every: float = 1.0


SCALES = {
    "quick": Scale(depths=(17, 33, 65), seeds=2, budget=90.0, target_wu=30.0, quick=True,
                   data={"peaks_resnet": {"num_points": 500, "train_size": 400},
                         "ellipses_resnet": {"num_points": 500}}, checkpoint_every=1.5),
    "full": Scale(depths=(17, 33, 65, 129, 257), seeds=2, budget=200.0, target_wu=60.0,
                  checkpoint_every=2.0),
}


def levels_for(blocks: int, coarsest: int = COARSEST_BLOCKS) -> int:
    """Number of vertex-centred levels from ``blocks`` down to ``coarsest`` blocks.

    Coarsening maps ``K_l`` to ``K_{l+1} = (K_l + 1)/2`` (algorithms.md §1), so
    ``K = (coarsest − 1)·2^{L−1} + 1`` and ``L = log₂((K − 1)/(coarsest − 1)) + 1``.

    Parameters
    ----------
    blocks : int
        Finest block count ``K``.
    coarsest : int
        Block count of the coarsest level.

    Returns
    -------
    int
        ``L`` (17 → 3, 33 → 4, 65 → 5, 129 → 6, 257 → 7).

    Raises
    ------
    ValueError
        If ``K`` is not of the form ``(coarsest − 1)·2^j + 1``.
    """
    ratio = (blocks - 1) / (coarsest - 1)
    levels = round(math.log2(ratio)) + 1 if ratio >= 1 else 0
    if levels < 1 or (coarsest - 1) * 2 ** (levels - 1) + 1 != blocks:
        raise ValueError(f"{blocks} blocks do not coarsen to {coarsest} by K → (K+1)/2")
    return levels


def regulariser_curvature(alpha: float, blocks: int, T: float = T_FINAL) -> float:
    """Largest eigenvalue of the Hessian of ``α·R`` (time-derivative block term).

    ``α R = (α/2h) Σ_{k=0}^{K−2} ‖θ_{k+1} − θ_k‖²`` has Hessian ``(α/h) L_K ⊗ I`` with
    ``L_K`` the Laplacian of the path on ``K`` nodes, ``λ_max(L_K) = 2 + 2cos(π/K)``.

    Parameters
    ----------
    alpha : float
        Regulariser weight ``α``.
    blocks : int
        Block count ``K``.
    T : float
        Final time.

    Returns
    -------
    float
        ``α (2 + 2cos(π/K)) / h`` (≈ ``4α/h``).
    """
    h = ode_time.node_spacing(T, blocks, "vertex")
    return alpha * (2.0 + 2.0 * math.cos(math.pi / blocks)) / h


def matched_alpha(hess_max: float, blocks: int, T: float = T_FINAL) -> float:
    """The ``α`` whose regulariser curvature on ``blocks`` equals ``hess_max``.

    Solves ``regulariser_curvature(α, K) = hess_max`` and rounds to two significant
    digits.

    Parameters
    ----------
    hess_max : float
        Largest Hessian eigenvalue of the data loss.
    blocks : int
        Block count ``K`` where they are matched.
    T : float
        Final time.

    Returns
    -------
    float
        ``α₂ = hess_max · h / (2 + 2cos(π/K))``, two significant digits.
    """
    value = hess_max / regulariser_curvature(1.0, blocks, T)
    return float(f"{value:.2g}")


def problem_label(name: str, blocks: int, alpha: float, scale: Scale,
                  batch_size: int | None = None) -> str:
    """Label of ``name`` with ``K`` blocks, its level count, ``reg = α`` and the scale's data.

    Parameters
    ----------
    name : str
        ``peaks_resnet`` or ``ellipses_resnet``.
    blocks : int
        Finest block count ``K``.
    alpha : float
        Regulariser weight (the problem parameter ``reg``).
    scale : Scale
        Supplies ``quick`` and the data-size overrides.
    batch_size : int or None
        The problem's batch size (the training-set size for full batch); None: omitted.

    Returns
    -------
    str
        E.g. ``peaks_resnet[quick=true,num_points=500,train_size=400,blocks=33,levels=4,
        reg=5e-06,batch_size=400]``.
    """
    params = {"quick": "true"} if scale.quick else {}
    params.update(scale.data.get(name, {}))
    params.update(blocks=blocks, levels=levels_for(blocks), reg=f"{alpha:.3g}")
    if batch_size is not None:
        params["batch_size"] = batch_size
    return f"{name}[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]"


def measure_hess_max(label: str, seed: int = 0) -> float:
    """``λ_max`` of the data-loss Hessian at the initial point of ``label``.

    Lanczos with full reorthogonalisation (:func:`ml2bench.flatness.hess_max`, relative
    tolerance 1e-3, at most 60 products) on the cross-entropy over the whole training
    set, without the regulariser.

    Parameters
    ----------
    label : str
        Problem label.
    seed : int
        Seed of the task (initial point and data).

    Returns
    -------
    float
        The largest algebraic eigenvalue.
    """
    from ml2bench.flatness import hess_max
    from ml2bench.flatness.hvp import HessianOperator
    from ml2bench.problems.registry import make_task

    task = make_task(label, seed)
    op = HessianOperator(task.model, task.data_loss, [task.train])
    result = hess_max(op, tol=1e-3, max_iter=60, generator=torch.Generator().manual_seed(seed))
    return float(result.values[0])


def wu_to_target(work_units: Sequence[float], train_loss: Sequence[float],
                 target: float) -> tuple[float, bool]:
    """Work units of the first row whose train loss is at most ``target``.

    Parameters
    ----------
    work_units, train_loss : sequence of float
        The evaluated rows of one run, in order.
    target : float
        The train-loss target ``f*``.

    Returns
    -------
    (float, bool)
        ``(WU, True)`` at the first row with ``train_loss ≤ f*``; ``(final WU, False)``
        (censored: a lower bound) if none.
    """
    for wu, loss in zip(work_units, train_loss):
        if loss <= target:
            return float(wu), True
    return float(work_units[-1]), False


def fit_exponent(depths: Sequence[int], wu: Sequence[float],
                 reached: Sequence[bool]) -> tuple[float, str]:
    """Least-squares slope ``p`` of ``log WU = log c + p log K``.

    .. math::

        p = \\frac{\\sum_i (x_i − \\bar x)(y_i − \\bar y)}{\\sum_i (x_i − \\bar x)^2},
        \\quad x_i = \\log K_i,\\ y_i = \\log \\mathrm{WU}_i .

    Censored points enter with their budget, a lower bound on their WU.

    Parameters
    ----------
    depths : sequence of int
        ``K_i``.
    wu : sequence of float
        WU to the target (or the budget where censored).
    reached : sequence of bool
        Whether each point reached the target.

    Returns
    -------
    (float, str)
        ``p`` and its flag: ``""`` (all reached: the fit), ``"≥"`` (every censored depth
        deeper than every reached one: ``p`` is a lower bound), ``"mixed"`` (other
        censoring: neither bound) or ``"none"`` with ``p = nan`` (all censored).
    """
    if not any(reached):
        return math.nan, "none"
    x = np.log(np.asarray(depths, dtype=float))
    y = np.log(np.asarray(wu, dtype=float))
    xc = x - x.mean()
    p = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
    if all(reached):
        return p, ""
    deepest_reached = max(k for k, r in zip(depths, reached) if r)
    shallowest_censored = min(k for k, r in zip(depths, reached) if not r)
    return p, "≥" if shallowest_censored > deepest_reached else "mixed"


def combine(values: Sequence[float], flags: Sequence[str]) -> tuple[float, float, float, str]:
    """Median and min–max spread of exponents, with the weakest flag among them.

    Parameters
    ----------
    values : sequence of float
        Exponents (``nan`` for all-censored fits, left out).
    flags : sequence of str
        Their flags from :func:`fit_exponent`.

    Returns
    -------
    (float, float, float, str)
        ``(median, min, max, flag)``; flag ``"≥"`` if any fit is a lower bound (and none
        mixed), ``"mixed"`` if any is mixed, ``"none"`` if no finite fit.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, math.nan, "none"
    kept = [f for v, f in zip(values, flags) if math.isfinite(v)]
    flag = "mixed" if "mixed" in kept else ("≥" if "≥" in kept else "")
    return statistics.median(finite), min(finite), max(finite), flag


def final_line(exponent_tr: float, exponent_rmtr: float, ratio: float) -> str:
    """The study's last line.

    Parameters
    ----------
    exponent_tr, exponent_rmtr : float
        ``depth_exponent_tr`` and ``depth_exponent_rmtr``.
    ratio : float
        ``wu_ratio_tr_over_rmtr_at_max_depth``.

    Returns
    -------
    str
        ``depth_exponent_tr=<p> depth_exponent_rmtr=<p> wu_ratio_tr_over_rmtr_at_max_depth=<r>``
        (three significant digits).
    """
    return (f"depth_exponent_tr={exponent_tr:.3g} depth_exponent_rmtr={exponent_rmtr:.3g} "
            f"wu_ratio_tr_over_rmtr_at_max_depth={ratio:.3g}")


def _fmt(value: float, flag: str = "") -> str:
    if not math.isfinite(value):
        return "—"
    mark = "≥" if flag in ("≥", "censored") else ("~" if flag == "mixed" else "")
    return f"{mark}{0.0 if abs(value) < 1e-9 else value:.3g}"


def _case_name(problem: str, alpha: float) -> str:
    return f"{problem}@α={alpha:.2g}"


def _train_size(name: str, scale: Scale) -> int:
    from ml2bench.problems.registry import make_task

    return make_task(problem_label(name, scale.depths[0], ALPHA_PUBLISHED, scale), 0).num_train


def _runs_by_id(out: Path):
    from ml2bench.runner.store import ResultsStore

    frame = ResultsStore(out).load_runs()
    return {run_id: rows.sort_values("step") for run_id, rows in frame.groupby("run_id")}


def _sweep(specs, out: Path, jobs: int) -> dict:
    """Run ``specs`` (cached) and return ``{spec: rows}``."""
    from ml2bench.runner.sweep import prepare_all, run_sweep

    report = run_sweep(specs, str(out), jobs=jobs, progress=False)
    if report.failed:
        print(f"depth_scaling: failed runs: {report.failed}", file=sys.stderr)
    runs = _runs_by_id(out)
    return {spec: runs.get(prepare_all([spec])[0].run_id) for spec in specs}


def _spec(problem: str, solver: str, seed: int, scale: Scale):
    from ml2bench.runner.spec import RunSpec

    return RunSpec(problem=problem, solver=solver, seed=seed, budget=scale.budget,
                   checkpoint_every=scale.checkpoint_every, stop_at_target=False,
                   threads=1)


def choose_alphas(scale: Scale) -> dict:
    """Per problem: ``hess_max`` at ``K = 17`` (seed 0, initial point) and ``[α₁, α₂]``.

    Parameters
    ----------
    scale : Scale
        The data sizes of the study.

    Returns
    -------
    dict
        ``{problem: {"hess_max": λ, "alphas": [5e-6, α₂], "curvature": {K: [c(α₁), c(α₂)]}}}``
        with ``c(α)`` from :func:`regulariser_curvature`.
    """
    chosen = {}
    k0 = scale.depths[0]
    for name in PROBLEMS:
        top = measure_hess_max(problem_label(name, k0, ALPHA_PUBLISHED, scale))
        alphas = [ALPHA_PUBLISHED, matched_alpha(top, k0)]
        chosen[name] = {"hess_max": top, "alphas": alphas,
                        "curvature": {k: [regulariser_curvature(a, k) for a in alphas]
                                      for k in scale.depths}}
    return chosen


def level_diagnostics(cases: dict, scale: Scale, results: dict) -> list[dict]:
    """RMTR per-level diagnostics at the deepest ``K``, seed 0, to the target (or budget).

    Reruns each ``rmtr`` configuration with :func:`ml2bench.testing.bind` (the runner's
    iterates) up to the WU at which its run reached ``f*``, and records per level the
    share of the WU, the fraction of cycles that reached it, the smoothing decrease,
    the decrease its coarse corrections brought to the finer level and their
    acceptance.

    Parameters
    ----------
    cases : dict
        ``{case: {"problem": name, "alpha": α, "labels": {K: label}}}``.
    scale : Scale
        The study's scale.
    results : dict
        ``{case: {solver_key: {K: [(wu, reached), …]}}}``.

    Returns
    -------
    list of dict
        One row per case, region and level.
    """
    from ml2bench.studies.level_replay import replay_levels

    rows = []
    kmax = scale.depths[-1]
    for case, info in cases.items():
        for key in (k for k in SOLVERS if k.startswith("rmtr")):
            wu, _ = results[case][key][kmax][0]
            for level in replay_levels(info["labels"][kmax], SOLVERS[key], wu):
                rows.append({"case": case, "solver": key, "level": level["level"],
                             "blocks": level["blocks"], "wu_share": level["wu_share"],
                             "cycles_reached": level["cycles_reached"],
                             "smooth_decrease": level["smooth_decrease"],
                             "correction_decrease": level["correction_decrease"],
                             "coarse_accepted": (f"{level['accepted']:.0f}/{level['tried']}"
                                                 if level["level"] else "—"),
                             "cycles": level["cycles"]})
    return rows


def plot(path: Path, cases: dict, depths: Sequence[int], results: dict, budget: float) -> Path:
    """WU to ``f*`` against ``K``, log-log, one panel per problem × α.

    Seed medians; a censored median is drawn at the budget with an open marker.

    Parameters
    ----------
    path : Path
        PNG file written.
    cases : dict
        ``{case: {"problem": …, "alpha": …, "alpha_index": 0 or 1, "target": …}}``;
        the columns are ``alpha_index`` (α₂ differs between problems).
    depths : sequence of int
        ``K`` values.
    results : dict
        ``{case: {solver_key: {K: [(wu, reached), …]}}}``.
    budget : float
        The runs' WU budget (drawn as a dashed line).

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import LogLocator, ScalarFormatter

    problems = sorted({c["problem"] for c in cases.values()}, key=PROBLEMS.index)
    columns = sorted({c["alpha_index"] for c in cases.values()})
    fig, axes = plt.subplots(len(problems), len(columns), figsize=(5.2 * len(columns),
                             4.0 * len(problems)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for case, info in cases.items():
        ax = axes[problems.index(info["problem"])][columns.index(info["alpha_index"])]
        for index, key in enumerate(SOLVERS):
            meds = [_median_point(results[case][key][k]) for k in depths]
            ys = [w for w, _ in meds]
            ax.plot(depths, ys, "-", color=colours(index), label=key, lw=1.2)
            for k, (w, ok) in zip(depths, meds):
                ax.plot([k], [w], "o", color=colours(index),
                        mfc=colours(index) if ok else "white", ms=5)
        ax.axhline(budget, color="grey", ls="--", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xticks(list(depths), [str(k) for k in depths])
        ax.set_xlabel("blocks K")
        ax.set_ylabel("WU to train loss ≤ f*")
        which = "published" if info["alpha_index"] == 0 else "curvature-matched"
        ax.set_title(f"{info['problem']}, α={info['alpha']:.2g} ({which}), "
                     f"f*={info['target']:.3g}",
                     fontsize=9)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _median_point(points: Sequence[tuple[float, bool]]) -> tuple[float, bool]:
    """Seed median of WU to ``f*``, a censored point counting as ∞ (drawn at its budget)."""
    ordered = sorted(points, key=lambda p: p[0] if p[1] else math.inf)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    a, b = ordered[n // 2 - 1], ordered[n // 2]
    if a[1] and b[1]:
        return (a[0] + b[0]) / 2, True
    return b[0], False


def run_study(scale: str, out: Path, seeds: int | None = None, jobs: int = 1) -> dict:
    """Run the depth-scaling study and print its table, diagnostics and last line.

    Parameters
    ----------
    scale : {"quick", "full"}
        ``quick``: ``K = 17, 33, 65``, 400 training points, 90 WU; ``full``: ``K`` up to
        257, the problems' default data, 200 WU (see :data:`SCALES`).
    out : Path
        Results folder (runs are cached there; the figure is written there).
    seeds : int or None
        Seeds per configuration (None: the scale's, 2).
    jobs : int
        Parallel runs.

    Returns
    -------
    dict
        ``exponents`` ``{solver_key: p}`` (median over problems, α and seeds),
        ``exponent_spread`` ``{solver_key: (min, max)}``, ``exponent_flags``,
        ``wu`` ``{solver_key: {K: WU}}`` (geometric mean over problems and α of the seed
        medians; ∞ if any is censored), ``alpha`` (the α values per problem),
        ``hess_max``, ``targets``, ``cases`` (per case: exponents, flags, WU table),
        ``depth_exponent_tr``, ``depth_exponent_rmtr``,
        ``wu_ratio_tr_over_rmtr_at_max_depth``, ``diagnostics``, ``figure``,
        ``final_line``, ``wall_s``.
    """
    start = time.perf_counter()
    config = SCALES[scale]
    n_seeds = config.seeds if seeds is None else seeds
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    alphas = choose_alphas(config)
    k0 = config.depths[0]
    cases = {}
    for name in PROBLEMS:
        n_train = _train_size(name, config)
        for index, alpha in enumerate(alphas[name]["alphas"]):
            cases[_case_name(name, alpha)] = {
                "problem": name, "alpha": alpha, "alpha_index": index,
                "labels": {k: problem_label(name, k, alpha, config, n_train)
                           for k in config.depths}}
    # the target rule: adam's train loss after target_wu WU on the smallest K, seed 0
    adam = {case: _spec(info["labels"][k0], SOLVERS["adam"], 0, config)
            for case, info in cases.items()}
    rows = _sweep(list(adam.values()), out, jobs)
    for case, spec in adam.items():
        frame = rows[spec]
        hit = frame[frame["work_units"] >= config.target_wu]
        cases[case]["target"] = float(hit["train_loss"].iloc[0] if len(hit)
                                      else frame["train_loss"].iloc[-1])

    specs = {(case, key, k, seed): _spec(info["labels"][k], label, seed, config)
             for case, info in cases.items() for key, label in SOLVERS.items()
             for k in config.depths for seed in range(n_seeds)}
    rows = _sweep(list(specs.values()), out, jobs)
    results = {case: {key: {k: [] for k in config.depths} for key in SOLVERS} for case in cases}
    for (case, key, k, seed), spec in specs.items():
        frame = rows[spec]
        if frame is None or frame["status"].iloc[-1] == "failed":
            results[case][key][k].append((config.budget, False))
            continue
        results[case][key][k].append(
            wu_to_target(frame["work_units"].tolist(), frame["train_loss"].tolist(),
                         cases[case]["target"]))

    # exponents per case and pooled
    per_case, pooled = {}, {key: ([], []) for key in SOLVERS}
    for case in cases:
        per_case[case] = {}
        for key in SOLVERS:
            fits = []
            for seed in range(n_seeds):
                pts = [results[case][key][k][seed] for k in config.depths]
                fits.append(fit_exponent(config.depths, [w for w, _ in pts],
                                         [r for _, r in pts]))
            per_case[case][key] = combine([p for p, _ in fits], [f for _, f in fits])
            pooled[key][0].extend(p for p, _ in fits)
            pooled[key][1].extend(f for _, f in fits)
    summary = {key: combine(*pooled[key]) for key in SOLVERS}

    wu = {}
    for key in SOLVERS:
        wu[key] = {}
        for k in config.depths:
            meds = [_median_point(results[case][key][k]) for case in cases]
            wu[key][k] = (math.exp(statistics.fmean(math.log(w) for w, _ in meds))
                          if all(ok for _, ok in meds) else math.inf)

    kmax = config.depths[-1]
    logs, ratio_notes = [], []
    for case in cases:
        a = _median_point(results[case][HEADLINE["tr"]][kmax])
        b = _median_point(results[case][HEADLINE["rmtr"]][kmax])
        if not a[1] and not b[1]:
            ratio_notes.append(f"{case}: neither reaches f* (left out)")
            continue
        mark = "≥" if not a[1] else ("≤" if not b[1] else "")
        ratio_notes.append(f"{case}: {mark}{a[0] / b[0]:.3g}")
        logs.append(math.log(a[0] / b[0]))
    ratio = math.exp(statistics.fmean(logs)) if logs else math.nan

    _print_tables(config, alphas, cases, results, per_case, summary, n_seeds)
    diagnostics = level_diagnostics(cases, config, results)
    _print_diagnostics(diagnostics)
    figure = plot(out / "depth_scaling.png", cases, config.depths, results, config.budget)
    print("\nWU(tr)/WU(rmtr) at K = %d per case (≥/≤: censored side at its budget): %s"
          % (kmax, "; ".join(ratio_notes)))
    print(f"figure: {figure}")
    line = final_line(summary[HEADLINE["tr"]][0], summary[HEADLINE["rmtr"]][0], ratio)
    wall = time.perf_counter() - start
    print(f"depth_scaling: total wall time {wall:.0f} s", file=sys.stderr)
    print(line)
    return {
        "exponents": {key: s[0] for key, s in summary.items()},
        "exponent_spread": {key: (s[1], s[2]) for key, s in summary.items()},
        "exponent_flags": {key: s[3] for key, s in summary.items()},
        "wu": wu,
        "alpha": sorted({a for info in alphas.values() for a in info["alphas"]}),
        "alpha_by_problem": {name: info["alphas"] for name, info in alphas.items()},
        "hess_max": {name: info["hess_max"] for name, info in alphas.items()},
        "targets": {case: info["target"] for case, info in cases.items()},
        "cases": {case: {"exponents": {key: v[0] for key, v in per_case[case].items()},
                         "flags": {key: v[3] for key, v in per_case[case].items()},
                         "wu": {key: {k: _median_point(results[case][key][k])
                                      for k in config.depths} for key in SOLVERS}}
                  for case in cases},
        "depth_exponent_tr": summary[HEADLINE["tr"]][0],
        "depth_exponent_rmtr": summary[HEADLINE["rmtr"]][0],
        "wu_ratio_tr_over_rmtr_at_max_depth": ratio,
        "diagnostics": diagnostics,
        "figure": str(figure),
        "final_line": line,
        "wall_s": wall,
    }


def _print_tables(config, alphas, cases, results, per_case, summary, n_seeds) -> None:
    k0 = config.depths[0]
    print(f"depth_scaling: K = {', '.join(map(str, config.depths))}, {n_seeds} seeds, "
          f"budget {config.budget:g} WU, full batch, torch threads = 1")
    for name, info in alphas.items():
        curv = "; ".join(f"K={k}: {c[0]:.3g} / {c[1]:.3g}" for k, c in info["curvature"].items())
        print(f"{name}: hess_max(data, K={k0}, seed 0, x0) = {info['hess_max']:.4g}; "
              f"α = {info['alphas'][0]:.2g} / {info['alphas'][1]:.2g}; "
              f"λmax(α∇²R) α₁ / α₂: {curv}")
    for case, info in cases.items():
        print(f"\n{case}: f* = {info['target']:.4g} (adam at {config.target_wu:g} WU, K={k0}, "
              f"seed 0); median WU to f* over seeds (≥: censored), reached/seeds, exponent p "
              f"median [min, max]")
        head = " ".join(f"{'K=' + str(k):>12s}" for k in config.depths)
        print(f"  {'solver':17s} {head} {'p':>8s} {'spread':>16s}")
        for key in SOLVERS:
            cells = []
            for k in config.depths:
                w, ok = _median_point(results[case][key][k])
                hits = sum(r for _, r in results[case][key][k])
                cells.append(f"{_fmt(w, '' if ok else 'censored')} ({hits}/{n_seeds})")
            p, lo, hi, flag = per_case[case][key]
            print(f"  {key:17s} " + " ".join(f"{c:>12s}" for c in cells)
                  + f" {_fmt(p, flag):>8s} {'[' + _fmt(lo) + ', ' + _fmt(hi) + ']':>16s}")
    print("\nexponent p over problems × α × seeds: median [min, max] (≥: lower bound from "
          "censored deep runs; ~: mixed censoring; —: never reached)")
    for key, (p, lo, hi, flag) in summary.items():
        print(f"  {key:17s} p = {_fmt(p, flag):>7s}  [{_fmt(lo)}, {_fmt(hi)}]")


def _print_diagnostics(rows: list[dict]) -> None:
    print("\nRMTR per-level diagnostics (deepest K, seed 0, run to f* or the budget):")
    print(f"  {'case':28s} {'region':17s} {'lvl':>3s} {'K_l':>4s} {'WU share':>8s} "
          f"{'cycles here':>11s} {'smooth decr.':>12s} {'corr. decr.':>11s} {'coarse acc.':>11s}")
    for r in rows:
        print(f"  {r['case']:28s} {r['solver']:17s} {r['level']:3d} {r['blocks']:4d} "
              f"{r['wu_share']:8.2f} {r['cycles_reached']:11.2f} {r['smooth_decrease']:12.3g} "
              f"{r['correction_decrease']:11.3g} {r['coarse_accepted']:>11s}")

r"""Depth scaling, version 2: a regime map of where multilevel training pays.

The ResNet analogue of mesh independence. A dense ResNet-ODE with ``K`` blocks is
forward Euler on ``[0, T]`` with node spacing ``h = T/(K−1)`` (algorithms.md §1);
refining ``K`` refines the time grid as refining ``n`` refines the grid of
``quadratic_poisson1d``. A multilevel method whose cost to a fixed accuracy does not grow
with ``K`` is depth-independent, as RMTR/MG-OPT are mesh-independent on the Poisson
energy (Gratton, Sartenaer & Toint, SIAM J. Optim. 19 (2008); Nash, Optim. Methods Softw.
14 (2000)). Version 1 of this study compared two smoothness weights on two data sets
with two seeds and a one-seed target; version 2 (issue 19) maps the regime.

Protocol
--------
* **Families** ``peaks_resnet``, ``ellipses_resnet`` (version 2) and ``spirals_resnet``
  (two noisy spirals, version 2 from the start), the last held out: no setting of the study (weights,
  budgets, target rule, data sizes) was chosen by looking at it. ``K`` over
  ``{17, 33, 65, 129, 257}`` (``quick``: ``{17, 65}``) with ``L`` levels such that the
  coarsest level has 5 blocks, ``K = 4·2^{L−1} + 1`` (:func:`levels_for`).
* **Two knobs** (problem parameters, :mod:`ml2bench.problems.resnet_toy`): the
  time-smoothness weight ``α`` (``reg``) of Haber & Ruthotto's term
  ``α R(θ) = (α/2h) Σ_k ‖θ_{k+1} − θ_k‖²`` is the map's axis; the weight decay ``λ``
  (``weight_decay``) of the opening layer and classifier is fixed at the published
  ``λ = 5e-6`` (Meganet's peaks example). Version 2 of the problems tied ``λ = α``, so
  a large ``α`` was also a large weight decay, which makes the constant predictor a
  stationary point.
* **The α grid** is fixed, the same for every family (:data:`SCALES`), from the
  published ``5e-6`` to ``0.3``. How it compares to the data: the largest curvature of
  ``α∇²R`` is ``λ_max = (α/h)(2 + 2cos(π/K)) ≈ 4α(K−1)/T``
  (:func:`regulariser_curvature`), and the study prints its ratio to the largest
  Hessian eigenvalue of the data loss at the initial point (``hess_max``, Lanczos,
  :func:`measure_hess_max`) for every family, α and ``K`` — from ≈ 10⁻⁵ (negligible) to
  ≫ 1 (dominant). The ratio is printed, not used to pick anything.
* **Solvers**, full batch, default hyperparameters (no tuning): single-level ``tr``
  (``subproblem=lsr1``), ``lbfgs``, ``adam``; multilevel ``nested``, ``mgopt``, and
  ``rmtr`` (``subproblem=lsr1``) with each coarse region ``ball``, ``prolongated``,
  ``box`` (:mod:`ml2bench.solvers.rmtr_regions`). The problem's ``batch_size`` is the
  training-set size.
* **Runs** are made through the runner (:func:`ml2bench.runner.sweep.run_sweep`, any
  executor: a process pool, or submitit jobs on this machine or SLURM) with a fixed
  work-unit budget and ``stop_at_target=False``; the WU and the wall time (solver clock,
  ``time_s``) to the train-loss target are read from the recorded rows
  (:func:`wu_to_target`), censored at the budget where no row reaches it.
* **Target rule** (over seeds, never one seed): per family and α, ``f*`` is the median
  over the scale's seeds of the train loss (data term plus regulariser) that ``adam``
  has reached after ``target_wu`` WU on the smallest ``K`` (:func:`target_from_seeds`).
* **Trivial stationary points**: the loss of the best constant predictor is the
  entropy of the training labels, ``H = −Σ_c p_c ln p_c`` (``ln C`` for balanced
  classes), computed from each seed's data (:func:`constant_predictor_loss`). A run
  whose final train loss lies within ``TRIVIAL_TOL·H`` of ``H`` is marked trivial; the
  counts are printed per cell and a target within that band is flagged.
* **Statistics.** A cell is (family, α, K). Per solver: the median over seeds of the WU
  (and wall time) to ``f*``, a censored run counting as +∞ (:func:`censored_median`:
  the median is censored when half or more of the runs are). The map's value is
  ``r = min_ML median WU / min_SL median WU`` (best multilevel over best single-level);
  a censored side gives a bound (``<`` or ``>``), both censored "neither". Its 90 %
  confidence interval is the percentile bootstrap over seeds (``B = 1000`` resamples of
  the seeds, the same seeds for every solver, a fixed generator;
  :func:`bootstrap_ratio`). Multilevel *pays* in a cell when the interval lies below 1,
  *does not pay* when it lies above 1, else the cell is undecided. Exponents: per
  family, α, solver and seed the least-squares slope ``p`` of ``log WU`` on ``log K``
  (:func:`fit_exponent`) over seeds that reached ``f*`` at every ``K``; reported as the
  median with a bootstrap 90 % interval over those seeds, and the number of censored
  seeds beside it (a censored seed is not turned into a value).
* **Where multilevel starts to pay** (per family, at the largest ``K``): the smallest
  α of the grid from which on multilevel pays (interval below 1) at every larger α
  (:func:`pays_from`); also without ``nested``.
* **RMTR per-level diagnostics** at the largest ``K``, seed 0, the middle α, up to
  ``target_wu`` WU: the fraction of cycles that reach each level for every region and
  for the Euclidean regions with ``pre_smooth=0`` (:data:`DIAGNOSTIC_SOLVERS`). With
  the published rules (GST 2008; utopia's ``RMTRBase::multiplicative_cycle``,
  ``init_level``: ``Δ_{l+1} = Δ_l``, and ``RMTR::delta_termination``: a level is left
  once ``‖P(z − z₀)‖ > (1 − ε)Δ_l``), a coarse level's pre-smoothing step that ends on
  the Euclidean boundary uses the whole region, so no coarser level is visited; the ℓ∞
  box keeps room in the other coordinates. ``pre_smooth=0`` (recursion before
  smoothing, allowed by GST's free choice of the step type) shows the effect.

Outputs: the tables (per cell and solver: median WU and wall time to ``f*``, reached and
trivial counts), the map summary (ratios with intervals; the cells where multilevel pays,
does not pay, or is undecided), the exponents, the level diagnostics, the figure (one
panel per family: ``log₂ r`` over α × K) and a Markdown summary for the docs
(:func:`write_markdown`); the last line (:func:`final_line`) gives per family the ratio at
the largest ``K`` for every α and the α from which multilevel pays.

References
----------
E. Haber and L. Ruthotto, Inverse Problems 34 (2018) 014004; A. Kopaničáková and
R. Krause, SISC 45(3) (2023); S. Gratton, A. Sartenaer and Ph. L. Toint, SIAM J. Optim.
19 (2008); S. G. Nash, Optim. Methods Softw. 14 (2000); B. Efron and R. J. Tibshirani,
*An Introduction to the Bootstrap*, Chapman & Hall (1993), ch. 13 (percentile interval);
K. J. Lang and M. J. Witbrock, Proc. Connectionist Models Summer School (1988).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ml2bench.models import ode_time

#: Solver keys of the study and their labels (full batch, default hyperparameters).
SOLVERS = {
    "tr": "tr[subproblem=lsr1]",
    "lbfgs": "lbfgs",
    "adam": "adam",
    "nested": "nested",
    "mgopt": "mgopt",
    "rmtr_ball": "rmtr[subproblem=lsr1,region=ball]",
    "rmtr_prolongated": "rmtr[subproblem=lsr1,region=prolongated]",
    "rmtr_box": "rmtr[subproblem=lsr1,region=box]",
}
SINGLE_LEVEL = ("tr", "lbfgs", "adam")
MULTILEVEL = ("nested", "mgopt", "rmtr_ball", "rmtr_prolongated", "rmtr_box")
#: The solver whose loss at ``target_wu`` sets the target (median over seeds).
REFERENCE = "adam"
#: The families of the map; the last is held out (chooses no setting).
FAMILIES = ("peaks_resnet", "ellipses_resnet", "spirals_resnet")
HELD_OUT = "spirals_resnet"
#: Meganet's peaks value of the weight decay of the shared layers (fixed).
WEIGHT_DECAY = 5e-6
#: Final time of the ODE of every family.
T_FINAL = 5.0
#: Blocks on the coarsest level of every hierarchy.
COARSEST_BLOCKS = 5
#: A run whose final train loss is within this fraction of H is at the constant predictor.
TRIVIAL_TOL = 0.01
#: Bootstrap resamples and the two-sided level of the intervals.
BOOTSTRAP = 1000
CONFIDENCE = 0.90
#: RMTR variants of the level diagnostics: the three regions, and the Euclidean ones
#: with recursion before smoothing.
DIAGNOSTIC_SOLVERS = {
    "ball": "rmtr[subproblem=lsr1,region=ball]",
    "prolongated": "rmtr[subproblem=lsr1,region=prolongated]",
    "box": "rmtr[subproblem=lsr1,region=box]",
    "ball, pre_smooth=0": "rmtr[subproblem=lsr1,region=ball,pre_smooth=0]",
    "prolongated, pre_smooth=0": "rmtr[subproblem=lsr1,region=prolongated,pre_smooth=0]",
}


@dataclass(frozen=True)
class Scale:
    """Sizes of one scale of the study.

    Parameters
    ----------
    depths : tuple of int
        Finest-level block counts ``K``.
    alphas : tuple of float
        The smoothness weights ``α`` of the map (increasing).
    seeds : int
        Seeds per configuration.
    budget : float
        Work-unit budget of every run.
    target_wu : float
        ``f*`` is the median over seeds of the train loss ``adam`` reaches after this
        many WU on the smallest ``K``.
    data : dict
        Problem-parameter overrides per family (data sizes).
    quick : bool
        Whether the labels carry ``quick=true``.
    checkpoint_every : float
        WU between evaluated rows (the resolution of the WU to ``f*``).
    """

    depths: tuple[int, ...]
    alphas: tuple[float, ...]
    seeds: int
    budget: float
    target_wu: float
    data: dict = field(default_factory=dict)
    quick: bool = False
    checkpoint_every: float = 1.0


_SMALL_DATA = {"peaks_resnet": {"num_points": 500, "train_size": 400},
               "ellipses_resnet": {"num_points": 500},
               "spirals_resnet": {"num_points": 500, "train_size": 400}}
SCALES = {
    "quick": Scale(depths=(17, 65), alphas=(5e-6, 1e-3, 1e-2, 1e-1), seeds=3, budget=90.0,
                   target_wu=30.0, quick=True, data=_SMALL_DATA, checkpoint_every=1.5),
    "full": Scale(depths=(17, 33, 65, 129, 257), alphas=(5e-6, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1),
                  seeds=5, budget=200.0, target_wu=60.0, checkpoint_every=2.0),
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


def problem_label(name: str, blocks: int, alpha: float, scale: Scale,
                  batch_size: int | None = None) -> str:
    """Label of family ``name`` with ``K`` blocks, its levels, ``reg = α``, ``weight_decay``.

    Parameters
    ----------
    name : str
        One of :data:`FAMILIES`.
    blocks : int
        Finest block count ``K``.
    alpha : float
        Time-smoothness weight (the problem parameter ``reg``).
    scale : Scale
        Supplies ``quick`` and the data-size overrides.
    batch_size : int or None
        The problem's batch size (the training-set size for full batch); None: omitted.

    Returns
    -------
    str
        E.g. ``peaks_resnet[quick=true,num_points=500,train_size=400,blocks=65,levels=5,
        reg=0.01,weight_decay=5e-06,batch_size=400]``.
    """
    params = {"quick": "true"} if scale.quick else {}
    params.update(scale.data.get(name, {}))
    params.update(blocks=blocks, levels=levels_for(blocks), reg=f"{alpha:.3g}",
                  weight_decay=f"{WEIGHT_DECAY:.3g}")
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


def constant_predictor_loss(labels: Sequence[int]) -> float:
    """Cross-entropy of the best constant predictor: the label entropy.

    .. math::

        H = −\\sum_c p_c \\ln p_c, \\qquad p_c = \\#\\{i: y_i = c\\}/N,

    the minimum over constant logits of the mean cross-entropy (attained at softmax =
    ``p``); ``ln C`` for ``C`` balanced classes.

    Parameters
    ----------
    labels : sequence of int
        Training labels.

    Returns
    -------
    float
        ``H``.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def is_trivial(final_loss: float, entropy: float, tol: float = TRIVIAL_TOL) -> bool:
    """Whether a run ended at the constant predictor: ``|f_final − H| ≤ tol·H``."""
    return math.isfinite(final_loss) and abs(final_loss - entropy) <= tol * entropy


def target_from_seeds(losses: Sequence[float]) -> float:
    """``f*``: the median over seeds of the reference solver's loss at ``target_wu``."""
    return float(statistics.median(losses))


def censored_median(points: Sequence[tuple[float, bool]]) -> tuple[float, bool]:
    """Median over seeds of ``(value, reached)`` pairs, a censored run counting as +∞.

    Returns ``(median, True)`` when it is a reached value; ``(value, False)`` when half
    or more of the runs are censored (``value``: the smallest censored bound at the
    median's rank — a lower bound).
    """
    ordered = sorted(points, key=censored_key)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    a, b = ordered[n // 2 - 1], ordered[n // 2]
    if a[1] and b[1]:
        return (a[0] + b[0]) / 2, True
    return b[0], False


def censored_key(point: tuple[float, bool]) -> float:
    """Sort key of a ``(value, reached)`` pair: its value, +∞ when censored."""
    return point[0] if point[1] else math.inf


def _as_inf(values: np.ndarray, reached: np.ndarray) -> np.ndarray:
    return np.where(reached, values, np.inf)


def _median_inf(matrix: np.ndarray) -> np.ndarray:
    """Row-wise median with +∞ for censored entries (the upper middle for even counts
    when it is +∞, else the mean of the two middle values)."""
    ordered = np.sort(matrix, axis=-1)
    n = ordered.shape[-1]
    if n % 2:
        return ordered[..., n // 2]
    lo, hi = ordered[..., n // 2 - 1], ordered[..., n // 2]
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(hi), np.inf, (lo + hi) / 2)


def best_solvers(runs: dict) -> tuple[str, str]:
    """The multilevel and the single-level solver with the smallest censored median."""
    def key(k):
        w, ok = censored_median(runs[k])
        return (0, w) if ok else (1, w)
    return (min((k for k in MULTILEVEL if k in runs), key=key),
            min((k for k in SINGLE_LEVEL if k in runs), key=key))


def without(runs: dict, solver: str) -> dict:
    """``runs`` without ``solver`` (e.g. the map without ``nested``)."""
    return {k: v for k, v in runs.items() if k != solver}


def cell_ratio(runs: dict, budget: float) -> tuple[float, str]:
    """Best multilevel over best single-level median WU to ``f*`` in one cell.

    Parameters
    ----------
    runs : dict
        ``{solver_key: [(wu, reached), … per seed]}``.
    budget : float
        The runs' budget (a censored side enters at it, as a bound).

    Returns
    -------
    (float, str)
        ``(r, flag)``: flag ``""`` (both reached), ``"<"`` (single-level censored: ``r``
        is an upper bound, multilevel over the budget), ``">"`` (multilevel censored: a
        lower bound) or ``"neither"`` with ``r = nan``.
    """
    ml = min((censored_median(runs[k]) for k in MULTILEVEL if k in runs), key=censored_key)
    sl = min((censored_median(runs[k]) for k in SINGLE_LEVEL if k in runs), key=censored_key)
    if ml[1] and sl[1]:
        return ml[0] / sl[0], ""
    if ml[1]:
        return ml[0] / budget, "<"
    if sl[1]:
        return budget / sl[0], ">"
    return math.nan, "neither"


def bootstrap_ratio(runs: dict, resamples: int = BOOTSTRAP, confidence: float = CONFIDENCE,
                    seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the cell ratio over seeds.

    Each resample draws ``S`` seed indices with replacement (the same for every solver,
    whose runs share data and initial point per seed), takes per solver the median with
    censored runs at +∞, and forms ``min_ML / min_SL`` (``0`` if only the single-level
    side is censored, ``+∞`` if only the multilevel side is). The interval is the
    ``(1 ∓ confidence)/2`` quantiles of the resampled ratios, by the inverted empirical
    CDF (actual resampled values; ±∞ allowed). Resamples where both sides are censored
    are left out; if they are more than half, ``(nan, nan)``.

    Parameters
    ----------
    runs : dict
        ``{solver_key: [(wu, reached), … per seed]}`` with equal seed counts.
    resamples : int
        ``B``.
    confidence : float
        Two-sided level.
    seed : int
        Seed of the resampling generator.

    Returns
    -------
    (float, float)
        ``(low, high)``.
    """
    rng = np.random.default_rng(seed)
    n = len(next(iter(runs.values())))
    idx = rng.integers(0, n, size=(resamples, n))

    def best(keys):
        meds = [_median_inf(_as_inf(np.array([w for w, _ in runs[k]]),
                                    np.array([r for _, r in runs[k]]))[idx])
                for k in keys if k in runs]
        return np.min(np.stack(meds), axis=0)

    ml, sl = best(MULTILEVEL), best(SINGLE_LEVEL)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(np.isinf(sl) & np.isfinite(ml), 0.0, ml / sl)
    ratio = ratio[~np.isnan(ratio)]
    if len(ratio) * 2 < resamples:
        return math.nan, math.nan
    return percentile_interval(ratio, confidence)


def bootstrap_median(values: Sequence[float], resamples: int = BOOTSTRAP,
                     confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of ``values`` (nan, nan if < 2)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    meds = np.median(x[rng.integers(0, len(x), size=(resamples, len(x)))], axis=1)
    return percentile_interval(meds, confidence)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The ``(1 ∓ confidence)/2`` quantiles of bootstrap ``samples`` by the inverted
    empirical CDF (actual sample values; ±∞ allowed)."""
    tail = (1.0 - confidence) / 2
    return (float(np.quantile(samples, tail, method="inverted_cdf")),
            float(np.quantile(samples, 1.0 - tail, method="inverted_cdf")))


def verdict(low: float, high: float) -> str:
    """``pays`` (interval below 1), ``does not pay`` (above 1) or ``undecided``."""
    if high < 1.0:
        return "pays"
    if low > 1.0:
        return "does not pay"
    return "undecided"


def pays_from(alphas: Sequence[float], pays: Sequence[bool]) -> float | None:
    """The smallest α from which on multilevel pays at every larger α of the grid.

    ``pays[i]``: whether the cell at ``alphas[i]`` has the verdict ``pays`` (its bootstrap
    interval lies below 1, :func:`verdict`). None if it does not pay at the largest α.
    """
    found = None
    for alpha, ok in sorted(zip(alphas, pays), key=lambda t: t[0], reverse=True):
        if not ok:
            break
        found = alpha
    return found


def fit_seeds(depths: Sequence[int], per_seed: Sequence[Sequence[tuple[float, bool]]]
              ) -> tuple[float, float, float, int, int]:
    """Exponent over seeds: median of the complete fits and its bootstrap interval.

    Parameters
    ----------
    depths : sequence of int
        ``K`` values.
    per_seed : sequence
        Per seed, the ``(wu, reached)`` at each ``K``.

    Returns
    -------
    (float, float, float, int, int)
        ``(median p, low, high, complete seeds, censored seeds)``; nan without complete
        seeds. A seed censored at some ``K`` is counted, not fitted.
    """
    fits = []
    for points in per_seed:
        if all(r for _, r in points):
            fits.append(fit_exponent(depths, [w for w, _ in points], [True] * len(points))[0])
    if not fits:
        return math.nan, math.nan, math.nan, 0, len(per_seed)
    low, high = bootstrap_median(fits)
    return float(statistics.median(fits)), low, high, len(fits), len(per_seed) - len(fits)


def fmt_ratio(r: float, flag: str) -> str:
    """``0.83``, ``<0.5``, ``>2.1`` or ``—`` (neither reached)."""
    if flag == "neither" or not math.isfinite(r):
        return "—"
    return f"{flag}{r:.2g}" if flag in ("<", ">") else f"{r:.2g}"


def fmt_ci(low: float, high: float) -> str:
    """``[0.61, 0.92]`` (∞ for an unbounded side; ``[—]`` if undetermined)."""
    if math.isnan(low) or math.isnan(high):
        return "[—]"
    f = lambda v: "∞" if math.isinf(v) else f"{v:.2g}"  # noqa: E731
    return f"[{f(low)}, {f(high)}]"


def final_line(families: Sequence[str], kmax: int, alphas: Sequence[float],
               ratios: dict, starts: dict, starts_no_nested: dict | None = None) -> str:
    """The study's last line: per family the ratio at ``K = kmax`` per α and where it pays.

    Returns
    -------
    str
        ``depth_map K=<kmax>: <family> r(α)=5e-06:<r>,…,1e-01:<r> pays_from=<α|none>
        [pays_from_without_nested=<α|none>]; …`` with ``r`` = best multilevel / best
        single-level median WU to ``f*``.
    """
    def alpha_text(a):
        return "none" if a is None else f"{a:.0e}"

    parts = []
    for name in families:
        cells = ",".join(f"{a:.0e}:{fmt_ratio(*ratios[name][a])}" for a in alphas)
        text = f"{name} r(α)={cells} pays_from={alpha_text(starts[name])}"
        if starts_no_nested is not None:
            text += f" pays_from_without_nested={alpha_text(starts_no_nested[name])}"
        parts.append(text)
    return f"depth_map K={kmax}: " + "; ".join(parts)


# -- running -----------------------------------------------------------------------------

def _spec(problem: str, solver: str, seed: int, scale: Scale):
    from ml2bench.runner.spec import RunSpec

    return RunSpec(problem=problem, solver=solver, seed=seed, budget=scale.budget,
                   checkpoint_every=scale.checkpoint_every, stop_at_target=False,
                   threads=1)


def _sweep(specs, out: Path, jobs: int, executor=None) -> dict:
    """Run ``specs`` (cached in ``out``) and return ``{spec: rows or None}``."""
    from ml2bench.runner.store import ResultsStore
    from ml2bench.runner.sweep import prepare_all, run_sweep

    report = run_sweep(specs, str(out), jobs=jobs, progress=False, executor=executor)
    if report.failed:
        print(f"depth_scaling: failed runs: {report.failed}", file=sys.stderr)
    frame = ResultsStore(out).load_runs()
    runs = {rid: rows.sort_values("step") for rid, rows in frame.groupby("run_id")}
    ids = prepare_all(specs, jobs)
    return {spec: runs.get(p.run_id) for spec, p in zip(specs, ids)}


def _train_size(name: str, scale: Scale) -> int:
    from ml2bench.problems.registry import make_task

    return make_task(problem_label(name, scale.depths[0], scale.alphas[0], scale), 0).num_train


def _entropy(name: str, scale: Scale, seed: int) -> float:
    from ml2bench.problems.registry import make_task

    task = make_task(problem_label(name, scale.depths[0], scale.alphas[0], scale), seed)
    return constant_predictor_loss(task.train[1].tolist())


def plan(scale: Scale, seeds: int, families: Sequence[str] = FAMILIES) -> dict:
    """Labels of every cell: ``{(family, α, K): label}`` and the data facts per family."""
    cells, train = {}, {}
    for name in families:
        train[name] = _train_size(name, scale)
        for alpha in scale.alphas:
            for k in scale.depths:
                cells[(name, alpha, k)] = problem_label(name, k, alpha, scale, train[name])
    return {"cells": cells, "train": train}


def run_specs(scale: Scale, seeds: int, cells: dict) -> dict:
    """``{(family, α, K, solver_key, seed): RunSpec}`` of the map."""
    return {(name, alpha, k, key, seed): _spec(label, SOLVERS[key], seed, scale)
            for (name, alpha, k), label in cells.items() for key in SOLVERS
            for seed in range(seeds)}


def seconds_per_wu(label: str, repeats: int = 3) -> float:
    """Measured seconds of one WU (a full-batch forward + backward of the finest level's
    objective, one thread) on ``label``, seed 0: the best of ``repeats``."""
    from ml2bench.problems.registry import make_task

    task = make_task(label, 0)
    model = task.model
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        loss = task.objective(model, task.train)
        loss.backward()
        best = min(best, time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return best


def overhead_factor(frames: Sequence, s_wu: dict) -> float:
    """Σ(solver + evaluation seconds) / Σ(WU · seconds per WU) over finished runs: the
    cost of a run relative to its WU (solver algebra, evaluations, rows)."""
    num = den = 0.0
    for label, rows in frames:
        if rows is None or label not in s_wu:
            continue
        last = rows.iloc[-1]
        num += float(last["time_s"]) + float(last["eval_time_s"])
        den += float(last["work_units"]) * s_wu[label]
    return num / den if den else math.nan


def measure_factor(scale: Scale, family: str, folder: Path, budget: float = 10.0) -> float:
    """Run cost per WU-second, measured: every solver of the study once (seed 0) on
    ``family`` at the smallest ``K`` and the middle α for ``budget`` WU with the scale's
    row spacing, through the runner into ``folder``; :func:`overhead_factor` of those
    runs, with ``s_WU`` measured in the same process."""
    alpha = scale.alphas[len(scale.alphas) // 2]
    label = problem_label(family, scale.depths[0], alpha, scale, _train_size(family, scale))
    short = replace(scale, budget=budget)
    specs = [_spec(label, solver, 0, short) for solver in SOLVERS.values()]
    frames = _sweep(specs, folder, 1)
    return overhead_factor([(label, frames[spec]) for spec in specs],
                           {label: seconds_per_wu(label)})


def estimate_cost(scale: Scale, seeds: int, families: Sequence[str] = FAMILIES,
                  factor: float | None = None) -> dict:
    """CPU time of a scale: ``Σ_runs budget · s_WU(family, K) · factor``.

    ``s_WU`` is measured per family and ``K`` (:func:`seconds_per_wu`, at the middle α);
    ``factor``, the run cost per WU-second (solver algebra, evaluations, rows), is
    measured by :func:`measure_factor` (short runs of every solver on the first family)
    unless given. Returns ``{"runs", "cpu_hours", "seconds_per_wu": {(family, K): s},
    "factor"}``.
    """
    import tempfile

    if factor is None:
        with tempfile.TemporaryDirectory() as folder:
            factor = measure_factor(scale, families[0], Path(folder))
    alpha = scale.alphas[len(scale.alphas) // 2]
    s_wu, total, runs = {}, 0.0, 0
    for name in families:
        train = _train_size(name, scale)
        for k in scale.depths:
            s_wu[(name, k)] = seconds_per_wu(problem_label(name, k, alpha, scale, train))
            n = len(scale.alphas) * len(SOLVERS) * seeds
            runs += n
            total += n * scale.budget * s_wu[(name, k)] * factor
    return {"runs": runs, "cpu_hours": total / 3600.0, "seconds_per_wu": s_wu,
            "factor": factor}


def level_diagnostics(cells: dict, scale: Scale, families: Sequence[str]) -> list[dict]:
    """Fraction of RMTR cycles visiting each level, largest ``K``, middle α, seed 0.

    Replays (:func:`ml2bench.studies.level_replay.replay_levels`) every variant of
    :data:`DIAGNOSTIC_SOLVERS` up to ``target_wu`` WU.

    Returns
    -------
    list of dict
        ``{"family", "alpha", "variant", "rates": [per level], "cycles"}``.
    """
    from ml2bench.studies.level_replay import replay_levels

    kmax, alpha = scale.depths[-1], scale.alphas[len(scale.alphas) // 2]
    rows = []
    for name in families:
        for variant, solver in DIAGNOSTIC_SOLVERS.items():
            levels = replay_levels(cells[(name, alpha, kmax)], solver, scale.target_wu)
            rows.append({"family": name, "alpha": alpha, "variant": variant,
                         "rates": [lv["cycles_visited"] for lv in levels],
                         "skipped_region": sum(lv["skipped_region"] for lv in levels),
                         "skipped_kappa": sum(lv["skipped_kappa"] for lv in levels),
                         "cycles": levels[0]["cycles"]})
    return rows


def run_study(scale: str, out: Path, seeds: int | None = None, jobs: int = 1, *,
              executor=None, depths: Sequence[int] | None = None,
              alphas: Sequence[float] | None = None,
              families: Sequence[str] | None = None, results: Path | None = None,
              diagnostics: bool = True) -> dict:
    """Run the depth-scaling map and print its tables, summary and last line.

    Parameters
    ----------
    scale : {"quick", "full"}
        :data:`SCALES`.
    out : Path
        Runs folder (cached there).
    seeds : int or None
        Seeds per cell (None: the scale's).
    jobs : int
        Parallel runs.
    executor : Executor, str or None
        Where runs execute (:mod:`ml2bench.runner.executors`; None: the pool).
    depths, alphas, families : sequences or None
        Subsets of the scale's axes (None: all); the output says which were run.
    results : Path or None
        Folder of the figure ``depth_scaling_<scale>.png`` and the Markdown summary
        ``depth_scaling_<scale>.md`` (None: ``out``).
    diagnostics : bool
        Whether to replay the RMTR level diagnostics.

    Returns
    -------
    dict
        ``exponents`` ``{solver_key: p}`` (median over families, α and complete seeds),
        ``wu`` ``{solver_key: {K: WU}}`` (geometric mean over families and α of the
        censored seed medians; ∞ if any is censored), ``map`` ``{family: {α: {K: cell}}}``,
        ``targets``, ``pays_from``, ``diagnostics``, ``figure``, ``markdown``,
        ``final_line``, ``wall_s``.
    """
    start = time.perf_counter()
    config = SCALES[scale]
    config = replace(config, depths=tuple(depths or config.depths),
                     alphas=tuple(sorted(alphas or config.alphas)))
    n_seeds = config.seeds if seeds is None else seeds
    families = tuple(families or FAMILIES)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = Path(results) if results is not None else out
    torch.set_num_threads(1)

    planned = plan(config, n_seeds, families)
    cells = planned["cells"]
    specs = run_specs(config, n_seeds, cells)
    print(f"depth_scaling ({scale}): families {', '.join(families)} (held out: {HELD_OUT}); "
          f"K = {', '.join(map(str, config.depths))}; α = "
          f"{', '.join(f'{a:g}' for a in config.alphas)}; weight decay {WEIGHT_DECAY:g}; "
          f"{n_seeds} seeds; budget {config.budget:g} WU; {len(specs)} runs; full batch, "
          "torch threads = 1")
    frames = _sweep(list(specs.values()), out, jobs, executor)

    k0, kmax = config.depths[0], config.depths[-1]
    entropy = {(name, s): _entropy(name, config, s) for name in families
               for s in range(n_seeds)}
    targets = {}
    for name in families:
        for alpha in config.alphas:
            losses = []
            for s in range(n_seeds):
                rows = frames[specs[(name, alpha, k0, REFERENCE, s)]]
                if rows is None or not len(rows):
                    continue  # a failed reference run: the median over the others
                hit = rows[rows["work_units"] >= config.target_wu]
                losses.append(float(hit["train_loss"].iloc[0] if len(hit)
                                    else rows["train_loss"].iloc[-1]))
            targets[(name, alpha)] = target_from_seeds(losses) if losses else math.nan

    # per run: WU and wall time to f*, reached, trivial
    outcome = {}
    for key, spec in specs.items():
        name, alpha, k, solver, s = key
        rows = frames[spec]
        if rows is None or not len(rows):  # never ran: censored at the budget
            outcome[key] = (config.budget, False, math.nan, False)
            continue
        # a failed run counts up to its last row (reached f* before, or censored there)
        wu, reached = wu_to_target(rows["work_units"].tolist(), rows["train_loss"].tolist(),
                                   targets[(name, alpha)])
        wall = float(rows.loc[rows["work_units"] >= wu, "time_s"].iloc[0]) if reached \
            else float(rows["time_s"].iloc[-1])
        final = rows["train_loss"].dropna()
        trivial = bool(len(final)) and is_trivial(float(final.iloc[-1]), entropy[(name, s)])
        outcome[key] = (wu, reached, wall, trivial)

    def runs_of(name, alpha, k, key):
        return [outcome[(name, alpha, k, key, s)] for s in range(n_seeds)]

    grid = {}
    for name in families:
        grid[name] = {}
        for alpha in config.alphas:
            grid[name][alpha] = {}
            for k in config.depths:
                wu_runs = {key: [(w, r) for w, r, _, _ in runs_of(name, alpha, k, key)]
                           for key in SOLVERS}
                ratio = cell_ratio(wu_runs, config.budget)
                low, high = bootstrap_ratio(wu_runs)
                rest = without(wu_runs, "nested")
                grid[name][alpha][k] = {
                    "ratio": ratio, "ci": (low, high), "best": best_solvers(wu_runs),
                    "ratio_no_nested": cell_ratio(rest, config.budget),
                    "ci_no_nested": bootstrap_ratio(rest),
                    "verdict": "neither reaches f*" if ratio[1] == "neither"
                    else verdict(low, high),
                    "wu": {key: censored_median(v) for key, v in wu_runs.items()},
                    "wall": {key: censored_median([(t, r) for _, r, t, _ in
                                                   runs_of(name, alpha, k, key)])
                             for key in SOLVERS},
                    "reached": {key: sum(r for _, r, _, _ in runs_of(name, alpha, k, key))
                                for key in SOLVERS},
                    "trivial": {key: sum(t for _, _, _, t in runs_of(name, alpha, k, key))
                                for key in SOLVERS}}

    # exponents per family × α × solver, and pooled
    exps, pooled = {}, {key: [] for key in SOLVERS}
    for name in families:
        for alpha in config.alphas:
            for key in SOLVERS:
                per_seed = [[outcome[(name, alpha, k, key, s)][:2] for k in config.depths]
                            for s in range(n_seeds)]
                exps[(name, alpha, key)] = fit_seeds(config.depths, per_seed)
                for points in per_seed:
                    if len(config.depths) > 1 and all(r for _, r in points):
                        pooled[key].append(fit_exponent(config.depths, [w for w, _ in points],
                                                        [True] * len(points))[0])
    exponents = {key: (statistics.median(v) if v else math.nan) for key, v in pooled.items()}
    wu_mean = {}
    for key in SOLVERS:
        wu_mean[key] = {}
        for k in config.depths:
            meds = [grid[n][a][k]["wu"][key] for n in families for a in config.alphas]
            wu_mean[key][k] = (math.exp(statistics.fmean(math.log(w) for w, _ in meds))
                               if all(ok for _, ok in meds) else math.inf)

    ratios_kmax = {n: {a: grid[n][a][kmax]["ratio"] for a in config.alphas} for n in families}
    starts = {n: pays_from(config.alphas, [grid[n][a][kmax]["verdict"] == "pays"
                                           for a in config.alphas]) for n in families}
    starts_rest = {n: pays_from(config.alphas,
                                [verdict(*grid[n][a][kmax]["ci_no_nested"]) == "pays"
                                 for a in config.alphas]) for n in families}

    hess = {name: measure_hess_max(problem_label(name, k0, config.alphas[0], config,
                                                 planned["train"][name]))
            for name in families}
    _print_tables(config, families, n_seeds, grid, targets, entropy, exps, hess)
    summary = _print_summary(config, families, grid, exponents)
    diag = level_diagnostics(cells, config, families) if diagnostics else []
    _print_diagnostics(diag)
    print("\nConclusions:")
    for sentence in conclusions(config, families, n_seeds, grid, diag):
        print(f"  - {sentence}")
    results.mkdir(parents=True, exist_ok=True)
    figure = plot_map(results / f"depth_scaling_{scale}.png", config, families, grid)
    line = final_line(families, kmax, config.alphas, ratios_kmax, starts, starts_rest)
    wall = time.perf_counter() - start
    run_seconds = sum(float(rows["time_s"].iloc[-1]) + float(rows["eval_time_s"].iloc[-1])
                      for rows in frames.values() if rows is not None)
    markdown = write_markdown(results / f"depth_scaling_{scale}.md", scale, config, families,
                              n_seeds, grid, targets, summary, exps, diag, starts, line,
                              figure, len(specs), run_seconds)
    print(f"\nruns: {run_seconds / 60:.1f} min summed over the {len(specs)} runs (solver and "
          f"evaluation clocks, from the store; cached runs included); this invocation "
          f"{wall / 60:.1f} min wall")
    print("full scale: `python benchmarks/depth_scaling.py --estimate` prints its cost, "
          "`--executor local|slurm` runs it")
    print(f"figure: {figure}\nsummary: {markdown}")
    print(f"depth_scaling: total wall time {wall:.0f} s", file=sys.stderr)
    print(line)
    return {"exponents": exponents, "wu": wu_mean, "map": grid,
            "targets": {f"{n}@α={a:g}": t for (n, a), t in targets.items()},
            "pays_from": starts, "diagnostics": diag, "figure": str(figure),
            "markdown": str(markdown), "final_line": line, "wall_s": wall}


def conclusions(config: Scale, families: Sequence[str], n_seeds: int, grid: dict,
                diag: Sequence[dict]) -> list[str]:
    """The study's conclusions as sentences, each naming its families, weights, K range
    and seed count (numbers from this run only).

    Per family: the α where multilevel pays / does not pay at the largest ``K`` (by the
    bootstrap interval). Across families: per α, whether the verdict at the largest
    ``K`` holds on every family or on which ones only. RMTR: the fraction of cycles that
    visit the coarsest level per region.
    """
    kmax, krange = config.depths[-1], f"K = {config.depths[0]}…{config.depths[-1]}"
    basis = f"{n_seeds} seeds per cell, {CONFIDENCE:.0%} bootstrap intervals over seeds"
    lines = []
    for name in families:
        cells = {a: grid[name][a][kmax] for a in config.alphas}
        parts = []
        for what in ("pays", "does not pay", "undecided", "neither reaches f*"):
            hit = [a for a, c in cells.items() if c["verdict"] == what]
            if hit:
                parts.append(f"{what} at α = " + ", ".join(
                    f"{a:g} (r = {fmt_ratio(*cells[a]['ratio'])} {fmt_ci(*cells[a]['ci'])})"
                    for a in hit))
        winners = sorted({c["best"][0] for c in cells.values() if "best" in c})
        lines.append(f"{name}{' (held out)' if name == HELD_OUT else ''}, K = {kmax} "
                     f"(of {krange}), {basis}: multilevel " + "; ".join(parts)
                     + (f" (best multilevel solver: {', '.join(winners)})" if winners else "")
                     + ".")
        if all("ratio_no_nested" in c for c in cells.values()):
            pays = [a for a, c in cells.items()
                    if verdict(*c["ci_no_nested"]) == "pays"]
            lines.append(f"{name}, K = {kmax}, without nested ({basis}): multilevel pays at "
                         + (", ".join(f"α = {a:g} (r = {fmt_ratio(*cells[a]['ratio_no_nested'])}"
                                      f" {fmt_ci(*cells[a]['ci_no_nested'])})" for a in pays)
                            or "no α of the grid") + ".")
    for alpha in config.alphas:
        pays = [n for n in families if grid[n][alpha][kmax]["verdict"] == "pays"]
        if pays and len(pays) < len(families):
            lines.append(f"At α = {alpha:g}, K = {kmax}, multilevel pays on {', '.join(pays)} "
                         f"only (not on {', '.join(n for n in families if n not in pays)}); "
                         f"{basis}.")
        elif pays:
            lines.append(f"At α = {alpha:g}, K = {kmax}, multilevel pays on all "
                         f"{len(families)} families ({', '.join(families)}); {basis}.")
    for r in diag:
        if r["variant"] in ("ball", "prolongated", "box"):
            lines.append(f"RMTR region {r['variant']} on {r['family']} (α = {r['alpha']:g}, "
                         f"K = {kmax}, seed 0, {r['cycles']} cycles): visits the coarsest "
                         f"level in {r['rates'][-1]:.0%} of cycles and level 2 in "
                         f"{r['rates'][min(2, len(r['rates']) - 1)]:.0%}; of the recursions "
                         f"not made, {r['skipped_region']:.0f} found the region used up and "
                         f"{r['skipped_kappa']:.0f} failed the κ_g test.")
    return lines


# -- output ------------------------------------------------------------------------------

def _fmt_wu(point: tuple[float, bool]) -> str:
    w, ok = point
    return f"{w:.3g}" if ok else f"≥{w:.3g}"


def _print_tables(config, families, n_seeds, grid, targets, entropy, exps, hess) -> None:
    k0 = config.depths[0]
    for name in families:
        ent = statistics.fmean(entropy[(name, s)] for s in range(n_seeds))
        curv = "; ".join(f"α={a:g}: " + "/".join(
            f"{regulariser_curvature(a, k) / hess[name]:.2g}" for k in config.depths)
            for a in config.alphas)
        print(f"\n{name}{' (held out)' if name == HELD_OUT else ''}: constant-predictor "
              f"loss H = {ent:.4g} (mean over seeds); hess_max(data, K={k0}, seed 0, x0) = "
              f"{hess[name]:.3g}; λmax(α∇²R)/hess_max at K = "
              f"{'/'.join(map(str, config.depths))}: {curv}")
        for alpha in config.alphas:
            f_star = targets[(name, alpha)]
            flag = " — AT THE CONSTANT PREDICTOR" if is_trivial(f_star, ent) else ""
            print(f"  α = {alpha:g}: f* = {f_star:.4g} (median over {n_seeds} seeds of "
                  f"{REFERENCE} at {config.target_wu:g} WU, K={k0}){flag}")
            head = " ".join(f"{'K=' + str(k):>22s}" for k in config.depths)
            print(f"    {'solver':17s} {head} {'p [90% CI] (censored seeds)':>30s}")
            for key in SOLVERS:
                cells = []
                for k in config.depths:
                    c = grid[name][alpha][k]
                    triv = f" t{c['trivial'][key]}" if c["trivial"][key] else ""
                    cells.append(f"{_fmt_wu(c['wu'][key])} WU {_fmt_wu(c['wall'][key])}s "
                                 f"{c['reached'][key]}/{n_seeds}{triv}")
                p, lo, hi, done, cens = exps[(name, alpha, key)]
                expo = "—" if math.isnan(p) else f"{p:.2f} {fmt_ci(lo, hi)}"
                print(f"    {key:17s} " + " ".join(f"{c:>22s}" for c in cells)
                      + f" {expo + f' ({cens})':>30s}")
    print("\n(cells: median WU to f* and median wall seconds to f* over seeds, ≥ censored; "
          "reached/seeds; tN: N runs ended at the constant predictor's loss)")


def _print_summary(config, families, grid, exponents) -> dict:
    print("\nMAP: r = best multilevel / best single-level median WU to f* "
          f"[{CONFIDENCE:.0%} bootstrap CI over seeds]; <, >: a censored side at its budget")
    summary = {"pays": [], "does not pay": [], "undecided": [], "neither reaches f*": []}
    for name in families:
        print(f"  {name}{' (held out)' if name == HELD_OUT else ''}:")
        print(f"    {'α':>8s} " + " ".join(f"{'K=' + str(k):>40s}" for k in config.depths))
        for alpha in config.alphas:
            row = []
            for k in config.depths:
                c = grid[name][alpha][k]
                row.append(f"{fmt_ratio(*c['ratio'])} {fmt_ci(*c['ci'])} "
                           f"{c['best'][0]}/{c['best'][1]}")
                summary[c["verdict"]].append((name, alpha, k))
            print(f"    {alpha:8.0e} " + " ".join(f"{x:>40s}" for x in row))
            print(f"    {'':8s} " + " ".join(
                f"{'without nested: ' + fmt_ratio(*grid[name][alpha][k]['ratio_no_nested']):>40s}"
                for k in config.depths))
    for what, items in summary.items():
        text = ", ".join(f"{n} α={a:g} K={k}" for n, a, k in items) or "none"
        print(f"  multilevel {what} ({len(items)} cells): {text}")
    print("  pooled exponents p (median over families × α × complete seeds): "
          + ", ".join(f"{k} {v:.2f}" for k, v in exponents.items() if math.isfinite(v)))
    return summary


def _print_diagnostics(rows: list[dict]) -> None:
    if not rows:
        return
    print("\nRMTR: fraction of cycles visiting each level (largest K, seed 0, up to the "
          "target WU):")
    for r in rows:
        rates = " ".join(f"l{i}={v:.2f}" for i, v in enumerate(r["rates"]))
        print(f"  {r['family']:16s} α={r['alpha']:<7g} {r['variant']:27s} {rates} "
              f"({r['cycles']} cycles; recursions skipped: {r['skipped_region']:.0f} region "
              f"used up, {r['skipped_kappa']:.0f} κ_g test)")


def plot_map(path: Path, config: Scale, families: Sequence[str], grid: dict) -> Path:
    """The map: per family a panel of ``log₂ r`` over α (x) × K (y).

    Blue: multilevel cheaper; red: dearer; grey: neither reaches ``f*``. Each cell is
    annotated with ``r`` (``<``/``>`` for bounds) and marked ``*`` where the bootstrap
    interval excludes 1.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6),
                             squeeze=False)
    image = None
    for ax, name in zip(axes[0], families):
        values = np.full((len(config.depths), len(config.alphas)), np.nan)
        for i, k in enumerate(config.depths):
            for j, a in enumerate(config.alphas):
                c = grid[name][a][k]
                r, flag = c["ratio"]
                if flag != "neither":
                    values[i, j] = math.log2(r)
                mark = "*" if c["verdict"] in ("pays", "does not pay") else ""
                ax.text(j, i, fmt_ratio(r, flag) + mark, ha="center", va="center", fontsize=7)
        ax.set_facecolor("0.85")
        image = ax.imshow(np.clip(values, -3, 3), cmap="coolwarm", vmin=-3, vmax=3,
                          origin="lower", aspect="auto")
        ax.set_xticks(range(len(config.alphas)), [f"{a:.0e}" for a in config.alphas],
                      fontsize=7, rotation=30)
        ax.set_yticks(range(len(config.depths)), [str(k) for k in config.depths])
        ax.set_xlabel("smoothness weight α")
        ax.set_ylabel("blocks K")
        ax.set_title(name + (" (held out)" if name == HELD_OUT else ""), fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), label="log₂ (best ML / best SL WU)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_markdown(path: Path, scale: str, config: Scale, families, n_seeds, grid, targets,
                   summary, exps, diag, starts, line, figure, runs,
                   run_seconds=math.nan) -> Path:
    """The Markdown summary the docs include (every number from this run)."""
    out = [f"<!-- written by `python benchmarks/depth_scaling.py{' --quick' if config.quick else ''}`"
           " (ml2bench.studies.depth_scaling); rerun it rather than editing -->", "",
           f"**Scale `{scale}`**: families {', '.join(families)} ({HELD_OUT} held out); "
           f"K = {', '.join(map(str, config.depths))}; smoothness weight α = "
           f"{', '.join(f'{a:g}' for a in config.alphas)}; weight decay λ = {WEIGHT_DECAY:g}; "
           f"{n_seeds} seeds per cell; budget {config.budget:g} WU; {runs} runs, "
           f"{run_seconds / 60:.1f} min summed over the runs (their solver and evaluation "
           "wall clocks on the measuring machine, its load included).",
           "", f"Map value r = best multilevel / best single-level median WU to f* over seeds, "
           f"with its {CONFIDENCE:.0%} bootstrap interval over seeds (`<`/`>`: one side "
           "censored at the budget; — : neither reaches f*), the two best solvers "
           "(multilevel/single level), and r without `nested` (whose 50 steps on the "
           "5-block level are priced in finest-level WU, so its WU fall like 1/K).", ""]
    for name in families:
        out += [f"**{name}**{' (held out)' if name == HELD_OUT else ''}, r:", "",
                "| α | f* | " + " | ".join(f"K = {k}" for k in config.depths) + " |",
                "|---|---|" + "---|" * len(config.depths)]
        for a in config.alphas:
            cells = [f"{fmt_ratio(*grid[name][a][k]['ratio'])} {fmt_ci(*grid[name][a][k]['ci'])} "
                     f"({grid[name][a][k]['best'][0]}/{grid[name][a][k]['best'][1]}); "
                     f"without nested {fmt_ratio(*grid[name][a][k]['ratio_no_nested'])} "
                     f"{fmt_ci(*grid[name][a][k]['ci_no_nested'])}"
                     for k in config.depths]
            out.append(f"| {a:g} | {targets[(name, a)]:.4g} | " + " | ".join(cells) + " |")
        start = starts[name]
        out += ["", f"{name}: multilevel pays (interval below 1) at K = {config.depths[-1]} "
                + ("at no α of the grid up to the largest." if start is None else
                   f"at every α of the grid from α = {start:g} on."), ""]
    for what, items in summary.items():
        text = ", ".join(f"{n} α={a:g} K={k}" for n, a, k in items) or "none"
        out.append(f"- multilevel **{what}** ({len(items)} cells): {text}")
    out += ["", "Conclusions (generated from the numbers above):", ""]
    out += [f"- {line}" for line in conclusions(config, families, n_seeds, grid, diag)]
    out += ["", "Trivial runs (final train loss within "
            f"{TRIVIAL_TOL:.0%} of the constant predictor's loss), summed over K and seeds:", ""]
    any_trivial = False
    for name in families:
        for a in config.alphas:
            counts = {key: sum(grid[name][a][k]["trivial"][key] for k in config.depths)
                      for key in SOLVERS}
            text = ", ".join(f"{key} {c}" for key, c in counts.items() if c)
            if text:
                out.append(f"- {name} α={a:g}: {text}")
                any_trivial = True
    if not any_trivial:
        out.append("- none")
    out += ["", "Depth exponents p (WU ∝ K^p), median over the seeds that reached f* at every "
            f"K, [{CONFIDENCE:.0%} bootstrap CI], (censored seeds):", "",
            "| family | α | " + " | ".join(SOLVERS) + " |", "|---|---|" + "---|" * len(SOLVERS)]
    for name in families:
        for a in config.alphas:
            cells = []
            for key in SOLVERS:
                p, lo, hi, _, cens = exps[(name, a, key)]
                cells.append("—" if math.isnan(p) else f"{p:.2f} {fmt_ci(lo, hi)}"
                             + (f" ({cens})" if cens else ""))
            out.append(f"| {name} | {a:g} | " + " | ".join(cells) + " |")
    if diag:
        out += ["", f"RMTR: fraction of cycles visiting each level (K = {config.depths[-1]}, "
                f"seed 0, α = {diag[0]['alpha']:g}, up to {config.target_wu:g} WU):", "",
                "| family | variant | " + " | ".join(f"l{i}" for i in range(len(diag[0]["rates"])))
                + " | skipped: region used up | skipped: κ_g |",
                "|---|---|" + "---|" * (len(diag[0]["rates"]) + 2)]
        for r in diag:
            out.append(f"| {r['family']} | {r['variant']} | "
                       + " | ".join(f"{v:.2f}" for v in r["rates"])
                       + f" | {r['skipped_region']:.0f} | {r['skipped_kappa']:.0f} |")
    out += ["", f"![depth map]({figure.name})", "", "Last line:", "", "```", line, "```", ""]
    path.write_text("\n".join(out))
    return path


def format_estimate(scale: str, cost: dict) -> str:
    """The lines ``--estimate`` prints: runs, CPU hours, wall hours on N cores."""
    per = "; ".join(f"{n} K={k}: {s * 1e3:.2f} ms" for (n, k), s in cost["seconds_per_wu"].items())
    hours = cost["cpu_hours"]
    return (f"depth_scaling ({scale}): {cost['runs']} runs; estimated {hours:.1f} CPU-hours "
            f"(Σ budget × seconds per WU × {cost['factor']:.2f}), i.e. {hours / 2:.1f} h on 2 "
            f"cores, {hours / 64:.2f} h on 64 SLURM cores; seconds per WU (one thread): {per}")

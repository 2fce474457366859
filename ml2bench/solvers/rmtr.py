r"""``rmtr`` — recursive multilevel trust region (V- and F-cycles).

One solver step is one cycle started on the finest level (Gratton, Sartenaer & Toint
2008, Alg. RMTR; Kopaničáková & Krause 2023). On level ``l`` with objective ``h_l``
(``h_0 = f_0``), iterate ``x`` and radius ``Δ_l``:

1. **pre-smoothing**: ``ν1`` trust-region iterations on ``h_l`` (``coarse_steps`` on
   the coarsest level, which does nothing else);
2. **coarse model** — if ``‖R∇h_l(x)‖ ≥ κ_g‖∇h_l(x)‖``: ``z₀ = Πx`` and the
   first-order-coherent ``h_{l+1}(z) = f_{l+1}(z) + ⟨R∇h_l(x) − ∇f_{l+1}(z₀), z − z₀⟩``;
3. **recursion**: one cycle on level ``l+1`` (V-cycle) or an F- then a V-cycle
   (F-cycle), every coarse iterate kept in the coarse region (``region``, below) so that
   the prolongated step stays in the fine trust region;
4. **prolongation and ratio test**: ``s = P(z − z₀)``,
   ``ρ = (h_l(x) − h_l(x+s)) / (h_{l+1}(z₀) − h_{l+1}(z))``; accept if ``ρ > η1`` and
   update ``Δ_l`` as for a smoothing step;
5. **post-smoothing**: ``ν2`` trust-region iterations.

**Coarse regions** (``region``; :mod:`.rmtr_regions`), ``reach`` being the radius level
``l`` may still use (``Δ_l``, capped by its own region):

* ``ball`` (ml2bench's version 1, kept for comparison): ``‖z − z₀‖₂ ≤ reach/‖P‖`` (``‖P‖₂`` by
  power iteration); the coarse radius starts at ``reach/‖P‖`` and each coarse step uses
  ``min(Δ_{l+1}, reach/‖P‖ − ‖z − z₀‖)``. Stricter than the published regions: ``Δ``
  shrinks by ``‖P‖ ≈ 1.43`` per level and one boundary step uses the region up.
* ``prolongated`` (the default; Gratton, Sartenaer & Toint 2008, §2; utopia's ``RMTR``): the coarse
  step is measured in the norm induced by the prolongation to the finest level,
  ``‖z − z₀‖_{l+1} = ‖P_0⋯P_l(z − z₀)‖₂``, and kept in ``‖z − z₀‖_{l+1} ≤ reach``; the
  coarse radius starts at ``reach``, each coarse TR step (Euclidean in the level's own
  coordinates, as in utopia) uses ``min(Δ_{l+1}, reach − ‖z − z₀‖_{l+1})`` and is cut
  back to the region's boundary along its direction if its prolongation would leave the
  region; the level is left once ``‖z − z₀‖_{l+1} ≥ (1 − ε)·reach`` (``region_eps``).
* ``box`` (the ℓ∞ RMTR of Gratton, Mouffe, Toint & Weber-Mendonça 2008; utopia's
  ``RMTR_inf`` with ``TRBoundsGelmanMandel``, here componentwise): every level takes ℓ∞
  trust-region steps ``‖s‖∞ ≤ Δ_l`` within the bounds ``[L_l, U_l]`` it inherited (none
  on the finest level), solved by projected Cauchy point + subspace CG
  (:func:`~.box_subproblem.box_subproblem`, ``box_sweeps`` sweeps, at most
  ``cg_max_iter`` products); the fine box ``[max(L_l, x − Δ_l), min(U_l, x + Δ_l)]`` is
  carried to level ``l+1`` by the Gelman–Mandel bounds
  (:func:`~.rmtr_regions.gelman_mandel_bounds`), under which every prolongated step
  stays in the fine box; the coarse radius starts at ``Δ_l``.

**Published iteration rules** (the ``auto`` setting for ``prolongated`` and ``box``;
``ball`` keeps version 1's rules, so ``rmtr[region=ball]`` takes exactly version 1's
steps): a smoothing phase counts *successful* iterations, ``ν`` of them, at most
``smooth_cap·ν`` in all (``smooth_count=successful``; GST 2008, utopia's
``max_sucessful_smoothing_it``), and a coarse correction's fine trial point is evaluated
by its value first, its gradient only if accepted (``trial_gradient=on_accept``).

Every step on every level is accepted only if it decreases that level's objective, so in
deterministic mode (full batch, the default) the fine objective never increases, for
every region. In stochastic mode one batch, drawn per cycle, is shared by all levels and
all ratio tests. The smoother is Steihaug–Toint CG on exact Hessian-vector products
(``subproblem=cg``), L-SR1 (``subproblem=lsr1``, one memory per level) or the Cauchy
point (``subproblem=cauchy``: first-order TR, one product per iteration; ``ball`` and
``prolongated`` only); see
:mod:`.trust_region` (``box``: the ℓ∞ subproblem on the Hessian or the L-SR1 matrix).

Diagnostics per cycle (level ``l``): ``decrease_l`` (decrease of ``h_l`` by the
smoothing steps on level ``l``), ``smooth_accepted_l``, ``radius_l`` (the last radius
used there); for ``l ≥ 1``: ``coarse_rho_l`` (ratio of the last correction from level
``l`` tested on level ``l−1``, NaN if none was tried), ``coarse_accepted_l`` (accepted
corrections), ``correction_decrease_l`` (decrease of ``h_{l−1}`` by them),
``skipped_region_l`` and ``skipped_kappa_l`` (recursions from level ``l−1`` to ``l`` not
made: no room left in the region, or the κ_g test). The decrease
of the fine objective over the cycle is ``decrease_l0 + correction_decrease_l1``.

References
----------
S. Gratton, A. Sartenaer, Ph. L. Toint, *Recursive trust-region methods for multiscale
nonlinear optimization*, SIAM J. Optim. 19(1), 2008;
A. Kopaničáková, R. Krause, *Globally convergent multilevel training of deep residual
networks*, SIAM J. Sci. Comput. 45(3), 2023;
S. Gratton, M. Mouffe, Ph. L. Toint, M. Weber-Mendonça, *A recursive ℓ∞-trust-region
method for bound-constrained nonlinear optimization*, IMA J. Numer. Anal. 28(4), 2008;
E. Gelman, J. Mandel, Math. Program. 48, 1990 (coarse bounds);
A. Kopaničáková et al., github:zulianp/utopia, ``solvers/multilevel/utopia_RMTR*.hpp``;
A. R. Conn, N. I. M. Gould, Ph. L. Toint, *Trust-Region Methods*, SIAM, 2000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from ml2bench.errors import UserError
from ml2bench.labels import Param, SearchSpace
from ml2bench.solvers.base import MultilevelSolver, register_solver
from ml2bench.parameters import load_vector
from ml2bench.solvers.bounds import bounded_rtol, clip_box, finest_box
from ml2bench.solvers.box_subproblem import box_subproblem
from ml2bench.solvers.level_objective import (FlatTransfer, LevelObjective, Point, begin_step,
                                              coherent_objective, flat_transfers)
from ml2bench.solvers.rmtr_regions import (BoxRegion, ProlongatedRegion, gelman_mandel_bounds,
                                           transfer_matrix)
from ml2bench.solvers.tr_kernel import (TR_PARAMS, TRConfig, TRIteration, check_tr_params,
                                        grow_batch, make_memory, reduction_ratio,
                                        solve_subproblem, trust_region_iteration)

#: A coarse level stops when less than this fraction of its region is left.
REGION_TOL = 1e-3
REGIONS = ("ball", "prolongated", "box")
SMOOTH_SPACE = SearchSpace("choice", choices=(1, 2))


@dataclass(frozen=True)
class Region:
    """The fine trust region seen from a coarse level: ``‖z − anchor‖ ≤ budget``
    (``region=ball``; the published regions are in :mod:`.rmtr_regions`)."""

    anchor: torch.Tensor | None = None
    budget: float = math.inf

    def reach(self, x: torch.Tensor, radius: float) -> float:
        """Radius of the next step: ``min(Δ, budget − ‖x − anchor‖)``."""
        if self.anchor is None:
            return radius
        return min(radius, self.budget - float(torch.linalg.vector_norm(x - self.anchor)))

    def exhausted(self, x: torch.Tensor) -> bool:
        """Whether ``x`` lies on the region's boundary (within 1 %, as a TR step would)."""
        return self.anchor is not None and self.reach(x, math.inf) <= 0.01 * self.budget

    def used_up(self, reach: float, min_radius: float) -> bool:
        """Whether no step is left: ``reach ≤ max(Δmin, REGION_TOL·budget)`` on a coarse
        level (the finest level has no region: it always steps, at least with ``Δmin``)."""
        if self.anchor is None:
            return False
        return reach <= max(min_radius, REGION_TOL * self.budget)


@dataclass
class LevelLog:
    """What one level did during a cycle (summed over its visits)."""

    decrease: float = 0.0
    smooth_steps: int = 0
    smooth_accepted: int = 0
    radius: float = math.nan
    rho: float = math.nan
    coarse_rho: float = math.nan
    coarse_tried: int = 0
    coarse_accepted: int = 0
    correction_decrease: float = 0.0
    skipped_region: int = 0
    skipped_kappa: int = 0

    def record(self, it: TRIteration, reach: float) -> None:
        """Add one smoothing iteration taken with radius ``reach``."""
        self.smooth_steps += 1
        self.smooth_accepted += int(it.accepted)
        self.decrease += it.decrease
        self.radius, self.rho = reach, it.rho


def flat_diagnostics(logs: list[LevelLog]) -> dict[str, float]:
    """Per-level diagnostics as flat floats (``decrease_l0``, ``coarse_rho_l1``, ...)."""
    info: dict[str, float] = {}
    for level, log in enumerate(logs):
        info[f"decrease_l{level}"] = log.decrease
        info[f"smooth_accepted_l{level}"] = float(log.smooth_accepted)
        info[f"radius_l{level}"] = log.radius
        if level > 0:
            info[f"coarse_rho_l{level}"] = log.coarse_rho
            info[f"coarse_accepted_l{level}"] = float(log.coarse_accepted)
            info[f"correction_decrease_l{level}"] = log.correction_decrease
            info[f"skipped_region_l{level}"] = float(log.skipped_region)
            info[f"skipped_kappa_l{level}"] = float(log.skipped_kappa)
    return info


@dataclass
class RMTRState:
    """Typed state of ``rmtr``: fine radius, cycle counter, cached fine point."""

    radius: float
    cycles: int = 0
    point: Point | None = None


@register_solver
class RMTR(MultilevelSolver):
    """Recursive multilevel trust region; one step is one V- or F-cycle.

    See the module docstring for the algorithm, its diagnostics and references.
    ``levels=1`` degenerates to ``coarse_steps`` trust-region iterations per step.
    """

    name = "rmtr"
    reference = "Gratton, Sartenaer & Toint, SIOPT 19 (2008); Kopaničáková & Krause, SISC 45 (2023)"
    params = {
        **MultilevelSolver.params,
        "cycle": Param("V", "V: one coarse recursion per level; F: an F- then a V-recursion",
                       choices=("V", "F")),
        "pre_smooth": Param(1, "pre-smoothing TR iterations ν1", low=0, search=SMOOTH_SPACE),
        "post_smooth": Param(1, "post-smoothing TR iterations ν2", low=0, search=SMOOTH_SPACE),
        "coarse_steps": Param(5, "TR iterations on the coarsest level", low=1,
                              search=SearchSpace("choice", choices=(5, 10))),
        "coarse_cg_max_iter": Param(None, "CG iterations per TR step on the coarsest level "
                                    "(None: its number of parameters)", type=int, low=1,
                                    nullable=True),
        "kappa_g": Param(1e-3, "coarse step only if ‖R g‖ ≥ κ_g ‖g‖", low=0.0),
        "subproblem": Param("cg", "smoother's subproblem solver (cauchy: the Cauchy point, one "
                            "Hessian-vector product per iteration; not with region=box)",
                            choices=("cg", "lsr1", "cauchy")),
        "region": Param("prolongated", "coarse trust region: prolongated (‖P(z − Πx)‖ ≤ Δ, "
                        "Gratton–Sartenaer–Toint 2008; the default), ball (‖z − Πx‖ ≤ Δ/‖P‖, "
                        "ml2bench's version 1, kept for comparison) or box (ℓ∞ regions, Gelman–Mandel bounds, Gratton–Mouffe–"
                        "Toint–Weber-Mendonça 2008)", choices=REGIONS),
        "region_eps": Param(1e-3, "prolongated: a coarse level is left once its step reaches "
                            "(1 − ε)Δ", low=0.0, high=0.5, low_open=True),
        "box_sweeps": Param(1, "box: Cauchy-point + subspace-CG sweeps per ℓ∞ subproblem (1: "
                            "stop at the first new bound, as Steihaug at the boundary; 0: "
                            "until CG's tolerance or cg_max_iter)", low=0,
                            search=SearchSpace("choice", choices=(1, 3))),
        "smooth_count": Param("auto", "all: ν iterations per smoothing phase (version 1); "
                              "successful: ν successful ones, at most smooth_cap·ν in all "
                              "(GST 2008); auto: successful for prolongated/box, all for ball",
                              choices=("auto", "all", "successful")),
        "smooth_cap": Param(3, "smooth_count=successful: at most smooth_cap × ν iterations per "
                            "phase (× coarse_steps on the coarsest level)", low=1),
        "trial_gradient": Param("auto", "gradient at a coarse correction's fine trial point: "
                                "always (version 1) or on_accept (value first, gradient only "
                                "if accepted); auto: on_accept for prolongated/box, always for "
                                "ball", choices=("auto", "always", "on_accept")),
        **TR_PARAMS,
    }

    def check_params(self) -> None:
        check_tr_params(self.name, self.hparams)
        if self.hparams["subproblem"] == "cauchy" and self.hparams["region"] == "box":
            raise UserError("rmtr: subproblem=cauchy is invalid with region=box, whose ℓ∞ "
                            "subproblem is its own projected Cauchy point + CG (box_sweeps)")

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.transfers = flat_transfers(task.hierarchy, self.num_levels)
        self.config = TRConfig.from_hparams(self.hparams)
        coarsest = task.hierarchy.levels[self.num_levels - 1]
        self.coarse_config = replace(self.config, cg_max_iter=self.hparams["coarse_cg_max_iter"]
                                     or coarsest.num_parameters)
        self.make_sampler(default="full")
        lsr1 = self.hparams["subproblem"] == "lsr1"
        self.memories = [make_memory(self.hparams) if lsr1 else None
                         for _ in range(self.num_levels)]
        self.state = RMTRState(radius=self.hparams["radius"])
        self.logs = [LevelLog() for _ in range(self.num_levels)]
        h = self.hparams
        self.region_kind = h["region"]
        published = self.region_kind != "ball"
        self.count_successful = (h["smooth_count"] == "successful"
                                 or (h["smooth_count"] == "auto" and published))
        self.gradient_on_accept = (h["trial_gradient"] == "on_accept"
                                   or (h["trial_gradient"] == "auto" and published))
        self._matrices: dict = {}  # box: the sparse P of each transfer, probed once
        self._box0 = None  # box: the problem's bounds (fine trial points are clipped to them)

    def _finest_region(self):
        """The (empty) region of the finest level for the chosen ``region``."""
        if self.region_kind == "prolongated":
            return ProlongatedRegion(eps=self.hparams["region_eps"])
        if self.region_kind == "box":  # the problem's bounds, if any (obstacle problems)
            self._box0 = BoxRegion(*finest_box(self.task, self.oracle))
            return self._box0
        return Region()

    def respects_bounds(self) -> bool:
        """``region=box`` keeps every iterate within the problem's bounds."""
        return self.hparams["region"] == "box"

    # -- the cycle -------------------------------------------------------------------
    def _cycle(self, level: int, objective: LevelObjective, point: Point, radius: float,
               region, kind: str) -> tuple[Point, float]:
        """One RMTR cycle minimising ``objective`` (``h_level``) from ``point``."""
        coarsest = level == self.num_levels - 1
        # 1. pre-smoothing (the whole job on the coarsest level)
        steps = self.hparams["coarse_steps"] if coarsest else self.hparams["pre_smooth"]
        point, radius = self._smooth(level, objective, point, radius, region, steps)
        if coarsest:
            return point, radius
        # 2. coarse model with first-order coherence, if the restricted gradient is large
        transfer = self.transfers[level]
        reach = region.reach(point.x, radius)
        if self._coarse_worthwhile(point, transfer, reach, self.logs[level + 1]):
            coarse_objective, start = coherent_objective(objective, point, transfer)
            coarse_region, coarse_radius, bounds = self._coarse_region(
                level, region, point, radius, reach, start, transfer)
            # 3. recursion: the coarse iterates stay within the fine region
            coarse = start
            for sub in (("F", "V") if kind == "F" else ("V",)):
                coarse, coarse_radius = self._cycle(level + 1, coarse_objective, coarse,
                                                    coarse_radius, coarse_region, sub)
            # 4. prolongate the coarse step, accept it by the ratio test
            step = transfer.prolong(coarse.x - start.x)
            if bounds is not None:  # Gelman–Mandel keeps it in the fine box (up to rounding)
                step = torch.clamp(step, bounds[0], bounds[1])
            on_boundary = self.region_kind != "box" and coarse_region.exhausted(coarse.x)
            point, radius = self._correct(level, objective, point, radius, reach, step,
                                          start.value - coarse.value, on_boundary)
        # 5. post-smoothing
        point, radius = self._smooth(level, objective, point, radius, region,
                                     self.hparams["post_smooth"])
        return point, radius

    def _coarse_region(self, level: int, region, point: Point, radius: float, reach: float,
                       start: Point, transfer: FlatTransfer):
        """The coarse level's region, its initial radius and (box) the fine step bounds.

        ``ball``: ``‖z − z₀‖ ≤ reach/‖P‖``, radius ``reach/‖P‖``; ``prolongated``:
        ``‖P(z − z₀)‖ ≤ reach`` (measured on the finest level), radius ``reach``; ``box``:
        Gelman–Mandel bounds from the fine box ``[max(L − x, −Δ), min(U − x, Δ)]``,
        radius ``Δ``.
        """
        if self.region_kind == "prolongated":
            return region.coarse(start.x, reach, transfer.prolong), reach, None
        if self.region_kind == "box":
            lower, upper = region.step_bounds(point.x, radius)
            if level not in self._matrices:
                self._matrices[level] = transfer_matrix(transfer.prolong, start.x.numel(),
                                                        start.x)
            coarse = gelman_mandel_bounds(self._matrices[level], start.x, lower, upper)
            return coarse, radius, (lower, upper)
        coarse = Region(start.x, reach / transfer.norm(point.x))
        return coarse, coarse.budget, None

    def _coarse_worthwhile(self, point: Point, transfer: FlatTransfer, reach: float,
                           coarse_log: LevelLog | None = None) -> bool:
        """The κ_g test ``‖R g‖ ≥ κ_g ‖g‖`` (and room left in the region).

        A skipped recursion is counted in ``coarse_log`` by its reason: no room left in
        the region (``skipped_region``) or the κ_g test (``skipped_kappa``).
        """
        if not reach > self.config.min_radius:
            if coarse_log is not None:
                coarse_log.skipped_region += 1
            return False
        g_norm = float(torch.linalg.vector_norm(point.grad))
        rg_norm = float(torch.linalg.vector_norm(transfer.restrict(point.grad)))
        worthwhile = rg_norm > 0.0 and rg_norm >= self.hparams["kappa_g"] * g_norm
        if not worthwhile and coarse_log is not None:
            coarse_log.skipped_kappa += 1
        return worthwhile

    def _smooth(self, level: int, objective: LevelObjective, point: Point, radius: float,
                region, steps: int) -> tuple[Point, float]:
        """``steps`` trust-region iterations on ``h_level`` inside ``region``.

        With ``smooth_count=successful``: until ``steps`` iterations were successful,
        at most ``smooth_cap·steps`` iterations in all.
        """
        total = steps * self.hparams["smooth_cap"] if self.count_successful else steps
        successes = 0
        for _ in range(total):
            if self.count_successful and successes >= steps:
                break
            reach = region.reach(point.x, radius)
            if region.used_up(reach, self.config.min_radius):
                break  # the fine region is used up
            config = self.coarse_config if level == self.num_levels - 1 else self.config
            it = self._iteration(level, objective, point, reach, region, config)
            self.logs[level].record(it, reach)
            point, radius = it.point, _next_radius(radius, it.radius, it.accepted)
            if level == 0 and it.accepted:
                self._accepted = point
            successes += int(it.accepted)
            if math.isnan(it.rho) and it.step_norm == 0.0:
                break  # stationary point of the model
        return point, radius

    def _iteration(self, level: int, objective: LevelObjective, point: Point, reach: float,
                   region, config: TRConfig) -> TRIteration:
        """One smoothing TR iteration with radius ``reach`` in the level's region.

        ``ball``: the Euclidean TR kernel. ``prolongated``: the Euclidean subproblem, its
        step cut back to the region's boundary where its prolongation would leave it
        (the model reduction of ``τs`` from ``gᵀs`` and ``sᵀBs = −2(pred + gᵀs)``, no
        further product). ``box``: the ℓ∞ subproblem with the inherited bounds
        (:func:`~ml2bench.solvers.box_subproblem.box_subproblem`, at most
        ``cg_max_iter`` products), the step measured by ``‖s‖∞``.
        """
        memory = self.memories[level]
        if self.region_kind == "ball":
            return trust_region_iteration(objective, point, reach, config, memory)
        point = objective.ensure_grad(point)
        g = point.grad
        if self.region_kind == "box":
            lower, upper = region.step_bounds(point.x, reach)
            matvec = memory.matvec if memory is not None else objective.hessian(point.x)
            g_norm = float(torch.linalg.vector_norm(g))
            rtol = config.cg_rtol if config.cg_rtol is not None else min(0.5, math.sqrt(g_norm))
            if self.task.has_bounds:  # relative to the projected gradient, not ‖g‖ → ‖λ‖
                rtol = bounded_rtol(g, lower, upper, config.cg_rtol)
            result = box_subproblem(g, matvec, lower, upper, max_iter=config.cg_max_iter,
                                    rtol=rtol, max_sweeps=self.hparams["box_sweeps"] or None)
            step, predicted = result.step, result.predicted_reduction
            step_norm = float(step.abs().max()) if step.numel() else 0.0
        else:
            result = solve_subproblem(objective, point, reach, config, memory)
            step, predicted = result.step, result.predicted_reduction
            step_norm = float(torch.linalg.vector_norm(step))
            tau = region.cut(point.x, step) if predicted > 0.0 else 1.0
            if tau < 1.0:
                gs = float(torch.dot(g, step))
                sbs = -2.0 * (predicted + gs)
                step, predicted = tau * step, -(tau * gs + 0.5 * tau * tau * sbs)
                step_norm = reach  # cut at the region's boundary: a boundary step
        if not predicted > 0.0:  # stationary point of the model
            return TRIteration(point, reach, math.nan, False, 0.0, 0.0, result.num_matvecs)
        trial = objective.evaluate(clip_box(region, point.x + step))
        rho = reduction_ratio(point.value, trial.value, predicted, torch.finfo(step.dtype).eps)
        new_radius, accepted = config.update(reach, rho, step_norm)
        if memory is not None and torch.isfinite(trial.grad).all():
            memory.update(step, trial.grad - g)
        decrease = point.value - trial.value if accepted else 0.0
        return TRIteration(trial if accepted else point, new_radius, rho, accepted, step_norm,
                           decrease, result.num_matvecs)

    def _correct(self, level: int, objective: LevelObjective, point: Point, radius: float,
                 reach: float, step: torch.Tensor, predicted: float,
                 on_boundary: bool) -> tuple[Point, float]:
        """Ratio test of the prolongated coarse step ``step`` on level ``level``.

        A correction whose coarse iterate ended on the boundary of its region counts as a
        boundary step (the radius may expand), like a TR step with ``‖s‖ = Δ``
        (``box``: ``‖s‖∞`` against ``Δ``). With ``trial_gradient=on_accept`` the trial
        point is evaluated by value, its gradient only if the step is accepted.
        """
        log = self.logs[level + 1]
        log.coarse_tried += 1
        if not predicted > 0.0:  # the coarse level made no progress
            log.coarse_rho = math.nan
            return point, radius
        trial = objective.evaluate(clip_box(self._box0 if level == 0 else None, point.x + step),
                                   with_grad=not self.gradient_on_accept)
        rho = reduction_ratio(point.value, trial.value, predicted, torch.finfo(step.dtype).eps)
        if on_boundary:
            step_norm = reach
        elif self.region_kind == "box":
            step_norm = float(step.abs().max()) if step.numel() else 0.0
        else:
            step_norm = float(torch.linalg.vector_norm(step))
        new_radius, accepted = self.config.update(reach, rho, step_norm)
        if accepted and trial.grad is None:
            trial = objective.ensure_grad(trial)
        memory = self.memories[level]
        if memory is not None and trial.grad is not None and torch.isfinite(trial.grad).all():
            memory.update(step, trial.grad - point.grad)
        log.coarse_rho = rho
        self.logs[level].rho = rho
        if accepted:
            log.coarse_accepted += 1
            log.correction_decrease += point.value - trial.value
            point = trial
            if level == 0:
                self._accepted = point
        return point, _next_radius(radius, new_radius, accepted)

    # -- the solver step -------------------------------------------------------------
    def step(self) -> dict[str, float]:
        objective, point, full_batch = begin_step(self.oracle, self.task, self.sampler, 0,
                                                  self.state.point)
        point = objective.ensure_grad(point)
        self.logs = [LevelLog() for _ in range(self.num_levels)]
        self._accepted = None  # the last fine iterate accepted in this cycle
        start_value = point.value
        point, radius = self._cycle(0, objective, point, self.state.radius,
                                    self._finest_region(), self.hparams["cycle"])
        load_vector(objective.model, point.x)
        self.state.radius = radius
        self.state.cycles += 1
        self.state.point = point if full_batch else None
        accepted = point.value < start_value
        if not accepted:
            grow_batch(self.sampler, self.hparams["batch_growth"])
        return {"batch_loss": point.value, "radius": radius, "rho": self.logs[0].rho,
                "accepted": float(accepted), "batch_size": float(self.sampler.batch_size),
                **flat_diagnostics(self.logs)}

    def restore(self, snapshot) -> None:
        """The budget ended inside a cycle: the last fine iterate accepted in it (a
        fine smoothing step or a coarse correction passed its ratio test), else the
        cycle's start."""
        super().restore(snapshot)
        accepted = getattr(self, "_accepted", None)
        if accepted is not None:
            load_vector(self.oracle.model(0), accepted.x)

    def stateful_parts(self) -> dict:
        parts = super().stateful_parts()
        parts.update({f"lsr1_l{level}": memory for level, memory in enumerate(self.memories)
                      if memory is not None})
        return parts


def _next_radius(radius: float, updated: float, accepted: bool) -> float:
    """A level's radius after a step taken with a possibly region-limited radius.

    ``updated`` is the trust-region update of the radius the step used; an accepted
    step never lowers the level's own radius (the region, not a failure, limited it).
    """
    return max(radius, updated) if accepted else updated

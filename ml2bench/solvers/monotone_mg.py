r"""``mmg`` and ``tnnmg`` — monotone multigrid methods for bound-constrained quadratics.

Both minimise ``J(x) = ½xᵀAx − bᵀx`` subject to ``x ≥ ψ`` (the obstacle problems,
:mod:`ml2bench.problems.obstacle`) on the task's grid hierarchy, with Galerkin coarse
matrices ``A_{l+1} = P_lᵀA_lP_l`` and multicolour projected Gauss–Seidel smoothing
(:mod:`.monotone_kernels`). One solver step is one cycle; every iterate satisfies
``x ≥ ψ`` exactly in floating point and ``J`` never increases.

**mmg** — Kornhuber (1994)'s monotone multigrid V-cycle, ``pre``/``post`` projected
Gauss–Seidel sweeps per level (:func:`~.monotone_kernels.v_cycle`). Coarse corrections
respect the *monotone restriction* of the defect obstacle ``ψ − x``,
``ψ_{l+1}(p) = max_{q ∈ supp λ_p} (ψ_l − v_l)(q)``, so each prolongated correction keeps
the fine iterate feasible. ``variant``:

* ``standard`` (default) — coarse functions ``λ_p`` are the nodal basis functions of
  the coarse grids (Kornhuber 1994, "standard monotone multigrid"): near the free
  boundary the restricted obstacles freeze coarse corrections, so the rates deteriorate
  slowly with the number of levels (Kornhuber 1994; algorithms.md §7); but coarse
  corrections may lift nodes off the obstacle, so a contact set far from the solution's
  is corrected on every scale (from ``max(ψ, 0)``; the cycle counts and rates against
  the grid size are claim M3's, ``ml2bench reproduce M3``);
* ``truncated`` — the coarse functions are *truncated* at the fine nodes in
  contact (``x_q = ψ_q`` after pre-smoothing): ``P̃_0 = D P_0`` with ``D`` the diagonal
  of inactive fine nodes, ``A_1 = P̃_0ᵀA_0P̃_0`` (deeper levels by Galerkin products of
  that), and the monotone restriction takes the maximum over inactive nodes only
  (Kornhuber 1994, "truncated monotone multigrid"). Once the contact set is found the
  cycle is a linear multigrid V-cycle on the inactive set, with its level-independent
  rate. The coarse matrices are reassembled only when the contact set changes. The
  truncated coarse functions vanish on the contact set, so only the smoother releases
  nodes wrongly in contact — about one node per sweep at the free boundary: from a
  start whose contact set is far from the solution's, the cycles until the contact set
  is found grow with ``n``; a nested-iteration start (``start=nested``) avoids that.

**tnnmg** — truncated nonsmooth Newton multigrid (Gräser & Kornhuber 2009; Gräser, Sack
& Sander 2009), one step:

1. **nonlinear pre-smoothing**: ``nonlinear_smooth`` projected Gauss–Seidel sweeps
   (default 1, dune-tnnmg's ``preSmoothingSteps``), ``x̄``;
2. **truncated linearisation**: active set ``𝒜 = {i : x̄_i = ψ_i}``; residual
   ``r = b − Ax̄`` with ``r_𝒜 = 0``; the system ``Ã v = r̃`` with rows and columns of
   ``𝒜`` removed (``v_𝒜 = 0``);
3. **linear correction**: one linear multigrid V-cycle on it from ``v = 0`` (linear
   Gauss–Seidel, ``pre``/``post`` sweeps per level, truncated prolongation ``D P_0``,
   Galerkin coarse matrices);
4. **projection**: ``v ← P_K(x̄ + v) − x̄ = max(v, ψ − x̄)``;
5. **line search**: ``x = x̄ + αv`` with the exact minimiser of ``J`` on the feasible
   segment, ``α = clip(rᵀv / vᵀAv, 0, α_max)``, ``α_max = min_{v_i<0}(ψ_i − x̄_i)/v_i ≥ 1``
   (for a quadratic the 1D minimisation of Gräser–Sack–Sander's line search is exact
   with one product ``Av``); ``line_search=none`` takes ``α = 1`` (named option: the
   plain projected Newton step, for comparison).

**Work units** (charged to the ledger through :mod:`.monotone_kernels`): a Gauss–Seidel
sweep on level ``l`` costs one gradient on level ``l`` (kind ``sweep``), a residual or a
product ``Av`` one forward evaluation, a Galerkin assembly two gradients on the finer
level; a V-cycle with ``ν1 = ν2 = 3`` in 2D therefore costs ≈ ``(6 + ½)·(1 + ¼ + …)
≈ 8.7`` WU, plus the assemblies while the contact set moves.

Diagnostics per step: ``active`` (nodes in contact), ``active_changed`` (nodes whose
contact status changed), ``correction`` (``‖x⁺ − x‖∞``), ``reassembled`` (1 if coarse
matrices were rebuilt), ``alpha`` (tnnmg).

**What was read.** The papers' full texts were not available to this implementation:
the algorithms follow ml2bench's algorithms.md §7, the abstracts of Gräser & Kornhuber
(2009) and Gräser, Sack & Sander (2009), and the step order of dune-tnnmg's
``TNNMGStep`` (below); the coarse obstacles (maximum of the defect over the support),
the truncation at the contact set and the Galerkin coarse spaces are the standard
constructions of that literature. Kornhuber's parameter choices (smoothing steps,
ordering) were not read: ``pre_smooth = post_smooth = 3`` is ml2bench's choice.

References
----------
R. Kornhuber, *Monotone multigrid methods for elliptic variational inequalities I*,
Numer. Math. 69, 1994, 167–184;
C. Gräser, R. Kornhuber, *Multigrid methods for obstacle problems*, J. Comput. Math.
27(1), 2009, 1–44;
C. Gräser, U. Sack, O. Sander, *Truncated nonsmooth Newton multigrid methods for convex
minimization problems*, Domain Decomposition Methods in Science and Engineering XVIII,
LNCSE 70, Springer, 2009;
dune-tnnmg's ``TNNMGStep::iterate`` (``dune/tnnmg/iterationsteps/tnnmgstep.hh``; read in a
parallel copy, ``ParTNNMGStep``): nonlinear pre-smoothing (1 step by default), truncated
linearisation, linear correction, projection, line search — the order used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ml2bench.labels import Param
from ml2bench.parameters import load_vector, model_vector
from ml2bench.solvers.base import MultilevelSolver, register_solver
from ml2bench.solvers.monotone_kernels import (CycleConfig, GridLevel, coarse_levels,
                                               injection_rows, make_level,
                                               projected_gauss_seidel, prolongation_matrices,
                                               v_cycle)

#: The refusal of a problem without the algebraic form these solvers need.
NEEDS_MATRIX = "skip: needs a bound-constrained quadratic with its matrix (obstacle problems)"

SMOOTHING = {
    "pre_smooth": Param(3, "pre-smoothing (projected) Gauss–Seidel sweeps ν1 per level", low=0),
    "post_smooth": Param(3, "post-smoothing Gauss–Seidel sweeps ν2 per level", low=0),
    "coarse_sweeps": Param(20, "projected Gauss–Seidel sweeps on the coarsest level", low=1),
    "start": Param("given", "given: the problem's initial iterate; nested: nested iteration "
                   "from the coarsest grid (one standard monotone V-cycle per level; the "
                   "problem's start is not used)", choices=("given", "nested")),
}


@dataclass
class MonotoneState:
    """Typed state: cycles done and the contact mask the coarse matrices were built for
    (so a resumed run rebuilds them without charging again)."""

    cycles: int = 0
    assembled_for: torch.Tensor | None = None


class _MonotoneMultigrid(MultilevelSolver):
    """Shared set-up of ``mmg`` and ``tnnmg``: the algebraic hierarchy and the ledger."""

    def respects_bounds(self) -> bool:
        return True

    def supports(self, task):
        if task.info.get("quadratic") is None:
            return False, NEEDS_MATRIX
        return super().supports(task)

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.state = MonotoneState()
        q = self.q = task.info.get("quadratic")
        if q is None:  # unsupported (supports() says why); nothing to set up
            return
        self.sizes = q.sizes[:self.num_levels]
        self.prolongations = prolongation_matrices(task, self.num_levels)
        self.fine = make_level(q.matrix, self.sizes[0], q.dim, check=True)
        self.cycle_config = CycleConfig(self.hparams["pre_smooth"], self.hparams["post_smooth"],
                                        self.hparams["coarse_sweeps"])
        self._coarse: list[GridLevel] | None = None
        self._standard: list[GridLevel] | None = None
        self._coarse_key: bytes | None = None

    def charge(self, level: int, kind: str) -> None:
        """One evaluation of ``kind`` on ``level`` (the whole "data set": N = 1)."""
        self.oracle.ledger.charge(level, kind, self.task.num_train)

    def _silent(self, level: int, kind: str) -> None:
        """A charge already paid before an interruption (resume): nothing."""

    def truncated_levels(self, inactive: np.ndarray | None) -> list[GridLevel]:
        """Coarse levels for the prolongation truncated to ``inactive`` fine nodes
        (``None``: untruncated), reassembled (and charged) only when the mask changes."""
        key = b"" if inactive is None else np.packbits(inactive).tobytes()
        if key != self._coarse_key:
            saved = self.state.assembled_for
            fresh = saved is None or saved.numpy().tobytes() != key
            P0 = self.prolongations[0] if inactive is None else \
                self.truncated_prolongation(inactive)
            self._coarse = coarse_levels(self.q.matrix, [P0, *self.prolongations[1:]],
                                         self.sizes, self.q.dim,
                                         self.charge if fresh else self._silent)
            self._coarse_key = key
            self.state.assembled_for = torch.from_numpy(np.frombuffer(key, dtype=np.uint8).copy())
            self.reassembled = fresh
        return self._coarse

    def standard_levels(self) -> list[GridLevel]:
        """Coarse levels of the untruncated Galerkin hierarchy, assembled (and charged)
        once: on the first cycle; after a resume without charging again."""
        if self._standard is None:
            charge = self.charge if self.state.cycles == 0 else self._silent
            self._standard = coarse_levels(self.q.matrix, self.prolongations, self.sizes,
                                           self.q.dim, charge)
        return self._standard

    def nested_start(self) -> np.ndarray:
        r"""The initial iterate by nested iteration (``start=nested``).

        The problem restricted to the coarse spaces, ``min ½zᵀA_l z − (P⋯ᵀb)ᵀz`` with the
        obstacle at the coarse grid points (injection ``ψ_l = ψ|_{grid l}``), is solved
        from the coarsest grid up: ``coarse_sweeps`` projected sweeps there, then on each
        finer level ``l ≥ 1`` the prolongated iterate ``max(P z, ψ_l)`` and one standard
        monotone V-cycle; the finest iterate is ``max(P_0 z, ψ)`` (nested iteration, the
        classical multigrid start; whether the cited papers start so was not read). The
        cost is charged on each level.
        """
        rhs, obstacles = [self.q.rhs], [self.q.lower]
        for P in self.prolongations:
            rhs.append(P.T @ rhs[-1])
            obstacles.append(obstacles[-1][injection_rows(P)])
        levels = [self.fine, *self.standard_levels()]
        last = len(levels) - 1
        z = projected_gauss_seidel(levels[last], np.maximum(0.0, obstacles[last]), rhs[last],
                                   obstacles[last], self.hparams["coarse_sweeps"],
                                   self.charge, last)
        for index in range(last - 1, 0, -1):
            z = np.maximum(self.prolongations[index] @ z, obstacles[index])
            z = v_cycle(levels[index:], self.prolongations[index:], 0, z, rhs[index],
                        obstacles[index], self.cycle_config,
                        lambda level, kind, shift=index: self.charge(level + shift, kind))
        return np.maximum(self.prolongations[0] @ z, self.q.lower)

    def start_iterate(self) -> np.ndarray:
        """The iterate a step starts from: the model's, or on the first step with
        ``start=nested`` the nested-iteration iterate."""
        if self.hparams["start"] == "nested" and self.state.cycles == 0:
            return self.nested_start()
        return self.read_iterate()

    def truncated_prolongation(self, inactive: np.ndarray) -> sp.csr_matrix:
        """``D P_0``: the rows of fine nodes in contact removed (truncated coarse
        functions, Kornhuber 1994; Gräser & Kornhuber 2009)."""
        P0 = sp.csr_matrix(sp.diags(inactive.astype(float)) @ self.prolongations[0])
        P0.eliminate_zeros()
        return P0

    def read_iterate(self) -> np.ndarray:
        """The finest model's parameters as float64 NumPy."""
        return model_vector(self.oracle.model(0)).detach().cpu().double().numpy().copy()

    def write_iterate(self, x: np.ndarray) -> None:
        """Write ``x`` into the finest model (its dtype and device)."""
        like = model_vector(self.oracle.model(0))
        load_vector(self.oracle.model(0), torch.from_numpy(x).to(like))

    def diagnostics(self, before: np.ndarray, after: np.ndarray) -> dict[str, float]:
        """Contact set size, how many nodes changed contact status, ``‖x⁺ − x‖∞``."""
        psi = self.q.lower
        was, now = before <= psi, after <= psi
        return {"active": float(now.sum()), "active_changed": float((was != now).sum()),
                "correction": float(np.abs(after - before).max()),
                "reassembled": float(self.reassembled)}


@register_solver
class MonotoneMultigrid(_MonotoneMultigrid):
    """Kornhuber's monotone multigrid (standard or truncated); one step is one V-cycle.

    See the module docstring for the algorithm, its work units and references.
    """

    name = "mmg"
    reference = "Kornhuber, Numer. Math. 69 (1994) 167–184"
    params = {
        **MultilevelSolver.params,
        **SMOOTHING,
        "variant": Param("standard", "coarse functions: the standard nodal basis (standard "
                         "monotone multigrid) or truncated at the contact set (truncated "
                         "monotone multigrid)", choices=("standard", "truncated")),
    }

    def step(self) -> dict[str, float]:
        before = self.read_iterate()
        self.reassembled = False
        x = self.start_iterate()
        b, psi = self.q.rhs, self.q.lower
        if self.hparams["variant"] == "standard":
            coarse = self.standard_levels()
            new = v_cycle([self.fine, *coarse], self.prolongations, 0, x, b, psi,
                          self.cycle_config, self.charge)
        else:
            # the fine pre-smoothing first: its contact set truncates the coarse functions
            smoothed = projected_gauss_seidel(self.fine, x, b, psi, self.hparams["pre_smooth"],
                                              self.charge, 0)
            inactive = smoothed > psi
            coarse = self.truncated_levels(inactive)
            new = v_cycle([self.fine, *coarse],
                          [self.truncated_prolongation(inactive), *self.prolongations[1:]], 0,
                          smoothed, b, psi, self.cycle_config, self.charge, skip_pre=True)
        new = np.maximum(new, psi)
        self.write_iterate(new)
        self.state.cycles += 1
        return self.diagnostics(before, new)


@register_solver
class TNNMG(_MonotoneMultigrid):
    """Truncated nonsmooth Newton multigrid; one step is one TNNMG iteration.

    See the module docstring for the algorithm, its work units and references.
    """

    name = "tnnmg"
    reference = ("Gräser & Kornhuber, J. Comput. Math. 27 (2009); Gräser, Sack & Sander, "
                 "DD XVIII (2009)")
    params = {
        **MultilevelSolver.params,
        **SMOOTHING,
        "nonlinear_smooth": Param(1, "nonlinear (projected Gauss–Seidel) pre-smoothing sweeps "
                                  "before the truncated linearisation (dune-tnnmg's default: 1)",
                                  low=1),
        "line_search": Param("exact", "exact: minimise J on the feasible segment (one "
                             "product Av); none: α = 1 (the projected Newton step)",
                             choices=("exact", "none")),
    }

    def step(self) -> dict[str, float]:
        before = self.read_iterate()
        self.reassembled = False
        x = self.start_iterate()
        b, psi, A = self.q.rhs, self.q.lower, self.q.matrix
        config = self.cycle_config
        smoothed = projected_gauss_seidel(self.fine, x, b, psi, self.hparams["nonlinear_smooth"],
                                          self.charge, 0)
        inactive = smoothed > psi
        coarse = self.truncated_levels(inactive)
        self.charge(0, "forward")
        residual = b - A @ smoothed
        fine = GridLevel(self.fine.matrix, self.fine.diag_inv * inactive, self.fine.colours,
                         self.fine.blocks)  # truncated: contact nodes frozen at v = 0
        v = v_cycle([fine, *coarse], [self.truncated_prolongation(inactive),
                                      *self.prolongations[1:]], 0, np.zeros_like(x),
                    np.where(inactive, residual, 0.0), None, config, self.charge)
        v = np.maximum(v, psi - smoothed)  # projection onto the feasible set
        alpha = self._step_length(smoothed, v, residual)
        new = np.maximum(smoothed + alpha * v, psi)
        self.write_iterate(new)
        self.state.cycles += 1
        return {**self.diagnostics(before, new), "alpha": alpha}

    def _step_length(self, x: np.ndarray, v: np.ndarray, residual: np.ndarray) -> float:
        """``α = clip(rᵀv / vᵀAv, 0, α_max)``, ``r = b − Ax̄`` (``line_search=exact``) or 1."""
        if self.hparams["line_search"] == "none" or not np.any(v):
            return 1.0
        psi = self.q.lower
        self.charge(0, "forward")
        Av = self.q.matrix @ v
        slope = float(v @ residual)
        curvature = float(v @ Av)
        falling = v < 0
        alpha_max = float(np.min((psi[falling] - x[falling]) / v[falling])) \
            if falling.any() else np.inf
        alpha_max = max(alpha_max, 1.0)  # x̄ + v is feasible by the projection
        if not curvature > 0.0:
            return alpha_max if np.isfinite(alpha_max) and slope > 0 else 1.0
        return float(np.clip(slope / curvature, 0.0, alpha_max))

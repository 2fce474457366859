r"""``apts_d`` and ``apts_p`` — additively preconditioned trust region (APTS).

APTS (Groß & Krause; ML use: Trotti, Cruz Alegría, Kopaničáková & Krause,
arXiv 2312.13677; Cruz Alegría et al., arXiv 2502.05133) is a trust-region method whose
trial step is assembled from trust-region steps on ``D`` local objectives, computed in
parallel. One solver step, at the iterate ``θ_k`` with global radius ``Δ``, on a batch
``ξ`` (the full training set by default):

1. global value and gradient ``f(θ_k)``, ``g = ∇f(θ_k)`` (reused from the previous
   step's accepted trial point on the full batch; serial global work in ``apts_p``,
   shared over the data shards in ``apts_d``, see below);
2. every subdomain ``d`` runs ``local_steps`` trust-region iterations (L-SR1 or
   Steihaug–Toint CG subproblem, the kernel of ``tr``) on its local objective
   ``f̃_d`` from ``θ_k``, local radius ``Δ/D`` (DD4ML: ``loc_opt.delta = delta /
   nr_models`` for the 2-norm), the local radius updated by the local ratio and capped
   at ``Δ/D``. Subdomain ``d``'s work is a function of ``(d, θ_k, g, Δ)`` only
   (:meth:`APTSBase.local_solve`), run inside ``ledger.subdomain(d)`` of one parallel
   phase, so that a distributed runner can run one per rank;
3. one all-reduce of ``[s_d; pred_d]`` (counted in ``comm_bytes``): the global trial
   step is the **sum** ``s = Σ_d s_d`` and the predicted reduction the sum of the local
   decreases ``pred = Σ_d (f̃_d(θ_k) − f̃_d(θ_k + s_d))`` (DD4ML's ``loc_red``: the
   local objectives are the models);
4. global ratio ``ρ = (f(θ_k) − f(θ_k + s) + δ)/(pred + δ)`` (the rounding guard of
   ``tr``); reject if ``pred < tol`` (or ``pred ≤ 0``) or ``ρ ≤ η1``:
   ``Δ ← max(shrink·Δ, Δmin)``; if ``ρ > η2``, ``Δ ← min(expand·Δ, Δmax)`` — DD4ML's
   ``control_step``, with **no** boundary condition (unlike ``tr``): the sum of ``D``
   steps of norm ``≤ Δ/D`` on disjoint blocks has norm ``≤ Δ/√D`` and would never reach
   the boundary, so a boundary rule would freeze the radius;
5. optionally ``global_steps`` trust-region iterations of ``tr`` on the global objective
   (the "global pass", own L-SR1 memory or CG), which also update ``Δ``.

The two variants differ in the local objectives:

* ``apts_d`` — data decomposition: the batch is cut into ``D`` shards (overlap
  ``overlap``, :class:`~ml2bench.decomposition.DataDecomposition` on the batch
  positions, fixed for the full batch) and
  ``f̃_d(θ) = f_d(θ) + ⟨g − ∇f_d(θ_k), θ − θ_k⟩`` with ``f_d`` the mean loss on shard
  ``d`` (first-order consistency ``∇f̃_d(θ_k) = g``; ``consistency=false`` drops the
  linear term: DD4ML's ``foc`` flag, default on there and here);
* ``apts_p`` — parameter decomposition ``R_d``
  (:class:`~ml2bench.decomposition.ParameterDecomposition`, ``split=tensor``: DD4ML's
  shuffled tensors, or ``split=layer``): the local variable is ``θ_d`` and
  ``f̃_d(θ_d) = f(R_dᵀθ_d + (I − R_dᵀR_d)θ_k) + ⟨R_d g − ∇_d f(θ_k), θ_d − R_dθ_k⟩``
  on the step's batch, each evaluation charged as a subdomain gradient
  (:meth:`~ml2bench.accounting.oracle.Oracle.subdomain_loss_and_grad`). Because the
  local loss *is* the global loss on the same batch, ``∇_d f(θ_k) = R_d g`` in exact
  arithmetic and the consistency term is zero up to rounding: it would matter only if
  the local loss differed from the global one (e.g. a local batch). ``consistency``
  defaults to **false** — DD4ML's current code has none, and computing it costs one
  subdomain gradient per subdomain at ``θ_k`` for a rounding-level correction; with
  ``consistency=true`` that gradient is computed (charged) and the term added, so
  ``∇f̃_d(R_dθ_k) = R_d g`` holds to rounding by construction. The CG subproblem of
  ``apts_p`` uses ``R_d ∇²f R_dᵀ v`` from a full Hessian-vector product (charged as a
  full ``hvp``: an upper bound of the work).

One subdomain reproduces ``tr``'s iterates exactly when ``subdomains=1,
local_steps=1, global_steps=0, tol=0, expand=1`` and the other trust-region
parameters (``radius``, ``eta1``, ``shrink``, ``min_radius``, ``memory``,
``subproblem``) are those of ``tr``, on the full batch: the local objective is then
``f`` (shift exactly zero), the local step is ``tr``'s step, ``pred`` is its actual
decrease so ``ρ = 1`` when it is accepted and ``pred = 0`` (rejection, shrink) when not.
With ``expand > 1`` the radii differ (``tr`` expands only when its own ratio exceeds
``η2`` on a boundary step, APTS whenever the local step is accepted, as ``ρ = 1``).

Defaults are DD4ML's (``tests/config_files/config_apts_d.yaml``, ``apts_base.py``, read
early 2026): ``Δ0 = 0.1``, ``Δmin = 0.01``, ``Δmax = 1.0``, ``η1 = 0.25``,
``η2 = 0.75``, shrink ``0.9``, expand ``1.2`` (the 2023 ML_APTS code: 0.5 / 2),
``tol = 1e-6``, 3 local and 1 global iterations, L-SR1 memory 3, data overlap 0.33,
2 subdomains.

Local solvers (``apts_d``'s ``local_solver``; the authors' code read at
github:cruzas/DD4ML @ fa3027f0 and github:cruzas/ML_APTS @ 40e03096, branch
``backup_development_parallel``, whose ``results_csv/`` hold the APTS_D paper's curves):

* ``tr`` (default) — the trust-region iterations above, with the ``subproblem``
  (``lsr1``, ``cg``, or ``linear``: the first-order model, step ``−(Δ_loc/‖g‖)g`` with
  ``pred = Δ_loc‖g‖``, :func:`~ml2bench.solvers.tr_kernel.linear_model_step`; this is
  DD4ML's ``TR`` with ``loc_second_order=False`` and the only implemented local solver of
  the 2024 ML_APTS code, whose ``TR.step`` raises ``NotImplementedError`` on its
  second-order and momentum branches; ``subproblem`` applies to the global pass too, as
  both codes use the same ``TR`` class globally);
* ``sgd`` / ``adam`` — ``local_steps`` steps of SGD or Adam with learning rate
  ``local_lr`` on ``f̃_d`` from ``θ_k``, the step scaled back into the local ball
  ``‖s_d‖ ≤ Δ/D`` and the loop ended when it reaches the boundary
  (:meth:`APTSBase.first_order_local`); Adam's moments are kept per subdomain across
  steps (:class:`LocalAdam`, like the L-SR1 memories: in a distributed run on the rank
  that owns the subdomain). DD4ML's ``APTS_Base.setup_APTS_hparams`` (lines 46-83)
  lists ``sgd`` (``torch.optim.SGD``, ``lr = 0.01``) and ``tradam`` as local
  optimizers, but at fa3027f0 neither runs as one: ``_step_loop`` (lines 372-400) calls
  ``SGD.step(closure_main=…)`` (a ``TypeError``), and ``TRAdam.step`` calls the local
  closure with ``compute_grad=False`` after zeroing the gradients, so its moments see a
  zero gradient; ``TRAdam`` also bounds its step by its own ``lr``, not ``Δ/D``
  (``sync_glob_to_loc`` sets ``loc_opt.delta``, which it does not read). The options
  here are the stated intent — a first-order local solver inside APTS's local radius.

Batch growth by ×``batch_growth`` (1.5, DD4ML's ``batch_inc_factor``), on
``growth_trigger`` (:meth:`APTSBase.grow_after_step`): ``rejection`` (default: after a
rejected step, ``tr``'s hybrid rule) or ``stagnation`` (``apts_d``; DD4ML's trainer:
every ``growth_patience`` = 3 epochs the full training loss is evaluated, charged, and
the batch grows to ``⌊1.5 b⌋`` unless that loss fell by more than ``growth_tol`` = 0.01
since the previous check).

Global phase of ``apts_d`` (:meth:`APTSD.global_objective`): the global value,
gradient, trial points and the global pass's evaluations are the size-weighted sum over
the disjoint parts of the shards (the overlap not evaluated twice),
:class:`~ml2bench.solvers.data_parallel.ShardedObjective` — distributed, each rank
evaluates its part and the parts are all-reduced, as DD4ML's ``glob_closure_main``
does. In ``apts_p`` the global phase is evaluated whole (replicated on every rank).

Work: every evaluation goes through the counted oracle; local evaluations are charged
inside ``ledger.subdomain(d)`` of one parallel phase per step, so ``work_units`` sums
them and ``work_units_parallel`` takes the maximum over subdomains. Global evaluations
are serial in ``apts_p``; in ``apts_d`` each is one parallel phase over its parts (the
largest part on the critical path). Communication counted: the all-reduce of
``[s; pred]`` (``(P+1)`` entries of the parameters' dtype) per step, and in ``apts_d``
the all-reduce of every shared global evaluation (``[∇f; f]``: ``P + 1`` entries; a
value: 1; a Hessian product: ``P``).

State: distributed, each rank holds only its own subdomain's L-SR1 memory (or Adam
moments)
(:meth:`~ml2bench.solvers.base.Solver.whole_state` gathers them on rank 0 for a
checkpoint; a resumed rank keeps its own part).

References
----------
C. Groß, R. Krause, *On the convergence of recursive trust-region methods for
multiscale nonlinear optimization and applications to nonlinear mechanics*, SIAM J.
Numer. Anal. 47(4), 2009; C. Groß, *A unifying theory for nonlinear additively and
multiplicatively preconditioned globalization strategies*, PhD thesis, Bonn, 2009;
S. Trotti, S. A. Cruz Alegría, A. Kopaničáková, R. Krause, arXiv:2312.13677 (2023);
S. A. Cruz Alegría et al., arXiv:2502.05133 (2025).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ml2bench.accounting.ledger import BudgetExhausted, payload_bytes
from ml2bench.decomposition import DataDecomposition, ParameterDecomposition
from ml2bench.decomposition.base import balanced_bounds
from ml2bench.errors import UserError
from ml2bench.labels import Param, SearchSpace
from ml2bench.parallel import map_subdomains, sum_subdomains
from ml2bench.parameters import load_vector, model_vector
from ml2bench.solvers.adam_kernel import adam_update
from ml2bench.solvers.base import Solver, register_solver
from ml2bench.solvers.data_parallel import ShardedObjective
from ml2bench.solvers.level_objective import LevelObjective, Point, PointObjective
from ml2bench.solvers.lsr1 import LSR1
from ml2bench.solvers.tr_subproblem import trust_region_update
from ml2bench.solvers.tr_kernel import (TR_PARAMS, TRConfig, TRState, check_tr_params,
                                        grow_batch, reduction_ratio, trust_region_iteration)

#: The local solvers of ``apts_d`` (module docstring, "Local solvers").
LOCAL_SOLVERS = ("tr", "sgd", "adam")
#: What triggers the growth of the batch (module docstring, "Batch growth").
GROWTH_TRIGGERS = ("rejection", "stagnation")

#: Declared hyperparameters shared by ``apts_d`` and ``apts_p`` (DD4ML defaults).
APTS_PARAMS: dict[str, Param] = {
    "subdomains": Param(2, "number of subdomains D (DD4ML config: 2)", low=1,
                        search=SearchSpace("choice", choices=(2, 4, 8))),
    "local_steps": Param(3, "local trust-region iterations per subdomain (max_loc_iters)",
                         low=0, search=SearchSpace("choice", choices=(1, 3, 5))),
    "global_steps": Param(1, "trust-region iterations of the global pass (max_glob_iters)",
                          low=0, search=SearchSpace("choice", choices=(0, 1, 3))),
    "subproblem": Param("lsr1", "local/global subproblem: L-SR1, Steihaug-Toint CG, or the "
                        "first-order model (step -Δg/‖g‖: the authors' first-order TR)",
                        choices=("lsr1", "cg", "linear")),
    "radius": dataclasses.replace(TR_PARAMS["radius"], default=0.1,
                                  search=SearchSpace("log_uniform", 0.01, 1.0)),
    "max_radius": dataclasses.replace(TR_PARAMS["max_radius"], default=1.0),
    "min_radius": dataclasses.replace(TR_PARAMS["min_radius"], default=0.01),
    "eta1": TR_PARAMS["eta1"],
    "eta2": TR_PARAMS["eta2"],
    "shrink": dataclasses.replace(TR_PARAMS["shrink"], default=0.9),
    "expand": dataclasses.replace(TR_PARAMS["expand"], default=1.2),
    "tol": Param(1e-6, "reject the global step if pred < tol (DD4ML tol)", low=0.0),
    "cg_max_iter": TR_PARAMS["cg_max_iter"],
    "cg_rtol": TR_PARAMS["cg_rtol"],
    "memory": dataclasses.replace(TR_PARAMS["memory"], default=3,
                                  search=SearchSpace("choice", choices=(3, 5, 10))),
    "lsr1_solve": TR_PARAMS["lsr1_solve"],
    "batch_size": TR_PARAMS["batch_size"],
    "batch_growth": dataclasses.replace(TR_PARAMS["batch_growth"], default=1.5),
}


@dataclass
class LocalResult:
    """What subdomain ``d`` sends to the all-reduce, and its diagnostics."""

    step: Tensor | None   # s_d on the full parameter vector (R_dᵀ s_d for apts_p)
    decrease: float       # f̃_d(θ_k) − f̃_d(θ_k + s_d) (≥ 0 for tr; any sign for sgd/adam)
    radius: float         # local radius at the end
    accepted: int         # accepted local iterations (sgd/adam: steps taken)


@dataclass
class APTSState(TRState):
    """:class:`~ml2bench.solvers.tr_kernel.TRState` and the stagnation trigger's record:
    the epochs completed at the last look and the full loss at the last check."""

    epochs_done: int = 0
    full_loss: float | None = None


class LocalAdam:
    """Adam's moments for one subdomain's local solver, kept across outer steps like the
    local L-SR1 memories (:func:`~ml2bench.solvers.adam_kernel.adam_update`; its
    ``β = (0.9, 0.999)``, ``ε = 1e-8`` are also DD4ML's ``TRAdam`` defaults,
    ``utility/optimizer_utils.py`` ``get_loc_tradam_hparams``, github:cruzas/DD4ML @
    fa3027f0, lines 154-164)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the moments (``t = 0``)."""
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t = 0

    def update(self, g: Tensor, lr: float) -> Tensor:
        """Advance ``t`` and the moments with ``g``; the update ``lr·m̂/(√v̂ + ε)``."""
        self.t += 1
        self.m, self.v, update = adam_update(self.m, self.v, self.t, g, lr)
        return update

    def state_dict(self) -> dict:
        """The moments (cloned) and the step counter."""
        return {"m": None if self.m is None else self.m.clone(),
                "v": None if self.v is None else self.v.clone(), "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`."""
        self.m, self.v, self.t = state["m"], state["v"], int(state["t"])


def _memory(h: dict) -> LSR1:
    return LSR1(h["memory"], gamma=1.0, scaling="latest")


class APTSBase(Solver):
    """The APTS step common to both variants (module docstring); subclasses build the
    local objectives (:meth:`local_problem`)."""

    params = APTS_PARAMS
    distributed = True  # one process per subdomain under torch.distributed

    def check_params(self) -> None:
        check_tr_params(self.name, self.hparams)

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        h = self.hparams
        self.config = TRConfig.from_hparams(h)
        self.make_sampler(default="full")
        lsr1 = h["subproblem"] == "lsr1"
        self.local_solver = h.get("local_solver", "tr")  # apts_p: always tr
        self.local_memories = [_memory(h) if lsr1 and self.local_solver == "tr" else None
                               for _ in range(h["subdomains"])]
        self.local_adams = ([LocalAdam() for _ in range(h["subdomains"])]
                            if self.local_solver == "adam" else None)
        self.global_memory = _memory(h) if lsr1 and h["global_steps"] > 0 else None
        self.state = APTSState(radius=h["radius"])
        self.setup()

    def setup(self) -> None:
        """Subclass hook: build the decomposition."""

    def global_objective(self, batch: tuple):
        """The objective of the step's batch for the global phase (value, gradient and
        trial points; the global pass): replicated on every rank here, shared over the
        data shards by ``apts_d``."""
        return LevelObjective(self.oracle, self.level, batch)

    # -- the subdomain's work --------------------------------------------------------------
    def local_problem(self, d: int, batch_indices, point: Point):
        """``(objective, start point, to_global)`` of subdomain ``d`` (subclasses)."""
        raise NotImplementedError

    def local_solve(self, d: int, batch_indices, point: Point, radius: float) -> LocalResult:
        """Subdomain ``d``'s local trust-region iterations from ``θ_k`` (``point``, with
        the global gradient) within ``radius`` = Δ/D; a function of its inputs and the
        subdomain's L-SR1 memory only."""
        try:
            objective, start, to_global = self.local_problem(d, batch_indices, point)
        except BudgetExhausted:  # no share of the budget left for this subdomain
            return LocalResult(torch.zeros_like(point.x), 0.0, radius, 0)
        if self.local_solver != "tr":
            step, decrease, taken = self.first_order_local(d, objective, start, radius)
            return LocalResult(to_global(step), decrease, radius, taken)
        config = dataclasses.replace(self.config, max_radius=radius,
                                     min_radius=min(self.config.min_radius, radius))
        current, local_radius, accepted = start, radius, 0
        steps = self.hparams["local_steps"]
        try:
            for i in range(steps):
                result = trust_region_iteration(objective, current, local_radius, config,
                                                self.local_memories[d],
                                                trial_grad=i < steps - 1)
                local_radius = result.radius
                accepted += int(result.accepted)
                current = result.point
                if result.accepted and current.grad is None and i < steps - 1:
                    current = objective.ensure_grad(current)
        except BudgetExhausted:  # the subdomain's share is used: its last accepted iterate
            pass
        decrease = start.value - current.value if accepted else 0.0
        return LocalResult(to_global(current.x - start.x), decrease, local_radius, accepted)

    def first_order_local(self, d: int, objective, start: Point,
                          radius: float) -> tuple[Tensor, float, int]:
        r"""``local_steps`` steps of SGD or Adam on ``f̃_d`` from ``θ_k`` (``start``, with
        ``∇f̃_d(θ_k)``), kept in the local ball ``‖s_d‖ ≤ Δ/D``.

        With ``s⁰ = 0`` and ``η`` = ``local_lr``, step ``i``:

        .. math::

            t = s^{i} - \eta\, p_i,\qquad
            s^{i+1} = t\,\min\!\big(1, \tfrac{\Delta/D}{\|t\|}\big),\qquad
            p_i = \begin{cases} \nabla\tilde f_d(\theta_k + s^{i}) & \text{sgd}\\
            \hat m_i/(\sqrt{\hat v_i} + \varepsilon) & \text{adam (LocalAdam)}\end{cases}

        and the loop stops early once ``s`` reaches the boundary (``‖t‖ ≥ Δ/D``): the
        authors' APTS_D leaves its local loop "if local step has reached local
        trust-region radius" (github:cruzas/ML_APTS @ 40e03096, branch
        ``backup_development_parallel``, ``src/optimizers/APTS_D.py`` lines 116-128).
        Scaling the step to the radius is what the authors' first-order local solvers do
        to stay in a region (DD4ML's ``TRAdam.step``, ``optimizers/tradam.py`` lines
        97-107, scales its step to its length bound; ``TR`` takes ``−(Δ/‖g‖)g``); here
        the bound is the local radius ``Δ/D`` of every APTS local solve, so that the
        summed step obeys ``‖s‖ ≤ Δ``.

        Evaluations (counted): the gradient at every point but the last, whose value
        alone is evaluated (a forward pass), giving ``pred_d = f̃_d(θ_k) − f̃_d(θ_k + s_d)``
        (of either sign, as DD4ML's ``loc_red``). Returns ``(s_d, pred_d, steps taken)``;
        a budget cut ends the loop at the last evaluated point.
        """
        h = self.hparams
        lr, steps = h["local_lr"], h["local_steps"]
        adam = self.local_adams[d] if self.local_adams is not None else None
        step = torch.zeros_like(start.x)
        value, grad, taken = start.value, start.grad, 0
        try:
            for i in range(steps):
                trial = step - (lr * grad if adam is None else adam.update(grad, lr))
                norm = float(torch.linalg.vector_norm(trial))
                boundary = norm >= radius
                if boundary:
                    trial = trial * (radius / norm)
                if boundary or i == steps - 1:
                    trial_value, trial_grad = objective.value(start.x + trial), None
                else:
                    trial_value, trial_grad = objective.value_and_grad(start.x + trial)
                step, value, grad = trial, trial_value, trial_grad
                taken += 1
                if boundary:
                    break
        except BudgetExhausted:  # the subdomain's share is used: its last evaluated point
            pass
        return step, start.value - value, taken

    # -- one step ------------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        h, ledger = self.hparams, self.oracle.ledger
        indices = self.sampler.next_indices()
        full_batch = indices is None
        batch = self.task.batch(indices)
        objective = self.global_objective(batch)
        x = model_vector(objective.model)
        cached = self.state.point
        point = (cached if full_batch and cached is not None and torch.equal(cached.x, x)
                 else objective.evaluate(x))
        point = objective.ensure_grad(point)
        radius = self.state.radius
        D = h["subdomains"]

        # one process: every subdomain in sequence; under torch.distributed: this rank's
        # subdomain, the others' charges and diagnostics exchanged (ml2bench.parallel)
        own, results = map_subdomains(
            ledger, D, lambda d: self.local_solve(d, indices, point, radius / D),
            share=lambda r: dataclasses.replace(r, step=None))
        # all-reduce of [s_d; pred_d]
        payload = torch.cat([torch.stack([r.step for r in own]),
                             torch.tensor([[r.decrease] for r in own],
                                          dtype=x.dtype, device=x.device)], dim=1)
        reduced = sum_subdomains(payload)
        ledger.communicate(payload_bytes(reduced), "allreduce")
        s, pred = reduced[:-1], float(reduced[-1])

        info: dict[str, float] = {}
        accepted, rho = False, math.nan
        step_norm = float(torch.linalg.vector_norm(s))
        if pred >= h["tol"] and pred > 0.0:
            trial = objective.evaluate(x + s, with_grad=full_batch or h["global_steps"] > 0)
            rho = reduction_ratio(point.value, trial.value, pred, torch.finfo(x.dtype).eps)
            radius, accepted = trust_region_update(
                radius, rho, step_norm, eta1=self.config.eta1, eta2=self.config.eta2,
                shrink=self.config.shrink, expand=self.config.expand,
                max_radius=self.config.max_radius, min_radius=self.config.min_radius,
                boundary_fraction=0.0)  # DD4ML: expand whenever rho > eta2
            if accepted:
                point = trial
        else:  # no predicted decrease: reject without evaluating
            radius = max(self.config.shrink * radius, self.config.min_radius)
        global_accepted = accepted
        for _ in range(h["global_steps"]):
            result = trust_region_iteration(objective, point, radius, self.config,
                                            self.global_memory, trial_grad=True)
            point, radius = result.point, result.radius
            accepted = accepted or result.accepted
        load_vector(objective.model, point.x)
        self.state.radius = radius
        self.state.steps += 1
        self.state.point = point if full_batch else None
        if not global_accepted:
            self.state.rejected += 1
        self.grow_after_step(global_accepted, point.x)
        info.update({"batch_loss": point.value, "radius": radius, "rho": rho,
                     "accepted": float(global_accepted), "pred": pred,
                     "step_norm": step_norm, "batch_size": float(self.sampler.batch_size)})
        for d, r in enumerate(results):
            info[f"local_decrease_d{d}"] = float(r.decrease)
            info[f"local_radius_d{d}"] = float(r.radius)
            info[f"local_accepted_d{d}"] = float(r.accepted)
        return info

    def grow_after_step(self, accepted: bool, x: Tensor) -> None:
        r"""Grow the mini-batch by ``batch_growth`` after the step (capped at the training
        set), on the trigger ``growth_trigger`` (``apts_d``; ``apts_p``: rejection).

        * ``rejection`` — after every rejected step, size ``⌈b·factor⌉`` (``tr``'s hybrid
          stochastic–deterministic rule, Kopaničáková & Krause 2023);
        * ``stagnation`` — DD4ML's trainer (github:cruzas/DD4ML @ fa3027f0,
          ``src/dd4ml/trainer.py``: ``run_by_epoch`` lines 1186-1191,
          ``_adjust_batch_size`` lines 516-566, default ``loss_tol`` line 82): at the end
          of epochs ``e = 0, p, 2p, …`` (0-based, ``p`` = ``growth_patience``, DD4ML's
          ``epoch_num % 3 == 0``) the full training objective ``F_e = f(θ)`` is evaluated
          and the batch grows to ``⌊b·factor⌋`` if ``F_e > F_prev − tol`` (``tol`` =
          ``growth_tol``, DD4ML's ``loss_tol = 1e-2``; ``F_prev = +∞`` at the first
          check, so it only records), then ``F_prev ← F_e``. The evaluation is charged
          as one forward pass over the training set, shared over the shards as the
          global phase (DD4ML evaluates it on every rank). An epoch ends when the
          sampler has drawn another ``N`` samples (:attr:`~ml2bench.solvers.base.Solver.epoch`,
          overlap not counted); a batch that reaches ``N`` is the full batch, where the
          overlap no longer applies (DD4ML sets ``overlap = 0`` there too) and growth
          stops. With ``batch_growth = 1`` nothing is evaluated (DD4ML evaluates and
          discards).
        """
        h, sampler = self.hparams, self.sampler
        if h.get("growth_trigger", "rejection") == "rejection":
            if not accepted:
                grow_batch(sampler, h["batch_growth"])
            return
        if sampler.full_batch or h["batch_growth"] <= 1.0:
            return
        completed = sampler.samples_drawn // sampler.num_samples
        if completed <= self.state.epochs_done:
            return
        self.state.epochs_done = completed
        if (completed - 1) % h["growth_patience"]:
            return
        value = self.global_objective(self.task.batch(None)).value(x)
        previous, self.state.full_loss = self.state.full_loss, value
        if previous is not None and value > previous - h["growth_tol"]:
            grow_batch(sampler, h["batch_growth"], rounding=math.floor)

    def local_states(self) -> list | None:
        """The per-subdomain state holders: Adam moments, L-SR1 memories, or ``None``."""
        if self.local_adams is not None:
            return self.local_adams
        return None if self.local_memories[0] is None else self.local_memories

    def subdomain_states(self) -> list | None:
        """The local L-SR1 memories' or Adam moments' states (``None`` with the CG or
        linear subproblem, or the SGD local solver: no per-subdomain state)."""
        holders = self.local_states()
        return None if holders is None else [holder.state_dict() for holder in holders]

    def set_subdomain_states(self, states: list) -> None:
        for holder, state in zip(self.local_states() or [], states):
            if state is None:
                holder.reset()
            else:
                holder.load_state_dict(state)

    def stateful_parts(self) -> dict:
        parts = super().stateful_parts()
        for d, memory in enumerate(self.local_memories):
            if memory is not None:
                parts[f"lsr1_d{d}"] = memory
        for d, adam in enumerate(self.local_adams or []):
            parts[f"adam_d{d}"] = adam
        if self.global_memory is not None:
            parts["lsr1_global"] = self.global_memory
        return parts


@register_solver
class APTSD(APTSBase):
    r"""APTS with a data decomposition (module docstring): shards of the batch,
    local objectives ``f_d(θ) + ⟨g − ∇f_d(θ_k), θ − θ_k⟩`` on all parameters."""

    name = "apts_d"
    #: 2: the global phase is the size-weighted sum over the shards' disjoint parts
    #: (:meth:`global_objective`), which rounds differently from one evaluation on the batch
    version = 2
    reference = ("Groß & Krause 2009; Trotti, Cruz Alegría, Kopaničáková & Krause, "
                 "arXiv 2312.13677; Cruz Alegría et al., arXiv 2502.05133")
    params = {**APTS_PARAMS,
              "overlap": Param(0.33, "fraction of a shard shared with the next (DD4ML 0.33)",
                               low=0.0, high=0.99),
              "consistency": Param(True, "first-order consistency term (DD4ML foc=True)"),
              "local_solver": Param("tr", "local solver: trust region (subproblem), or "
                                    "local_steps of SGD/Adam kept in the local radius",
                                    choices=LOCAL_SOLVERS),
              "local_lr": Param(0.01, "learning rate of the sgd/adam local solver (DD4ML's "
                                "SGD local optimizer: 0.01)", low=0.0, low_open=True),
              "growth_trigger": Param("rejection", "batch growth after a rejected step, or "
                                      "when the full loss stagnates (DD4ML's trainer)",
                                      choices=GROWTH_TRIGGERS),
              "growth_patience": Param(3, "stagnation: epochs between full-loss checks "
                                       "(DD4ML: 3)", low=1),
              "growth_tol": Param(0.01, "stagnation: grow unless the full loss fell by more "
                                  "than this since the last check (DD4ML loss_tol)",
                                  low=0.0)}

    def setup(self) -> None:
        self._shards: dict[int, DataDecomposition] = {}

    def shards(self, size: int) -> DataDecomposition:
        """The decomposition of a batch of ``size`` samples (positions in the batch)."""
        if size not in self._shards:
            if self.hparams["subdomains"] > size:
                raise UserError(f"apts_d: subdomains={self.hparams['subdomains']} is invalid, "
                                f"the batch has {size} samples")
            self._shards[size] = DataDecomposition(size, self.hparams["subdomains"],
                                                   self.hparams["overlap"], seed=0)
        return self._shards[size]

    def global_objective(self, batch: tuple) -> ShardedObjective:
        """The global objective as the size-weighted sum over the shards' disjoint parts
        (:class:`~ml2bench.solvers.data_parallel.ShardedObjective`): distributed, each
        rank evaluates the global value, gradient and trial points on its own part and
        the parts are all-reduced; the overlap is not counted twice."""
        size = int(batch[0].shape[0])
        chunks = [torch.sort(c).values for c in self.shards(size).chunks]  # batch order
        return ShardedObjective(self.oracle, self.level, batch, chunks)

    def supports(self, task) -> tuple[bool, str]:
        if self.hparams["subdomains"] > task.num_train:
            return False, f"skip: {self.hparams['subdomains']} shards > {task.num_train} samples"
        return True, ""

    def local_problem(self, d: int, batch_indices, point: Point):
        size = self.task.num_train if batch_indices is None else int(batch_indices.numel())
        positions = torch.sort(self.shards(size).shards[d]).values  # batch order kept
        indices = positions if batch_indices is None else batch_indices[positions]
        local = LevelObjective(self.oracle, self.level, self.task.batch(indices))
        value, grad = local.value_and_grad(point.x)
        if self.hparams["consistency"]:
            shift = point.grad - grad
            local = LevelObjective(self.oracle, self.level, local.batch, shift, point.x)
            grad = point.grad
        return local, Point(point.x, value, grad), lambda s: s


class SubdomainObjective(PointObjective):
    r"""``f̃_d(z) = f(R_dᵀz + (I − R_dᵀR_d)θ_k) + ⟨v, z − R_dθ_k⟩`` on one batch
    (``v`` = 0 without consistency); the interface of
    :class:`~ml2bench.solvers.level_objective.LevelObjective` for the TR kernel.
    Gradients are charged as subdomain gradients, values as forward passes, Hessian
    products as full ones (restricted)."""

    def __init__(self, oracle, level: int, batch: tuple, decomposition, d: int,
                 base: Tensor, shift: Tensor | None = None) -> None:
        self.oracle, self.level, self.batch = oracle, level, batch
        self.decomposition, self.d, self.base = decomposition, d, base
        self.anchor = decomposition.restrict(base, d)
        self.shift = shift
        self.full = LevelObjective(oracle, level, batch)

    @property
    def model(self):
        """The level's model (the objective writes its lifted iterates there)."""
        return self.oracle.model(self.level)

    def lift(self, z: Tensor) -> Tensor:
        """``R_dᵀz + (I − R_dᵀR_d)θ_k``."""
        return self.decomposition.extend(z, self.d, self.base)

    def _linear(self, z: Tensor) -> float:
        return 0.0 if self.shift is None else float(torch.dot(self.shift, z - self.anchor))

    def value_and_grad(self, z: Tensor) -> tuple[float, Tensor]:
        """``(f̃_d(z), ∇f̃_d(z))``; charged as one gradient with respect to subdomain d."""
        load_vector(self.model, self.lift(z))
        loss, grad = self.oracle.subdomain_loss_and_grad(self.batch, self.decomposition,
                                                         self.d, self.level)
        if self.shift is not None:
            grad = grad + self.shift
        return float(loss) + self._linear(z), grad

    def value(self, z: Tensor) -> float:
        """``f̃_d(z)``; charged as one forward pass."""
        return self.full.value(self.lift(z)) + self._linear(z)

    def hessian(self, z: Tensor):
        """``v ↦ R_d ∇²f(lift(z)) R_dᵀ v`` (full products, charged as such)."""
        full = self.full.hessian(self.lift(z))
        dec, d = self.decomposition, self.d

        def matvec(v: Tensor) -> Tensor:
            return dec.restrict(full(dec.extend(v, d)), d)

        return matvec


def row_decomposition(model, subdomains: int) -> ParameterDecomposition:
    """Subdomain ``d`` owns the ``d``-th of ``D`` contiguous row groups (leading axis,
    sizes ``⌈r/D⌉`` first) of every parameter tensor with at least ``D`` rows; a tensor
    with fewer rows (or a scalar) goes whole to subdomain ``i mod D``. For a single
    vector parameter (``quadratic_poisson1d``) this is the block-Jacobi split.

    Raises
    ------
    UserError
        No parameter tensor has ``D`` rows.
    """
    pieces: list[list] = [[] for _ in range(subdomains)]
    split_any = False
    for i, param in enumerate(model.parameters()):
        rows = param.shape[0] if param.dim() else 0
        if rows >= subdomains:
            split_any = True
            for d, (start, stop) in enumerate(balanced_bounds(rows, subdomains)):
                pieces[d].extend((i, k) for k in range(start, stop))
        else:
            pieces[i % subdomains].append((i, None))
    if subdomains < 1 or not split_any:
        raise UserError(f"split=rows: no parameter tensor has {subdomains} rows")
    return ParameterDecomposition(model, pieces, "rows",
                                  [f"row group {d}" for d in range(subdomains)])


@register_solver
class APTSP(APTSBase):
    r"""APTS with a parameter decomposition (module docstring): subdomain ``d`` moves
    only ``θ_d = R_dθ`` on the global loss of the step's batch."""

    name = "apts_p"
    reference = ("Groß & Krause 2009; Trotti, Cruz Alegría, Kopaničáková & Krause, "
                 "arXiv 2312.13677; Cruz Alegría et al., arXiv 2502.05133")
    params = {**APTS_PARAMS,
              "split": Param("tensor", "parameter subdomains: DD4ML's shuffled tensors, "
                             "contiguous layer groups, or contiguous row groups of every "
                             "tensor (block Jacobi on a vector)",
                             choices=("tensor", "layer", "rows")),
              "consistency": Param(False, "first-order consistency term (DD4ML's current "
                                   "code: none; zero up to rounding on the same batch)")}

    def supports(self, task) -> tuple[bool, str]:
        try:
            self._decompose(task.hierarchy.levels[0].model)
        except UserError as error:
            return False, f"skip: {error}"
        return True, ""

    def _decompose(self, model) -> ParameterDecomposition:
        D = self.hparams["subdomains"]
        if self.hparams["split"] == "layer":
            return ParameterDecomposition.layerwise(model, D)
        if self.hparams["split"] == "rows":
            return row_decomposition(model, D)
        return ParameterDecomposition.tensorwise(model, D, seed=0)

    def setup(self) -> None:
        self.decomposition = self._decompose(self.oracle.model(self.level))

    def local_problem(self, d: int, batch_indices, point: Point):
        dec = self.decomposition
        batch = self.task.batch(batch_indices)
        restricted = dec.restrict(point.grad, d)
        shift = None
        if self.hparams["consistency"]:
            plain = SubdomainObjective(self.oracle, self.level, batch, dec, d, point.x)
            _, grad_d = plain.value_and_grad(plain.anchor)
            shift = restricted - grad_d
        local = SubdomainObjective(self.oracle, self.level, batch, dec, d, point.x, shift)
        start = Point(local.anchor, point.value, restricted)
        return local, start, lambda s_d: dec.extend(s_d, d)

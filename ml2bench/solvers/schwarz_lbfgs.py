r"""``aspqn``, ``mspqn`` — Schwarz-preconditioned L-BFGS (additive / multiplicative).

Kopaničáková, Kothari, Karniadakis & Krause, *Enhancing training of physics-informed
neural networks using domain-decomposition based preconditioning strategies*, SISC 46
(2024), arXiv 2306.17648; details read from the authors' trainers (github:cruzas/ML_APTS,
branch ``PINNs``, ``src/trainers/SPQNTrainerRight.py``).

The parameters are cut into ``D`` layer subdomains
(:meth:`~ml2bench.decomposition.ParameterDecomposition.layerwise` with
``overlap_blocks=overlap``: subdomain ``s`` owns the blocks ``[s n − o, (s+1) n + o)``,
the opening layer joins the first, the classifier the last). Subdomain ``d``'s local
objective is the global loss as a function of its own parameters only,
``f_d(z) = f(R_dᵀ z + (I − R_dᵀR_d) x)`` with the other parameters fixed at ``x`` (no
consistency term); its gradient ``R_d ∇f`` is a backward pass that stops at the
subdomain's first layer (charged ``grad_subdomain`` at its FLOP-measured cost).
One solver step from ``x_k`` (with ``f(x_k)``, ``g_k = ∇f(x_k)``, reused from the
previous step on the full batch):

* **ASPQN** (additive): every subdomain starts from ``x_k`` (its gradient ``R_d g_k``
  is known) and makes ``local_steps`` L-BFGS iterations (strong Wolfe, its own memory
  kept across steps) on ``f_d``; the correction ``c = Σ_d R_dᵀ (z_d − R_d x_k) / m``
  (``m`` each entry's multiplicity under overlap) is one all-reduce; a strong-Wolfe line
  search along ``c`` from ``α = 1`` (skipped if ``g_kᵀc ≥ 0``; kept only if the loss
  decreases); then one global L-BFGS iteration (memory ``history_size``, strong Wolfe)
  from the result. The local solves are one parallel phase of the ledger (critical path:
  the slowest subdomain); the rest is serial global work.
* **MSPQN** (multiplicative): the subdomains in order ``0 … D−1``, each from the
  previous one's result (a subdomain gradient at its start point, except for the first,
  which restricts ``g_k``), the correction taken whole (``α = 1``; it never increases the
  loss, every local iteration that does not decrease it is rejected), one global
  gradient at the result, then the global L-BFGS iteration. Sequential: no parallel
  phase, all its work is on the critical path.

Work per step in gradient evaluations (each strong-Wolfe line search costs ≥ 1, one when
its first trial is accepted): ASPQN ``≈ 2 + k_s`` on the critical path (``k_s`` local
gradients of the slowest subdomain, the line search along ``c``, the global step),
MSPQN ``≈ 2 + D k_s`` (the paper's figures); subdomain gradients count at their measured
fraction of a full gradient. Communication (``comm_bytes``): ASPQN one all-reduce of the
flat correction per step; MSPQN one broadcast of each subdomain's updated parameters
(what the next subdomain's process needs). The global steps are replicated on every
process and exchange nothing.

**Reduction to L-BFGS**: with ``local_steps = 0`` (any ``D``, any overlap) the
correction is zero, its line search is skipped and a step is exactly one iteration of
the flat-vector L-BFGS kernel (:func:`~ml2bench.solvers.lbfgs_kernel.lbfgs_step`) with
memory ``history_size`` — no evaluation besides the kernel's.

Each subdomain's work is a function of ``(d, inputs)`` (:meth:`SchwarzLBFGS.local_solve`)
so that a ``torch.distributed`` runner can run one per rank (``aspqn``); each rank then
holds only its own subdomain's L-BFGS memory (gathered on rank 0 for a checkpoint,
:meth:`~ml2bench.solvers.base.Solver.whole_state`). ``mspqn`` is sequential and runs
in one process. The solvers work in the task's dtype; the paper trains in float64
(``dtype=float64`` problem parameter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.optim.lbfgs import _strong_wolfe

from ml2bench.accounting.ledger import BudgetExhausted, payload_bytes
from ml2bench.decomposition import ParameterDecomposition
from ml2bench.decomposition.parameters import model_layers
from ml2bench.errors import UserError
from ml2bench.labels import Param, SearchSpace
from ml2bench.parallel import map_subdomains, sum_subdomains
from ml2bench.parameters import load_vector
from ml2bench.solvers.base import Solver, register_solver
from ml2bench.solvers.lbfgs_kernel import SmootherState, lbfgs_step
from ml2bench.solvers.level_objective import LevelObjective, Point, begin_step

REFERENCE = ("Kopaničáková, Kothari, Karniadakis & Krause, SISC 46 (2024), "
             "arXiv 2306.17648; github:cruzas/ML_APTS (PINNs) SPQNTrainerRight")


class SubdomainObjective:
    """``f_d(z) = f(R_dᵀ z + (I − R_dᵀR_d) base)`` on one batch: the global loss as a
    function of subdomain ``d``'s parameters, the others fixed at ``base``.

    ``value_and_grad`` is charged as one ``grad_subdomain`` of ``d``; ``evaluations``
    counts them.
    """

    def __init__(self, objective: LevelObjective, decomposition: ParameterDecomposition,
                 d: int, base: Tensor) -> None:
        self.objective, self.decomposition, self.d, self.base = objective, decomposition, d, base
        self.evaluations = 0

    def value_and_grad(self, z: Tensor) -> tuple[float, Tensor]:
        """``(f_d(z), ∇f_d(z) = R_d ∇f)``."""
        obj = self.objective
        load_vector(obj.model, self.decomposition.extend(z, self.d, self.base))
        loss, grad = obj.oracle.subdomain_loss_and_grad(obj.batch, self.decomposition,
                                                        self.d, obj.level)
        self.evaluations += 1
        return float(loss), grad


def additive_correction(decomposition: ParameterDecomposition, x: Tensor,
                        local: list[Tensor]) -> Tensor:
    """``c = Σ_d R_dᵀ (w_d ⊙ (z_d − R_d x))``, ``w = 1/multiplicity``: the local
    corrections summed, each entry divided by the number of subdomains that own it."""
    return decomposition.assemble([z - decomposition.restrict(x, d)
                                   for d, z in enumerate(local)], weighted=True)


@dataclass
class SchwarzState:
    """Typed state: step counter, cached point, global and per-subdomain L-BFGS memories."""

    steps: int = 0
    point: Point | None = None
    global_memory: SmootherState = field(default_factory=SmootherState)
    local_memories: list[SmootherState] = field(default_factory=list)


class SchwarzLBFGS(Solver):
    """Shared machinery of ``aspqn`` and ``mspqn`` (module docstring)."""

    additive: bool = True
    params = {
        "subdomains": Param(2, "layer subdomains D", low=1,
                            search=SearchSpace("choice", choices=(2, 4, 8))),
        "overlap": Param(0, "overlap in blocks on each side (the trainers' overlap_width)",
                         low=0, search=SearchSpace("choice", choices=(0, 1))),
        "local_steps": Param(10, "local L-BFGS iterations k_s per subdomain and step", low=0,
                             search=SearchSpace("choice", choices=(10, 50, 100))),
        "history_size": Param(3, "memory of the global L-BFGS", low=1),
        "local_history_size": Param(3, "memory of each subdomain's L-BFGS", low=1),
        "lr": Param(1.0, "initial step length of every L-BFGS line search", low=0.0,
                    low_open=True, search=SearchSpace("choice", choices=(1.0,))),
        "batch_size": Param(None, "mini-batch size (None: full batch)", type=int, low=1,
                            nullable=True),
    }

    def _blocks(self, model) -> int:
        return len(model_layers(model).blocks)

    def supports(self, task) -> tuple[bool, str]:
        blocks = self._blocks(task.hierarchy.levels[0].model)
        if blocks < self.hparams["subdomains"]:
            return False, (f"skip: {self.hparams['subdomains']} subdomains need as many "
                           f"blocks, the model has {blocks}")
        return True, ""

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        model = oracle.model(level)
        h = self.hparams
        if self._blocks(model) < h["subdomains"]:
            raise UserError(f"{self.name}: subdomains={h['subdomains']} is invalid, the "
                            f"model has {self._blocks(model)} blocks")
        self.decomposition = ParameterDecomposition.layerwise(
            model, h["subdomains"], overlap_blocks=h["overlap"])
        self.global_hparams = {"lr": h["lr"], "history_size": h["history_size"]}
        self.local_hparams = {"lr": h["lr"], "history_size": h["local_history_size"]}
        self.make_sampler(default="full")
        self.state = SchwarzState(
            local_memories=[SmootherState() for _ in range(h["subdomains"])])

    # -- one subdomain's work ----------------------------------------------------------
    def local_solve(self, d: int, objective: LevelObjective, base: Tensor, value: float,
                    grad: Tensor | None) -> tuple[Tensor, dict[str, float]]:
        """Subdomain ``d``'s ``local_steps`` L-BFGS iterations on ``f_d`` from ``R_d base``.

        ``value`` is ``f(base)``; ``grad`` is ``R_d ∇f(base)`` if known (None: evaluated,
        charged). Returns the final ``z_d`` and diagnostics (global-loss decrease, accepted
        iterations, subdomain gradient evaluations). Uses only ``d``, the inputs and
        subdomain ``d``'s memory, so that one process per subdomain can run it.
        """
        local = SubdomainObjective(objective, self.decomposition, d, base)
        z = self.decomposition.restrict(base, d)
        point = Point(z, value, grad)
        memory = self.state.local_memories[d]
        accepted = 0
        try:
            if grad is None and self.hparams["local_steps"] > 0:
                point = Point(z, *local.value_and_grad(z))
            for _ in range(self.hparams["local_steps"]):
                new = lbfgs_step(local, point, memory, self.local_hparams)
                if new is point:
                    break  # no decrease (or zero gradient): the local solve has stalled
                accepted += 1
                point = new
        except BudgetExhausted:  # the subdomain's share of the budget is used: its last
            pass  # accepted iterate
        return point.x, {"decrease": value - point.value, "accepted": float(accepted),
                         "evaluations": float(local.evaluations)}

    # -- the step ----------------------------------------------------------------------
    def _additive(self, objective: LevelObjective, point: Point, logs: list) -> tuple[Point, float]:
        ledger = self.oracle.ledger
        dec = self.decomposition
        # one process: every subdomain in sequence; under torch.distributed: this rank's
        # subdomain (ml2bench.parallel), its correction summed over ranks by an all-reduce
        own, shared = map_subdomains(
            ledger, dec.num_subdomains,
            lambda d: (d, *self.local_solve(d, objective, point.x, point.value,
                                            dec.restrict(point.grad, d))),
            share=lambda result: result[2])
        logs.extend(shared)
        local = [dec.restrict(point.x, d) for d in range(dec.num_subdomains)]  # no move
        for d, z, _ in own:
            local[d] = z
        correction = sum_subdomains(additive_correction(dec, point.x, local).unsqueeze(0))
        ledger.communicate(payload_bytes(correction), "allreduce")
        slope = float(torch.dot(point.grad, correction))
        if not slope < 0.0:
            return point, 0.0

        def value_and_grad(x, step, direction):
            return objective.value_and_grad(x + step * direction)

        value, grad, alpha, _ = _strong_wolfe(value_and_grad, point.x, 1.0, correction,
                                              point.value, point.grad, slope)
        if not float(value) < point.value:
            return point, 0.0
        return Point(point.x + alpha * correction, float(value), grad), float(alpha)

    def _multiplicative(self, objective: LevelObjective, point: Point,
                        logs: list) -> tuple[Point, float]:
        ledger = self.oracle.ledger
        x, value = point.x, point.value
        for d in range(self.decomposition.num_subdomains):
            grad = self.decomposition.restrict(point.grad, d) if d == 0 else None
            z, log = self.local_solve(d, objective, x, value, grad)
            ledger.communicate(payload_bytes(z), "broadcast")
            x, value = self.decomposition.extend(z, d, x), value - log["decrease"]
            logs.append(log)
        if torch.equal(x, point.x):
            return point, 1.0
        return objective.evaluate(x), 1.0

    def step(self) -> dict[str, float]:
        objective, point, full_batch = begin_step(self.oracle, self.task, self.sampler,
                                                  self.level, self.state.point)
        point = objective.ensure_grad(point)
        start_value, logs = point.value, []
        combine = self._additive if self.additive else self._multiplicative
        point, alpha = combine(objective, point, logs)
        preconditioned = point.value
        point = objective.ensure_grad(point)
        point = lbfgs_step(objective, point, self.state.global_memory, self.global_hparams)
        load_vector(objective.model, point.x)
        self.state.steps += 1
        self.state.point = point if full_batch and point.grad is not None else None
        info = {"batch_loss": point.value, "start_loss": start_value, "alpha": alpha,
                "preconditioned_decrease": start_value - preconditioned}
        for d, log in enumerate(logs):
            info.update({f"local_decrease_d{d}": log["decrease"],
                         f"local_accepted_d{d}": log["accepted"],
                         f"local_evals_d{d}": log["evaluations"]})
        return info


@register_solver
class ASPQN(SchwarzLBFGS):
    """Additive Schwarz-preconditioned L-BFGS (module docstring)."""

    name = "aspqn"
    reference = REFERENCE
    additive = True
    distributed = True  # one process per subdomain under torch.distributed

    def subdomain_states(self) -> list:
        """The local L-BFGS memories."""
        return self.state.local_memories

    def set_subdomain_states(self, states: list) -> None:
        self.state.local_memories = [SmootherState() if memory is None else memory
                                     for memory in states]


@register_solver
class MSPQN(SchwarzLBFGS):
    """Multiplicative Schwarz-preconditioned L-BFGS (module docstring)."""

    name = "mspqn"
    reference = REFERENCE
    additive = False

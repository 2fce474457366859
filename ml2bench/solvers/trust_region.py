r"""``tr`` — single-level trust region with CG, L-SR1 or Cauchy subproblems.

One solver step is one trust-region iteration (Conn, Gould & Toint 2000, Alg. 6.1.1;
Nocedal & Wright 2006, Alg. 4.1) on a batch ``ξ`` of the task's training set. The
iteration — model, ratio ``ρ`` with its rounding guard ``δ``, radius update — is
the functional kernel :func:`~ml2bench.solvers.tr_kernel.trust_region_iteration`; its
module docstring has the formulas. Subproblems (``subproblem``):

* ``cg`` — Steihaug–Toint CG with exact Hessian-vector products ``B = ∇²f_ξ(x)``, at
  most ``cg_max_iter`` products per step;
* ``lsr1`` — compact limited-memory SR1 ``B`` (``memory`` pairs, ``γ`` scaled by the
  latest pair), solved exactly in the compact eigenbasis (``lsr1_solve=obs``) or by
  CG on ``B`` (``lsr1_solve=cg``); a pair is offered after every trial step;
* ``cauchy`` — the Cauchy point (one Hessian-vector product per step).

Stochastic use: the same batch for the step and its ratio test; ``batch_size=None``
(default) means the full training set (deterministic). With ``batch_growth > 1`` the
batch grows by that factor (capped at the training set) after every rejected step —
the hybrid stochastic–deterministic regime of Kopaničáková & Krause (2023).

References
----------
A. R. Conn, N. I. M. Gould, Ph. L. Toint, *Trust-Region Methods*, SIAM, 2000;
T. Steihaug, SIAM J. Numer. Anal. 20(3), 1983;
R. H. Byrd, J. Nocedal, R. B. Schnabel, Math. Program. 63, 1994 (compact SR1);
J. J. Brust, J. B. Erway, R. F. Marcia, Comput. Optim. Appl. 66, 2017 (OBS);
A. Kopaničáková, R. Krause, SIAM J. Sci. Comput. 45(3), 2023.
"""

from __future__ import annotations

from ml2bench.labels import Param
from ml2bench.parameters import load_vector
from ml2bench.solvers.base import Solver, register_solver
from ml2bench.solvers.level_objective import begin_step
from ml2bench.solvers.tr_kernel import (TR_PARAMS, TRConfig, TRState, check_tr_params,
                                        grow_batch, make_memory, trust_region_iteration)


@register_solver
class TrustRegion(Solver):
    r"""Trust region on the finest level (or ``level`` when driven by another solver).

    See the module docstring for the algorithm. In deterministic mode the gradient of
    an accepted trial point is reused by the next step, so one step costs one gradient
    plus the subproblem's Hessian-vector products (``cg``: ≤ ``cg_max_iter``;
    ``cauchy``: 1; ``lsr1``: none).
    """

    name = "tr"
    reference = "Conn, Gould & Toint 2000; Steihaug 1983; Brust, Erway & Marcia 2017"
    params = {"subproblem": Param("cg", "subproblem solver", choices=("cg", "lsr1", "cauchy")),
              **TR_PARAMS}

    def check_params(self) -> None:
        check_tr_params(self.name, self.hparams)

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.config = TRConfig.from_hparams(self.hparams)
        self.make_sampler(default="full")
        self.memory = make_memory(self.hparams) if self.hparams["subproblem"] == "lsr1" else None
        self.state = TRState(radius=self.hparams["radius"])

    def step(self) -> dict[str, float]:
        objective, point, full_batch = begin_step(self.oracle, self.task, self.sampler,
                                                  self.level, self.state.point)
        result = trust_region_iteration(objective, point, self.state.radius, self.config,
                                        self.memory, trial_grad=full_batch)
        load_vector(objective.model, result.point.x)
        self.state.radius = result.radius
        self.state.steps += 1
        self.state.point = result.point if full_batch else None
        if not result.accepted:
            self.state.rejected += 1
            grow_batch(self.sampler, self.hparams["batch_growth"])
        return {"batch_loss": result.point.value, "radius": result.radius, "rho": result.rho,
                "accepted": float(result.accepted), "step_norm": result.step_norm,
                "matvecs": float(result.matvecs), "batch_size": float(self.sampler.batch_size)}

    def stateful_parts(self) -> dict:
        parts = super().stateful_parts()
        if self.memory is not None:
            parts["lsr1"] = self.memory
        return parts

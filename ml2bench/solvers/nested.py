"""Nested iteration ("cascadic" multilevel initialisation).

Train on the coarsest level, prolongate the iterate ``x_l = P x_{l+1}``, continue on the
next finer level, and so on up to the finest, where the inner solver runs until the
budget ends. Any single-level baseline serves as the inner solver. This is the
baseline every multilevel method must beat.

References: Cyr, Günther & Schroder, *Multilevel initialization for layer-parallel deep
neural network training*, arXiv 1912.08974 (2019); Chang et al., ICLR 2018;
Deuflhard & Bornemann's cascadic multigrid (1996).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml2bench.labels import Param, SearchSpace
from ml2bench.parameters import copy_params_into
from ml2bench.solvers.base import MultilevelSolver, Solver, register_solver, state_from_dict

INNER = ("sgd", "adam", "adamw", "lbfgs")


@dataclass
class NestedState:
    """Typed state of ``nested``: the level being trained, the inner steps taken there
    and the epochs drawn on the coarser levels already finished."""

    level: int
    steps_on_level: int = 0
    epochs_done: float = 0.0


@register_solver
class NestedIteration(MultilevelSolver):
    name = "nested"
    reference = "Cyr, Günther & Schroder 2019 (arXiv 1912.08974)"
    params = {
        **MultilevelSolver.params,
        "inner": Param("adam", "inner single-level solver", choices=INNER),
        "coarse_steps": Param(50, "inner steps on each coarse level", low=0,
                              search=SearchSpace("choice", choices=(20, 50, 200))),
        "lr": Param(None, "inner learning rate (None: the inner solver's default)", type=float,
                    low=0.0, low_open=True, nullable=True,
                    search=SearchSpace("log_uniform", 1e-4, 1.0)),
        "batch_size": Param(None, "mini-batch size (None: inner default)", type=int, low=1,
                            nullable=True),
    }

    def _inner_solver(self) -> Solver:
        from ml2bench.solvers.registry import solver_class
        kwargs = {k: self.hparams[k] for k in ("lr", "batch_size") if self.hparams[k] is not None}
        return solver_class(self.hparams["inner"])(**kwargs)

    def check_params(self) -> None:
        self._inner_solver()  # validates the forwarded hyperparameters

    def init(self, task, oracle, generator, level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        self.state = NestedState(level=self.num_levels - 1)
        self._start_level()

    def _start_level(self) -> None:
        self.inner = self._inner_solver()
        self.inner.init(self.task, self.oracle, self.generator, level=self.state.level)

    def _prolongate_to(self, target: int) -> None:
        """Copy ``P`` of the current level's iterate into level ``target``'s model."""
        values = self.oracle.params(self.state.level)
        for level in range(self.state.level - 1, target - 1, -1):
            values = self.task.hierarchy.transfers[level].prolong(values)
        copy_params_into(self.oracle.model(target), values)

    def step(self) -> dict[str, float]:
        state = self.state
        if state.level > 0 and state.steps_on_level >= self.hparams["coarse_steps"]:
            self._prolongate_to(state.level - 1)
            state.epochs_done += self.inner.epoch
            state.level -= 1
            state.steps_on_level = 0
            self._start_level()
        info = self.inner.step()
        state.steps_on_level += 1
        return {**info, "level": float(state.level)}

    def export_iterate(self) -> None:
        if self.state.level > 0:
            self._prolongate_to(0)

    @property
    def epoch(self) -> float:
        return self.state.epochs_done + self.inner.epoch

    def stateful_parts(self) -> dict:
        return {"inner": self.inner}

    def load_state_dict(self, saved: dict) -> None:
        self.state = state_from_dict(NestedState, saved["state"])
        self._start_level()  # the inner solver of the saved level, then its state
        super().load_state_dict(saved)

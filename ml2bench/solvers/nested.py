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

from ml2bench.parameters import copy_params_into
from ml2bench.labels import Param, SearchSpace
from ml2bench.solvers.base import MultilevelSolver, Solver, register_solver

INNER = ("sgd", "adam", "adamw", "lbfgs")


@register_solver
class NestedIteration(MultilevelSolver):
    name = "nested"
    reference = "Cyr, Günther & Schroder 2019 (arXiv 1912.08974)"
    params = {
        "inner": Param("adam", "inner single-level solver", choices=INNER),
        "levels": Param(None, "levels used (None: all of the hierarchy)", type=int, low=1,
                        nullable=True),
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

    def init(self, task, oracle, generator) -> None:
        super().init(task, oracle, generator)
        self.level = self.levels_used(task) - 1
        self.steps_on_level = 0
        self.epochs_done = 0.0
        self._start_level()

    def _start_level(self) -> None:
        self.inner = self._inner_solver()
        self.inner.init(self.task, self.oracle, self.generator, level=self.level)

    def _prolongate_to(self, target: int) -> None:
        """Copy ``P`` of the current level's iterate into level ``target``'s model."""
        values = self.oracle.params(self.level)
        for level in range(self.level - 1, target - 1, -1):
            values = self.task.hierarchy.transfers[level].prolong(values)
        copy_params_into(self.oracle.model(target), values)

    def step(self) -> dict[str, float]:
        if self.level > 0 and self.steps_on_level >= self.hparams["coarse_steps"]:
            self._prolongate_to(self.level - 1)
            self.epochs_done += self.inner.epoch
            self.level -= 1
            self.steps_on_level = 0
            self._start_level()
        info = self.inner.step()
        self.steps_on_level += 1
        return {**info, "level": float(self.level)}

    def export_iterate(self) -> None:
        if self.level > 0:
            self._prolongate_to(0)

    @property
    def epoch(self) -> float:
        return self.epochs_done + self.inner.epoch

    def state_dict(self) -> dict:
        return {"level": self.level, "steps_on_level": self.steps_on_level,
                "epochs_done": self.epochs_done, "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.level = state["level"]
        self.steps_on_level = state["steps_on_level"]
        self.epochs_done = state["epochs_done"]
        self._start_level()
        self.inner.load_state_dict(state["inner"])

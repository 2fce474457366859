"""The solver contract.

A solver is constructed from keyword hyperparameters only — validated in the
constructor, nothing computed there — then bound to a task with :meth:`Solver.init`
and advanced by :meth:`Solver.step` (one outer iteration: a mini-batch step, an L-BFGS
iteration, a multilevel cycle). ``step`` returns a small dict of diagnostics that the
runner logs as ``info_*`` columns. All evaluations go through the counted
:class:`~ml2bench.accounting.oracle.Oracle`; all randomness comes from the
``torch.Generator`` given to ``init``. The solver's state survives
``state_dict()``/``load_state_dict()``; the models' parameters are saved by the runner.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ml2bench.errors import UserError
from ml2bench.labels import Param, ParamSet, format_label
from ml2bench.accounting.oracle import Oracle
from ml2bench.problems.base import Task


class Solver:
    """Base class: declared hyperparameters, label, task binding, state."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any) -> None:
        self.hparams = ParamSet.validate(self.name, self.params, params).values
        self.check_params()
        self.task: Task | None = None
        self.oracle: Oracle | None = None
        self.generator: torch.Generator | None = None

    def check_params(self) -> None:
        """Cross-parameter validation (raise :class:`~ml2bench.errors.UserError`)."""

    @property
    def label(self) -> str:
        """``name[k=v,...]`` with the non-default hyperparameters."""
        values = ParamSet(self.name, self.params, self.hparams).non_default()
        return format_label(self.name, values)

    def supports(self, task: Task) -> tuple[bool, str]:
        """Whether this solver can run on ``task`` and, if not, why."""
        return True, ""

    def init(self, task: Task, oracle: Oracle, generator: torch.Generator) -> None:
        """Bind to a task; set up state. Subclasses call ``super().init`` first."""
        self.task, self.oracle, self.generator = task, oracle, generator

    def step(self) -> dict[str, float]:  # pragma: no cover - abstract
        """One outer iteration; returns diagnostics."""
        raise NotImplementedError

    def export_iterate(self) -> None:
        """Write the current iterate into the finest model (before evaluation).

        Solvers that iterate on a coarser level (nested iteration) prolongate here;
        the default does nothing because the finest model already holds the iterate.
        """

    @property
    def epoch(self) -> float:
        """Passes over the training data drawn by the solver's sampler (``self.sampler``)."""
        sampler = getattr(self, "sampler", None)
        return sampler.epoch if sampler is not None else 0.0

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class MultilevelSolver(Solver):
    """Base of solvers that need a hierarchy: skip one-level problems, resolve ``levels``.

    Subclasses declare a ``levels`` hyperparameter (None: all levels of the hierarchy).
    """

    def supports(self, task: Task) -> tuple[bool, str]:
        if len(task.hierarchy) < 2:
            return False, "skip: needs >= 2 levels"
        return True, ""

    def levels_used(self, task: Task) -> int:
        """``levels`` (or all); a UserError if the hierarchy has fewer."""
        num_levels = self.hparams["levels"] or len(task.hierarchy)
        if num_levels > len(task.hierarchy):
            raise UserError(f"{self.name}: levels={num_levels} is invalid, the problem has "
                            f"{len(task.hierarchy)} levels")
        return num_levels


SOLVERS: dict[str, type[Solver]] = {}


def register_solver(cls: type[Solver]) -> type[Solver]:
    """Class decorator adding a solver to :data:`SOLVERS`.

    A built-in solver's ``description`` comes from its entry in
    :data:`ml2bench.solvers.catalogue.SOLVERS` (its one home); a solver outside the
    catalogue declares its own.
    """
    from ml2bench.solvers.catalogue import SOLVERS as CATALOGUE

    entry = CATALOGUE.get(cls.name)
    if entry is not None and "description" not in cls.__dict__:
        cls.description = entry.description
    SOLVERS[cls.name] = cls
    return cls


def float_info(values: dict[str, Any]) -> dict[str, float]:
    """Diagnostics as plain floats (tensors and bools converted)."""
    return {k: float(v) for k, v in values.items()}

"""The solver contract.

A solver is constructed from keyword hyperparameters only — validated in the
constructor, nothing computed there — then bound to a task with :meth:`Solver.init`
and advanced by :meth:`Solver.step` (one outer iteration: a mini-batch step, an L-BFGS
iteration, a multilevel cycle). ``step`` returns a small dict of diagnostics that the
runner logs as ``info_*`` columns. All evaluations go through the counted
:class:`~ml2bench.accounting.oracle.Oracle`; all randomness comes from the
``torch.Generator`` given to ``init``.

What every solver repeats lives here (torch.optim's rule: the base owns the
bookkeeping, a solver owns its algorithm):

* ``state_dict``/``load_state_dict``, generic over the solver's typed state dataclass
  (``self.state``) and its stateful parts (sampler, optimizer, quasi-Newton memories,
  see :meth:`Solver.stateful_parts`); saving never mutates the solver;
* one batch-size policy, :meth:`Solver.make_sampler`;
* one ``init(task, oracle, generator, level=0)`` signature (``level`` lets another
  solver, e.g. nested iteration, drive a single-level solver on a coarse level);
* :class:`MultilevelSolver` declares ``levels`` once and resolves it at ``init``;
* bound constraints: a task with bounds (``task.has_bounds``, e.g. the obstacle
  problems) is refused with :data:`BOUNDS_SKIP` by every solver whose
  :meth:`Solver.respects_bounds` is False — checked before any ``supports`` a subclass
  defines (:meth:`Solver.__init_subclass__` wraps it), so no solver can forget it.

The models' parameters are saved by the runner, not here.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from contextlib import contextmanager
from typing import Any, ClassVar, Iterator

import torch

from ml2bench.accounting.oracle import Oracle
from ml2bench.errors import UserError
from ml2bench.labels import Param, ParamSet, format_label
from ml2bench.parallel import gather_to_root, owned, world
from ml2bench.problems.base import BatchSampler, Task

#: Batch-size defaults of :meth:`Solver.make_sampler`.
BATCH_DEFAULTS = ("full", "problem")

#: The refusal of a solver that cannot keep iterates within a problem's bounds.
BOUNDS_SKIP = "skip: problem has bound constraints"


def _refusing_bounds(supports):
    """``supports`` preceded by the bound check (see :meth:`Solver.__init_subclass__`)."""
    @functools.wraps(supports)
    def checked(self, task):
        if getattr(task, "has_bounds", False) and not self.respects_bounds():
            return False, BOUNDS_SKIP
        return supports(self, task)
    return checked


def state_to_dict(state: Any) -> dict:
    """A deep, plain-dict copy of a state dataclass (nested dataclasses become dicts).

    The state itself is not modified (``dataclasses.asdict`` deep-copies tensors and
    containers), so saving a solver's state never changes its behaviour.
    """
    return dataclasses.asdict(state)


def state_from_dict(cls: type, data: dict) -> Any:
    """Rebuild a state dataclass ``cls`` from :func:`state_to_dict`'s output.

    Fields annotated with a dataclass type, ``Optional[dataclass]`` or
    ``list[dataclass]`` are rebuilt recursively from their dicts; other values are taken
    as they are.
    """
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _rebuild(hints[f.name], data[f.name])
    return cls(**values)


def _rebuild(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(annotation) and isinstance(value, dict):
        return state_from_dict(annotation, value)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args and isinstance(value, list):
        return [_rebuild(args[0], item) for item in value]
    if args and origin is not list:  # a union such as ``Point | None``
        for option in args:
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                return state_from_dict(option, value)
    return value


class Solver:
    """Base class: declared hyperparameters, label, task binding, sampler, state.

    Attributes set by :meth:`init`: ``task``, ``oracle``, ``generator``, ``level`` (the
    hierarchy level the solver works on, 0 the finest) and, for solvers that draw
    batches, ``sampler``. ``state`` is the solver's typed state dataclass (or ``None``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    #: The solver's version: part of every run's identity, bumped whenever a change
    #: changes the solver's numbers, so stored results never go silently stale
    #: (guarded by the fingerprints of ``tests/solvers/test_solver_versions.py``).
    version: ClassVar[int] = 1

    def __init__(self, **params: Any) -> None:
        self.hparams = ParamSet.validate(self.name, self.params, params).values
        self.check_params()
        self.task: Task | None = None
        self.oracle: Oracle | None = None
        self.generator: torch.Generator | None = None
        self.sampler: BatchSampler | None = None
        self.state: Any = None
        self.level = 0

    def check_params(self) -> None:
        """Cross-parameter validation (raise :class:`~ml2bench.errors.UserError`)."""

    def check_problem(self, num_levels: int) -> None:
        """UserError if the hyperparameters cannot work on a problem whose hierarchy has
        ``num_levels`` levels (checked before a sweep starts, without building the task):
        a ``levels`` hyperparameter above it. One-level problems are skipped instead."""
        levels = self.hparams.get("levels")
        if levels and num_levels >= 2 and levels > num_levels:
            raise UserError(f"{self.name}: levels={levels} is invalid, the problem has "
                            f"{num_levels} levels")

    @property
    def label(self) -> str:
        """``name[k=v,...]`` with the non-default hyperparameters."""
        values = ParamSet(self.name, self.params, self.hparams).non_default()
        return format_label(self.name, values)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap a subclass's own ``supports`` so that the bound check comes first."""
        super().__init_subclass__(**kwargs)
        if "supports" in cls.__dict__:
            cls.supports = _refusing_bounds(cls.__dict__["supports"])

    def respects_bounds(self) -> bool:
        """Whether every iterate stays within the task's bounds (``task.lower``,
        ``task.upper``) in floating point; False refuses bounded tasks."""
        return False

    def supports(self, task: Task) -> tuple[bool, str]:
        """Whether this solver can run on ``task`` and, if not, why (a bounded task is
        refused with :data:`BOUNDS_SKIP` unless :meth:`respects_bounds`)."""
        if task.has_bounds and not self.respects_bounds():
            return False, BOUNDS_SKIP
        return True, ""

    def init(self, task: Task, oracle: Oracle, generator: torch.Generator,
             level: int = 0) -> None:
        """Bind to a task on hierarchy level ``level``; subclasses call ``super().init``
        first, then set up their state."""
        self.task, self.oracle, self.generator, self.level = task, oracle, generator, level

    def make_sampler(self, default: str = "problem") -> BatchSampler:
        """The solver's batch sampler (stored as ``self.sampler``): the ``batch_size``
        hyperparameter if set, else the full training set (``default="full"``, the
        deterministic methods) or the problem's batch size (``default="problem"``)."""
        if default not in BATCH_DEFAULTS:
            raise ValueError(f"unknown batch default {default!r}; valid: {BATCH_DEFAULTS}")
        size = self.hparams.get("batch_size")
        if size is None:
            size = self.task.num_train if default == "full" else self.task.batch_size
        self.sampler = self.task.sampler(size, self.generator)
        return self.sampler

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
        """Passes over the training data drawn by the solver's sampler."""
        return self.sampler.epoch if self.sampler is not None else 0.0

    # -- the budget ends inside a step --------------------------------------------------
    #: Whether every evaluation of a step comes before the step's first change of the
    #: models (a mini-batch gradient step: evaluate, then update): a step cut by the
    #: budget has then changed nothing, and :meth:`snapshot` need copy nothing.
    evaluates_before_updating: ClassVar[bool] = False

    def snapshot(self) -> Any:
        """The iterate before a step (every level's model state), for :meth:`restore`;
        None for a solver that :attr:`evaluates_before_updating`.

        The runner takes one before each step: when the budget ends inside the step
        (:class:`~ml2bench.accounting.ledger.BudgetExhausted`), the step is given up and
        the run ends at its last accepted iterate."""
        if self.evaluates_before_updating:
            return None
        return [{k: v.detach().clone() for k, v in level.model.state_dict().items()}
                for level in self.task.hierarchy.levels]

    def restore(self, snapshot: Any) -> None:
        """Put the last accepted iterate back into the models after a step cut by the
        budget: the iterate of :meth:`snapshot` (subclasses that accept iterates inside a
        step, e.g. RMTR's fine-level steps within a cycle, load the later one)."""
        for level, state in zip(self.task.hierarchy.levels, snapshot or []):
            level.model.load_state_dict(state)

    # -- state ---------------------------------------------------------------------------
    #: Whether the solver runs one process per subdomain under ``torch.distributed``
    #: (:mod:`ml2bench.parallel`; ``subdomains`` processes).
    distributed = False

    def subdomain_states(self) -> list | None:
        """The per-subdomain part of the resumable state, one entry per subdomain (e.g.
        local quasi-Newton memories): in a distributed run entry ``d`` lives only on the
        rank that computes subdomain ``d``. ``None`` (the default): no such part, the
        state is replicated on every rank."""
        return None

    def set_subdomain_states(self, states: list) -> None:
        """Load :meth:`subdomain_states`' entries; ``None`` forgets that subdomain's
        state (it lives on another rank)."""
        raise NotImplementedError

    @contextmanager
    def whole_state(self) -> Iterator[None]:
        """Distributed runs: inside, the rank that saves (rank 0) holds the whole
        resumable state, its :meth:`subdomain_states` gathered from the ranks that own
        them (a collective on entry, entered on every rank); on exit each rank again holds
        only its own subdomain's state. Nothing to do in one process, or for a solver
        whose state is replicated."""
        states = None if world()[1] == 1 else self.subdomain_states()
        if states is None:
            yield
            return
        own = set(owned(len(states)))
        gathered = gather_to_root([s if d in own else None for d, s in enumerate(states)])
        try:
            if gathered is not None:
                self.set_subdomain_states(gathered)
            yield
        finally:
            self.keep_own_state()

    def keep_own_state(self) -> None:
        """Distributed: forget the subdomain states that other ranks own (the scatter
        after a gather or a resume); nothing in one process."""
        states = None if world()[1] == 1 else self.subdomain_states()
        if states is None:
            return
        own = set(owned(len(states)))
        self.set_subdomain_states([s if d in own else None for d, s in enumerate(states)])

    def stateful_parts(self) -> dict[str, Any]:
        """Named components with their own ``state_dict``/``load_state_dict``.

        The base returns the sampler; solvers add their optimizer or memories.
        """
        return {} if self.sampler is None else {"sampler": self.sampler}

    def state_dict(self) -> dict:
        """The solver's state: ``self.state`` (as a dict) and every stateful part."""
        saved = {name: part.state_dict() for name, part in self.stateful_parts().items()}
        if self.state is not None:
            saved["state"] = state_to_dict(self.state)
        return saved

    def load_state_dict(self, saved: dict) -> None:
        """Restore :meth:`state_dict`'s output into a solver bound by :meth:`init`."""
        if self.state is not None:
            self.state = state_from_dict(type(self.state), saved["state"])
        for name, part in self.stateful_parts().items():
            part.load_state_dict(saved[name])
        self.keep_own_state()  # distributed: every rank read the whole state


#: The ``levels`` hyperparameter of every multilevel solver.
LEVELS = Param(None, "levels used (None: all of the hierarchy)", type=int, low=1, nullable=True)


class MultilevelSolver(Solver):
    """Base of solvers that need a hierarchy: skip one-level problems, resolve ``levels``.

    ``params`` declares ``levels`` (subclasses extend it: ``{**MultilevelSolver.params,
    ...}``); :meth:`init` sets ``num_levels``, the number of levels used.
    """

    params: ClassVar[dict[str, Param]] = {"levels": LEVELS}

    def supports(self, task: Task) -> tuple[bool, str]:
        if len(task.hierarchy) < 2:
            return False, "skip: needs >= 2 levels"
        return True, ""

    def init(self, task: Task, oracle: Oracle, generator: torch.Generator,
             level: int = 0) -> None:
        super().init(task, oracle, generator, level)
        if level != 0:
            raise ValueError(f"{self.name} cycles from the finest level; got level={level}")
        self.num_levels = self.levels_used(task)

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

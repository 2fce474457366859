"""The work ledger: honest work units by construction.

**1 WU = one forward+backward pass of the finest-level model over the whole training
set.** An evaluation of kind ``k`` on ``b`` of the ``N`` training samples on level
``l`` is charged ``(b / N) · cost_l[k]``, where ``cost_l[k]`` is the FLOP-measured cost
of that kind relative to a finest-level gradient (see
:mod:`ml2bench.hierarchy.cost`). Evaluations for logging never reach the ledger.

Domain-decomposition solvers group charges into parallel phases: within a phase,
each subdomain's work is summed separately and the phase adds its maximum to
``work_units_parallel`` (the critical path), while ``work_units`` adds the sum. Work
charged outside a phase is serial global work and adds to both.

A gradient with respect to one parameter subdomain ``d`` (kind ``grad_subdomain``) on
``b`` samples is charged ``(b / N) · cost_l[grad] · c_d``, where ``c_d`` (the ``scale``
of :meth:`WorkLedger.charge`) is the FLOP-measured ratio of that gradient to a full one
(:func:`ml2bench.decomposition.subdomain_costs`: the backward stops at the subdomain's
first layer). A gradient on a data shard of ``b`` samples is an ordinary ``grad``
charge, ``(b / N) · cost_l[grad]``.

Communication (:meth:`WorkLedger.communicate`) is counted in ``comm_bytes``, not in
work units: each all-reduce or broadcast adds the payload size of the vector once
(``numel × bytes per element``), whatever the number of subdomains and without the
``2(D − 1)/D`` factor of a ring all-reduce — a count of what is exchanged, not a
network model.

**The budget is a hard limit** (AlgoPerf's rule: the run stops when its budget is used
up, at its last accepted iterate). A ledger with a ``limit`` refuses, by raising
:class:`BudgetExhausted` before anything is recorded or computed, every evaluation that
would take ``work_units`` past it; the runner then puts the solver's last accepted
iterate back and evaluates it. So no reported metric comes from work beyond the
budget, and no run overshoots it. Inside a parallel phase each subdomain gets an equal
share of what is left (:meth:`WorkLedger.allowance`), the same decision in one process
and under ``torch.distributed``: a subdomain whose share is used up ends its local
phase (the DD solvers catch the exception there), and the next global evaluation that
does not fit is refused.
"""

from __future__ import annotations

import math
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

from ml2bench.hierarchy.base import LevelCost

#: Evaluation kinds: ``hvp`` is a Hessian-vector product that linearises the gradient
#: (the first of a Krylov solve), ``hvp_more`` a further product through the same
#: linearisation (:mod:`ml2bench.hessian`); ``grad_subdomain`` a gradient with respect to
#: one parameter subdomain (a measured fraction of ``grad``); ``sweep`` one (projected)
#: Gauss–Seidel sweep over a level, priced as that level's gradient (a sweep touches
#: every nonzero of the level's matrix once, as the gradient's matrix-vector product
#: does; :mod:`ml2bench.solvers.monotone_kernels`).
KINDS = ("forward", "grad", "hvp", "hvp_more", "grad_subdomain", "sweep")

#: Kinds charged a measured fraction (``scale``) of a level cost: kind -> cost entry.
SCALED_KINDS = {"grad_subdomain": "grad", "sweep": "grad"}

#: Collective operations counted by :meth:`WorkLedger.communicate`.
COMM_KINDS = ("allreduce", "broadcast")

#: The kinds that are Hessian-vector products.
HVP_KINDS = ("hvp", "hvp_more")


#: Relative slack of the budget test (sums of charges round; a budget met exactly by
#: whole evaluations must not refuse the last one).
BUDGET_SLACK = 1e-9


class BudgetExhausted(Exception):
    """An evaluation would take the work units past the run's budget (or a subdomain's
    share of it); raised before the evaluation is recorded or computed."""


def payload_bytes(*tensors) -> int:
    """Bytes of a payload of tensors: ``Σ numel × element size`` (``4P`` for a float32
    vector of ``P`` entries)."""
    return sum(int(t.numel()) * int(t.element_size()) for t in tensors)


class WorkLedger:
    """Counts evaluations per level and kind and converts them to work units.

    Parameters
    ----------
    costs : sequence of LevelCost
        Measured relative costs, finest level first.
    num_train : int
        Number of training samples ``N`` (1 for problems without data).
    """

    def __init__(self, costs: Sequence[LevelCost], num_train: int) -> None:
        self.costs = list(costs)
        self.num_train = int(num_train)
        self.evaluations: dict[tuple[int, str], int] = defaultdict(int)
        self.samples: dict[tuple[int, str], int] = defaultdict(int)
        self.work_units = 0.0
        self.work_units_parallel = 0.0
        self.comm_bytes = 0
        self.communications: dict[str, int] = defaultdict(int)
        self.scaled_units: dict[tuple[int, str], float] = defaultdict(float)
        self._phase: dict[int, float] | None = None
        self._subdomain = 0
        self._records: list | None = None
        #: The budget in work units (``inf``: none); see the module docstring.
        self.limit = math.inf
        self._allowance: float | None = None
        self._spent = 0.0
        self._replaying = False

    def remaining(self) -> float:
        """Work units left before the budget."""
        return self.limit - self.work_units

    def _check_budget(self, wu: float) -> None:
        """Raise :class:`BudgetExhausted` if charging ``wu`` would pass the limit (or the
        current subdomain allowance); replayed charges are not checked again."""
        if self._replaying:
            return
        if self._allowance is not None:
            spent, limit = self._spent + wu, self._allowance
        else:
            spent, limit = self.work_units + wu, self.limit
        if spent > limit + BUDGET_SLACK * max(1.0, abs(limit)):
            raise BudgetExhausted(f"an evaluation of {wu:.6g} WU would pass the budget "
                                  f"({self.limit:g} WU)")

    @contextmanager
    def allowance(self, units: float) -> Iterator[None]:
        """Charges made inside may add up to at most ``units`` (a subdomain's share of
        the remaining budget in a parallel phase); more raises :class:`BudgetExhausted`."""
        previous = (self._allowance, self._spent)
        self._allowance, self._spent = units, 0.0
        try:
            yield
        finally:
            self._allowance, self._spent = previous

    def cost(self, level: int, kind: str, num_samples: int, scale: float = 1.0) -> float:
        """The work units one evaluation of ``kind`` on ``num_samples`` samples of
        ``level`` costs (:meth:`charge`'s price), without charging it."""
        if kind not in KINDS:
            raise ValueError(f"unknown evaluation kind {kind!r}; valid: {', '.join(KINDS)}")
        if kind in SCALED_KINDS:
            return num_samples / self.num_train * self.costs[level].of(SCALED_KINDS[kind]) * scale
        if scale != 1.0:
            raise ValueError(f"kind {kind!r} takes no scale")
        return num_samples / self.num_train * self.costs[level].of(kind)

    def require(self, units: float) -> None:
        """Raise :class:`BudgetExhausted` unless ``units`` more work units fit in the
        budget (or the current allowance): a group of evaluations refused as a whole,
        before any of them is made — the same decision on every rank of a distributed run,
        whose ledgers are identical (:mod:`ml2bench.parallel`)."""
        self._check_budget(units)

    def charge(self, level: int, kind: str, num_samples: int, scale: float = 1.0) -> float:
        """Record one evaluation; returns the work units it cost.

        ``(num_samples / N) · cost_level[kind]``; for a kind of :data:`SCALED_KINDS`
        (``grad_subdomain``) the cost entry it maps to, times ``scale`` (the measured
        fraction of that evaluation's FLOPs). Other kinds take no ``scale``.
        """
        wu = self.cost(level, kind, num_samples, scale)
        self._check_budget(wu)
        if self._allowance is not None:
            self._spent += wu
        if self._records is not None:  # recorded for a later replay, not applied
            self._records.append((level, kind, int(num_samples), float(scale)))
            return wu
        if kind in SCALED_KINDS:
            self.scaled_units[(level, kind)] += wu
        self.evaluations[(level, kind)] += 1
        self.samples[(level, kind)] += int(num_samples)
        self.work_units += wu
        if self._phase is None:
            self.work_units_parallel += wu
        else:
            self._phase[self._subdomain] = self._phase.get(self._subdomain, 0.0) + wu
        return wu

    def communicate(self, num_bytes: int, kind: str = "allreduce") -> int:
        """Record one collective of a ``num_bytes`` payload; returns ``num_bytes``.

        Serial global work of no work units: ``comm_bytes`` grows by the payload once
        per operation (module docstring), inside a parallel phase or not.
        """
        if kind not in COMM_KINDS:
            raise ValueError(f"unknown communication {kind!r}; valid: {', '.join(COMM_KINDS)}")
        if num_bytes < 0:
            raise ValueError(f"a payload has at least 0 bytes, got {num_bytes}")
        self.comm_bytes += int(num_bytes)
        self.communications[kind] += 1
        return int(num_bytes)

    @contextmanager
    def parallel_phase(self) -> Iterator["WorkLedger"]:
        """Group the charges made inside into one parallel phase (critical path = max)."""
        if self._phase is not None:
            raise RuntimeError("parallel phases do not nest")
        self._phase = {}
        try:
            yield self
        finally:
            phase, self._phase = self._phase, None
            self.work_units_parallel += max(phase.values(), default=0.0)

    @contextmanager
    def subdomain(self, index: int) -> Iterator[None]:
        """Attribute the charges made inside to subdomain ``index`` of the current phase."""
        previous, self._subdomain = self._subdomain, index
        try:
            yield
        finally:
            self._subdomain = previous

    @contextmanager
    def recording(self) -> Iterator[list]:
        """Record the charges made inside as ``(level, kind, num_samples, scale)``
        tuples instead of applying them (a distributed rank's own subdomain work, replayed
        on every rank by :meth:`replay`; :mod:`ml2bench.parallel`)."""
        if self._records is not None:
            raise RuntimeError("recordings do not nest")
        self._records = []
        try:
            yield self._records
        finally:
            self._records = None

    def replay(self, records) -> None:
        """Apply recorded charges in order (same results as charging them then; their
        budget test was made when they were recorded)."""
        self._replaying = True
        try:
            for level, kind, num_samples, scale in records:
                self.charge(level, kind, num_samples, scale)
        finally:
            self._replaying = False

    def count(self, kind: str | Iterable[str], level: int | None = None) -> int:
        """Number of evaluations of ``kind`` (one kind or several) on ``level``, or on
        all levels."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        return sum(n for (lvl, k), n in self.evaluations.items()
                   if k in kinds and (level is None or lvl == level))

    def hvp_count(self, level: int | None = None) -> int:
        """Number of Hessian-vector products of both kinds, ``hvp`` and ``hvp_more``."""
        return self.count(HVP_KINDS, level)

    def work_units_by_level(self) -> list[float]:
        """Work units charged on each level."""
        totals = [0.0] * len(self.costs)
        for (level, kind), samples in self.samples.items():
            if kind in SCALED_KINDS:
                totals[level] += self.scaled_units[(level, kind)]
            else:
                totals[level] += samples / self.num_train * self.costs[level].of(kind)
        return totals

    def state_dict(self) -> dict:
        """Counts and work units, for the resumable state of a run."""
        return {"evaluations": dict(self.evaluations), "samples": dict(self.samples),
                "work_units": self.work_units, "work_units_parallel": self.work_units_parallel,
                "comm_bytes": self.comm_bytes, "communications": dict(self.communications),
                "scaled_units": dict(self.scaled_units)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.evaluations = defaultdict(int, state["evaluations"])
        self.samples = defaultdict(int, state["samples"])
        self.work_units = state["work_units"]
        self.work_units_parallel = state["work_units_parallel"]
        self.comm_bytes = state["comm_bytes"]
        self.communications = defaultdict(int, state.get("communications", {}))
        self.scaled_units = defaultdict(float, state.get("scaled_units", {}))

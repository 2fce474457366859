"""The work ledger: honest work units by construction.

**1 WU = one forward+backward pass of the finest-level model over the whole training
set.** An evaluation of kind ``k`` on ``b`` of the ``N`` training samples on level
``l`` is charged ``(b / N) · cost_l[k]``, where ``cost_l[k]`` is the FLOP-measured cost
of that kind relative to a finest-level gradient (see
:mod:`ml2bench.hierarchy.cost`). Evaluations for logging never reach the ledger.

Domain-decomposition solvers group charges into parallel phases: within a phase,
each subdomain's work is summed separately and the phase adds its maximum to
``work_units_parallel`` (the critical path), while ``work_units`` adds the sum.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

from ml2bench.hierarchy.base import LevelCost

#: Evaluation kinds: ``hvp`` is a Hessian-vector product that linearises the gradient
#: (the first of a Krylov solve), ``hvp_more`` a further product through the same
#: linearisation (:mod:`ml2bench.hessian`).
KINDS = ("forward", "grad", "hvp", "hvp_more")

#: The kinds that are Hessian-vector products.
HVP_KINDS = ("hvp", "hvp_more")


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
        self._phase: dict[int, float] | None = None
        self._subdomain = 0

    def charge(self, level: int, kind: str, num_samples: int) -> float:
        """Record one evaluation; returns the work units it cost."""
        if kind not in KINDS:
            raise ValueError(f"unknown evaluation kind {kind!r}; valid: {', '.join(KINDS)}")
        wu = num_samples / self.num_train * self.costs[level].of(kind)
        self.evaluations[(level, kind)] += 1
        self.samples[(level, kind)] += int(num_samples)
        self.work_units += wu
        if self._phase is None:
            self.work_units_parallel += wu
        else:
            self._phase[self._subdomain] = self._phase.get(self._subdomain, 0.0) + wu
        return wu

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
            totals[level] += samples / self.num_train * self.costs[level].of(kind)
        return totals

    def state_dict(self) -> dict:
        """Counts and work units, for the resumable state of a run."""
        return {"evaluations": dict(self.evaluations), "samples": dict(self.samples),
                "work_units": self.work_units, "work_units_parallel": self.work_units_parallel,
                "comm_bytes": self.comm_bytes}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.evaluations = defaultdict(int, state["evaluations"])
        self.samples = defaultdict(int, state["samples"])
        self.work_units = state["work_units"]
        self.work_units_parallel = state["work_units_parallel"]
        self.comm_bytes = state["comm_bytes"]

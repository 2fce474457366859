"""Checkpoints of a run: when to evaluate, and the resumable state saved there.

:class:`CheckpointSchedule` spaces evaluations in work units (every ``every`` WU; 0:
after every step). :class:`RunCheckpoint` saves and restores everything a run needs to
continue with identical numbers — the parameters and buffers of every level, the
solver's state, the work ledger, the rows so far and the loop's counters — through the
results store's atomic partial files, keyed by the run's config hash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ml2bench.errors import UserError
from ml2bench.parameters import restore_
from ml2bench.runner.store import ResultsStore


#: Most evaluations a run's budget may be divided into: ``--checkpoint-every`` must be 0
#: (after every step) or at least ``budget / MAX_EVALUATIONS``. A finer spacing asks for
#: more results rows than steps, each with a full test-set evaluation — a typo, not a
#: measurement (e.g. ``1e-12`` WU on a budget of 5).
MAX_EVALUATIONS = 1_000_000

#: Spacings one :meth:`CheckpointSchedule.advance` adds one at a time (as it always
#: did, so the marks and the rows of existing runs stay bit-identical: a step crossing
#: thousands of marks is far beyond any configured run; the loop costs well under a
#: millisecond); a step that crosses more marks jumps over them at once.
_STEPWISE_MARKS = 4096


def check_spacing(every: float | None, budget: float) -> None:
    """Raise :class:`UserError` unless ``every`` is None, 0 or ≥ ``budget / MAX_EVALUATIONS``.

    ``budget`` is the run's work-unit budget (positive and finite: checked before).
    """
    least = budget / MAX_EVALUATIONS
    if every is not None and 0 < every < least:
        raise UserError(f"--checkpoint-every {every:g} WU is finer than budget / "
                        f"{MAX_EVALUATIONS:g} = {least:g} WU for the budget of {budget:g} WU; "
                        f"use 0 (after every step) or a spacing >= {least:g} WU")


@dataclass
class CheckpointSchedule:
    """Evaluations every ``every`` work units (``every ≤ 0``: after every step).

    ``next`` is the work-unit mark of the next evaluation.
    """

    every: float
    next: float = 0.0

    def due(self, work_units: float) -> bool:
        """Whether an evaluation is due at ``work_units``."""
        return work_units >= self.next

    def advance(self, work_units: float) -> None:
        """Move ``next`` past ``work_units`` (after an evaluation), in O(1).

        The marks are ``next + n * every`` for the least ``n ≥ 1`` that passes
        ``work_units``. Up to :data:`_STEPWISE_MARKS` marks are added one at a time (so
        the marks, and the rows, of existing runs stay bit-identical); a step past more
        marks (a tiny spacing or a large step) jumps to the mark at once, and a mark
        that rounding would leave at or below ``work_units`` (a spacing under its ulp)
        becomes the next float above it, so no floating point can make this loop.
        """
        if self.every <= 0:
            self.next = 0.0
            return
        if not math.isfinite(work_units):
            self.next = math.inf
            return
        for _ in range(_STEPWISE_MARKS):
            if self.next > work_units:
                return
            self.next += self.every
        if self.next <= work_units:  # more marks, or a spacing below the float resolution
            marks = math.floor((work_units - self.next) / self.every) + 1
            self.next = max(self.next + marks * self.every, math.nextafter(work_units, math.inf))


class RunCheckpoint:
    """Save/restore of a run's resumable state in ``OUT/partial/<run_id>.pt``.

    Parameters
    ----------
    store : ResultsStore
        Where the partial file lives (written atomically).
    run_id, config_hash : str
        The run's identity; a partial file of another configuration is ignored.
    """

    def __init__(self, store: ResultsStore, run_id: str, config_hash: str) -> None:
        self.store, self.run_id, self.config_hash = store, run_id, config_hash

    def save(self, levels, solver, ledger, loop_state: dict) -> None:
        """Write the models of ``levels``, the solver, the ledger and ``loop_state``."""
        self.store.save_partial(self.run_id, {
            "config_hash": self.config_hash,
            "models": [[p.detach().cpu().clone() for p in lv.model.parameters()]
                       for lv in levels],
            "buffers": [[b.detach().cpu().clone() for b in lv.model.buffers()]
                        for lv in levels],
            "solver": solver.state_dict(), "ledger": ledger.state_dict(), "loop": loop_state})

    def load(self) -> dict | None:
        """The saved state of this configuration, or ``None``."""
        return self.store.load_partial(self.run_id, self.config_hash)

    @staticmethod
    def restore(state: dict, levels, solver, ledger, device: torch.device) -> dict:
        """Load ``state`` into the models, solver and ledger; returns the loop state."""
        for level, params, buffers in zip(levels, state["models"], state["buffers"]):
            restore_(list(level.model.parameters()), [v.to(device) for v in params])
            restore_(list(level.model.buffers()), [v.to(device) for v in buffers])
        solver.load_state_dict(state["solver"])
        ledger.load_state_dict(state["ledger"])
        return state["loop"]

    def drop(self) -> None:
        """Remove the partial file (the run finished)."""
        self.store.drop_partial(self.run_id)

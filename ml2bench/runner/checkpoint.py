"""Checkpoints of a run: when to evaluate, and the resumable state saved there.

:class:`CheckpointSchedule` spaces evaluations in work units (every ``every`` WU; 0:
after every step). :class:`RunCheckpoint` saves and restores everything a run needs to
continue with identical numbers — the parameters and buffers of every level, the
solver's state, the work ledger, the rows so far and the loop's counters — through the
results store's atomic partial files, keyed by the run's config hash.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ml2bench.parameters import restore_
from ml2bench.runner.store import ResultsStore


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
        """Move ``next`` past ``work_units`` (after an evaluation)."""
        if self.every <= 0:
            self.next = 0.0
            return
        while self.next <= work_units:
            self.next += self.every


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

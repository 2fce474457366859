"""When a run stops: the stopping rule (benchopt's ``StoppingCriterion`` is the model).

A run stops at the first of

* ``diverged`` — the training loss is NaN/Inf, or rose above its initial value by more
  than ``DIVERGENCE_FACTOR × max(|f₀|, 1)`` (``f₀``: the problem's initial point, the
  same for every solver);
* ``target`` — the problem's target (``test_acc ≥ τ`` or ``test_rel_l2 ≤ τ``) is
  reached, unless target stopping is off;
* ``budget`` — the work units reach the budget, or the epochs reach ``max_epochs``;
* ``timeout`` — the solver clock reaches the wall-time cap.

The rule is checked on each evaluated row; :meth:`StoppingCriterion.evaluation_due`
tells the loop when a step must be evaluated even off the checkpoint schedule (budget
or time used up, a non-finite batch loss), so that a run never stops unevaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml2bench.problems.base import Target

#: A loss rising by more than this factor times its initial magnitude is a divergence.
DIVERGENCE_FACTOR = 1e3


@dataclass
class StoppingCriterion:
    """The stopping rule of one run.

    Parameters
    ----------
    budget : float
        Work-unit budget.
    max_time : float or None
        Wall-time cap of the solver clock in seconds (None: none).
    target : Target or None
        Stop when reached (None: never stop at the target).
    max_epochs : float or None
        Budget in passes over the training data (None: none); reaching it stops the run
        with status ``budget`` like the work-unit budget.
    initial_loss : float
        Training loss of the problem's initial point (the divergence reference); set
        by the loop once it is known.
    """

    budget: float
    max_time: float | None = None
    target: Target | None = None
    initial_loss: float = math.nan
    max_epochs: float | None = None

    def diverged(self, train_loss: float) -> bool:
        """NaN/Inf, or ``f − f₀ > DIVERGENCE_FACTOR · max(|f₀|, 1)``."""
        if not math.isfinite(train_loss):
            return True
        reference = self.initial_loss
        return train_loss - reference > DIVERGENCE_FACTOR * max(abs(reference), 1.0)

    def out_of_resources(self, work_units: float, time_s: float,
                         epoch: float = 0.0) -> str | None:
        """``budget`` or ``timeout`` if that resource is used up, else ``None``."""
        if work_units >= self.budget:
            return "budget"
        if self.max_epochs is not None and epoch >= self.max_epochs:
            return "budget"
        if self.max_time is not None and time_s >= self.max_time:
            return "timeout"
        return None

    def evaluation_due(self, work_units: float, time_s: float, batch_loss: float,
                       epoch: float = 0.0) -> bool:
        """Whether the last step must be evaluated now (a stop may be due)."""
        return (self.out_of_resources(work_units, time_s, epoch) is not None
                or not math.isfinite(batch_loss))

    def reason(self, row: dict, work_units: float, time_s: float) -> str | None:
        """Why the run stops after the evaluated ``row``, or ``None`` to go on."""
        if self.diverged(row["train_loss"]):
            return "diverged"
        if self.target is not None and self.target.reached(row):
            return "target"
        return self.out_of_resources(work_units, time_s, row.get("epoch", 0.0))

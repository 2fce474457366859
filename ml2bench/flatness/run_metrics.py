"""The runner's one entry point into the flatness package.

A run asks for metrics by name (``ml2bench run --metrics hess_max,eos``).
:class:`RunMetrics` validates the names and splits them into *end-of-run* metrics of
the final model (M1–M7, M9: a row of the second results table, computed by
:mod:`~ml2bench.flatness.protocol`) and *checkpoint* metrics (M8, ``eos`` and
``noise_scale``: columns of every checkpoint row, computed by
:mod:`~ml2bench.flatness.checkpoints`). This module imports neither torch nor the
metric kernels, so that validating names at the command line stays cheap; the kernels
are imported when a metric is computed. The metric names and their validation live
in :mod:`~ml2bench.flatness.names`, so that this
module, :mod:`~ml2bench.flatness.protocol` and :mod:`~ml2bench.flatness.checkpoints`
do not import each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ml2bench.flatness.names import dynamics_names, end_of_run_names

if TYPE_CHECKING:  # pragma: no cover
    from ml2bench.flatness.checkpoints import CheckpointDynamics
    from ml2bench.problems.base import Task


@dataclass(frozen=True)
class RunMetrics:
    """The flatness metrics one run asked for.

    Attributes
    ----------
    end_of_run : tuple of str
        Metrics of the final model, written to ``OUT/flatness/<run_id>.parquet``.
    at_checkpoints : tuple of str
        Metrics added as columns to every checkpoint row (part of the run's identity).
    """

    end_of_run: tuple[str, ...] = ()
    at_checkpoints: tuple[str, ...] = ()

    @classmethod
    def parse(cls, names: Sequence[str]) -> "RunMetrics":
        """Validate ``names`` (one-line :class:`UserError` for an unknown one) and split."""
        return cls(end_of_run_names(names), dynamics_names(names))

    def checkpoint_tracker(self, task: "Task", seed: int) -> "CheckpointDynamics | None":
        """The object computing the checkpoint columns, or ``None`` if none is asked."""
        if not self.at_checkpoints:
            return None
        from ml2bench.flatness.checkpoints import CheckpointDynamics
        return CheckpointDynamics(task, self.at_checkpoints, seed)

    def final_row(self, task: "Task", seed: int, identity: dict) -> dict | None:
        """The end-of-run row (``identity`` + metrics + costs) of ``task``'s finest model,
        or ``None`` if no end-of-run metric is asked. Not solver work: no ledger."""
        if not self.end_of_run:
            return None
        from ml2bench.flatness.protocol import flatness_row
        return flatness_row(task, self.end_of_run, seed,
                            {**identity, "metrics": ",".join(self.end_of_run)})

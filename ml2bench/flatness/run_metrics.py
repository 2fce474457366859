"""The runner's one entry point into the flatness package.

A run asks for metrics by name (``ml2bench run --metrics hess_max,eos``).
:class:`RunMetrics` validates the names and splits them into *end-of-run* metrics of
the final model (M1–M7, M9: a row of the second results table, computed by
:mod:`~ml2bench.flatness.protocol`) and *checkpoint* metrics (M8, ``eos`` and
``noise_scale``: columns of every checkpoint row, computed by
:mod:`~ml2bench.flatness.checkpoints`). This module imports neither torch nor the
metric kernels, so that validating names at the command line stays cheap; the kernels
are imported when a metric is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ml2bench.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ml2bench.flatness.checkpoints import CheckpointDynamics
    from ml2bench.problems.base import Task

#: Metrics of the final model (the keys of :data:`ml2bench.flatness.protocol.METRICS`).
END_OF_RUN_METRICS = ("hess_max", "hess_min", "hess_trace", "spectral_density", "sharp_avg",
                      "sharp_worst", "keskar_eps", "block_curvature")
#: Metrics logged at every checkpoint (M8).
CHECKPOINT_METRICS = ("eos", "noise_scale")


def validate_metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """The requested metric names, stripped and de-duplicated (order kept).

    Raises
    ------
    UserError
        For an unknown name, listing the valid ones.
    """
    valid = (*END_OF_RUN_METRICS, *CHECKPOINT_METRICS)
    checked: list[str] = []
    for raw in names:
        name = str(raw).strip()
        if not name or name in checked:
            continue
        if name not in valid:
            raise UserError(f"unknown flatness metric {name!r}; valid metrics: "
                            f"{', '.join(valid)}")
        checked.append(name)
    return tuple(checked)


def end_of_run_names(names: Sequence[str]) -> tuple[str, ...]:
    """The requested names that are end-of-run metrics (validated)."""
    return tuple(n for n in validate_metric_names(names) if n in END_OF_RUN_METRICS)


def dynamics_names(names: Sequence[str]) -> tuple[str, ...]:
    """The requested names that are checkpoint (dynamics) metrics (validated)."""
    return tuple(n for n in validate_metric_names(names) if n in CHECKPOINT_METRICS)


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

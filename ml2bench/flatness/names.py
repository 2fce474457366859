"""Names of the flatness metrics a run can ask for, and their split.

*End-of-run* metrics (M1–M7, M9) are computed on the final model by
:mod:`~ml2bench.flatness.protocol`; *checkpoint* metrics (M8) at every checkpoint by
:mod:`~ml2bench.flatness.checkpoints`. Both import the names from here, and
:mod:`~ml2bench.flatness.run_metrics` (the runner's entry point) imports both of them:
a leaf module, so that the three do not import each other in a circle. Imports
nothing but :mod:`ml2bench.errors`.
"""

from __future__ import annotations

from typing import Sequence

from ml2bench.errors import UserError

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

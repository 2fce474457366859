"""The house thread policy: how many intra-op torch threads a run gets.

A run's thread count is decided before it starts (``--threads``, else
:func:`default_threads`), stored in its :class:`~ml2bench.runner.spec.RunSpec` (part of
its identity) and set by :func:`~ml2bench.runner.loop.execute` in whatever process runs
it, so a run gives the same numbers alone and in a ``--jobs N`` sweep.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads(threads_pay: bool, jobs: int = 1, cores: int | None = None) -> int:
    """The house thread policy: one intra-op thread per job, unless the problem's spec
    declares ``threads_pay = true`` (measured with ``benchmarks/threads.py``); then
    ``cores // jobs`` (at least one). No oversubscription by default."""
    if not threads_pay:
        return 1
    return max(1, (cores or available_cores()) // max(1, jobs))

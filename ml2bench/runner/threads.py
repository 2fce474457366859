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


#: Most intra-op threads a run may ask for on any machine (the largest two-socket
#: servers have a few hundred cores). torch crashes on absurd counts (``--threads
#: 100000`` segfaults inside OpenMP).
MAX_THREADS = 1024

#: ``--threads`` (or ``--jobs``) above this many per core of the machine the runs execute
#: on is refused: threads beyond the cores only wait for each other (``--threads 5000``
#: on 2 cores runs 17 times slower), and every job is a process with its own torch.
THREADS_PER_CORE = 4


def check_threads(threads: int | None, jobs: int, local: bool = True,
                  cores: int | None = None) -> str | None:
    """Refuse an absurd thread count; a one-line warning when runs oversubscribe the cores.

    Parameters
    ----------
    threads : int or None
        ``--threads`` (None: the house policy, :func:`default_threads`, which never
        gives a job more than its share of the cores).
    jobs : int
        Runs executing at once (``--jobs``, at most the number of runs).
    local : bool
        Whether the runs execute on this machine (False for SLURM jobs: only
        :data:`MAX_THREADS` is checked there).
    cores : int, optional
        Cores of this machine (default :func:`available_cores`).

    Returns
    -------
    str or None
        The warning (jobs × threads above the cores: timings are inflated, work units
        and metrics are not), or None.

    Raises
    ------
    UserError
        ``threads`` above :data:`MAX_THREADS`, or on this machine ``threads`` or
        ``jobs`` above :data:`THREADS_PER_CORE` × its cores.
    """
    from ml2bench.errors import UserError

    if threads is not None and threads > MAX_THREADS:
        raise UserError(f"--threads {threads} is more than any machine has cores; use at most "
                        f"{MAX_THREADS} (the cores of the machine, e.g. --threads "
                        f"{available_cores()} here)")
    if not local:
        return None
    cores = cores or available_cores()
    for option, count in (("--threads", threads), ("--jobs", jobs)):
        if count is not None and count > THREADS_PER_CORE * cores:
            raise UserError(f"{option} {count} is far above the {cores} cores this process may "
                            f"use (more only wait for each other); use at most {cores}")
    used = jobs * (threads or 1)
    if used <= cores:
        return None
    given = f"--threads {threads}" if jobs == 1 else f"--jobs {jobs} × --threads {threads or 1}"
    advice = (f"--threads {cores}" if jobs == 1 else f"--jobs {max(1, cores // (threads or 1))}"
              + (f" --threads {cores}" if threads and threads > cores else ""))
    return (f"{given} = {used} threads on {cores} cores: the runs share cores, so their times "
            f"are inflated (work units and metrics are not); use {advice}")

"""``--executor`` and its options, shared by ``ml2bench run`` and ``ml2bench tune``
(no torch, no submitit: the parser is built at every start of the command line)."""

from __future__ import annotations

EXECUTOR_NAMES = ("pool", "local", "slurm")


def add_executor_arguments(parser) -> None:
    """Add ``--executor``, ``--chunk`` and ``--slurm-partition|time|gpus`` to ``parser``."""
    group = parser.add_argument_group("where runs execute")
    group.add_argument("--executor", default="pool",
                       help="pool (default: this process, or --jobs local processes), local "
                            "(submitit jobs on this machine, at most --jobs at once) or slurm "
                            "(a submitit job array on SLURM); submitit logs in OUT/submitit")
    group.add_argument("--chunk", type=int, default=1,
                       help="runs per submitit job (local, slurm; default 1: a job per run)")
    group.add_argument("--slurm-partition", default=None, help="SLURM partition of the jobs")
    group.add_argument("--slurm-time", type=float, default=None,
                       help="time limit of each job in minutes (slurm default 60; a job out "
                            "of time requeues itself and resumes from its checkpoints)")
    group.add_argument("--slurm-gpus", type=int, default=None, help="GPUs per job")


def executor_from_args(args):
    """The :class:`~ml2bench.runner.executors.Executor` the arguments name (checked:
    one-line UserError for an unknown name, a bad option or a missing tool)."""
    from ml2bench.runner.executors import Executor, as_executor

    return as_executor(Executor(name=args.executor, chunk=args.chunk,
                                slurm_partition=args.slurm_partition,
                                slurm_time=args.slurm_time, slurm_gpus=args.slurm_gpus))

"""Truly parallel execution of domain-decomposition solvers under ``torch.distributed``.

A DD solver runs either **simulated** (one process, the default: subdomains in
sequence) or **distributed**: one process per subdomain, launched by ``torchrun``
(``ml2bench run ... --nproc D`` calls it), backend ``gloo`` on CPU and ``nccl`` on
CUDA. Every rank builds the same task with the same seeds and holds the same iterate;
rank ``r`` computes only subdomain ``r``'s work (its local solve; for a data
decomposition also its part of the global evaluations), and the subdomain results are
combined by ``all_reduce(SUM)`` instead of a sum in subdomain order (same numbers up to
the order of floating-point summation; for two subdomains exactly the same).

Work accounting is identical in both modes: inside the parallel phase each rank
*records* the charges of its own subdomain instead of applying them
(:meth:`~ml2bench.accounting.ledger.WorkLedger.recording`), the records and the
subdomain's small diagnostics are all-gathered, and every rank replays all subdomains'
charges in subdomain order — so every rank's ledger ends bit-identical to the
simulated run's (``work_units``, ``work_units_parallel``, ``grad_evals``,
``comm_bytes``). The exchange of charge records is bookkeeping, not counted in
``comm_bytes``.

Only rank 0 writes files (results, resumable state, final model); every rank reads the
same resumable state at the start of a run, so a killed distributed run resumes from
rank 0's last checkpoint with the same command. Between checkpoints each rank holds
only its own subdomain's solver state; :func:`gather_to_root` assembles it on rank 0
for a save. A sweep of runs under one ``torchrun`` (``ml2bench run --nproc D`` with
several runs) joins the process group once and runs them in turn.

This module imports nothing of ml2bench (layer 0): solvers and the runner use it.
"""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from datetime import timedelta
from typing import Any, Callable, Sequence

#: torchrun's variables read by :func:`init_from_env`.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _dist():
    import torch.distributed as dist
    return dist


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` when no process group is initialised."""
    dist = sys.modules.get("torch.distributed")  # not imported: no group (and no torch import)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def backend_for(device: str) -> str:
    """``nccl`` for a CUDA device (``auto`` with CUDA available), ``gloo`` otherwise."""
    import torch
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if cuda else "gloo"


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies
    (``PR_SET_PDEATHSIG``), so that a ``kill -9`` of the launcher (``ml2bench run
    --nproc``, ``torchrun``) leaves no rank running on, and the same command can resume
    from the last checkpoint. torchrun starts each rank in its own session, so a kill of
    the launcher's process group would not reach them otherwise. No-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call
        os._exit(137)


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group described by torchrun's environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; ``LOCAL_RANK`` picks the GPU);
    returns whether a group of more than one process is initialised. A no-op outside
    torchrun or when the group exists already."""
    dist = _dist()
    if not launched() or not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    die_with_parent()
    backend = backend_for(device)
    if backend == "nccl":
        import torch
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return True


def shutdown() -> None:
    """Leave the process group (if any)."""
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    if world()[1] > 1:
        _dist().barrier()


def all_gather(obj: Any) -> list:
    """Every rank's ``obj`` in rank order (``[obj]`` in one process)."""
    _, size = world()
    if size == 1:
        return [obj]
    gathered: list = [None] * size
    _dist().all_gather_object(gathered, obj)
    return gathered


def from_rank0(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (keeps decisions such as wall-time stops in
    step)."""
    if world()[1] == 1:
        return value
    box = [value]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def sum_subdomains(payload):
    """Sum of the rows of ``payload`` (one row per subdomain held here), then summed over
    ranks: in one process the rows of all subdomains in order; distributed, the own
    row, all-reduced (SUM)."""
    reduced = payload.sum(dim=0)
    if world()[1] > 1:
        _dist().all_reduce(reduced)
    return reduced


def map_subdomains(ledger, count: int, solve: Callable[[int], Any],
                   share: Callable[[Any], Any], budget_shares: bool = True) -> tuple[list, list]:
    """Run ``solve(d)`` for the subdomains of this process inside one parallel phase of
    ``ledger``; returns ``(own, shared)``: ``own`` the full results of the subdomains
    computed here (all ``count`` in one process, subdomain ``rank`` distributed),
    ``shared`` the ``share(result)`` of every subdomain in order, on every rank.

    Distributed, the world size must equal ``count``; the charges of the own subdomain
    are recorded, all-gathered and replayed in subdomain order (module docstring).
    Each subdomain may spend an equal share of the budget left
    (:meth:`~ml2bench.accounting.ledger.WorkLedger.allowance`): ``solve`` ends its local
    work when :class:`~ml2bench.accounting.ledger.BudgetExhausted` says the share is used.
    With ``budget_shares=False`` there are no shares: the caller has checked that the
    whole phase fits (:meth:`~ml2bench.accounting.ledger.WorkLedger.require`), as a
    phase of fixed work must (e.g. a global evaluation split over data shards).
    """
    rank, size = world()
    allowance = ledger.remaining() / count  # each subdomain's share of the budget left
    shares = (lambda: ledger.allowance(allowance)) if budget_shares else nullcontext
    if size == 1:
        own = []
        with ledger.parallel_phase():
            for d in range(count):
                with ledger.subdomain(d), shares():
                    own.append(solve(d))
        return own, [share(r) for r in own]
    if size != count:
        raise RuntimeError(f"{size} processes for {count} subdomains: run one process per "
                           "subdomain (--nproc equal to subdomains)")
    with ledger.recording() as charges, shares():
        result = solve(rank)
    gathered = all_gather((charges, share(result)))
    with ledger.parallel_phase():
        for d, (records, _) in enumerate(gathered):
            with ledger.subdomain(d):
                ledger.replay(records)
    return [result], [s for _, s in gathered]


def owned(count: int) -> list[int]:
    """The subdomains this process computes: all ``count`` in one process, subdomain
    ``rank`` distributed (one process per subdomain)."""
    rank, size = world()
    return list(range(count)) if size == 1 else [rank]


def gather_to_root(states: Sequence[Any]) -> list | None:
    """Rank 0: ``states[d]`` from the rank that owns subdomain ``d``, for every ``d``;
    the other ranks: ``None`` (they send their own entry and hold nothing more). In one
    process ``states`` unchanged. Used to assemble a resumable state on the rank that
    saves it, while every rank keeps only its own subdomain's state between checkpoints."""
    rank, size = world()
    if size == 1:
        return list(states)
    gathered: list | None = [None] * size if rank == 0 else None
    _dist().gather_object(states[rank], gathered, dst=0)
    return gathered

"""One measurement of ``dd_scaling.py`` (a helper, not an asv benchmark): the wall time
of each outer step of one domain-decomposition solver and the solver state each process
holds, either in one process (the simulated run: every subdomain in sequence) or as one
rank of a ``torchrun`` group (one subdomain per rank, gloo).

Every process: one torch thread, the portable numerics mode, the task and solver built
as a run builds them (:func:`ml2bench.testing.bind`, no budget), ``--warmup`` steps
untimed, then ``--steps`` steps, each started after a barrier so that every rank starts
it together and timed on every rank (``time.perf_counter``) to its end — the end of the
step's last collective, so rank 0's time is the step's. Launcher and interpreter
start-up, imports and building the task are outside the timed steps.

Held solver state: after every step, the bytes of the distinct tensors reachable from
the solver's state (``state``: iterate cache, radius; ``local_memories`` and
``global_memory``: L-SR1 / L-BFGS memories, their compact-form factors included); the
model, the task's data and the (static) decomposition's index sets are not solver
state. Its maximum over the steps is the peak per rank; the process's peak resident set
size (``ru_maxrss``) is recorded beside it.

Communication time: distributed, after the steps, the median time of 10 all-reduces of a
vector of the model's size (``P + 1`` entries of its dtype), the payload of one gradient
or step all-reduce.

Writes one JSON object (rank 0): problem, solver, processes, per-rank step times, held
state bytes, peak RSS, the ledger's work units and parallel work units per step, the
collectives per step and the all-reduce time.

Usage (``dd_scaling.py`` calls it)::

    python benchmarks/_dd_steps.py PROBLEM SOLVER --steps K --warmup W --out FILE.json
    python -m torch.distributed.run --nproc-per-node D benchmarks/_dd_steps.py ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml2bench.parallel import all_gather, barrier, init_from_env, shutdown, world  # noqa: E402

#: Attributes of a solver that hold its state (the rest is configuration, the task, the
#: oracle or the static decomposition).
STATE_ATTRIBUTES = ("state", "local_memories", "global_memory")


def held_bytes(solver) -> int:
    """Bytes of the distinct tensor storages reachable from the solver's state
    attributes (module docstring)."""
    import torch
    seen: set[int] = set()
    total = 0
    stack = [getattr(solver, name, None) for name in STATE_ATTRIBUTES]
    visited: set[int] = set()
    while stack:
        obj = stack.pop()
        if obj is None or isinstance(obj, (int, float, str, bool)):
            continue
        if isinstance(obj, torch.Tensor):
            storage = obj.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
            continue
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj):
            stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
    return total


def allreduce_seconds(numel: int, dtype) -> float:
    """Median wall time of 10 all-reduces of ``numel`` entries (0 in one process)."""
    import torch
    if world()[1] == 1:
        return 0.0
    vector = torch.ones(numel, dtype=dtype)
    times = []
    for _ in range(10):
        barrier()
        start = time.perf_counter()
        torch.distributed.all_reduce(vector)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("problem")
    parser.add_argument("solver")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from ml2bench.numerics import configure_torch
    configure_torch()  # the portable numerics of a run, before torch computes
    import torch

    from ml2bench.testing import bind
    torch.set_num_threads(1)
    init_from_env("cpu")
    rank, size = world()
    try:
        task, solver, ledger = bind(args.problem, args.solver)
        P = sum(p.numel() for p in task.model.parameters())
        times, held, wu, wu_par, comms = [], [], [], [], []
        for i in range(args.warmup + args.steps):
            barrier()
            before = (ledger.work_units, ledger.work_units_parallel,
                      sum(ledger.communications.values()))
            start = time.perf_counter()
            solver.step()
            elapsed = time.perf_counter() - start
            held.append(held_bytes(solver))
            if i >= args.warmup:
                times.append(elapsed)
                wu.append(ledger.work_units - before[0])
                wu_par.append(ledger.work_units_parallel - before[1])
                comms.append(sum(ledger.communications.values()) - before[2])
        dtype = next(task.model.parameters()).dtype
        record = {"times": times, "held_bytes": max(held),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "allreduce_s": allreduce_seconds(P + 1, dtype)}
        records = all_gather(record)
        if rank == 0:
            Path(args.out).write_text(json.dumps({
                "problem": args.problem, "solver": args.solver, "processes": size,
                "parameters": P, "ranks": records, "wu": wu, "wu_parallel": wu_par,
                "collectives": comms}))
    finally:
        shutdown()


if __name__ == "__main__":
    main()

"""Do intra-op threads pay? Seconds per solver step with 1 and 2 torch threads.

For every problem (quick size unless ``--full``; image problems whose data files are
missing are skipped), Adam is bound to the task and stepped for at least ``--min-time``
seconds with one thread and with two; each repetition times both back to back,
alternating which goes first, and the ratio ``t(2 threads) / t(1 thread)`` reported is
the median of the paired ratios (a shared machine's slow drifts cancel). A problem
*pays* when the ratio is below ``--pays`` (default 0.8): only then does its spec get
``threads_pay = true`` (see docs/guide/running.md, "Threads"), so that its runs get
``cores // jobs`` threads instead of one.

``--fake-data N`` writes random MNIST, Fashion-MNIST and CIFAR-10 files of ``N``
training images into a temporary data directory, so that the image problems can be
timed where the real files are absent (a step's cost depends on the batch and the
network, not on the pixels; with ``--full``, ``N`` should exceed the batch size).

Usage: ``python benchmarks/threads.py [--full] [--problems a,b] [--repeats R]
[--fake-data N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from ml2bench.accounting.ledger import WorkLedger
from ml2bench.accounting.oracle import Oracle
from ml2bench.errors import UserError
from ml2bench.problems.registry import family_of, load_specs, make_task, resolve_problem
from ml2bench.solvers.registry import make_solver


def seconds_per_step(task, threads: int, min_time: float, warmup: int = 3) -> float:
    """Mean wall time of one Adam step on ``task`` with ``threads`` intra-op threads."""
    torch.set_num_threads(threads)
    solver = make_solver("adam")
    ledger = WorkLedger([level.cost for level in task.hierarchy.levels], task.num_train)
    solver.init(task, Oracle(task, ledger), torch.Generator().manual_seed(0))
    for _ in range(warmup):
        solver.step()
    steps, start = 0, time.perf_counter()
    while True:
        solver.step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and steps >= 3:
            return elapsed / steps


def measure(label: str, repeats: int, min_time: float) -> tuple[float, float, float]:
    """Median seconds per step with 1 and 2 threads and the median paired ratio."""
    task = make_task(label, seed=0)
    ones, twos, ratios = [], [], []
    for i in range(repeats):
        if i % 2:
            two, one = (seconds_per_step(task, 2, min_time),
                        seconds_per_step(task, 1, min_time))
        else:
            one, two = (seconds_per_step(task, 1, min_time),
                        seconds_per_step(task, 2, min_time))
        ones.append(one)
        twos.append(two)
        ratios.append(two / one)
    return statistics.median(ones), statistics.median(twos), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full sizes (default: quick)")
    parser.add_argument("--problems", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timing")
    parser.add_argument("--pays", type=float, default=0.8, help="ratio below which threads pay")
    parser.add_argument("--fake-data", type=int, default=0, metavar="N",
                        help="time the image problems on random files of N training images")
    args = parser.parse_args()
    if args.fake_data:
        from ml2bench.data.testing import make_fake_cifar, make_fake_mnist

        folder = tempfile.mkdtemp(prefix="ml2bench-fake-data-")
        for kind in ("mnist", "fashion_mnist"):
            make_fake_mnist(folder, n_train=args.fake_data, n_test=args.fake_data // 4,
                            kind=kind)
        make_fake_cifar(folder, n_per_batch=max(1, args.fake_data // 5),
                        n_test=args.fake_data // 4)
        os.environ["ML2BENCH_DATA"] = folder
    names = args.problems.split(",") if args.problems else list(load_specs())
    print(f"cores available: {len(os.sched_getaffinity(0))}, torch {torch.__version__}, "
          f"{'full' if args.full else 'quick'} sizes, adam, medians of {args.repeats} "
          f"order-alternating pairs{', random image files' if args.fake_data else ''}")
    header = f"{'problem':<22} {'s/step 1 thr':>12} {'s/step 2 thr':>12} {'ratio':>6}  pays"
    print(header)
    print("-" * len(header))
    paying = []
    for name in names:
        label = name if args.full else f"{name}[quick=true]"
        spec, _, values = resolve_problem(label)
        try:
            family_of(spec).check_available(spec.name, values)
        except UserError:
            print(f"{name:<22} {'skipped: data files missing':>33}")
            continue
        one, two, ratio = measure(label, args.repeats, args.min_time)
        pays = ratio < args.pays
        paying += [name] if pays else []
        print(f"{name:<22} {one:12.5f} {two:12.5f} {ratio:6.2f}  {'yes' if pays else 'no'}",
              flush=True)
    print(f"threads pay (ratio < {args.pays:g}): {', '.join(paying) or 'none'}")


if __name__ == "__main__":
    main()

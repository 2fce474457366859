"""Runner overhead: the same solver on the same batches, through ml2bench and bare PyTorch.

Both sides train ``digits_cnn`` with Adam from the same initial parameters on the same
sequence of mini-batches (the same seeded permutations). The ml2bench side is a full
``RunLoop`` (counted oracle, work ledger, sampler, checkpoint logic, results file); its
time is the run's wall time minus the logged evaluations (``eval_time_s``, not solver
work by design — the bare loop evaluates nothing). The bare side is the textbook loop
``zero_grad → loss → backward → step``. Each repetition runs the two back to back
(alternating which goes first) and the ratio of that pair is recorded; the reported
ratio is the median of the paired ratios, which cancels the slow drifts of a shared
machine's speed. The final training losses are printed to show the two sides did
the same work. Last line: ``overhead_ratio=<runner time / bare time>`` (target ≤ 1.05).

Usage: ``python benchmarks/overhead.py [--budget WU] [--repeats R]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from ml2bench import numerics

numerics.configure_torch()  # the kernels every ml2bench run uses (portable default),
#                             for the bare loops too

import torch  # noqa: E402

from ml2bench.problems.registry import make_task
from ml2bench.runner.loop import RunLoop
from ml2bench.runner.prepare import prepare
from ml2bench.runner.spec import RunSpec
from ml2bench.runner.store import ResultsStore

PROBLEM = "digits_cnn"


def runner_time(budget: float, seed: int) -> tuple[float, float]:
    """Wall time of the ml2bench run loop without logged evaluations; final batch loss."""
    spec = RunSpec(problem=PROBLEM, solver="adam", seed=seed, budget=budget,
                   checkpoint_every=10 * budget, stop_at_target=False)
    with tempfile.TemporaryDirectory() as out:
        loop = RunLoop(prepare(spec), ResultsStore(out))
        start = time.perf_counter()
        loop.run()
        elapsed = time.perf_counter() - start - loop.eval_time_s
    # whole steps: a last step cut by the budget (``budget_cut``) changed nothing
    return elapsed, loop.info["batch_loss"], loop.step - int(loop.info.get("budget_cut", 0))


def bare_time(steps: int, seed: int) -> tuple[float, float]:
    """The same training as a plain PyTorch loop over the same batches."""
    task = make_task(PROBLEM, seed)
    model, (x, y) = task.model, task.train
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    n, b = x.shape[0], task.batch_size
    permutation, position = None, n
    start = time.perf_counter()
    for _ in range(steps):
        if position + b > n:
            permutation, position = torch.randperm(n, generator=generator), 0
        index = permutation[position:position + b]
        position += b
        optimizer.zero_grad()
        loss = task.objective(model, (x[index], y[index]))
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start, float(loss.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0, help="work units per run")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runner, bare, ratios = [], [], []
    for repeat in range(args.repeats):
        if repeat % 2 == 0:
            t_runner, loss_runner, steps = runner_time(args.budget, seed=0)
            t_bare, loss_bare = bare_time(steps, seed=0)
        else:
            steps = runner[-1][1]
            t_bare, loss_bare = bare_time(steps, seed=0)
            t_runner, loss_runner, steps = runner_time(args.budget, seed=0)
        runner.append((t_runner, steps))
        bare.append(t_bare)
        ratios.append(t_runner / t_bare)
        print(f"repeat {repeat}: steps {steps}  runner {t_runner:.3f} s  bare {t_bare:.3f} s  "
              f"ratio {ratios[-1]:.3f}  final batch loss runner {loss_runner:.6f} "
              f"bare {loss_bare:.6f}")
    median_runner = statistics.median(t for t, _ in runner)
    print(f"median runner {median_runner:.3f} s, median bare {statistics.median(bare):.3f} s, "
          f"ratio of medians {median_runner / statistics.median(bare):.3f} "
          f"({PROBLEM}, adam, {args.budget:g} WU, 1 thread)")
    print(f"overhead_ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()

"""Start-up time of the command line and of a run, relative to the interpreter and torch.

``cli_startup_ratio``
    wall time of ``python -m ml2bench list solvers`` / wall time of ``python -c pass``
    (target ≤ 3: listing must import neither torch nor matplotlib).
``run_startup_ratio``
    wall time from process start to the end of the first solver step of
    ``ml2bench run --problem 'peaks_resnet[quick=true]' --solver adam`` (warm level-cost
    cache) / wall time of ``python -c "import torch"`` (target ≤ 1.5). A last line
    relates the same time to ``python -c "import torch, torch._dynamo"``: torch.optim
    imports ``torch._dynamo`` when an optimizer is first used, which no run built on
    torch.optim avoids.

The run is the real command line; a small driver (:data:`FIRST_STEP_DRIVER`) replaces
the run loop's iteration by one solver step followed by an immediate exit, so the time
covers imports, validation, task construction (with the cached costs), the initial
evaluation and checkpoint, and one step. The cost cache lives in a temporary folder,
warmed by one run that is not timed. Each repetition times the two commands of a
ratio back to back, alternating which goes first; the ratio printed is the median of
the paired ratios (a shared machine's slow drifts cancel), next to the median times.

Usage: ``python benchmarks/startup.py [--repeats R] [--python PATH]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = "peaks_resnet[quick=true]"

#: Runs the ``ml2bench`` command line, stopping the process right after the first step.
FIRST_STEP_DRIVER = """
import os, sys
from ml2bench.runner import loop

def first_step_then_exit(self):
    self.solver.step()
    os._exit(0)

loop.RunLoop._iterate = first_step_then_exit
from ml2bench.cli import main
main(sys.argv[1:])
os._exit(3)  # no step was taken (e.g. the run was up to date)
"""


def wall_time(command: list[str], env: dict) -> float:
    """Seconds from starting ``command`` to its exit (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def paired(reference, measured, repeats: int) -> tuple[float, float, float]:
    """Median ratio of ``measured()`` / ``reference()`` over order-alternating pairs,
    with the median times of both."""
    ratios, refs, values = [], [], []
    for i in range(repeats):
        if i % 2:
            value, ref = measured(), reference()
        else:
            ref, value = reference(), measured()
        ratios.append(value / ref)
        refs.append(ref)
        values.append(value)
    return statistics.median(ratios), statistics.median(values), statistics.median(refs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    python = args.python
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ML2BENCH_CACHE": str(Path(tmp) / "costs")}
        env.pop("PYTHONPATH", None)  # the repository root is the working directory

        def cli():
            return wall_time([python, "-m", "ml2bench", "list", "solvers"], env)

        ratio, value, ref = paired(lambda: wall_time([python, "-c", "pass"], env), cli,
                                   args.repeats)
        print(f"ml2bench list solvers {value:.3f} s, python -c pass {ref:.3f} s "
              f"(medians of {args.repeats})")
        print(f"cli_startup_ratio={ratio:.2f}")

        runs = iter(range(10**6))

        def first_step():
            out = Path(tmp) / f"out{next(runs)}"  # a fresh folder: nothing is up to date
            return wall_time([python, "-c", FIRST_STEP_DRIVER, "run", "--problem", PROBLEM,
                              "--solver", "adam", "--out", str(out), "--no-progress"], env)

        first_step()  # warms the level-cost cache
        ratio, value, ref = paired(lambda: wall_time([python, "-c", "import torch"], env),
                                   first_step, args.repeats)
        print(f"first step of a quick run {value:.3f} s, python -c 'import torch' {ref:.3f} s "
              f"(medians of {args.repeats})")
        print(f"run_startup_ratio={ratio:.2f}")
        # context: torch.optim imports torch._dynamo on an optimizer's first use, a cost
        # every torch.optim-based run pays; against that floor, ml2bench's own share
        ratio, value, ref = paired(
            lambda: wall_time([python, "-c", "import torch, torch._dynamo"], env),
            first_step, args.repeats)
        print(f"python -c 'import torch, torch._dynamo' {ref:.3f} s; "
              f"first_step_over_torch_and_dynamo={ratio:.2f} (information, no target)")


if __name__ == "__main__":
    main()

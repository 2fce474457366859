"""Start-up time of the command line and of a run, relative to the interpreter and torch.

``cli_startup_ratio``
    wall time of ``python -m ml2bench list solvers`` / wall time of ``python -c pass``
    (target ≤ 3: listing must import neither torch nor matplotlib).
``run_startup_ratio``
    wall time from process start to the end of the first solver step of
    ``ml2bench run --problem 'peaks_resnet[quick=true]' --solver 'tr[subproblem=lsr1]'``
    (warm level-cost cache) / wall time of ``import torch`` (target ≤ 1.5). ``tr``
    evaluates through ml2bench's oracle with torch's autograd only, so this is the
    start-up of ml2bench itself.
``run_startup_ratio_torch_optim`` and ``run_over_bare_torch_ratio`` (information)
    the same with ``--solver adam``, over ``import torch`` and over a bare PyTorch script
    (:data:`BARE_STEP`: the same network shape, ``torch.optim.Adam``, one step on one
    batch). Building a ``torch.optim`` optimizer imports ``torch._dynamo``
    (``Optimizer.add_param_group`` is wrapped by ``torch._disable_dynamo``), 0.6–0.9 s
    that every program using torch.optim pays, ml2bench's baselines included.

Every command ends with ``os._exit(0)`` right after its last step (the driver must, to
stop the run loop; the references do the same), so interpreter shutdown, about 0.3 s
after ``import torch``, is excluded on both sides of every ratio.

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
TR = "tr[subproblem=lsr1]"

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


#: ``import torch`` with the same exit path as the timed runs.
IMPORT_TORCH = "import os, torch; os._exit(0)"

#: A bare PyTorch Adam step on the network shape of ``peaks_resnet[quick=true]`` (17
#: residual blocks of width 8, tanh, 5 classes), no ml2bench.
BARE_STEP = """
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
layers = [torch.nn.Linear(2, 8)] + [torch.nn.Linear(8, 8) for _ in range(17)] + \\
    [torch.nn.Linear(8, 5)]
optimizer = torch.optim.Adam([p for layer in layers for p in layer.parameters()], lr=0.01)
x, y = torch.randn(250, 2), torch.randint(0, 5, (250,))
h = torch.tanh(layers[0](x))
for layer in layers[1:-1]:
    h = h + 0.3125 * torch.tanh(layer(h))
loss = F.cross_entropy(layers[-1](h), y)
optimizer.zero_grad()
loss.backward()
optimizer.step()
import os
os._exit(0)
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

        cli_ratio, value, ref = paired(lambda: wall_time([python, "-c", "pass"], env), cli,
                                       args.repeats)
        print(f"ml2bench list solvers {value:.3f} s, python -c pass {ref:.3f} s "
              f"(medians of {args.repeats})")

        runs = iter(range(10**6))

        def first_step(solver):
            def timed():
                out = Path(tmp) / f"out{next(runs)}"  # a fresh folder: nothing up to date
                return wall_time([python, "-c", FIRST_STEP_DRIVER, "run", "--problem",
                                  PROBLEM, "--solver", solver, "--out", str(out),
                                  "--no-progress"], env)
            return timed

        def import_torch():
            return wall_time([python, "-c", IMPORT_TORCH], env)

        ml2bench_tr, adam = first_step(TR), first_step("adam")
        ml2bench_tr()  # warms the level-cost cache
        optim_ratio, value, ref = paired(import_torch, adam, args.repeats)
        print(f"first adam step of a quick run {value:.3f} s, import torch {ref:.3f} s: "
              f"run_startup_ratio_torch_optim={optim_ratio:.2f} (information, no target)")
        bare_ratio, value, ref = paired(lambda: wall_time([python, "-c", BARE_STEP], env),
                                        adam, args.repeats)
        print(f"first adam step of a quick run {value:.3f} s, bare PyTorch Adam step "
              f"{ref:.3f} s: run_over_bare_torch_ratio={bare_ratio:.2f} (information)")
        run_ratio, value, ref = paired(import_torch, ml2bench_tr, args.repeats)
        print(f"first {TR} step of a quick run {value:.3f} s, import torch {ref:.3f} s "
              f"(medians of {args.repeats})")
        print(f"cli_startup_ratio={cli_ratio:.2f}")
        print(f"run_startup_ratio={run_ratio:.2f}")


if __name__ == "__main__":
    main()

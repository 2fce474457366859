"""Cost of a Hessian-vector product relative to a gradient, on the flatness protocol's
evaluation subset ``D_H`` (design/metrics.md: "an HVP should cost 2–3× a gradient").

For each problem (full-size specs by default: ``digits_cnn`` and ``peaks_resnet``) the
task is built with seed 0 on the CPU, ``D_H`` = ``min(N, 5000)`` training samples in
batches of 1024 (:func:`~ml2bench.flatness.protocol.evaluation_batches`), and
the finest model is taken at its initial parameters. Timed, with one untimed warm-up
each and the three kinds interleaved within every repetition (the machine is shared):

* **grad** — the size-weighted full-data gradient over ``D_H``
  (:class:`~ml2bench.flatness.evaluation.BatchedLoss`);
* **HVP rev-rev** — one :class:`~ml2bench.flatness.hvp.HessianOperator`
  product by double backward (the protocol's default);
* **HVP fwd-rev** — the same product by ``torch.func`` forward-over-reverse.

The table shows medians and ratios, and the number of HVPs (and seconds) Lanczos needs
for ``hess_max`` to the protocol's tolerance 1e-3. The last line printed is
``hvp_over_grad=<ratio>``: the largest double-backward ratio over the problems.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/hvp_cost.py [--problems digits_cnn,peaks_resnet]
        [--repeats 7] [--threads 1] [--no-lanczos]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from ml2bench.flatness.evaluation import BatchedLoss
from ml2bench.flatness.hvp import HessianOperator
from ml2bench.flatness.lanczos import hess_max
from ml2bench.flatness.protocol import data_loss_fn, evaluation_batches
from ml2bench.parameters import trainable_parameters
from ml2bench.flatness.vectors import gaussian_like
from ml2bench.problems.registry import make_task


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default="digits_cnn,peaks_resnet",
                        help="comma-separated problem labels")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per kind")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--tol", type=float, default=1e-3, help="Lanczos tolerance of hess_max")
    parser.add_argument("--no-lanczos", action="store_true", help="skip the Lanczos count")
    return parser.parse_args(argv)


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(label: str, repeats: int, tol: float, lanczos: bool) -> dict:
    """Median seconds of a gradient and of both HVP kinds on ``D_H``; the Lanczos count."""
    task = make_task(label, 0, "cpu")
    model, loss_fn = task.model, data_loss_fn(task)
    batches = evaluation_batches(task, 0)
    grad = BatchedLoss(model, loss_fn, batches)
    ops = {m: HessianOperator(model, loss_fn, batches, m)
           for m in ("double_backward", "forward_over_reverse")}
    v = gaussian_like(trainable_parameters(model), torch.Generator().manual_seed(0))
    calls = {"grad": grad.gradient, **{m: (lambda op=op: op.matvec(v)) for m, op in ops.items()}}
    for call in calls.values():  # warm-up (allocator, torch.func tracing)
        call()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for kind, call in calls.items():
            times[kind].append(_timed(call))
    result = {"problem": label, "params": sum(p.numel() for p in trainable_parameters(model)),
              "dh": sum(int(b[0].shape[0]) for b in batches),
              **{k: statistics.median(t) for k, t in times.items()}}
    result["ratio"] = result["double_backward"] / result["grad"]
    result["ratio_fwd"] = result["forward_over_reverse"] / result["grad"]
    result["lanczos_hvps"], result["lanczos_s"], result["converged"] = 0, float("nan"), False
    if lanczos:
        op = HessianOperator(model, loss_fn, batches)
        start = time.perf_counter()
        top = hess_max(op, tol, 100, torch.Generator().manual_seed(0))
        result["lanczos_s"] = time.perf_counter() - start
        result["lanczos_hvps"], result["converged"] = top.num_hvps, top.converged
        result["hess_max"] = float(top.values[0])
    return result


def print_table(results: list[dict]) -> None:
    header = ("problem", "P", "|D_H|", "grad ms", "HVP rev-rev ms", "rev-rev/grad",
              "HVP fwd-rev ms", "fwd-rev/grad", "Lanczos HVPs", "Lanczos s")
    lines = [header]
    for r in results:
        lines.append((r["problem"], str(r["params"]), str(r["dh"]), f"{1e3 * r['grad']:.1f}",
                      f"{1e3 * r['double_backward']:.1f}", f"{r['ratio']:.2f}",
                      f"{1e3 * r['forward_over_reverse']:.1f}", f"{r['ratio_fwd']:.2f}",
                      f"{r['lanczos_hvps']}{'' if r['converged'] else ' (not conv.)'}",
                      f"{r['lanczos_s']:.1f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [measure(label.strip(), args.repeats, args.tol, not args.no_lanczos)
               for label in args.problems.split(",") if label.strip()]
    print(f"CPU, {args.threads} thread(s), medians of {args.repeats} after a warm-up; "
          f"model at its initial parameters; Lanczos tol {args.tol:g} (max 100 steps)")
    print_table(results)
    worst = max(results, key=lambda r: r["ratio"])
    print(f"largest HVP/gradient ratio (double backward): {worst['problem']}")
    print(f"hvp_over_grad={worst['ratio']:.2f}")


if __name__ == "__main__":
    main()

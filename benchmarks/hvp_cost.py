"""Cost of a Hessian-vector product relative to a gradient, on the flatness protocol's
evaluation subset ``D_H`` (Pearlmutter 1994: a product through a linearised gradient
costs ≈ 2 gradients; target ≤ 2.2).

For each problem (full-size specs by default: ``digits_cnn`` and ``peaks_resnet``) the
task is built with seed 0 on the CPU, ``D_H`` = ``min(N, 5000)`` training samples in
batches of 1024 (:func:`~ml2bench.flatness.protocol.evaluation_batches`), and
the finest model is taken at its initial parameters. Timed (one untimed warm-up each):

* **grad** — the size-weighted full-data gradient over ``D_H``
  (:class:`~ml2bench.flatness.evaluation.BatchedLoss`);
* **HVP more** — one *extra* product of a
  :class:`~ml2bench.flatness.hvp.HessianOperator` whose gradient is already
  linearised: one double backward per batch through the retained graphs
  (:class:`~ml2bench.hessian.LinearisedGradient`; what every product of a Lanczos run
  or a Steihaug–CG solve but the first costs);
* **HVP first** — a one-shot product (linearise: forward + backward with
  ``create_graph``, then the double backward; what the first product costs);
* **HVP fwd-rev** — a one-shot ``torch.func`` forward-over-reverse product, for
  comparison (``--no-fwd-rev`` skips it).

Each repetition times a gradient and a product back to back, alternating which goes
first, and records the ratio of the pair; the reported ratios are the medians of these
paired ratios (robust to the slow speed drifts of a shared machine), the times are
medians. The table also shows the number of HVPs (and seconds) Lanczos needs for
``hess_max`` to the protocol's tolerance 1e-3. The last line printed is
``hvp_over_grad=<ratio>``: the largest extra-product/gradient ratio over the problems.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/hvp_cost.py [--problems digits_cnn,peaks_resnet]
        [--repeats 11] [--threads 1] [--no-lanczos] [--no-fwd-rev]
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
    parser.add_argument("--repeats", type=int, default=11, help="timed pairs per kind")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--tol", type=float, default=1e-3, help="Lanczos tolerance of hess_max")
    parser.add_argument("--no-lanczos", action="store_true", help="skip the Lanczos count")
    parser.add_argument("--no-fwd-rev", action="store_true",
                        help="skip the forward-over-reverse comparison")
    return parser.parse_args(argv)


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def paired(grad, product, repeats: int) -> tuple[float, float, float]:
    """Median gradient time, median product time and median of the paired ratios
    ``product / gradient`` (order alternating between repetitions)."""
    grads, products, ratios = [], [], []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            t_grad, t_product = _timed(grad), _timed(product)
        else:
            t_product, t_grad = _timed(product), _timed(grad)
        grads.append(t_grad)
        products.append(t_product)
        ratios.append(t_product / t_grad)
    return statistics.median(grads), statistics.median(products), statistics.median(ratios)


def measure(label: str, repeats: int, tol: float, lanczos: bool, fwd_rev: bool) -> dict:
    """Median seconds of a gradient and of the HVP kinds on ``D_H``; the Lanczos count."""
    task = make_task(label, 0, "cpu")
    model, loss_fn = task.model, data_loss_fn(task)
    batches = evaluation_batches(task, 0)
    grad = BatchedLoss(model, loss_fn, batches)
    v = gaussian_like(trainable_parameters(model), torch.Generator().manual_seed(0))
    reused = HessianOperator(model, loss_fn, batches)  # linearised by the warm-up product
    kinds = {"more": lambda: reused.matvec(v),
             "first": lambda: HessianOperator(model, loss_fn, batches,
                                              reuse_graph=False).matvec(v)}
    if fwd_rev:
        fwd = HessianOperator(model, loss_fn, batches, "forward_over_reverse")
        kinds["fwd_rev"] = lambda: fwd.matvec(v)
    for call in (grad.gradient, *kinds.values()):  # warm-up (allocator, torch.func tracing)
        call()
    result = {"problem": label, "params": sum(p.numel() for p in trainable_parameters(model)),
              "dh": sum(int(b[0].shape[0]) for b in batches)}
    grad_times = []
    for kind, call in kinds.items():
        t_grad, result[kind], result[f"ratio_{kind}"] = paired(grad.gradient, call, repeats)
        grad_times.append(t_grad)
    assert reused.num_linearisations == 1  # every timed extra product reused the graphs
    result["grad"] = statistics.median(grad_times)
    reused.reset()
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
    fwd = all("fwd_rev" in r for r in results)
    header = ("problem", "P", "|D_H|", "grad ms", "HVP more ms", "more/grad",
              "HVP first ms", "first/grad") + (("fwd-rev ms", "fwd-rev/grad") if fwd else ()) \
        + ("Lanczos HVPs", "Lanczos s")
    lines = [header]
    for r in results:
        row = [r["problem"], str(r["params"]), str(r["dh"]), f"{1e3 * r['grad']:.1f}",
               f"{1e3 * r['more']:.1f}", f"{r['ratio_more']:.2f}",
               f"{1e3 * r['first']:.1f}", f"{r['ratio_first']:.2f}"]
        if fwd:
            row += [f"{1e3 * r['fwd_rev']:.1f}", f"{r['ratio_fwd_rev']:.2f}"]
        row += [f"{r['lanczos_hvps']}{'' if r['converged'] else ' (not conv.)'}",
                f"{r['lanczos_s']:.1f}"]
        lines.append(tuple(row))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    results = [measure(label.strip(), args.repeats, args.tol, not args.no_lanczos,
                       not args.no_fwd_rev)
               for label in args.problems.split(",") if label.strip()]
    print(f"CPU, {args.threads} thread(s); ratios: medians of {args.repeats} paired, "
          f"order-alternating (product, gradient) timings after a warm-up; model at its "
          f"initial parameters; Lanczos tol {args.tol:g} (max 100 steps)")
    print_table(results)
    worst = max(results, key=lambda r: r["ratio_more"])
    print(f"largest extra-HVP/gradient ratio (product through the linearisation): "
          f"{worst['problem']}")
    print(f"hvp_over_grad={worst['ratio_more']:.2f}")


if __name__ == "__main__":
    main()

"""Seconds per epoch of ``mnist_cnn`` training: device-resident tensors vs a DataLoader.

Both loops train the same model (the ``mnist_cnn`` problem's LeNet-like CNN, LeCun et
al. 1998) from the same initial parameters with Adam (lr 1e-3) at the same batch size
for the same number of steps, ``⌊N/b⌋`` per epoch:

* **device** — ml2bench's way: the normalised images stay on the device as one tensor
  and each batch is ``x[perm[i:i+b]]`` with ``perm`` from a seeded ``torch.Generator``
  (the task's :class:`~ml2bench.problems.base.BatchSampler`);
* **dataloader** — ``torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=b,
  shuffle=True, generator=seeded, num_workers=0, drop_last=True)`` over the same
  tensors: per-sample indexing and a collate (``torch.stack``) every batch.

Without ``--data-dir`` a synthetic MNIST-format set (random pixels and labels, default
10 000 training images) is written with :mod:`ml2bench.data.testing` to a temporary
directory and read back through the real IDX readers; with ``--data-dir`` pointing at
real MNIST files the whole training set is used (unless ``--train-size``).
Each repetition times one epoch of each loop (order alternated, after one untimed
warm-up epoch each); the table shows the median and the minimum over repetitions, and
the time of a data-only pass (batches fetched, no training). The last line printed is
``epoch_speedup=<DataLoader s/epoch ÷ device s/epoch>``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/epoch_speedup.py [--device cpu|cuda]
        [--train-size N] [--repeats R] [--batch-size B] [--data-dir DIR] [--threads T]

``--device cuda`` on a machine without CUDA prints a one-line "skipped" message to
stderr and exits with status 0 (no measurement, no ``epoch_speedup`` line).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

SYNTHETIC_TEST = 100


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--data-dir", default=None,
                        help="data directory holding real MNIST (default: synthetic set)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training images (default 10000 synthetic; all of real MNIST)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per loop")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_task(data_dir: str, train_size: int, device: torch.device):
    """The ``mnist_cnn`` task on ``device`` with data read from ``data_dir``."""
    from ml2bench.problems.registry import make_task

    os.environ["ML2BENCH_DATA"] = data_dir
    return make_task(f"mnist_cnn[train_size={train_size},test_size={SYNTHETIC_TEST}]",
                     seed=0, device=device)


def device_batches(task, batch_size: int, seed: int):
    """One epoch of batches indexed from the resident tensors (the runner's sampler)."""
    sampler = task.sampler(batch_size, torch.Generator().manual_seed(seed))
    for _ in range(task.num_train // batch_size):
        yield task.batch(sampler.next_indices())


def loader_batches(task, batch_size: int, seed: int):
    """One epoch of batches from a DataLoader over the same tensors."""
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(*task.train), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed), num_workers=0,
                        drop_last=True)
    yield from loader


LOOPS = {"device": device_batches, "dataloader": loader_batches}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_seconds(task, loop: str, batch_size: int, seed: int, initial: dict,
               train: bool = True) -> tuple[float, int]:
    """Seconds of one epoch of ``loop`` (training from ``initial``, or data only)."""
    model = task.model
    model.load_state_dict(initial)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    synchronize(task.device)
    start = time.perf_counter()
    steps, checksum = 0, torch.zeros((), device=task.device)
    for batch in LOOPS[loop](task, batch_size, seed):
        steps += 1
        if not train:
            checksum += batch[0][:, 0, 0, 0].sum()  # touch the batch
            continue
        optimizer.zero_grad(set_to_none=True)
        task.objective(model, batch).backward()
        optimizer.step()
    float(checksum)
    synchronize(task.device)
    return time.perf_counter() - start, steps


def measure(task, args) -> dict[str, dict]:
    """Median/min seconds per epoch of both loops, and their data-only times."""
    initial = {k: v.clone() for k, v in task.model.state_dict().items()}
    times = {loop: [] for loop in LOOPS}
    for loop in LOOPS:  # warm-up (allocator, kernels, caches)
        epoch_seconds(task, loop, args.batch_size, args.seed, initial)
    steps = {}
    for rep in range(args.repeats):
        order = list(LOOPS) if rep % 2 == 0 else list(LOOPS)[::-1]
        for loop in order:
            seconds, steps[loop] = epoch_seconds(task, loop, args.batch_size, args.seed + rep,
                                              initial)
            times[loop].append(seconds)
    results = {}
    for loop in LOOPS:
        data_only, _ = epoch_seconds(task, loop, args.batch_size, args.seed, initial, train=False)
        results[loop] = {"median": statistics.median(times[loop]), "min": min(times[loop]),
                         "data": data_only, "steps": steps[loop]}
    return results


def report(results: dict, task, args, source: str) -> None:
    """Print the table and, last, the ``epoch_speedup=...`` line."""
    device = task.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"mnist_cnn epoch time: {task.num_train} training images ({source}), batch "
          f"{args.batch_size}, Adam, {args.repeats} repetitions, device {device} ({name}), "
          f"{torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print(f"{'loop':<12}{'steps':>7}{'median s/epoch':>16}{'min s/epoch':>13}"
          f"{'data-only s':>13}")
    for loop, r in results.items():
        print(f"{loop:<12}{r['steps']:>7}{r['median']:>16.3f}{r['min']:>13.3f}{r['data']:>13.4f}")
    speedup = results["dataloader"]["median"] / results["device"]["median"]
    print(f"epoch_speedup={speedup:.3f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("epoch_speedup: skipped, --device cuda was requested but CUDA is not available "
              "on this machine (use --device cpu)", file=sys.stderr)
        return 0
    from ml2bench.errors import UserError

    try:
        if args.data_dir is not None:
            task = build_task(os.path.abspath(args.data_dir), args.train_size or 0, device)
            source = f"MNIST files from {args.data_dir}"
        else:
            task = synthetic_task(args.train_size or 10000, device, args.seed)
            source = "synthetic MNIST-format files"
    except UserError as error:
        print(f"epoch_speedup: error: {error}", file=sys.stderr)
        return 2
    report(measure(task, args), task, args, source)
    return 0


def synthetic_task(train_size: int, device: torch.device, seed: int):
    """Write a random MNIST-format set to a temporary directory and build the task on it."""
    from ml2bench.data.testing import make_fake_mnist

    with tempfile.TemporaryDirectory(prefix="ml2bench-epoch-") as tmp:
        make_fake_mnist(tmp, n_train=train_size, n_test=SYNTHETIC_TEST, seed=seed)
        return build_task(tmp, train_size, device)


if __name__ == "__main__":
    sys.exit(main())

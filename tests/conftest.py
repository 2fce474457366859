"""Test configuration: portable CPU numerics (:mod:`ml2bench.numerics`), one intra-op
thread (tiny models; avoids oversubscription), the level-cost cache in a temporary folder of this session (never ``$HOME``; spawned
workers inherit it), CUDA tests skipped cleanly where no GPU is present."""

import atexit
import os
import shutil
import tempfile

import pytest

from ml2bench import numerics

# Portable CPU numerics (before torch is imported): the committed numbers the tests
# compare with are the same bits on every x86-64-v3 CPU, Intel or AMD.
numerics.configure_torch(numerics.PORTABLE)

import torch  # noqa: E402

torch.set_num_threads(1)

os.environ["ML2BENCH_CACHE"] = tempfile.mkdtemp(prefix="ml2bench-test-costs-")
atexit.register(shutil.rmtree, os.environ["ML2BENCH_CACHE"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False here)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)

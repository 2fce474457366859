"""Test configuration: one intra-op thread (tiny models; avoids oversubscription),
the level-cost cache in a temporary folder of this session (never ``$HOME``; spawned
workers inherit it), CUDA tests skipped cleanly where no GPU is present."""

import atexit
import os
import shutil
import tempfile

import pytest
import torch

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

"""Test configuration: one intra-op thread (tiny models; avoids oversubscription),
CUDA tests skipped cleanly where no GPU is present."""

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)

"""Real image data: readers, data directory, registry, download, loaders.

MNIST and Fashion-MNIST are read from IDX files (raw or ``.gz``), CIFAR-10 from its
binary batches (no pickle), in torchvision's layout inside the data directory
(``--data-dir``, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``). Every user-facing
problem raises :class:`~ml2bench.errors.UserError` with one sentence.

The loaders (which need torch) are imported on first use, so ``ml2bench data list``
stays fast.
"""

import importlib

from ml2bench.data.cifar import read_cifar_batch, read_cifar_batches
from ml2bench.data.datadir import ENV_DATA_DIR, find_data_file, resolve_data_dir
from ml2bench.data.datasets import DATASETS, MD5SUMS, MIRRORS, dataset_status, require_dataset
from ml2bench.data.download import ENV_MIRRORS, download_dataset
from ml2bench.data.errors import UserError
from ml2bench.data.idx import read_idx_images, read_idx_labels, read_idx_pair
from ml2bench.data.verify import FileCheck, verify

__all__ = [
    "UserError", "ENV_DATA_DIR", "ENV_MIRRORS", "DATASETS", "MD5SUMS", "MIRRORS",
    "resolve_data_dir", "find_data_file", "dataset_status", "require_dataset",
    "read_idx_images", "read_idx_labels", "read_idx_pair", "read_cifar_batch",
    "read_cifar_batches", "download_dataset", "verify", "FileCheck", "ImageData",
    "ImageTensors", "load_mnist", "load_cifar10", "load_image_dataset", "channel_stats",
    "normalize_per_channel", "normalized_tensors",
]

_LAZY = ("ImageData", "ImageTensors", "load_mnist", "load_cifar10", "load_image_dataset",
         "channel_stats", "normalize_per_channel", "normalized_tensors")


def __getattr__(name):
    """Import the loader names lazily (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module("ml2bench.data.loaders"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

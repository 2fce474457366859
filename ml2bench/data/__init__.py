"""Real image data: readers, data directory, registry, download, loaders.

MNIST and Fashion-MNIST are read from IDX files (raw or ``.gz``), CIFAR-10 from its
binary batches (no pickle), in torchvision's layout inside the data directory
(``--data-dir``, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``). Every user-facing
problem raises :class:`~ml2bench.errors.UserError` with one sentence.

Every public name is imported on first use, so ``ml2bench data list`` and
``ml2bench --help`` stay fast.
"""

import importlib

__all__ = [
    "UserError", "ENV_DATA_DIR", "ENV_MIRRORS", "DATASETS", "MD5SUMS", "MIRRORS",
    "resolve_data_dir", "find_data_file", "dataset_status", "require_dataset",
    "read_idx_images", "read_idx_labels", "read_idx_pair", "read_cifar_batch",
    "read_cifar_batches", "download_dataset", "verify", "FileCheck", "ImageData",
    "ImageTensors", "load_mnist", "load_cifar10", "load_image_dataset", "channel_stats",
    "normalize_per_channel", "normalized_tensors",
]

#: Where each public name lives; every name is imported on first use (PEP 562), so
#: the ``ml2bench`` command line (``data list``, ``--help``) imports neither numpy nor
#: torch.
_HOMES = {
    "read_cifar_batch": "cifar", "read_cifar_batches": "cifar",
    "ENV_DATA_DIR": "datadir", "find_data_file": "datadir", "resolve_data_dir": "datadir",
    "DATASETS": "datasets", "MD5SUMS": "datasets", "MIRRORS": "datasets",
    "dataset_status": "datasets", "require_dataset": "datasets",
    "ENV_MIRRORS": "datasets", "download_dataset": "download", "UserError": "errors",
    "read_idx_images": "idx", "read_idx_labels": "idx", "read_idx_pair": "idx",
    "FileCheck": "verify", "verify": "verify",
    **{name: "loaders" for name in ("ImageData", "ImageTensors", "load_mnist", "load_cifar10",
                                    "load_image_dataset", "channel_stats",
                                    "normalize_per_channel", "normalized_tensors")},
}


def __getattr__(name):
    """Import the public names lazily (PEP 562)."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"ml2bench.data.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

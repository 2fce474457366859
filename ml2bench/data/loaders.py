"""Loaders that give problems the image data sets as arrays and normalised tensors.

:func:`load_mnist` and :func:`load_cifar10` read the files found by
:func:`~ml2bench.data.datasets.require_dataset` and return ``uint8`` images with
``int64`` labels. :func:`channel_stats` computes the per-channel mean and standard
deviation of a training set (in the ``[0, 1]`` scale), and
:func:`normalize_per_channel` applies

.. math:: \\hat x_{c} = (x_{c} / 255 - \\mu_c) / \\sigma_c .

:func:`normalized_tensors` does both for a whole data set, using the training
statistics for the test split too, and puts the tensors on a device.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ml2bench.data.cifar import TEST_BATCH, TRAIN_BATCHES, read_cifar_batches
from ml2bench.data.datadir import PathLike
from ml2bench.data.datasets import require_dataset
from ml2bench.data.errors import UserError
from ml2bench.data.idx import read_idx_pair

__all__ = ["ImageData", "ImageTensors", "load_mnist", "load_cifar10", "load_image_dataset",
           "channel_stats", "normalize_per_channel", "normalized_tensors"]

Stats = Tuple[float, ...]


class ImageData(NamedTuple):
    """Raw image data set: ``uint8`` images and ``int64`` labels (numpy arrays)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class ImageTensors(NamedTuple):
    """Normalised ``(N, C, H, W)`` float tensors, labels, and the statistics used."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: Stats
    std: Stats


def _nonempty(data: ImageData, where: str) -> ImageData:
    if len(data.x_train) == 0 or len(data.x_test) == 0:
        split = "training" if len(data.x_train) == 0 else "test"
        raise UserError(f"{where}: the {split} split holds no images")
    return data


def load_mnist(data_dir: Optional[PathLike] = None, kind: str = "mnist") -> ImageData:
    """Load MNIST or Fashion-MNIST from IDX files (raw or ``.gz``).

    Parameters
    ----------
    data_dir : str or os.PathLike or None, optional
        Data directory (argument, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``).
    kind : {"mnist", "fashion_mnist"}, optional
        Which data set.

    Returns
    -------
    ImageData
        ``x_*`` of shape ``(N, 28, 28)``, ``uint8``; ``y_*`` of shape ``(N,)``, ``int64``.

    Raises
    ------
    UserError
        If ``kind`` is unknown, the files are missing (the message says how to fetch
        them) or malformed.
    """
    if kind not in ("mnist", "fashion_mnist"):
        raise UserError(f"unknown IDX data set {kind!r}; valid kinds are: fashion_mnist, mnist")
    paths = require_dataset(kind, data_dir)
    x_train, y_train = read_idx_pair(paths["train_images"], paths["train_labels"])
    x_test, y_test = read_idx_pair(paths["test_images"], paths["test_labels"])
    return _nonempty(ImageData(x_train, y_train, x_test, y_test), str(paths["train_images"].parent))


def load_cifar10(data_dir: Optional[PathLike] = None) -> ImageData:
    """Load CIFAR-10 from the binary batches ``cifar-10-batches-bin/*.bin``.

    Parameters
    ----------
    data_dir : str or os.PathLike or None, optional
        Data directory (argument, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``).

    Returns
    -------
    ImageData
        ``x_*`` of shape ``(N, 3, 32, 32)`` (channels first), ``uint8``; ``y_*`` of
        shape ``(N,)``, ``int64``. The training set is the five training batches in
        order.

    Raises
    ------
    UserError
        If files are missing (the message says how to fetch them) or malformed.
    """
    paths = require_dataset("cifar10", data_dir)
    x_train, y_train = read_cifar_batches([paths[n[:-4]] for n in TRAIN_BATCHES])
    x_test, y_test = read_cifar_batches([paths[TEST_BATCH[:-4]]])
    return _nonempty(ImageData(x_train, y_train, x_test, y_test), str(paths["test_batch"].parent))


def load_image_dataset(name: str, data_dir: Optional[PathLike] = None) -> ImageData:
    """Load ``mnist``, ``fashion_mnist`` or ``cifar10`` by name (see the loaders above)."""
    if name == "cifar10":
        return load_cifar10(data_dir)
    return load_mnist(data_dir, kind=name)


def _as_nchw(x: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
    """Return a ``uint8`` tensor view with a channel axis: ``(N,H,W)`` -> ``(N,1,H,W)``."""
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    if t.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {t.dtype}")
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4:
        raise ValueError(
            f"expected images of shape (N, H, W) or (N, C, H, W), got {tuple(t.shape)}")
    return t


def channel_stats(x: Union[np.ndarray, torch.Tensor], chunk: int = 2048) -> Tuple[Stats, Stats]:
    """Per-channel mean and standard deviation of ``uint8`` images, in the [0, 1] scale.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        ``uint8`` images of shape ``(N, H, W)`` (one channel) or ``(N, C, H, W)``.
    chunk : int, optional
        Images per chunk; sums are accumulated exactly in float64 chunk by chunk, so
        memory stays small for the full CIFAR-10 training set.

    Returns
    -------
    mean, std : tuple of float
        One value per channel; ``std`` is the population standard deviation over all
        pixels of the channel.
    """
    t = _as_nchw(x)
    if t.shape[0] == 0:
        raise ValueError("cannot compute statistics of an empty image set")
    s1 = torch.zeros(t.shape[1], dtype=torch.float64, device=t.device)
    s2 = torch.zeros_like(s1)
    for start in range(0, t.shape[0], chunk):
        part = t[start:start + chunk].to(torch.float64)
        s1 += part.sum(dim=(0, 2, 3))
        s2 += part.square().sum(dim=(0, 2, 3))
    count = t.shape[0] * t.shape[2] * t.shape[3]
    mean = s1 / count
    var = (s2 / count - mean.square()).clamp_min(0.0)
    return tuple((mean / 255).tolist()), tuple((var.sqrt() / 255).tolist())


def normalize_per_channel(x: Union[np.ndarray, torch.Tensor], mean: Union[float, Sequence[float]],
                          std: Union[float, Sequence[float]],
                          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Scale ``uint8`` images to [0, 1] and standardise each channel.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        ``uint8`` images, ``(N, H, W)`` or ``(N, C, H, W)``; a numpy array is converted.
    mean, std : float or sequence of float
        Per-channel statistics in the [0, 1] scale (e.g. from :func:`channel_stats`);
        a scalar applies to every channel.
    dtype : torch.dtype, optional
        Floating dtype of the result.

    Returns
    -------
    torch.Tensor
        ``(x / 255 - mean_c) / std_c`` of the same shape as ``x``, on ``x``'s device.
    """
    t = _as_nchw(x)
    channels = t.shape[1]
    m = torch.as_tensor(mean, dtype=dtype, device=t.device).reshape(-1)
    s = torch.as_tensor(std, dtype=dtype, device=t.device).reshape(-1)
    for label, v in (("mean", m), ("std", s)):
        if v.numel() not in (1, channels):
            raise ValueError(f"{label} has {v.numel()} values for {channels} channel(s)")
    if bool((s <= 0).any()):
        raise ValueError("std must be positive")
    out = t.to(dtype).div_(255).sub_(m.reshape(1, -1, 1, 1)).div_(s.reshape(1, -1, 1, 1))
    return out.reshape(tuple(x.shape))


def normalized_tensors(data: ImageData, device: Union[str, torch.device] = "cpu",
                       dtype: torch.dtype = torch.float32) -> ImageTensors:
    """Normalise both splits with the training statistics and move them to ``device``.

    Parameters
    ----------
    data : ImageData
        Output of a loader.
    device : str or torch.device, optional
        Where the tensors live (the data stay resident there).
    dtype : torch.dtype, optional
        Floating dtype of the images.

    Returns
    -------
    ImageTensors
        Images of shape ``(N, C, H, W)`` (MNIST gets ``C = 1``), ``int64`` labels, and
        the per-channel ``mean`` and ``std`` of the training images.
    """
    mean, std = channel_stats(data.x_train)
    std = tuple(s if s > 0 else 1.0 for s in std)
    x_train = _as_nchw(data.x_train).to(device)
    x_test = _as_nchw(data.x_test).to(device)
    return ImageTensors(
        normalize_per_channel(x_train, mean, std, dtype),
        torch.as_tensor(data.y_train, dtype=torch.int64).to(device),
        normalize_per_channel(x_test, mean, std, dtype),
        torch.as_tensor(data.y_test, dtype=torch.int64).to(device),
        mean, std,
    )

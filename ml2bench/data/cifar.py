"""Reader for the binary version of CIFAR-10 (``cifar-10-batches-bin``).

Each batch file is a sequence of 3073-byte records: one label byte (0..9) followed by
the 32x32 image as 1024 red, 1024 green and 1024 blue bytes, each plane row-major.
The official archive holds ``data_batch_1.bin`` .. ``data_batch_5.bin`` (10 000 records
each) and ``test_batch.bin``; any whole number of records is accepted, so tiny test
files work. No pickle is involved.

References
----------
A. Krizhevsky, "Learning multiple layers of features from tiny images", 2009;
https://www.cs.toronto.edu/~kriz/cifar.html (binary version).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Tuple, Union

from ml2bench.data.errors import UserError

if TYPE_CHECKING:
    import numpy as np

PathLike = Union[str, os.PathLike]

IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
NUM_CLASSES = 10
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"

__all__ = [
    "IMAGE_SHAPE",
    "RECORD_BYTES",
    "NUM_CLASSES",
    "TRAIN_BATCHES",
    "TEST_BATCH",
    "parse_cifar_batch",
    "read_cifar_batch",
    "read_cifar_batches",
]


def parse_cifar_batch(data: bytes, source: PathLike = "<bytes>") -> Tuple[np.ndarray, np.ndarray]:
    """Parse the bytes of one CIFAR-10 binary batch.

    Parameters
    ----------
    data : bytes
        File content: ``N`` records of ``1 + 3072`` bytes.
    source : str or os.PathLike, optional
        Name used in error messages.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, channels first, shape ``(N, 3, 32, 32)``.
    labels : numpy.ndarray
        ``int64``, shape ``(N,)``.

    Raises
    ------
    UserError
        If the data are empty, not a whole number of records, or hold a label >= 10.
    """
    if len(data) == 0:
        raise UserError(f"{source}: file is empty (expected records of {RECORD_BYTES} bytes)")
    if len(data) % RECORD_BYTES:
        raise UserError(
            f"{source}: file is {len(data)} bytes, not a multiple of the "
            f"{RECORD_BYTES}-byte record size (truncated or not a CIFAR-10 binary batch)"
        )
    import numpy as np

    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise UserError(
            f"{source}: record {int(bad[0])} has label {int(labels[bad[0]])} "
            f"(expected 0..{NUM_CLASSES - 1})"
        )
    images = records[:, 1:].reshape((-1,) + IMAGE_SHAPE).copy()
    return images, labels


def read_cifar_batch(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``*.bin`` batch file.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, shape ``(N, 3, 32, 32)``.
    labels : numpy.ndarray
        ``int64``, shape ``(N,)``.

    Raises
    ------
    UserError
        If the file cannot be read or is malformed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_cifar_batch(data, path)


def read_cifar_batches(paths: Sequence[PathLike]) -> Tuple[np.ndarray, np.ndarray]:
    """Read several batch files and concatenate them in the given order.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Batch files, e.g. the five training batches.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, shape ``(N, 3, 32, 32)`` with ``N`` the total record count.
    labels : numpy.ndarray
        ``int64``, shape ``(N,)``.
    """
    if not paths:
        raise ValueError("read_cifar_batches needs at least one file")
    parts = [read_cifar_batch(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    import numpy as np

    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

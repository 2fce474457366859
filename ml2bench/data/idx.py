"""Reader for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array::

    magic   4 bytes  0x00 0x00 TYPE NDIM   (TYPE 0x08 = unsigned byte)
    dims    NDIM x 4 bytes, unsigned big-endian
    data    prod(dims) bytes

Image files have magic ``0x00000803`` (``N x rows x cols``), label files
``0x00000801`` (``N``). Files may be gzip-compressed (``*-ubyte.gz``); compression is
detected from the content, not the name. Every check is strict: the file length must
equal the size the header declares, and a malformed file raises a
:class:`~ml2bench.errors.UserError` that names the file and the defect.

References
----------
Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten digits",
http://yann.lecun.com/exdb/mnist/ (file format section).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ml2bench.data.errors import UserError

PathLike = Union[str, os.PathLike]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_GZIP_MAGIC = b"\x1f\x8b"
_KIND = {IMAGES_MAGIC: "an IDX image file", LABELS_MAGIC: "an IDX label file"}

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "read_file_bytes",
    "parse_idx",
    "read_idx_images",
    "read_idx_labels",
    "read_idx_pair",
]


def read_file_bytes(path: PathLike) -> bytes:
    """Return the content of a file, gunzipped if it is gzip data.

    Parameters
    ----------
    path : str or os.PathLike
        File to read. Gzip data is recognised by its magic bytes ``1f 8b``.

    Returns
    -------
    bytes
        The (decompressed) content.

    Raises
    ------
    UserError
        If the file cannot be read, or is named ``*.gz`` but is not gzip data, or its
        gzip stream is corrupt or truncated.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if raw[:2] != _GZIP_MAGIC:
        if path.suffix == ".gz":
            raise UserError(f"{path}: not a gzip file although its name ends in .gz")
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise UserError(f"{path}: truncated gzip stream") from None
    except (OSError, zlib.error) as exc:
        raise UserError(f"{path}: corrupt gzip data ({exc})") from None


def parse_idx(data: bytes, expected_magic: int, source: PathLike = "<bytes>") -> np.ndarray:
    """Parse the bytes of an unsigned-byte IDX file.

    Parameters
    ----------
    data : bytes
        Uncompressed file content.
    expected_magic : int
        :data:`IMAGES_MAGIC` or :data:`LABELS_MAGIC`; the number of dimensions is its
        low byte.
    source : str or os.PathLike, optional
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        Writable ``uint8`` array with the shape the header declares.

    Raises
    ------
    UserError
        On a wrong magic number, a short header, or a length that differs from the
        header-declared size.
    """
    ndim = expected_magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(data) < 4:
        raise UserError(f"{source}: file is only {len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        seen = f", which is {_KIND[magic]}" if magic in _KIND else ""
        raise UserError(
            f"{source}: wrong magic number 0x{magic:08x}{seen} "
            f"(expected 0x{expected_magic:08x} for {_KIND[expected_magic]})"
        )
    if len(data) < header_len:
        raise UserError(
            f"{source}: file is only {len(data)} bytes, too short for the "
            f"{header_len}-byte IDX header"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    declared = header_len + math.prod(dims)
    if len(data) != declared:
        what = "truncated" if len(data) < declared else f"{len(data) - declared} extra bytes"
        shape = " x ".join(str(d) for d in dims)
        raise UserError(
            f"{source}: file is {len(data)} bytes but its header declares {shape} "
            f"values, i.e. {declared} bytes ({what})"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header_len)
    return array.reshape(dims).copy()


def read_idx_images(path: PathLike, shape: Optional[Sequence[int]] = (28, 28)) -> np.ndarray:
    """Read an IDX image file (``*-images-idx3-ubyte[.gz]``).

    Parameters
    ----------
    path : str or os.PathLike
        Raw or gzip-compressed IDX file with magic ``0x00000803``.
    shape : sequence of two ints or None, optional
        Required ``(rows, cols)`` of each image; ``None`` accepts any.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(N, rows, cols)``.

    Raises
    ------
    UserError
        If the file is malformed or its images have another shape.
    """
    images = parse_idx(read_file_bytes(path), IMAGES_MAGIC, path)
    if shape is not None and tuple(images.shape[1:]) != tuple(shape):
        rows, cols = images.shape[1:]
        raise UserError(
            f"{path}: images are {rows}x{cols} pixels, expected {shape[0]}x{shape[1]}"
        )
    return images


def read_idx_labels(path: PathLike, num_classes: Optional[int] = None) -> np.ndarray:
    """Read an IDX label file (``*-labels-idx1-ubyte[.gz]``).

    Parameters
    ----------
    path : str or os.PathLike
        Raw or gzip-compressed IDX file with magic ``0x00000801``.
    num_classes : int or None, optional
        If given, every label must be smaller than it.

    Returns
    -------
    numpy.ndarray
        ``int64`` array of shape ``(N,)``.

    Raises
    ------
    UserError
        If the file is malformed or holds a label ``>= num_classes``.
    """
    labels = parse_idx(read_file_bytes(path), LABELS_MAGIC, path)
    if num_classes is not None and labels.size and int(labels.max()) >= num_classes:
        raise UserError(
            f"{path}: label {int(labels.max())} out of range (expected 0..{num_classes - 1})"
        )
    return labels.astype(np.int64)


def read_idx_pair(
    images_path: PathLike,
    labels_path: PathLike,
    shape: Optional[Sequence[int]] = (28, 28),
    num_classes: Optional[int] = 10,
) -> Tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files and check that their counts agree.

    Parameters
    ----------
    images_path, labels_path : str or os.PathLike
        The IDX image and label files of one split.
    shape : sequence of two ints or None, optional
        Required image size, see :func:`read_idx_images`.
    num_classes : int or None, optional
        Label bound, see :func:`read_idx_labels`.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, shape ``(N, rows, cols)``.
    labels : numpy.ndarray
        ``int64``, shape ``(N,)``.

    Raises
    ------
    UserError
        If either file is malformed or the counts differ.
    """
    images = read_idx_images(images_path, shape)
    labels = read_idx_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise UserError(
            f"{images_path}: holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels"
        )
    return images, labels

"""Where the image data sets live on disk.

The data directory is resolved in this order:

1. an explicit ``data_dir`` argument (``--data-dir`` on the command line);
2. the environment variable ``ML2BENCH_DATA`` (if set and not empty);
3. the default ``~/.cache/ml2bench``.

Inside it the layout is torchvision's, so an existing torchvision download can be
reused by pointing ``--data-dir`` at torchvision's ``root``::

    MNIST/raw/train-images-idx3-ubyte[.gz]  (and the three other IDX files)
    FashionMNIST/raw/...                    (same file names)
    cifar-10-batches-bin/data_batch_1.bin .. data_batch_5.bin, test_batch.bin
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

#: Environment variable with extra base URLs (see :mod:`ml2bench.data.download`).
ENV_MIRRORS = "ML2BENCH_MIRRORS"
#: Default network timeout of a download, in seconds.
DEFAULT_TIMEOUT = 30.0

PathLike = Union[str, os.PathLike]

ENV_DATA_DIR = "ML2BENCH_DATA"

__all__ = ["ENV_DATA_DIR", "default_data_dir", "resolve_data_dir", "find_data_file"]


def default_data_dir() -> Path:
    """Return the default data directory, ``~/.cache/ml2bench``.

    Returns
    -------
    pathlib.Path
        The expanded default path (it may not exist yet).
    """
    return Path.home() / ".cache" / "ml2bench"


def resolve_data_dir(data_dir: Optional[PathLike] = None) -> Path:
    """Return the data directory to use, as an absolute path.

    Parameters
    ----------
    data_dir : str or os.PathLike or None, optional
        Explicit directory; ``None`` falls back to ``$ML2BENCH_DATA``, then to
        :func:`default_data_dir`. ``~`` is expanded.

    Returns
    -------
    pathlib.Path
        Absolute path; it is not created and may not exist.
    """
    return describe_data_dir(data_dir)[0]


def describe_data_dir(data_dir: Optional[PathLike] = None) -> Tuple[Path, str]:
    """Resolve the data directory and say where the choice came from.

    Parameters
    ----------
    data_dir : str or os.PathLike or None, optional
        As in :func:`resolve_data_dir`.

    Returns
    -------
    path : pathlib.Path
        The absolute data directory.
    source : str
        ``"--data-dir"``, ``"$ML2BENCH_DATA"`` or ``"default"``.
    """
    if data_dir is not None and str(data_dir) != "":
        path, source = Path(data_dir), "--data-dir"
    elif os.environ.get(ENV_DATA_DIR, "").strip():
        path, source = Path(os.environ[ENV_DATA_DIR].strip()), f"${ENV_DATA_DIR}"
    else:
        path, source = default_data_dir(), "default"
    return Path(os.path.abspath(path.expanduser())), source


def find_data_file(directory: PathLike, name: str, allow_gz: bool = True) -> Optional[Path]:
    """Find ``name`` or, if allowed, ``name.gz`` in ``directory``.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder to look in (e.g. ``DATA/MNIST/raw``).
    name : str
        Uncompressed file name, e.g. ``train-images-idx3-ubyte``.
    allow_gz : bool, optional
        Also accept the gzip-compressed variant ``name.gz``.

    Returns
    -------
    pathlib.Path or None
        The uncompressed file if present (it reads faster), else the ``.gz`` one,
        else ``None``.
    """
    candidates = [name, name + ".gz"] if allow_gz else [name]
    for candidate in candidates:
        path = Path(directory) / candidate
        if path.is_file():
            return path
    return None

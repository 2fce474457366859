"""Registry of the image data sets: official files, checksums, mirrors, layout.

Three data sets are known: ``mnist``, ``fashion_mnist`` and ``cifar10`` (binary
version). For each, :data:`DATASETS` says which files the loaders read and where
(torchvision's layout, see :mod:`ml2bench.data.datadir`), which official files a
download fetches, and :data:`MD5SUMS` / :data:`MIRRORS` hold their checksums and the
default base URLs. Both tables are looked up at call time, so tests may patch them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ml2bench.data.cifar import TEST_BATCH, TRAIN_BATCHES
from ml2bench.data.datadir import PathLike, find_data_file, resolve_data_dir
from ml2bench.data.errors import UserError

__all__ = [
    "MD5SUMS",
    "MIRRORS",
    "DatasetInfo",
    "DATASETS",
    "DatasetStatus",
    "get_dataset",
    "dataset_status",
    "require_dataset",
    "download_hint",
]

_IDX_FILES = (
    ("train_images", "train-images-idx3-ubyte"),
    ("train_labels", "train-labels-idx1-ubyte"),
    ("test_images", "t10k-images-idx3-ubyte"),
    ("test_labels", "t10k-labels-idx1-ubyte"),
)
_IDX_DOWNLOADS = tuple(name + ".gz" for _, name in _IDX_FILES)

#: Expected MD5 of every official download, per data set and file name.
MD5SUMS: Dict[str, Dict[str, str]] = {
    "mnist": dict(zip(_IDX_DOWNLOADS, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ))),
    "fashion_mnist": dict(zip(_IDX_DOWNLOADS, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ))),
    "cifar10": {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
}


#: Default base URLs, tried in order; a file's URL is ``base + file name``.
MIRRORS: Dict[str, Tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of one data set.

    Attributes
    ----------
    name : str
        Registry key (``mnist``, ``fashion_mnist``, ``cifar10``).
    title : str
        Human-readable name.
    folder : str
        Folder, relative to the data directory, of the files the loader reads.
    files : tuple of (str, str)
        ``(role, file name)`` of every file the loader needs.
    allow_gz : bool
        Whether each file may instead be present as ``name.gz``.
    downloads : tuple of str
        Official file names fetched from a mirror.
    download_folder : str
        Folder, relative to the data directory, where downloads are saved.
    archive : str or None
        Name of the tar archive to extract after download (``cifar10``), else None.
    """

    name: str
    title: str
    folder: str
    files: Tuple[Tuple[str, str], ...]
    allow_gz: bool
    downloads: Tuple[str, ...]
    download_folder: str
    archive: Optional[str] = None

    def patterns(self, names: Optional[List[str]] = None) -> List[str]:
        """Return display patterns such as ``MNIST/raw/train-images-idx3-ubyte[.gz]``."""
        suffix = "[.gz]" if self.allow_gz else ""
        chosen = names if names is not None else [n for _, n in self.files]
        return [f"{self.folder}/{n}{suffix}" for n in chosen]


DATASETS: Dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST handwritten digits", "MNIST/raw", _IDX_FILES, True,
        _IDX_DOWNLOADS, "MNIST/raw",
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", "Fashion-MNIST", "FashionMNIST/raw", _IDX_FILES, True,
        _IDX_DOWNLOADS, "FashionMNIST/raw",
    ),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10 (binary version)", "cifar-10-batches-bin",
        tuple((n[:-4], n) for n in TRAIN_BATCHES + (TEST_BATCH,)), False,
        ("cifar-10-binary.tar.gz",), ".", archive="cifar-10-binary.tar.gz",
    ),
}


def get_dataset(name: str) -> DatasetInfo:
    """Return the registry entry of ``name``.

    Raises
    ------
    UserError
        If ``name`` is unknown; the message lists the valid names.
    """
    try:
        return DATASETS[name]
    except KeyError:
        valid = ", ".join(sorted(DATASETS))
        raise UserError(f"unknown data set {name!r}; valid names are: {valid}") from None


@dataclass(frozen=True)
class DatasetStatus:
    """What of a data set is present in a data directory.

    Attributes
    ----------
    info : DatasetInfo
        The registry entry.
    root : pathlib.Path
        The data directory.
    found : dict of str to pathlib.Path or None
        Per role, the file the loader would read, or None if missing.
    archive : pathlib.Path or None
        The downloaded archive, if the data set has one and it is present.
    """

    info: DatasetInfo
    root: Path
    found: Dict[str, Optional[Path]]
    archive: Optional[Path]

    @property
    def present(self) -> bool:
        """True if every file the loader needs is present."""
        return all(p is not None for p in self.found.values())

    @property
    def missing(self) -> List[str]:
        """File names (uncompressed) that are missing."""
        names = dict(self.info.files)
        return [names[role] for role, p in self.found.items() if p is None]


def dataset_status(name: str, data_dir: Optional[PathLike] = None) -> DatasetStatus:
    """Look for the files of ``name`` in the data directory (no file is read).

    Parameters
    ----------
    name : str
        Registry key.
    data_dir : str or os.PathLike or None, optional
        Data directory; resolved with :func:`~ml2bench.data.datadir.resolve_data_dir`.

    Returns
    -------
    DatasetStatus
    """
    info = get_dataset(name)
    root = resolve_data_dir(data_dir)
    folder = root / info.folder
    found = {role: find_data_file(folder, fname, info.allow_gz) for role, fname in info.files}
    archive = None
    if info.archive is not None:
        candidate = root / info.download_folder / info.archive
        archive = candidate if candidate.is_file() else None
    return DatasetStatus(info, root, found, archive)


def download_hint(name: str, root: Path) -> str:
    """Return the command that fetches ``name`` into ``root``."""
    return f"ml2bench data download {name} --data-dir {shlex.quote(str(root))}"


def require_dataset(name: str, data_dir: Optional[PathLike] = None) -> Dict[str, Path]:
    """Return the paths of the files of ``name``, or fail with a helpful message.

    Parameters
    ----------
    name : str
        Registry key.
    data_dir : str or os.PathLike or None, optional
        Data directory (argument, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``).

    Returns
    -------
    dict of str to pathlib.Path
        Per role (``train_images`` ... for IDX, ``data_batch_1`` ... ``test_batch`` for
        CIFAR-10), the file to read.

    Raises
    ------
    UserError
        If the data directory is not a directory or files are missing; the message
        says where it looked and which command fetches the data set.
    """
    status = dataset_status(name, data_dir)
    root = status.root
    if root.exists() and not root.is_dir():
        raise UserError(f"data directory {root} is not a directory")
    if status.present:
        return {role: path for role, path in status.found.items() if path is not None}
    missing = status.missing
    verb = "not found" if len(missing) == len(status.found) else "incomplete"
    looked = ", ".join(status.info.patterns(missing))
    found, action = "", "fetch"
    if status.archive is not None:
        found, action = f", but {status.archive.name} is there", "extract"
    raise UserError(
        f"{name} {verb} in {root} (looked for {looked}){found}; "
        f"{action} it with: {download_hint(name, root)}"
    )

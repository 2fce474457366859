"""Check the data set files present in a data directory.

:func:`verify` reports one :class:`FileCheck` per file: official downloads (the IDX
``.gz`` files, the CIFAR-10 archive) are checked against their published MD5;
uncompressed IDX files and extracted CIFAR-10 batches, which have no published
checksum, are parsed and their structure checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from ml2bench.data.cifar import read_cifar_batch
from ml2bench.data.datadir import PathLike, resolve_data_dir
from ml2bench.data.datasets import MD5SUMS, DatasetInfo, get_dataset
from ml2bench.data.download import file_md5
from ml2bench.data.errors import UserError
from ml2bench.data.idx import read_idx_images, read_idx_labels

__all__ = ["FileCheck", "verify"]


@dataclass(frozen=True)
class FileCheck:
    """Outcome of checking one file.

    Attributes
    ----------
    path : pathlib.Path
        The file (or, when missing, where it was expected).
    status : str
        ``"ok"``, ``"missing"``, ``"mismatch"`` (wrong MD5) or ``"invalid"``
        (malformed content).
    detail : str
        One line for humans, e.g. ``"md5 ok"`` or the parse error.
    """

    path: Path
    status: str
    detail: str

    @property
    def ok(self) -> bool:
        """True if the file is present and correct."""
        return self.status == "ok"


def _md5_check(path: Path, expected: str) -> FileCheck:
    try:
        got = file_md5(path)
    except OSError as exc:
        return FileCheck(path, "invalid", f"cannot read ({exc.strerror or exc})")
    if got == expected:
        return FileCheck(path, "ok", "md5 ok")
    return FileCheck(path, "mismatch", f"md5 {got}, expected {expected}")


def _parse_check(path: Path, count: Callable[[Path], int], what: str) -> FileCheck:
    try:
        n = count(path)
    except UserError as exc:
        return FileCheck(path, "invalid", str(exc))
    return FileCheck(path, "ok", f"{n} {what}, structure ok (no published checksum)")


def _verify_idx(info: DatasetInfo, root: Path) -> List[FileCheck]:
    folder = root / info.folder
    checks = []
    for role, fname in info.files:
        gz, raw = folder / (fname + ".gz"), folder / fname
        if gz.is_file():
            checks.append(_md5_check(gz, MD5SUMS[info.name][gz.name]))
        if raw.is_file():
            if role.endswith("images"):
                checks.append(_parse_check(raw, lambda p: len(read_idx_images(p)), "images"))
            else:
                checks.append(_parse_check(raw, lambda p: len(read_idx_labels(p, 10)), "labels"))
        if not gz.is_file() and not raw.is_file():
            checks.append(FileCheck(gz, "missing", f"neither {fname} nor {fname}.gz found"))
    return checks


def _verify_cifar(info: DatasetInfo, root: Path) -> List[FileCheck]:
    checks = []
    archive = root / info.download_folder / info.archive
    if archive.is_file():
        checks.append(_md5_check(archive, MD5SUMS[info.name][archive.name]))
    for _, fname in info.files:
        path = root / info.folder / fname
        if path.is_file():
            checks.append(_parse_check(path, lambda p: len(read_cifar_batch(p)[1]), "records"))
        else:
            checks.append(FileCheck(path, "missing", "not found"))
    return checks


def verify(name: str, data_dir: Optional[PathLike] = None) -> List[FileCheck]:
    """Check the files of data set ``name`` that are present, one report per file.

    Parameters
    ----------
    name : str
        ``mnist``, ``fashion_mnist`` or ``cifar10``.
    data_dir : str or os.PathLike or None, optional
        Data directory (argument, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``).

    Returns
    -------
    list of FileCheck
        For IDX data sets: the MD5 of each present ``.gz`` file and the structure of
        each present uncompressed file, or ``missing`` if neither exists. For
        ``cifar10``: the MD5 of the archive if present, and the structure of each
        extracted batch (``missing`` if absent).
    """
    info = get_dataset(name)
    root = resolve_data_dir(data_dir)
    if info.archive is None:
        return _verify_idx(info, root)
    return _verify_cifar(info, root)

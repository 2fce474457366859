"""Safe extraction of the CIFAR-10 binary archive.

``cifar-10-binary.tar.gz`` is opened with :mod:`tarfile`, but nothing is extracted with
``TarFile.extract``: every member is checked first, and the archive is refused as a
whole if any member has an absolute path, a ``..`` component, or is a symbolic link,
hard link, device or FIFO. Only the expected regular files are then copied, into a
temporary folder inside the data directory, checked as CIFAR-10 batches, and moved to
their final names with :func:`os.replace`. Other harmless members are ignored.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Dict, List, Tuple

from ml2bench.data.cifar import TEST_BATCH, TRAIN_BATCHES, parse_cifar_batch
from ml2bench.data.datadir import PathLike
from ml2bench.data.errors import UserError

CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_BATCHES = TRAIN_BATCHES + (TEST_BATCH,)
CIFAR_MEMBERS = frozenset(
    f"{CIFAR_DIR}/{name}" for name in CIFAR_BATCHES + ("batches.meta.txt", "readme.html")
)

__all__ = ["CIFAR_DIR", "CIFAR_MEMBERS", "check_member", "select_cifar_members",
           "extract_cifar_archive"]


def check_member(member: tarfile.TarInfo, archive: PathLike) -> str:
    """Check that a tar member is safe and return its normalised name.

    Parameters
    ----------
    member : tarfile.TarInfo
        The member to check.
    archive : str or os.PathLike
        The archive, named in error messages.

    Returns
    -------
    str
        The member's name without leading ``./`` components.

    Raises
    ------
    UserError
        If the member has an absolute path or a ``..`` component, or is not a regular
        file or directory (symbolic link, hard link, device, FIFO).
    """
    name = member.name.replace("\\", "/")
    if name.startswith("/") or PurePosixPath(name).is_absolute() or (
        len(name) > 1 and name[1] == ":"
    ):
        raise UserError(f"{archive}: refusing to extract member {member.name!r} (absolute path)")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if ".." in parts:
        raise UserError(f"{archive}: refusing to extract member {member.name!r} ('..' in path)")
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        raise UserError(
            f"{archive}: refusing to extract member {member.name!r} ({kind} to "
            f"{member.linkname!r})"
        )
    if not (member.isfile() or member.isdir()):
        raise UserError(
            f"{archive}: refusing to extract member {member.name!r} (device, FIFO or "
            f"other special file)"
        )
    return "/".join(parts)


def select_cifar_members(tar: tarfile.TarFile, archive: PathLike) -> Dict[str, tarfile.TarInfo]:
    """Check every member of the archive and pick the expected regular files.

    Parameters
    ----------
    tar : tarfile.TarFile
        The open archive.
    archive : str or os.PathLike
        Its path, named in error messages.

    Returns
    -------
    dict of str to tarfile.TarInfo
        Expected member name (``cifar-10-batches-bin/...``) to its entry.

    Raises
    ------
    UserError
        If any member is unsafe (see :func:`check_member`) or a batch file is missing.
    """
    chosen: Dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        name = check_member(member, archive)
        if member.isfile() and name in CIFAR_MEMBERS:
            chosen[name] = member
    missing = [n for n in CIFAR_BATCHES if f"{CIFAR_DIR}/{n}" not in chosen]
    if missing:
        raise UserError(
            f"{archive}: not the CIFAR-10 binary archive (no {CIFAR_DIR}/{missing[0]})"
        )
    return chosen


def _copy_members(tar: tarfile.TarFile, members: Dict[str, tarfile.TarInfo],
                  workdir: Path) -> List[Tuple[str, Path]]:
    """Copy the chosen members into ``workdir`` (flat); return ``(name, copy)`` pairs."""
    written = []
    for name, member in members.items():
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - regular files always have data
            continue
        target = workdir / PurePosixPath(name).name
        with source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        written.append((name, target))
    return written


def extract_cifar_archive(archive: PathLike, data_dir: PathLike) -> Path:
    """Extract the expected files of the CIFAR-10 binary archive into ``data_dir``.

    Parameters
    ----------
    archive : str or os.PathLike
        ``cifar-10-binary.tar.gz`` (or any tar holding the same members).
    data_dir : str or os.PathLike
        Data directory; the files go to ``data_dir/cifar-10-batches-bin/``.

    Returns
    -------
    pathlib.Path
        The folder ``data_dir/cifar-10-batches-bin``.

    Raises
    ------
    UserError
        If the archive cannot be read, holds an unsafe member, lacks a batch, or a
        batch is malformed. Nothing is then left behind: files are written to a
        temporary folder and renamed only once all of them are complete and valid.
    """
    archive, data_dir = Path(archive), Path(data_dir)
    final = data_dir / CIFAR_DIR
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f".{CIFAR_DIR}.", suffix=".part", dir=data_dir))
    except OSError as exc:
        raise UserError(f"cannot write to {data_dir} ({exc.strerror or exc})") from None
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = select_cifar_members(tar, archive)
            written = _copy_members(tar, members, workdir)
        for name, path in written:
            if path.suffix == ".bin":
                parse_cifar_batch(path.read_bytes(), f"{archive} (member {name})")
        final.mkdir(exist_ok=True)
        for _, path in written:
            os.replace(path, final / path.name)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UserError(f"{archive}: not a readable tar archive ({exc})") from None
    except OSError as exc:
        raise UserError(f"cannot extract {archive} into {final} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return final

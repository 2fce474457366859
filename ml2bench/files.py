"""Atomic file writes with ordinary permissions (results, reports, checkpoints).

A report is meant to be read by others (served, copied, committed), so its files get
the permissions of a normally created file (``0o666`` minus the umask) rather than the
``0o600`` of :func:`tempfile.mkstemp`. The temporary file of a write carries the
writer's process id and host, so :func:`remove_stale_temporaries` can remove the ones a
killed process left behind without touching a write in progress.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ml2bench.errors import UserError


#: Environment variable naming ml2bench's cache directory.
ENV_CACHE = "ML2BENCH_CACHE"


def cache_directory() -> Path:
    """ml2bench's cache directory: ``$ML2BENCH_CACHE`` or ``~/.cache/ml2bench/costs``.

    It holds derived data only (measured level costs, the plugin index): everything in it
    is recomputed when missing, so it is safe to delete.
    """
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ml2bench" / "costs"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Temporary files of :func:`atomic_save`: ``.<name>.<pid>@<host>.<random>.tmp``, so that
#: the one a killed process left behind can be told from one being written now.
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[^/]+?)\.[A-Za-z0-9_]+\.tmp$")

#: A temporary file of another machine (a shared file system), or of an ml2bench before
#: the writer was named, is stale when it is older than this many seconds.
STALE_TEMPORARY_S = 3600.0


def atomic_save(path: str | Path, write: Callable[[str], None],
                previous: str | Path | None = None) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    Parameters
    ----------
    path : str or Path
        Final file name; its folder is created if needed.
    write : callable
        Writes the content to the temporary path it is given.
    previous : str or Path, optional
        Where the file that ``path`` holds now is kept (one generation back), renamed
        just before the new one takes its place.

    Returns
    -------
    pathlib.Path
        ``path``. On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{socket.gethostname()}.",
                               suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files that :func:`atomic_save` left in ``folder`` when its
    process was killed; returns them.

    Only files named like its temporaries (``.<name>.<pid>@<host>.<random>.tmp``, or
    ``.<name>.<random>.tmp`` from an older ml2bench) count, and only stale ones: of this
    machine when their process is gone, else (another machine on a shared file system,
    an older ml2bench, a reused process id) when older than :data:`STALE_TEMPORARY_S`.
    A file being written by a live process is kept.
    """
    folder, removed = Path(folder), []
    host, now = socket.gethostname(), time.time()
    for path in folder.glob(".*.tmp") if folder.is_dir() else ():
        match = _TEMPORARY.match(path.name)
        try:
            ours = match is not None and match["host"] == host
            if (ours and not _alive(int(match["pid"]))) \
                    or now - path.stat().st_mtime > STALE_TEMPORARY_S:
                path.unlink()
                removed.append(path)
        except OSError:  # removed meanwhile, or not ours to remove
            continue
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    return atomic_save(path, write)


@contextmanager
def writing_to(folder: str | Path) -> Iterator[None]:
    """Turn an :class:`OSError` raised while writing into ``folder`` (read-only folder,
    full disk) into a one-sentence :class:`UserError` naming the file."""
    try:
        yield
    except OSError as error:
        target = error.filename or folder
        raise UserError(f"cannot write {target}: {error.strerror or error}; make {folder} "
                        "writable, or copy the results folder to a writable place and pass "
                        "its path with --out") from None

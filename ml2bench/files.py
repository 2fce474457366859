"""Atomic file writes with ordinary permissions (results, reports, checkpoints).

A report is meant to be read by others (served, copied, committed), so its files get
the permissions of a normally created file (``0o666`` minus the umask) rather than the
``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import os
import tempfile
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


def atomic_save(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    Parameters
    ----------
    path : str or Path
        Final file name; its folder is created if needed.
    write : callable
        Writes the content to the temporary path it is given.

    Returns
    -------
    pathlib.Path
        ``path``. On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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

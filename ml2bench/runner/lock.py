"""One process at a time on a run: an exclusive lock file per run of a results folder.

Two sweeps over the same output folder (two ``ml2bench run`` commands started at once,
overlapping suites, a rerun while the first is still going) would otherwise execute a
run they share twice at the same time, and the two processes would rename and remove
each other's checkpoint files under their feet: one of them then fails on a file the
other just removed, after or before writing the results (issue: "1 of 8 runs failed"
with a complete results file). :func:`exclusive` serialises them: the second process
waits until the first is done, then finds the run finished and skips it.

The lock is ``flock(2)`` on ``OUT/partial/<run_id>.lock``: the kernel releases it when
its process ends, however it ends (SIGKILL included), so no lock is ever left stale.
The holder removes the file while it still holds it; a process that was waiting on the
removed file sees that the name no longer leads to the file it locked and locks the
current one instead (the usual unlink-while-locked protocol), so no lock file is left
behind and two processes never both hold "the" lock.

Where the platform (Windows) or the file system (some network mounts: ``ENOLCK``) has
no such locks, runs are not serialised, as before.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

#: errno values by which ``flock`` says the file system has no locks.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the open file ``fd`` (not removed, not replaced)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _lock(fd: int, on_wait: Callable[[], None] | None) -> None:
    """``flock(fd, LOCK_EX)``; ``on_wait()`` first if another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        if on_wait is not None:
            on_wait()
    fcntl.flock(fd, fcntl.LOCK_EX)


@contextmanager
def exclusive(path: str | Path, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block,
    waiting for another process that holds it (``on_wait()`` is called once before
    waiting); the file is removed on leaving.

    Yields ``True`` when the lock is held, ``False`` where locks are unavailable (no
    ``fcntl``, or a file system without them): the block then runs unlocked.
    """
    path = Path(path)
    if fcntl is None:
        yield False
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            _lock(fd, on_wait)
            on_wait = None  # said once
        except OSError as error:
            os.close(fd)
            if error.errno not in _NO_LOCKS:
                raise
            fd = -1
            break
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder before us removed it: lock the file the name leads to now
    if fd < 0:
        yield False
        return
    try:
        yield True
    finally:
        try:
            os.unlink(path)  # while held: a process waiting on this file then retries
        except OSError:
            pass
        os.close(fd)

"""Checksummed files: a payload with its SHA-256, written atomically, verified on reading.

A run's checkpoint must not be trusted when it is damaged (a full disk, a copy cut
short, a zero-byte file after a crash of the file system): it would make the run fail
for good, or, worse, resume from garbage. A checked file is one header line and the
payload::

    ml2bench-sha256 <64 hex digits of the payload's SHA-256>\\n<payload>

written with :func:`~ml2bench.files.atomic_save` (optionally keeping the file it
replaces as the previous generation). :func:`read_checked` returns the payload or raises
:class:`DamagedFile`; :func:`move_aside` renames a damaged file to ``*.damaged`` (never
deletes it: the user may want to look at it).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ml2bench.files import atomic_save

#: First bytes of a checked file, before the hex digest.
MAGIC = b"ml2bench-sha256 "

#: Length of the header: the magic, 64 hex digits and a newline.
HEADER = len(MAGIC) + 64 + 1


class DamagedFile(Exception):
    """A checked file whose payload does not match its checksum (the reason in words)."""


def write_checked(path: str | Path, payload: bytes, previous: str | Path | None = None) -> Path:
    """Write ``payload`` with its SHA-256 header to ``path`` atomically.

    ``previous``: where the file ``path`` holds now is kept (see
    :func:`~ml2bench.files.atomic_save`).
    """
    header = MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            handle.write(header)
            handle.write(payload)

    return atomic_save(path, write, previous=previous)


def read_checked(path: str | Path) -> bytes | None:
    """The verified payload of ``path``; ``None`` for a file without the header (written
    by an older ml2bench: the caller reads it as before).

    Raises
    ------
    DamagedFile
        Empty, header cut short or payload not matching the checksum.
    """
    data = Path(path).read_bytes()
    if not data:
        raise DamagedFile("empty file")
    if not data.startswith(MAGIC[:min(len(data), len(MAGIC))]):
        return None
    if len(data) < HEADER:
        raise DamagedFile("truncated inside its checksum header")
    payload = data[HEADER:]
    if hashlib.sha256(payload).hexdigest().encode() != data[len(MAGIC):HEADER - 1]:
        raise DamagedFile(f"SHA-256 mismatch: truncated or corrupt ({len(payload)} bytes of "
                          "payload)")
    return payload


def move_aside(path: str | Path, suffix: str = "damaged") -> Path:
    """Rename a damaged ``path`` to ``path.<suffix>`` (``.<suffix>.1``, … if taken);
    returns the new name."""
    path = Path(path)
    target, number = path.with_name(f"{path.name}.{suffix}"), 0
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.{suffix}.{number}")
    path.rename(target)
    return target

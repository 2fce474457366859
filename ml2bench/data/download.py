"""Download of the official data set files, checked and written atomically.

Each file is fetched with :mod:`urllib` from the first mirror that serves it, streamed
into a temporary file in the target folder while its MD5 is computed, and renamed to
its final name with :func:`os.replace` only if the MD5 matches the official one. A
failed or interrupted download therefore leaves neither a file under the final name
nor a temporary file. The CIFAR-10 archive is then extracted with
:func:`~ml2bench.data.archive.extract_cifar_archive`.

Mirrors are base URLs (``http://``, ``https://`` or ``file://``); a file's URL is the
base followed by the file name. They come, in this order of precedence, from the
``mirrors`` argument (``--mirror``), the environment variable ``ML2BENCH_MIRRORS``
(URLs separated by commas or spaces; ``NAME=URL`` entries apply to one data set
only), or :data:`~ml2bench.data.datasets.MIRRORS`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

from tqdm.auto import tqdm

from ml2bench import __version__
from ml2bench.data.archive import extract_cifar_archive
from ml2bench.data.cifar import read_cifar_batch
from ml2bench.data.datadir import DEFAULT_TIMEOUT, ENV_MIRRORS, PathLike, resolve_data_dir
from ml2bench.data.datasets import (DATASETS, MD5SUMS, MIRRORS, dataset_status, get_dataset,
                                    require_dataset)
from ml2bench.data.errors import UserError

_CHUNK = 1 << 16
_SCHEMES = ("http", "https", "file")

Log = Optional[Callable[[str], None]]

__all__ = ["ENV_MIRRORS", "file_md5", "resolve_mirrors", "file_urls", "download_file",
           "download_dataset"]


class _FetchError(Exception):
    """One URL failed; the message is a short reason (``HTTP 404 Not Found``)."""

    def __init__(self, reason: str, network: bool = True):
        super().__init__(reason)
        self.network = network


def file_md5(path: PathLike) -> str:
    """Return the hexadecimal MD5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_mirror(url: str) -> str:
    if urllib.parse.urlsplit(url).scheme.lower() not in _SCHEMES:
        raise UserError(f"mirror {url!r} is not an http://, https:// or file:// URL")
    return url


def resolve_mirrors(name: str, mirrors: Union[None, str, Sequence[str]] = None) -> List[str]:
    """Return the base URLs to try for data set ``name``, in order.

    Parameters
    ----------
    name : str
        Registry key.
    mirrors : str or sequence of str or None, optional
        Explicit base URLs; they replace every other source. ``None`` reads
        ``$ML2BENCH_MIRRORS`` (entries separated by commas or whitespace, ``NAME=URL``
        for one data set only) and falls back to the official mirrors.

    Returns
    -------
    list of str

    Raises
    ------
    UserError
        If a mirror is not an ``http``, ``https`` or ``file`` URL.
    """
    get_dataset(name)
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if mirrors:
        return [_check_mirror(m) for m in mirrors]
    chosen = []
    for entry in re.split(r"[,\s]+", os.environ.get(ENV_MIRRORS, "").strip()):
        scoped = re.match(r"^([a-z0-9_]+)=(.+)$", entry)
        if scoped and scoped.group(1) in DATASETS:
            if scoped.group(1) == name:
                chosen.append(scoped.group(2))
        elif entry:
            chosen.append(entry)
    return [_check_mirror(m) for m in (chosen or MIRRORS[name])]


def file_urls(mirrors: Sequence[str], filename: str) -> List[str]:
    """Return the URL of ``filename`` on each mirror (a URL already ending in it is kept)."""
    urls = []
    for base in mirrors:
        if base.rstrip("/").endswith("/" + filename):
            urls.append(base.rstrip("/"))
        else:
            urls.append(base if base.endswith("/") else base + "/")
            urls[-1] += urllib.parse.quote(filename)
    return urls


def _network_reason(exc: BaseException, timeout: float) -> str:
    """Turn a urllib/socket exception into a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _stream(url: str, out, timeout: float, progress: bool, label: str) -> str:
    """Copy ``url`` into the open file ``out``; return the MD5 of what was received."""
    digest = hashlib.md5()
    request = urllib.request.Request(url, headers={"User-Agent": f"ml2bench/{__version__}"})
    received, total = 0, None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=label, disable=not progress, leave=False) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    _write(out, chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # an HTTPError holds the open response
        raise _FetchError(_network_reason(exc, timeout)) from None
    if total is not None and received != total:
        raise _FetchError(f"connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def _write(out, chunk: bytes) -> None:
    """Write to the temporary file; a local failure is a UserError, not a network one."""
    try:
        out.write(chunk)
    except OSError as exc:
        raise UserError(f"cannot write {out.name} ({exc.strerror or exc})") from None


def _open_temp(dest: Path):
    """Create ``.NAME.RANDOM.part`` beside ``dest`` (mode 0666 minus umask, like any file)."""
    for _ in range(100):
        path = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.part"
        try:
            return open(path, "xb")
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(f"cannot write to {dest.parent} ({exc.strerror or exc})") from None
    raise UserError(f"cannot create a temporary file in {dest.parent}")


def _fetch(url: str, dest: Path, md5: str, timeout: float, progress: bool) -> None:
    """Download ``url`` to ``dest`` through a temporary file; nothing is left on failure."""
    out = _open_temp(dest)
    try:
        with out:
            got = _stream(url, out, timeout, progress, dest.name)
        if got != md5:
            raise _FetchError(f"checksum mismatch: md5 {got}, expected {md5}", network=False)
        os.replace(out.name, dest)
    except BaseException:
        try:
            os.unlink(out.name)
        except FileNotFoundError:
            pass
        raise


def download_file(urls: Sequence[str], dest: PathLike, md5: str,
                  timeout: float = DEFAULT_TIMEOUT, progress: Optional[bool] = None) -> Path:
    """Download the first of ``urls`` that serves a file with the given MD5 to ``dest``.

    Parameters
    ----------
    urls : sequence of str
        Candidate URLs of the same file, tried in order.
    dest : str or os.PathLike
        Final path; its folder must exist.
    md5 : str
        Expected hexadecimal MD5 digest.
    timeout : float, optional
        Socket timeout in seconds for each connection and read.
    progress : bool or None, optional
        Show a progress bar; ``None`` shows one only if stderr is a terminal.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    UserError
        If no URL delivered the file; the message lists each URL with its failure.
    """
    dest = Path(dest)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    failures: List[_FetchError] = []
    for url in urls:
        try:
            _fetch(url, dest, md5, timeout, show)
            return dest
        except _FetchError as exc:
            failures.append(exc)
    tried = ", ".join(f"{url} ({exc})" for url, exc in zip(urls, failures))
    if any(f.network for f in failures):
        hint = ("check the network connection (the machine may be offline) or choose "
                f"another mirror with --mirror URL or ${ENV_MIRRORS}")
    else:
        hint = ("the mirror serves a different file; choose another with --mirror URL or "
                f"${ENV_MIRRORS}")
    raise UserError(f"could not download {dest.name}, tried {tried}; {hint}")


def _ensure_file(name: str, filename: str, folder: Path, mirrors: List[str], force: bool,
                 timeout: float, progress: Optional[bool], log: Log) -> Path:
    """Download one official file unless it is present with the right MD5."""
    dest = folder / filename
    md5 = MD5SUMS[name][filename]
    if not force and dest.is_file() and file_md5(dest) == md5:
        _log(log, f"{dest}: present, md5 ok")
        return dest
    _log(log, f"downloading {filename} to {folder}")
    download_file(file_urls(mirrors, filename), dest, md5, timeout, progress)
    _log(log, f"{dest}: md5 ok")
    return dest


def _log(log: Log, message: str) -> None:
    if log is not None:
        log(message)


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the data folder {folder} ({exc.strerror or exc})") from None


def download_dataset(name: str, data_dir: Optional[PathLike] = None,
                     mirrors: Union[None, str, Sequence[str]] = None, *,
                     force: bool = False, timeout: float = DEFAULT_TIMEOUT,
                     progress: Optional[bool] = None, log: Log = None) -> Dict[str, Path]:
    """Fetch the official files of ``name`` into the data directory and check them.

    Files already present with the right MD5 are not fetched again; for ``cifar10``,
    complete and valid extracted batches make the download unnecessary.

    Parameters
    ----------
    name : str
        ``mnist``, ``fashion_mnist`` or ``cifar10``.
    data_dir : str or os.PathLike or None, optional
        Data directory (argument, ``$ML2BENCH_DATA``, default ``~/.cache/ml2bench``).
    mirrors : str or sequence of str or None, optional
        Base URLs replacing the default mirrors, see :func:`resolve_mirrors`.
    force : bool, optional
        Download and extract again even if the files are present.
    timeout : float, optional
        Socket timeout in seconds.
    progress : bool or None, optional
        Progress bar; ``None`` shows it only if stderr is a terminal.
    log : callable or None, optional
        Receives one line per step (e.g. ``print``); ``None`` is silent.

    Returns
    -------
    dict of str to pathlib.Path
        The files the loader reads, as :func:`~ml2bench.data.datasets.require_dataset`.

    Raises
    ------
    UserError
        On an unknown name, a bad mirror, a failed download or an unsafe archive.
    """
    info = get_dataset(name)
    root = resolve_data_dir(data_dir)
    base_urls = resolve_mirrors(name, mirrors)
    folder = root / info.download_folder
    _make_dir(folder)
    if info.archive is not None:
        status = dataset_status(name, root)
        if status.present and not force and _batches_valid(status.found.values()):
            _log(log, f"{root / info.folder}: present and valid, nothing to download")
            return require_dataset(name, root)
    for filename in info.downloads:
        path = _ensure_file(name, filename, folder, base_urls, force, timeout, progress, log)
        if filename == info.archive:
            _log(log, f"extracting {path.name} to {root / info.folder}")
            extract_cifar_archive(path, root)
    return require_dataset(name, root)


def _batches_valid(paths) -> bool:
    """True if every CIFAR-10 batch file parses."""
    try:
        for path in paths:
            read_cifar_batch(path)
    except UserError:
        return False
    return True

"""Writers of tiny data files in the exact official formats, for tests.

The files are deterministic (seeded content, gzip and tar timestamps fixed to 0), so
their MD5 is stable. :func:`make_fake_mnist` and :func:`make_fake_cifar` build a data
directory in the layout the loaders expect; :func:`make_cifar_tar` builds an archive
like ``cifar-10-binary.tar.gz``, optionally with extra (e.g. unsafe) members made by
:func:`unsafe_member`. :func:`serve_directory` serves a folder over HTTP on 127.0.0.1
for download tests, and :func:`closed_port_url` gives a URL that refuses connections.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import socket
import tarfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from ml2bench.data.archive import CIFAR_DIR
from ml2bench.data.cifar import TEST_BATCH, TRAIN_BATCHES
from ml2bench.data.datadir import PathLike
from ml2bench.data.datasets import DATASETS
from ml2bench.data.idx import IMAGES_MAGIC, LABELS_MAGIC

__all__ = ["write_idx", "write_idx_images", "write_idx_labels", "write_cifar_batch",
           "make_fake_mnist", "make_fake_cifar", "make_cifar_tar", "unsafe_member",
           "serve_directory", "closed_port_url"]

Member = Tuple[tarfile.TarInfo, Optional[bytes]]


def _write(path: PathLike, data: bytes, gz: Optional[bool]) -> Path:
    path = Path(path)
    if gz is None:
        gz = path.suffix == ".gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx(path: PathLike, array: np.ndarray, magic: int, gz: Optional[bool] = None) -> Path:
    """Write ``array`` (``uint8``) as an IDX file with the given magic number.

    ``gz=None`` compresses if the name ends in ``.gz``. Returns the path.
    """
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return _write(path, header + array.tobytes(), gz)


def write_idx_images(path: PathLike, images: np.ndarray, gz: Optional[bool] = None) -> Path:
    """Write ``uint8`` images of shape ``(N, rows, cols)`` as an IDX image file."""
    return write_idx(path, images, IMAGES_MAGIC, gz)


def write_idx_labels(path: PathLike, labels: np.ndarray, gz: Optional[bool] = None) -> Path:
    """Write labels (values 0..255) of shape ``(N,)`` as an IDX label file."""
    return write_idx(path, np.asarray(labels), LABELS_MAGIC, gz)


def _cifar_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1, 1)
    return np.concatenate([labels, images], axis=1).tobytes()


def write_cifar_batch(path: PathLike, images: np.ndarray, labels: np.ndarray) -> Path:
    """Write ``(N, 3, 32, 32)`` ``uint8`` images and labels as a CIFAR-10 binary batch."""
    return _write(path, _cifar_bytes(images, labels), gz=False)


def _random_split(rng: np.random.Generator, n: int, shape: Sequence[int]):
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 10, n)


def make_fake_mnist(data_dir: PathLike, n_train: int = 100, n_test: int = 20, gz: bool = False,
                    kind: str = "mnist", seed: int = 0) -> Dict[str, Path]:
    """Write a tiny MNIST-format data set into ``data_dir`` (torchvision layout).

    Parameters
    ----------
    data_dir : str or os.PathLike
        Data directory; files go to ``MNIST/raw`` or ``FashionMNIST/raw``.
    n_train, n_test : int, optional
        Number of images per split.
    gz : bool, optional
        Write ``*-ubyte.gz`` instead of ``*-ubyte``.
    kind : {"mnist", "fashion_mnist"}, optional
        Which folder to fill.
    seed : int, optional
        Seed of the random pixels and labels.

    Returns
    -------
    dict of str to pathlib.Path
        ``train_images``, ``train_labels``, ``test_images``, ``test_labels``.
    """
    info = DATASETS[kind]
    rng = np.random.default_rng(seed)
    folder = Path(data_dir) / info.folder
    names = dict(info.files)
    suffix = ".gz" if gz else ""
    paths = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _random_split(rng, n, (28, 28))
        images_path = folder / (names[f"{split}_images"] + suffix)
        labels_path = folder / (names[f"{split}_labels"] + suffix)
        paths[f"{split}_images"] = write_idx_images(images_path, images)
        paths[f"{split}_labels"] = write_idx_labels(labels_path, labels)
    return paths


def _cifar_contents(n_per_batch: int, n_test: int, seed: int) -> Dict[str, bytes]:
    rng = np.random.default_rng(seed)
    contents = {}
    for name in TRAIN_BATCHES + (TEST_BATCH,):
        n = n_test if name == TEST_BATCH else n_per_batch
        contents[name] = _cifar_bytes(*_random_split(rng, n, (3, 32, 32)))
    return contents


def make_fake_cifar(data_dir: PathLike, n_per_batch: int = 10, n_test: int = 10,
                    seed: int = 0) -> Dict[str, Path]:
    """Write tiny CIFAR-10 binary batches into ``data_dir/cifar-10-batches-bin``.

    Returns
    -------
    dict of str to pathlib.Path
        ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``.
    """
    folder = Path(data_dir) / CIFAR_DIR
    return {name[:-4]: _write(folder / name, data, gz=False)
            for name, data in _cifar_contents(n_per_batch, n_test, seed).items()}


def _info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime, info.mode = size, kind, 0, 0o644
    return info


def unsafe_member(kind: str, name: Optional[str] = None) -> Member:
    """Return an unsafe tar member ``(TarInfo, data)`` for :func:`make_cifar_tar`.

    Parameters
    ----------
    kind : {"traversal", "absolute", "symlink", "hardlink", "device", "fifo"}
        ``traversal`` is a file ``../evil``; ``absolute`` a file ``/tmp/evil``;
        ``symlink``/``hardlink`` link ``cifar-10-batches-bin/evil`` to ``/etc/passwd``;
        ``device`` is a character device, ``fifo`` a named pipe.
    name : str, optional
        Override the member name.
    """
    data = b"evil\n"
    defaults = {"traversal": "../evil", "absolute": "/tmp/evil"}
    member_name = name or defaults.get(kind, f"{CIFAR_DIR}/evil")
    if kind in ("traversal", "absolute"):
        return _info(member_name, len(data)), data
    types = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
             "device": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
    if kind not in types:
        raise ValueError(f"unknown unsafe member kind {kind!r}")
    info = _info(member_name, 0, types[kind])
    if kind in ("symlink", "hardlink"):
        info.linkname = "/etc/passwd"
    return info, None


def make_cifar_tar(path: PathLike, n_per_batch: int = 10, n_test: int = 10, seed: int = 0,
                   extra: Sequence[Member] = (), omit: Sequence[str] = ()) -> Path:
    """Write a ``cifar-10-binary.tar.gz``-like archive with tiny batches.

    Parameters
    ----------
    path : str or os.PathLike
        Archive to write (gzip-compressed tar, deterministic bytes).
    n_per_batch, n_test, seed : int, optional
        Size and seed of the batches, as in :func:`make_fake_cifar`.
    extra : sequence of (tarfile.TarInfo, bytes or None), optional
        Additional members appended after the official ones (see :func:`unsafe_member`).
    omit : sequence of str, optional
        Official file names (e.g. ``"data_batch_3.bin"``) to leave out.

    Returns
    -------
    pathlib.Path
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_info(CIFAR_DIR, 0, tarfile.DIRTYPE))
        files = _cifar_contents(n_per_batch, n_test, seed)
        files["batches.meta.txt"] = "\n".join(
            "airplane automobile bird cat deer dog frog horse ship truck".split()).encode()
        files["readme.html"] = b"<html>CIFAR-10 binary version (fake)</html>\n"
        for name, data in files.items():
            if name not in omit:
                tar.addfile(_info(f"{CIFAR_DIR}/{name}", len(data)), io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return _write(path, buffer.getvalue(), gz=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static file handler that logs nothing and can wait before answering."""

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def do_GET(self):
        time.sleep(getattr(self.server, "delay", 0.0))
        super().do_GET()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    delay = 0.0

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are expected in tests


@contextlib.contextmanager
def serve_directory(directory: PathLike, delay: float = 0.0) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) in a background thread.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder whose files are served.
    delay : float, optional
        Seconds each request waits before it is answered (to provoke timeouts).

    Yields
    ------
    str
        The base URL, ``http://127.0.0.1:PORT/``. The server is shut down on exit.
    """
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.delay = delay
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """Return ``http://127.0.0.1:PORT/`` for a port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"

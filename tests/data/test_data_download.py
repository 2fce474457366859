"""Downloads through a local HTTP server on 127.0.0.1: MD5, atomic writes, errors."""

import os
import shutil

import pytest

from ml2bench.data import datasets
from ml2bench.data.download import (ENV_MIRRORS, download_dataset, download_file, file_md5,
                                    file_urls, resolve_mirrors)
from ml2bench.data.errors import UserError
from ml2bench.data.loaders import load_cifar10, load_mnist
from ml2bench.data.testing import (closed_port_url, make_cifar_tar, make_fake_mnist,
                                   serve_directory)


@pytest.fixture
def mirror_dir(tmp_path_factory, monkeypatch):
    """A folder with tiny official-format files, and the MD5 table patched to them."""
    base = tmp_path_factory.mktemp("mirror")
    served = base / "served"
    paths = make_fake_mnist(base / "src", n_train=12, n_test=4, gz=True)
    served.mkdir()
    for path in paths.values():
        shutil.copy(path, served / path.name)
    make_cifar_tar(served / "cifar-10-binary.tar.gz", n_per_batch=2, n_test=3)
    for name in ("mnist", "fashion_mnist", "cifar10"):
        table = {f: file_md5(served / f) for f in datasets.MD5SUMS[name]}
        monkeypatch.setitem(datasets.MD5SUMS, name, table)
    monkeypatch.delenv(ENV_MIRRORS, raising=False)
    return served


@pytest.fixture
def server(mirror_dir):
    with serve_directory(mirror_dir) as url:
        yield url


def _leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".part"]


def test_download_mnist_then_load(tmp_path, server):
    root = tmp_path / "data"
    paths = download_dataset("mnist", root, mirrors=[server], progress=False)
    assert paths["train_images"] == root / "MNIST/raw/train-images-idx3-ubyte.gz"
    data = load_mnist(root)
    assert data.x_train.shape == (12, 28, 28) and data.x_test.shape == (4, 28, 28)
    assert _leftovers(root) == []


def test_present_files_are_not_fetched_again(tmp_path, server):
    root = tmp_path / "data"
    download_dataset("fashion_mnist", root, mirrors=server, progress=False)
    lines = []
    download_dataset("fashion_mnist", root, mirrors=[closed_port_url()], progress=False,
                     log=lines.append)
    assert len(lines) == 4 and all(line.endswith("present, md5 ok") for line in lines)


def test_checksum_mismatch_leaves_nothing(tmp_path, server, monkeypatch):
    monkeypatch.setitem(datasets.MD5SUMS["mnist"], "train-images-idx3-ubyte.gz", "0" * 32)
    root = tmp_path / "data"
    with pytest.raises(UserError) as err:
        download_dataset("mnist", root, mirrors=[server], progress=False)
    msg = str(err.value)
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert f"{server}train-images-idx3-ubyte.gz (checksum mismatch: md5 " in msg
    assert "expected 00000000000000000000000000000000" in msg and "offline" not in msg
    folder = root / "MNIST/raw"
    assert os.listdir(folder) == []  # the first file failed: no final file, no temp file


def test_existing_file_with_wrong_md5_is_replaced(tmp_path, server):
    folder = tmp_path / "data/MNIST/raw"
    folder.mkdir(parents=True)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    download_dataset("mnist", tmp_path / "data", mirrors=[server], progress=False)
    assert file_md5(folder / "t10k-labels-idx1-ubyte.gz") == \
        datasets.MD5SUMS["mnist"]["t10k-labels-idx1-ubyte.gz"]


def test_falls_back_to_next_mirror(tmp_path, server):
    dead = closed_port_url()
    paths = download_dataset("mnist", tmp_path, mirrors=[server + "missing/", dead, server],
                             progress=False)
    assert all(p.is_file() for p in paths.values())


def test_offline_is_one_clear_error(tmp_path, mirror_dir):
    urls = [closed_port_url(), closed_port_url() + "sub"]
    with pytest.raises(UserError) as err:
        download_dataset("cifar10", tmp_path, mirrors=urls, progress=False)
    msg = str(err.value)
    assert msg.startswith("could not download cifar-10-binary.tar.gz, tried ")
    assert f"{urls[0]}cifar-10-binary.tar.gz (connection refused)" in msg
    assert f"{urls[1]}/cifar-10-binary.tar.gz (connection refused)" in msg
    assert "the machine may be offline" in msg and "\n" not in msg
    assert os.listdir(tmp_path) == []


def test_http_error_is_reported(tmp_path, server):
    with pytest.raises(UserError, match=r"missing/train-images-idx3-ubyte.gz \(HTTP 404"):
        download_dataset("mnist", tmp_path, mirrors=[server + "missing/"], progress=False)
    assert _leftovers(tmp_path) == []


def test_timeout(tmp_path, mirror_dir):
    with serve_directory(mirror_dir, delay=1.0) as slow:
        with pytest.raises(UserError, match=r"\(timed out after 0.2 s\)"):
            download_file([slow + "t10k-labels-idx1-ubyte.gz"], tmp_path / "f", "0" * 32,
                          timeout=0.2, progress=False)
    assert os.listdir(tmp_path) == []


def test_cifar_download_extract_and_load(tmp_path, server):
    root = tmp_path / "data"
    lines = []
    paths = download_dataset("cifar10", root, mirrors=[server], progress=False, log=lines.append)
    assert (root / "cifar-10-binary.tar.gz").is_file()
    assert paths["test_batch"] == root / "cifar-10-batches-bin/test_batch.bin"
    assert any(line.startswith("extracting") for line in lines)
    data = load_cifar10(root)
    assert data.x_train.shape == (10, 3, 32, 32) and data.y_test.shape == (3,)
    lines.clear()
    download_dataset("cifar10", root, mirrors=[closed_port_url()], log=lines.append)
    assert lines and "nothing to download" in lines[0]
    assert _leftovers(root) == []


def test_mirrors_from_env(tmp_path, server, monkeypatch):
    monkeypatch.setenv(ENV_MIRRORS, f"cifar10=http://127.0.0.1:9/x, {server}")
    assert resolve_mirrors("mnist") == [server]
    assert resolve_mirrors("cifar10") == ["http://127.0.0.1:9/x", server]
    assert resolve_mirrors("mnist", ["file:///srv/"]) == ["file:///srv/"]
    download_dataset("mnist", tmp_path, progress=False)
    monkeypatch.setenv(ENV_MIRRORS, "")
    assert resolve_mirrors("mnist") == list(datasets.MIRRORS["mnist"])


def test_mirror_validation_and_urls():
    with pytest.raises(UserError, match="is not an http://, https:// or file:// URL"):
        resolve_mirrors("mnist", ["ftp://example.org/"])
    assert file_urls(["http://h/a", "http://h/b/", "http://h/c/f.gz"], "f.gz") == \
        ["http://h/a/f.gz", "http://h/b/f.gz", "http://h/c/f.gz"]


def test_file_mirror(tmp_path, mirror_dir):
    download_dataset("mnist", tmp_path, mirrors=[mirror_dir.as_uri()], progress=False)
    assert (tmp_path / "MNIST/raw/t10k-images-idx3-ubyte.gz").is_file()


def test_downloaded_file_has_ordinary_permissions(tmp_path, server):
    old = os.umask(0o022)
    try:
        paths = download_dataset("mnist", tmp_path, mirrors=[server], progress=False)
    finally:
        os.umask(old)
    assert paths["test_labels"].stat().st_mode & 0o777 == 0o644


def test_connection_closed_mid_file_leaves_nothing(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Short(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Short)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/f.gz"
        with pytest.raises(UserError, match=r"f.gz \((connection closed after 10 of 1000 bytes|"
                                            r"IncompleteRead.*)\)"):
            download_file([url], tmp_path / "f.gz", "0" * 32, timeout=5, progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
    assert os.listdir(tmp_path) == []

"""The ``ml2bench data`` sub-commands, through a parser built by add_data_parser."""

import argparse
import io
import shutil

import pytest

from ml2bench.data import datasets
from ml2bench.data.cli import add_data_parser, run_data_command
from ml2bench.data.datasets import require_dataset
from ml2bench.data.download import ENV_MIRRORS, file_md5
from ml2bench.data.errors import UserError
from ml2bench.data.testing import (closed_port_url, make_cifar_tar, make_fake_cifar,
                                   make_fake_mnist, serve_directory)


def _run(*argv):
    parser = argparse.ArgumentParser(prog="ml2bench")
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", *argv])
    out = io.StringIO()
    return run_data_command(args, out=out), out.getvalue()


def test_list(tmp_path):
    make_fake_mnist(tmp_path, n_train=2, n_test=2, gz=True)
    make_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", n_per_batch=1, n_test=1)
    code, text = _run("list", "--data-dir", str(tmp_path))
    assert code == 0
    assert f"data directory: {tmp_path} (--data-dir)" in text
    lines = {line.split()[0]: line for line in text.splitlines()[2:5]}
    assert "present" in lines["mnist"] and str(tmp_path / "MNIST/raw") in lines["mnist"]
    assert "missing" in lines["fashion_mnist"]
    assert "missing (archive not extracted)" in lines["cifar10"]
    assert "ml2bench data download NAME" in text


@pytest.mark.parametrize("command", ["download", "verify"])
def test_bad_name_is_one_line_listing_the_valid_ones(command):
    with pytest.raises(UserError, match="unknown data set 'imagenet'; valid names are: "
                                        "cifar10, fashion_mnist, mnist"):
        _run(command, "imagenet")


def test_download_and_verify(tmp_path, monkeypatch):
    served = tmp_path / "served"
    make_fake_mnist(tmp_path / "src", n_train=3, n_test=2, gz=True)
    shutil.copytree(tmp_path / "src/MNIST/raw", served)
    table = {f: file_md5(served / f) for f in datasets.MD5SUMS["mnist"]}
    monkeypatch.setitem(datasets.MD5SUMS, "mnist", table)
    monkeypatch.delenv(ENV_MIRRORS, raising=False)
    root = tmp_path / "data"
    with serve_directory(served) as url:
        code, text = _run("download", "mnist", "--data-dir", str(root), "--mirror", url,
                          "--no-progress")
    assert code == 0 and f"mnist: ready in {root / 'MNIST/raw'}" in text
    code, text = _run("verify", "mnist", "--data-dir", str(root))
    assert code == 0 and text.count("md5 ok") == 4 and "all 4 files ok" in text
    (root / "MNIST/raw/t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupt")
    code, text = _run("verify", "mnist", "--data-dir", str(root))
    assert code == 1 and "mismatch" in text and "1 of 4 files not ok" in text


def test_verify_raw_and_cifar_structure(tmp_path):
    paths = make_fake_mnist(tmp_path, n_train=3, n_test=2)
    code, text = _run("verify", "mnist", "--data-dir", str(tmp_path))
    assert code == 0 and "3 images, structure ok" in text
    paths["train_labels"].write_bytes(paths["train_labels"].read_bytes()[:-1])
    code, text = _run("verify", "mnist", "--data-dir", str(tmp_path))
    assert code == 1 and "invalid" in text and "truncated" in text
    make_fake_cifar(tmp_path, n_per_batch=2, n_test=2)
    code, text = _run("verify", "cifar10", "--data-dir", str(tmp_path))
    assert code == 0 and text.count("2 records, structure ok") == 6
    code, text = _run("verify", "fashion_mnist", "--data-dir", str(tmp_path))
    assert code == 1 and text.count("missing") == 4


def test_download_offline_raises_user_error(tmp_path):
    with pytest.raises(UserError, match="may be offline"):
        _run("download", "cifar10", "--data-dir", str(tmp_path), "--mirror", closed_port_url())


def test_require_dataset_is_exported(tmp_path):
    with pytest.raises(UserError, match="fetch it with: ml2bench data download fashion_mnist"):
        require_dataset("fashion_mnist", tmp_path)

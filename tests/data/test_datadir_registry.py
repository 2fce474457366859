"""Data directory resolution, file lookup, registry and require_dataset messages."""

from pathlib import Path

import pytest

from ml2bench.data.datadir import ENV_DATA_DIR, find_data_file, resolve_data_dir
from ml2bench.data.datasets import (DATASETS, MD5SUMS, MIRRORS, dataset_status, get_dataset,
                                    require_dataset)
from ml2bench.data.errors import UserError
from ml2bench.data.testing import make_cifar_tar, make_fake_cifar, make_fake_mnist


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "ml2bench"
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir("~/x") == tmp_path / "home" / "x"


def test_relative_dir_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir("data") == tmp_path / "data"


def test_find_prefers_raw_then_gz(tmp_path):
    assert find_data_file(tmp_path, "f") is None
    (tmp_path / "f.gz").write_bytes(b"x")
    assert find_data_file(tmp_path, "f") == tmp_path / "f.gz"
    assert find_data_file(tmp_path, "f", allow_gz=False) is None
    (tmp_path / "f").write_bytes(b"x")
    assert find_data_file(tmp_path, "f") == tmp_path / "f"


def test_registry_tables():
    assert set(DATASETS) == set(MD5SUMS) == set(MIRRORS) == {"mnist", "fashion_mnist", "cifar10"}
    assert MD5SUMS["mnist"]["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    fashion = MD5SUMS["fashion_mnist"]
    assert fashion["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert MD5SUMS["cifar10"]["cifar-10-binary.tar.gz"] == "c32a1d4ab5d03f1284b67883e8d87530"
    assert MIRRORS["mnist"][0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    for info in DATASETS.values():
        assert set(info.downloads) == set(MD5SUMS[info.name])
    with pytest.raises(UserError, match="unknown data set 'svhn'; valid names are: cifar10, "
                                        "fashion_mnist, mnist"):
        get_dataset("svhn")


@pytest.mark.parametrize("gz", [False, True])
def test_require_finds_layout(tmp_path, gz):
    written = make_fake_mnist(tmp_path, n_train=3, n_test=2, gz=gz, kind="fashion_mnist")
    paths = require_dataset("fashion_mnist", tmp_path)
    assert paths == written
    assert paths["train_images"].parent == tmp_path / "FashionMNIST" / "raw"
    cifar = make_fake_cifar(tmp_path, n_per_batch=1, n_test=1)
    assert require_dataset("cifar10", tmp_path) == cifar
    assert sorted(cifar) == ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                             "data_batch_5", "test_batch"]


def test_require_missing_message(tmp_path):
    root = tmp_path / "my data"
    with pytest.raises(UserError) as err:
        require_dataset("mnist", root)
    msg = str(err.value)
    assert msg.startswith(f"mnist not found in {root} (looked for "
                          "MNIST/raw/train-images-idx3-ubyte[.gz], ")
    assert "MNIST/raw/t10k-labels-idx1-ubyte[.gz]" in msg
    assert msg.endswith(f"fetch it with: ml2bench data download mnist --data-dir '{root}'")
    assert "\n" not in msg


def test_require_uses_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path))
    make_fake_mnist(tmp_path, n_train=2, n_test=2)
    assert require_dataset("mnist")["test_labels"] == tmp_path / "MNIST/raw/t10k-labels-idx1-ubyte"


def test_require_partial_and_archive(tmp_path):
    paths = make_fake_mnist(tmp_path, n_train=2, n_test=2)
    paths["test_images"].unlink()
    with pytest.raises(UserError, match=r"mnist incomplete in .* \(looked for "
                                        r"MNIST/raw/t10k-images-idx3-ubyte\[\.gz\]\)"):
        require_dataset("mnist", tmp_path)
    make_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", n_per_batch=1, n_test=1)
    with pytest.raises(UserError) as err:
        require_dataset("cifar10", tmp_path)
    hint = "), but cifar-10-binary.tar.gz is there; extract it with: ml2bench data download "
    assert hint in str(err.value)
    assert dataset_status("cifar10", tmp_path).archive == tmp_path / "cifar-10-binary.tar.gz"


def test_data_dir_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UserError, match="is not a directory"):
        require_dataset("mnist", target)


def test_status_reports_missing(tmp_path):
    status = dataset_status("cifar10", Path(tmp_path))
    assert not status.present and len(status.missing) == 6 and status.archive is None

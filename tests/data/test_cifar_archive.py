"""Safe extraction of the CIFAR-10 archive: only expected members, unsafe ones refused."""

import os

import numpy as np
import pytest

from ml2bench.data.archive import CIFAR_DIR, extract_cifar_archive
from ml2bench.data.cifar import read_cifar_batch
from ml2bench.data.errors import UserError
from ml2bench.data.testing import make_cifar_tar, make_fake_cifar, unsafe_member


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_extracts_expected_members(tmp_path):
    archive = make_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", n_per_batch=3, n_test=2)
    root = tmp_path / "data"
    folder = extract_cifar_archive(archive, root)
    assert folder == root / CIFAR_DIR
    assert sorted(os.listdir(folder)) == sorted(
        [f"data_batch_{i}.bin" for i in range(1, 6)]
        + ["test_batch.bin", "batches.meta.txt", "readme.html"])
    assert _tree(root) == [CIFAR_DIR] + [f"{CIFAR_DIR}/{n}" for n in sorted(os.listdir(folder))]
    reference = make_fake_cifar(tmp_path / "ref", n_per_batch=3, n_test=2)
    for name in ("data_batch_1", "test_batch"):
        x, y = read_cifar_batch(folder / f"{name}.bin")
        x_ref, y_ref = read_cifar_batch(reference[name])
        np.testing.assert_array_equal(x, x_ref)
        np.testing.assert_array_equal(y, y_ref)


def test_is_deterministic(tmp_path):
    a = make_cifar_tar(tmp_path / "a.tar.gz").read_bytes()
    b = make_cifar_tar(tmp_path / "b.tar.gz").read_bytes()
    assert a == b


def test_harmless_extra_member_is_ignored(tmp_path):
    import tarfile
    info = tarfile.TarInfo(f"{CIFAR_DIR}/notes.txt")
    info.size = 2
    archive = make_cifar_tar(tmp_path / "c.tar.gz", extra=[(info, b"hi")])
    folder = extract_cifar_archive(archive, tmp_path / "data")
    assert not (folder / "notes.txt").exists()


@pytest.mark.parametrize("kind, words", [
    ("traversal", "'..' in path"),
    ("absolute", "absolute path"),
    ("symlink", "symbolic link"),
    ("hardlink", "hard link"),
    ("device", "device, FIFO or other special file"),
    ("fifo", "device, FIFO or other special file"),
])
def test_unsafe_member_refused_nothing_written(tmp_path, kind, words):
    archive = make_cifar_tar(tmp_path / "evil.tar.gz", n_per_batch=1, n_test=1,
                             extra=[unsafe_member(kind)])
    root = tmp_path / "a" / "data"
    before = _tree(tmp_path)
    with pytest.raises(UserError) as err:
        extract_cifar_archive(archive, root)
    msg = str(err.value)
    assert str(archive) in msg and "refusing to extract member" in msg and words in msg
    assert not (tmp_path / "a" / "evil").exists()
    assert not (root / CIFAR_DIR).exists()
    assert _tree(tmp_path) == sorted(before + ["a", "a/data"])  # only the empty data dir


def test_traversal_cannot_overwrite_existing_batches(tmp_path):
    root = tmp_path / "data"
    original = make_fake_cifar(root, n_per_batch=1, n_test=1, seed=5)
    stamp = original["test_batch"].read_bytes()
    archive = make_cifar_tar(tmp_path / "evil.tar.gz", extra=[unsafe_member("traversal")])
    with pytest.raises(UserError):
        extract_cifar_archive(archive, root)
    assert original["test_batch"].read_bytes() == stamp
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in root.iterdir()] == [CIFAR_DIR]


def test_missing_batch(tmp_path):
    archive = make_cifar_tar(tmp_path / "x.tar.gz", omit=["data_batch_3.bin"])
    with pytest.raises(UserError, match="not the CIFAR-10 binary archive "
                                        r"\(no cifar-10-batches-bin/data_batch_3.bin\)"):
        extract_cifar_archive(archive, tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


def test_malformed_batch_inside_archive(tmp_path):
    import tarfile
    info = tarfile.TarInfo(f"{CIFAR_DIR}/test_batch.bin")
    info.size = 10
    archive = make_cifar_tar(tmp_path / "x.tar.gz", omit=["test_batch.bin"],
                             extra=[(info, b"0123456789")])
    with pytest.raises(UserError, match=r"member cifar-10-batches-bin/test_batch.bin\): file is "
                                        r"10 bytes"):
        extract_cifar_archive(archive, tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []


def test_not_a_tar(tmp_path):
    bad = tmp_path / "cifar-10-binary.tar.gz"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(UserError, match="not a readable tar archive"):
        extract_cifar_archive(bad, tmp_path / "data")
    assert list((tmp_path / "data").iterdir()) == []

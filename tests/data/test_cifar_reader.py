"""CIFAR-10 binary reader: record layout, channels-first output, malformed files."""

import numpy as np
import pytest

from ml2bench.data.cifar import RECORD_BYTES, read_cifar_batch, read_cifar_batches
from ml2bench.data.errors import UserError
from ml2bench.data.testing import write_cifar_batch


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


def test_round_trip_channels_first(tmp_path):
    images, labels = _batch(5)
    path = write_cifar_batch(tmp_path / "data_batch_1.bin", images, labels)
    assert path.stat().st_size == 5 * RECORD_BYTES == 5 * 3073
    x, y = read_cifar_batch(path)
    assert x.shape == (5, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_record_layout_label_then_rgb_planes(tmp_path):
    record = bytearray(RECORD_BYTES)
    record[0] = 7
    record[1:1025] = b"\x01" * 1024      # red plane
    record[1025:2049] = b"\x02" * 1024   # green plane
    record[2049] = 9                     # blue, row 0, column 0
    path = tmp_path / "test_batch.bin"
    path.write_bytes(bytes(record))
    x, y = read_cifar_batch(path)
    assert y.tolist() == [7]
    assert (x[0, 0] == 1).all() and (x[0, 1] == 2).all()
    assert x[0, 2, 0, 0] == 9 and x[0, 2, 0, 1] == 0


def test_concatenation_in_order(tmp_path):
    a = write_cifar_batch(tmp_path / "a.bin", *_batch(2, 1))
    b = write_cifar_batch(tmp_path / "b.bin", *_batch(3, 2))
    x, y = read_cifar_batches([a, b])
    assert x.shape == (5, 3, 32, 32)
    np.testing.assert_array_equal(y, np.concatenate([_batch(2, 1)[1], _batch(3, 2)[1]]))


def test_length_not_multiple_of_record(tmp_path):
    path = write_cifar_batch(tmp_path / "data_batch_2.bin", *_batch(2))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UserError) as err:
        read_cifar_batch(path)
    assert str(path) in str(err.value)
    assert "6145 bytes, not a multiple of the 3073-byte record size" in str(err.value)


def test_label_out_of_range(tmp_path):
    images, labels = _batch(3)
    labels[1] = 10
    path = write_cifar_batch(tmp_path / "data_batch_3.bin", images, labels)
    with pytest.raises(UserError, match="record 1 has label 10"):
        read_cifar_batch(path)


def test_empty_and_missing(tmp_path):
    empty = tmp_path / "data_batch_4.bin"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="file is empty"):
        read_cifar_batch(empty)
    with pytest.raises(UserError, match="file not found"):
        read_cifar_batch(tmp_path / "data_batch_5.bin")

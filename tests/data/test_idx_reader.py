"""IDX reader: round trips (raw and gz) and every malformed-file error."""

import gzip

import numpy as np
import pytest

from ml2bench.data.errors import UserError
from ml2bench.data.idx import (IMAGES_MAGIC, LABELS_MAGIC, read_idx_images, read_idx_labels,
                               read_idx_pair)
from ml2bench.data.testing import write_idx, write_idx_images, write_idx_labels


@pytest.fixture
def arrays():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), rng.integers(0, 10, 7)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, arrays, suffix):
    images, labels = arrays
    ip = write_idx_images(tmp_path / f"train-images-idx3-ubyte{suffix}", images)
    lp = write_idx_labels(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels)
    if suffix:
        assert ip.read_bytes()[:2] == b"\x1f\x8b"
    x, y = read_idx_pair(ip, lp)
    assert x.dtype == np.uint8 and x.shape == (7, 28, 28) and x.flags.writeable
    assert y.dtype == np.int64 and y.shape == (7,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_header_layout_is_big_endian(tmp_path, arrays):
    path = write_idx_images(tmp_path / "i", arrays[0])
    raw = path.read_bytes()
    assert raw[:16] == bytes.fromhex("00000803 00000007 0000001c 0000001c".replace(" ", ""))
    assert len(raw) == 16 + 7 * 28 * 28


def test_small_and_empty_counts_are_accepted(tmp_path):
    one = write_idx_images(tmp_path / "one", np.zeros((1, 28, 28), np.uint8))
    assert read_idx_images(one).shape == (1, 28, 28)
    none = write_idx_labels(tmp_path / "none", np.zeros(0, np.uint8))
    assert read_idx_labels(none).shape == (0,)


def test_wrong_magic_names_file_and_numbers(tmp_path, arrays):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", arrays[0], 0x00000903)
    with pytest.raises(UserError) as err:
        read_idx_images(path)
    msg = str(err.value)
    assert str(path) in msg
    assert "wrong magic number 0x00000903 (expected 0x00000803" in msg


def test_label_file_given_as_images_is_explained(tmp_path, arrays):
    path = write_idx_labels(tmp_path / "train-labels-idx1-ubyte", arrays[1])
    with pytest.raises(UserError, match="0x00000801, which is an IDX label file"):
        read_idx_images(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_truncated_file(tmp_path, arrays, suffix):
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    good = write_idx_images(tmp_path / "full", arrays[0]).read_bytes()
    data = good[:-100]
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte(\.gz)?: file is 5404 bytes "
                                        r"but its header declares 7 x 28 x 28 .*truncated"):
        read_idx_images(path)


def test_extra_bytes(tmp_path, arrays):
    path = write_idx_labels(tmp_path / "l", arrays[1])
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(UserError, match="2 extra bytes"):
        read_idx_labels(path)


def test_short_header(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(IMAGES_MAGIC.to_bytes(4, "big") + b"\0\0")
    with pytest.raises(UserError, match="too short for the 16-byte IDX header"):
        read_idx_images(path)
    path.write_bytes(b"")
    with pytest.raises(UserError, match="only 0 bytes"):
        read_idx_images(path)


def test_count_mismatch(tmp_path, arrays):
    ip = write_idx_images(tmp_path / "train-images-idx3-ubyte", arrays[0])
    lp = write_idx_labels(tmp_path / "train-labels-idx1-ubyte", arrays[1][:5])
    with pytest.raises(UserError) as err:
        read_idx_pair(ip, lp)
    assert "holds 7 images" in str(err.value) and "holds 5 labels" in str(err.value)
    assert str(ip) in str(err.value) and str(lp) in str(err.value)


def test_wrong_image_size(tmp_path):
    path = write_idx_images(tmp_path / "i", np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(UserError, match="images are 32x32 pixels, expected 28x28"):
        read_idx_images(path)
    assert read_idx_images(path, shape=None).shape == (2, 32, 32)


def test_label_out_of_range(tmp_path):
    path = write_idx_labels(tmp_path / "l", np.array([1, 12, 3], np.uint8))
    with pytest.raises(UserError, match="label 12 out of range"):
        read_idx_labels(path, num_classes=10)


def test_corrupt_and_fake_gzip(tmp_path, arrays):
    good = write_idx_images(tmp_path / "a.gz", arrays[0]).read_bytes()
    cut = tmp_path / "cut-ubyte.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match="cut-ubyte.gz: truncated gzip stream"):
        read_idx_images(cut)
    fake = tmp_path / "fake-ubyte.gz"
    fake.write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="not a gzip file"):
        read_idx_images(fake)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        read_idx_labels(tmp_path / "nope")


def test_magic_constants():
    assert (IMAGES_MAGIC, LABELS_MAGIC) == (0x803, 0x801)

"""Loaders and per-channel normalisation."""

import numpy as np
import pytest
import torch

from ml2bench.data.errors import UserError
from ml2bench.data.loaders import (channel_stats, load_cifar10, load_image_dataset, load_mnist,
                                   normalize_per_channel, normalized_tensors)
from ml2bench.data.testing import make_fake_cifar, make_fake_mnist, write_idx_labels


@pytest.mark.parametrize("kind", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist(tmp_path, kind, gz):
    written = make_fake_mnist(tmp_path, n_train=100, n_test=20, gz=gz, kind=kind)
    data = load_mnist(tmp_path, kind=kind)
    assert data.x_train.shape == (100, 28, 28) and data.x_train.dtype == np.uint8
    assert data.y_train.shape == (100,) and data.y_train.dtype == np.int64
    assert data.x_test.shape == (20, 28, 28) and data.y_test.shape == (20,)
    assert data.y_train.max() < 10
    x_train, y_train, x_test, y_test = data  # a plain tuple too
    assert written["train_images"].name.endswith(".gz") == gz


def test_load_mnist_rejects_unknown_kind_and_reports_mismatch(tmp_path):
    with pytest.raises(UserError, match="valid kinds are: fashion_mnist, mnist"):
        load_mnist(tmp_path, kind="kmnist")
    paths = make_fake_mnist(tmp_path, n_train=5, n_test=3)
    write_idx_labels(paths["test_labels"], np.zeros(4, np.uint8))
    with pytest.raises(UserError, match="holds 3 images but .*t10k-labels-idx1-ubyte holds 4"):
        load_mnist(tmp_path)


def test_load_cifar10(tmp_path):
    make_fake_cifar(tmp_path, n_per_batch=4, n_test=6)
    data = load_image_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (6, 3, 32, 32)
    assert data.y_train.dtype == np.int64
    with pytest.raises(UserError, match="cifar10 not found"):
        load_cifar10(tmp_path / "empty")


def test_channel_stats_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 3, 4, 5), dtype=np.uint8)
    x[:, 1] //= 4
    mean, std = channel_stats(x, chunk=7)
    ref = x.astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, ref.std(axis=(0, 2, 3)), rtol=1e-10)
    m1, s1 = channel_stats(torch.from_numpy(x[:, 0]))
    assert len(m1) == 1 and m1[0] == pytest.approx(mean[0])


def test_normalize_per_channel():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 256, (30, 3, 8, 8), dtype=np.uint8))
    mean, std = channel_stats(x)
    z = normalize_per_channel(x, mean, std)
    assert z.dtype == torch.float32 and z.shape == x.shape
    torch.testing.assert_close(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(3),
                               atol=1e-5, rtol=0)
    gray = normalize_per_channel(x[:, 0], 0.5, 0.25, dtype=torch.float64)
    assert gray.shape == (30, 8, 8)
    torch.testing.assert_close(gray, (x[:, 0].double() / 255 - 0.5) / 0.25)
    with pytest.raises(ValueError, match="mean has 2 values for 3 channel"):
        normalize_per_channel(x, (0.1, 0.2), 1.0)
    with pytest.raises(ValueError, match="uint8"):
        normalize_per_channel(x.float(), 0.0, 1.0)


def test_normalized_tensors_use_training_stats(tmp_path):
    make_fake_mnist(tmp_path, n_train=40, n_test=10)
    data = load_mnist(tmp_path)
    t = normalized_tensors(data)
    assert t.x_train.shape == (40, 1, 28, 28) and t.x_test.shape == (10, 1, 28, 28)
    assert t.y_train.dtype == torch.int64
    assert abs(float(t.x_train.mean())) < 1e-5
    expected = (torch.from_numpy(data.x_test).float() / 255 - t.mean[0]) / t.std[0]
    torch.testing.assert_close(t.x_test[:, 0], expected)

"""Loss slices, filter-normalised directions and interpolation barriers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml2bench.flatness.analytic import (
    QuadraticModel,
    dummy_batches,
    quadratic_loss,
    symmetric_matrix,
)
from ml2bench.flatness.landscape import (
    filter_normalized_direction,
    interpolate,
    random_slices_1d,
    recompute_batch_norm,
    slice_1d,
    slice_2d,
)

BATCHES = dummy_batches()


def quadratic(eigenvalues, seed=0, at_minimum=True):
    gen = torch.Generator().manual_seed(seed)
    size = len(eigenvalues)
    matrix = symmetric_matrix(eigenvalues, gen)
    minimizer = torch.randn(size, generator=gen, dtype=torch.float64)
    theta = minimizer if at_minimum else torch.randn(size, generator=gen, dtype=torch.float64)
    return QuadraticModel(matrix, minimizer, theta), matrix


def test_slice_at_minimum_is_parabola():
    model, matrix = quadratic(np.linspace(-1.0, 5.0, 15))
    d = torch.randn(15, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    alphas = np.linspace(-1.0, 1.0, 21)
    result = slice_1d(model, quadratic_loss, BATCHES, [d], alphas)
    expected = alphas**2 * float(d @ matrix @ d) / 2
    assert np.allclose(result.losses, expected, atol=1e-12)
    assert result.num_passes == 21 and result.losses[10] == 0.0  # α = 0 included


def test_slice_away_from_minimum_has_linear_term():
    model, matrix = quadratic(np.linspace(0.5, 5.0, 10), seed=1, at_minimum=False)
    d = torch.randn(10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    delta = (model.theta - model.minimizer).detach()
    loss0, slope = 0.5 * float(delta @ matrix @ delta), float(delta @ matrix @ d)
    alphas = np.array([-0.5, 0.0, 0.25, 1.0])
    result = slice_1d(model, quadratic_loss, BATCHES, [d], alphas)
    expected = loss0 + alphas * slope + alphas**2 * float(d @ matrix @ d) / 2
    assert np.allclose(result.losses, expected, atol=1e-12)


def test_slice_2d_matches_quadratic_form():
    model, matrix = quadratic(np.linspace(-2.0, 3.0, 8), seed=3)
    gen = torch.Generator().manual_seed(4)
    d1, d2 = (torch.randn(8, generator=gen, dtype=torch.float64) for _ in range(2))
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)
    result = slice_2d(model, quadratic_loss, BATCHES, ([d1], [d2]), alphas, betas)
    assert result.losses.shape == (5, 3) and result.num_passes == 15
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            step = a * d1 + b * d2
            assert result.losses[i, j] == pytest.approx(0.5 * float(step @ matrix @ step), abs=1e-12)


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)).double()


def test_filter_normalised_direction_rows_and_biases():
    model = small_net()
    direction = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    for p, d in zip(model.parameters(), direction):
        assert d.shape == p.shape
        if p.dim() == 1:
            assert torch.equal(d, torch.zeros_like(p))
        else:
            rows_p = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            rows_d = d.reshape(d.shape[0], -1).norm(dim=1)
            assert torch.allclose(rows_p, rows_d, rtol=1e-12, atol=0)
    again = filter_normalized_direction(model, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(direction, again))


def test_random_slices_default_protocol():
    model = small_net()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, 4, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 4, (6,), generator=gen)
    loss = lambda m, b: F.cross_entropy(m(b[0]), b[1])  # noqa: E731
    curves = random_slices_1d(model, loss, [(x, y)], num_points=11)
    assert len(curves) == 3
    reference = loss(model, (x, y)).item()
    for curve in curves:
        assert curve.losses.shape == (11,) and curve.alphas[0] == -1.0
        assert curve.losses[5] == pytest.approx(reference, abs=1e-14)
    assert not np.allclose(curves[0].losses, curves[1].losses)


def test_interpolation_barrier_of_saddle():
    # Along d = θ_B − θ_A with dᵀAd < 0, L(θ_α) − linear = −½α(1−α)dᵀAd, max |dᵀAd|/8 at α=½.
    model, matrix = quadratic([-3.0, -1.0, 2.0, 0.5], seed=5)
    gen = torch.Generator().manual_seed(6)
    a = torch.randn(4, generator=gen, dtype=torch.float64)
    eigvec = torch.linalg.eigh(matrix).eigenvectors[:, 0]
    b = a + 2.0 * eigvec
    result = interpolate(model, quadratic_loss, BATCHES, [a], [b])
    d = b - a
    assert result.barrier == pytest.approx(abs(float(d @ matrix @ d)) / 8, rel=1e-10)
    delta_a, delta_b = a - model.minimizer, b - model.minimizer
    assert result.loss_a == pytest.approx(0.5 * float(delta_a @ matrix @ delta_a), abs=1e-13)
    assert result.loss_b == pytest.approx(0.5 * float(delta_b @ matrix @ delta_b), abs=1e-13)
    assert result.alphas[0] == -0.5 and result.alphas[-1] == 1.5 and len(result.alphas) == 41


def test_convex_interpolation_has_no_barrier():
    model, matrix = quadratic([1.0, 2.0, 3.0], seed=7)
    a, b = torch.ones(3, dtype=torch.float64), -torch.ones(3, dtype=torch.float64)
    result = interpolate(model, quadratic_loss, BATCHES, [a], [b])
    assert result.barrier == 0.0
    assert result.losses.max() > max(result.loss_a, result.loss_b)  # extrapolation grows


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(3)
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return self.linear(self.bn(x))


def bn_loss(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def bn_setup():
    torch.manual_seed(0)
    model = BatchNormNet().double()
    gen = torch.Generator().manual_seed(0)
    x = 3.0 + 2.0 * torch.randn(23, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (23,), generator=gen)
    return model, x, y, list(zip(torch.split(x, 7), torch.split(y, 7)))


def test_recompute_batch_norm_weights_batches_by_size():
    model, x, _, batches = bn_setup()
    with torch.no_grad():
        model.bn.running_mean.fill_(100.0)
    recompute_batch_norm(model, bn_loss, batches)
    assert torch.allclose(model.bn.running_mean, x.mean(0), atol=1e-12, rtol=0)
    assert model.bn.momentum == 0.1 and not model.bn.training


def test_interpolation_recomputes_batch_norm_statistics():
    model, _, _, batches = bn_setup()
    params_a = [p.detach().clone() for p in model.parameters()]
    params_b = [p.detach() + 0.3 * torch.randn_like(p) for p in model.parameters()]
    first = interpolate(model, bn_loss, batches, params_a, params_b, alphas=np.linspace(0, 1, 5))
    with torch.no_grad():  # stale statistics must not matter
        model.bn.running_mean.fill_(50.0)
        model.bn.running_var.fill_(7.0)
    second = interpolate(model, bn_loss, batches, params_a, params_b, alphas=np.linspace(0, 1, 5))
    assert np.array_equal(first.losses, second.losses)
    assert first.num_passes == 2 * (5 + 2)
    assert torch.equal(model.bn.running_mean, torch.full((3,), 50.0, dtype=torch.float64))

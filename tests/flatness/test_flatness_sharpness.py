"""Average, worst-case and Keskar sharpness on quadratics with known answers."""

import numpy as np
import pytest
import torch

from ml2bench.flatness.analytic import (
    QuadraticModel,
    dummy_batches,
    quadratic_loss,
    symmetric_matrix,
)
from ml2bench.flatness.sharpness import keskar_eps, sharp_avg, sharp_worst

BATCHES = dummy_batches(3, 2)


def quadratic_at_minimum(eigenvalues, seed=0, minimizer=None):
    gen = torch.Generator().manual_seed(seed)
    size = len(eigenvalues)
    matrix = symmetric_matrix(eigenvalues, gen)
    if minimizer is None:
        minimizer = torch.randn(size, generator=gen, dtype=torch.float64)
    return QuadraticModel(matrix, minimizer, minimizer), matrix


def test_gaussian_average_samples_are_exact_quadratic_forms():
    model, matrix = quadratic_at_minimum(np.linspace(0.5, 4.0, 12))
    sigma = 0.1
    result = sharp_avg(model, quadratic_loss, BATCHES, rho=sigma, num_samples=5, adaptive=False,
                       generator=torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    for sample in result.samples:
        delta = sigma * torch.randn(12, generator=replay, dtype=torch.float64)  # std σ, not σ²
        assert sample == pytest.approx(0.5 * float(delta @ matrix @ delta), rel=1e-12)
    assert result.base_loss == 0.0
    assert result.num_passes == 6


def test_gaussian_average_equals_half_sigma_squared_trace():
    eigenvalues = np.linspace(0.5, 4.0, 12)
    model, _ = quadratic_at_minimum(eigenvalues)
    sigma = 0.05
    result = sharp_avg(model, quadratic_loss, BATCHES, rho=sigma, num_samples=4000, adaptive=False)
    expected = sigma**2 * eigenvalues.sum() / 2
    assert abs(result.value - expected) <= 4 * result.stderr
    assert result.stderr < 0.03 * expected


def test_adaptive_average_uses_weight_magnitudes():
    model, matrix = quadratic_at_minimum(np.linspace(0.5, 4.0, 10), seed=1)
    w = model.theta.detach().abs()
    result = sharp_avg(model, quadratic_loss, BATCHES, rho=0.1, num_samples=3,
                       generator=torch.Generator().manual_seed(2))
    replay = torch.Generator().manual_seed(2)
    for sample in result.samples:
        delta = 0.1 * w * torch.randn(10, generator=replay, dtype=torch.float64)
        assert sample == pytest.approx(0.5 * float(delta @ matrix @ delta), rel=1e-12)


def test_worst_case_absolute_ball_is_half_rho_squared_lambda_max():
    eigenvalues = np.concatenate([np.linspace(0.1, 4.0, 19), [10.0]])
    model, _ = quadratic_at_minimum(eigenvalues)
    rho = 0.1
    result = sharp_worst(model, quadratic_loss, BATCHES, rho=rho, adaptive=False)
    expected = rho**2 * 10.0 / 2
    assert result.value == pytest.approx(expected, rel=1e-3)
    assert result.value <= expected * (1 + 1e-12)
    assert result.num_passes == 1 + 20 + 1


def test_worst_case_adaptive_ball():
    eigenvalues = np.concatenate([np.linspace(0.1, 2.0, 14), [8.0]])
    model, matrix = quadratic_at_minimum(eigenvalues, seed=3)
    scale = torch.diag(model.theta.detach().abs())
    expected = 0.2**2 / 2 * float(torch.linalg.eigvalsh(scale @ matrix @ scale).max())
    result = sharp_worst(model, quadratic_loss, BATCHES, rho=0.2, num_steps=40)
    assert result.value == pytest.approx(expected, rel=1e-3)


def test_keskar_on_diagonal_quadratic_reaches_box_corner():
    curvature = torch.linspace(0.5, 3.0, 8, dtype=torch.float64)
    minimizer = torch.linspace(-2.0, 2.0, 8, dtype=torch.float64)
    model = QuadraticModel(torch.diag(curvature), minimizer, minimizer)
    eps = 1e-3
    bound = eps * (minimizer.abs() + 1.0)
    expected = 100.0 * 0.5 * float((curvature * bound**2).sum()) / (1.0 + 0.0)
    result = keskar_eps(model, quadratic_loss, BATCHES, eps=eps)
    assert result.value == pytest.approx(expected, rel=1e-6)
    assert 2 <= result.num_passes <= 1 + 25


def test_keskar_normalises_by_one_plus_loss():
    curvature = torch.ones(4, dtype=torch.float64)
    model = QuadraticModel(torch.diag(curvature), torch.zeros(4, dtype=torch.float64),
                           torch.full((4,), 2.0, dtype=torch.float64))
    eps = 1e-2
    result = keskar_eps(model, quadratic_loss, BATCHES, eps=eps)
    base = 0.5 * 4 * 2.0**2
    worst = 0.5 * 4 * (2.0 + eps * 3.0) ** 2
    assert result.base_loss == pytest.approx(base)
    assert result.value == pytest.approx(100.0 * (worst - base) / (1.0 + base), rel=1e-8)


@pytest.mark.parametrize("metric", [sharp_avg, sharp_worst, keskar_eps])
def test_parameters_restored_bit_exactly(metric):
    model, _ = quadratic_at_minimum(np.linspace(1.0, 3.0, 6))
    before = model.theta.detach().clone()
    version = model.theta.requires_grad
    metric(model, quadratic_loss, BATCHES)
    assert torch.equal(model.theta.detach(), before) and model.theta.requires_grad == version


def test_invalid_arguments():
    model, _ = quadratic_at_minimum([1.0, 2.0])
    with pytest.raises(ValueError):
        sharp_avg(model, quadratic_loss, BATCHES, rho=-1.0)
    with pytest.raises(ValueError):
        sharp_worst(model, quadratic_loss, BATCHES, num_steps=0)
    with pytest.raises(ValueError):
        keskar_eps(model, quadratic_loss, BATCHES, eps=0.0)

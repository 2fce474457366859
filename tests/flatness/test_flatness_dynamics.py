"""Edge-of-stability threshold and the gradient-noise scale."""

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
from ml2bench.flatness.dynamics import (
    eos_threshold,
    gradient_noise_scale,
    noise_scale_from_norms,
)
from ml2bench.flatness.hvp import HessianOperator
from ml2bench.flatness.lanczos import hess_max


def test_eos_threshold_values():
    assert eos_threshold(0.1) == pytest.approx(20.0)
    assert eos_threshold(0.1, momentum=0.9) == pytest.approx(38.0)
    with pytest.raises(ValueError):
        eos_threshold(0.0)
    with pytest.raises(ValueError):
        eos_threshold(0.1, momentum=1.0)


def run_heavy_ball(matrix, theta, lr, momentum, steps=400):
    velocity = torch.zeros_like(theta)
    for _ in range(steps):
        velocity = momentum * velocity + matrix @ theta
        theta = theta - lr * velocity
    return float(theta.norm())


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_gd_diverges_iff_sharpness_exceeds_threshold(momentum):
    matrix = symmetric_matrix(np.linspace(0.5, 8.0, 16), torch.Generator().manual_seed(0))
    start = torch.ones(16, dtype=torch.float64)
    model = QuadraticModel(matrix, torch.zeros(16, dtype=torch.float64), start)
    sharpness = hess_max(HessianOperator(model, quadratic_loss, dummy_batches()), tol=1e-10).values[0]
    critical_lr = (2.0 + 2.0 * momentum) / sharpness
    for factor, diverges in [(0.98, False), (1.02, True)]:
        lr = factor * critical_lr
        assert (sharpness > eos_threshold(lr, momentum)) == diverges
        final = run_heavy_ball(matrix, start, lr, momentum)
        assert (final > 1e3 * float(start.norm())) == diverges
        assert (final < 1e-1 * float(start.norm())) == (not diverges)


def test_noise_scale_kernel_recovers_exact_ingredients():
    grad_sq, trace_sigma = 2.5, 40.0
    small, big = 4, 64
    expected = [grad_sq + trace_sigma / b for b in (small, big)]
    result = noise_scale_from_norms([expected[0]] * 3, [expected[1]] * 2, small, big)
    assert result.grad_sq_norm == pytest.approx(grad_sq, rel=1e-12)
    assert result.trace_sigma == pytest.approx(trace_sigma, rel=1e-12)
    assert result.b_simple == pytest.approx(16.0, rel=1e-12)
    # ratio of averages, not average of ratios
    noisy = noise_scale_from_norms([10.0, 14.0], [3.0, 3.2], small, big)
    pooled = noise_scale_from_norms([12.0], [3.1], small, big)
    assert noisy.b_simple == pytest.approx(pooled.b_simple, rel=1e-12)
    with pytest.raises(ValueError):
        noise_scale_from_norms([1.0], [1.0], 8, 8)


def test_noise_scale_on_least_squares_with_exact_per_sample_gradients():
    # Small batches = every single sample, big batch = all N samples: the estimators
    # reduce to the unbiased sample covariance of the per-sample gradients.
    gen = torch.Generator().manual_seed(0)
    n = 12
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(3, 1, bias=False).double()
    loss = lambda m, b: F.mse_loss(m(b[0]), b[1])  # noqa: E731
    w = model.weight.detach()[0]
    per_sample = 2.0 * (x @ w - y[:, 0])[:, None] * x  # ∇ (xᵢᵀw − yᵢ)²
    mean = per_sample.mean(0)
    trace_cov = float(((per_sample - mean) ** 2).sum(1).sum() / (n - 1))
    singles = [(x[i : i + 1], y[i : i + 1]) for i in range(n)]
    result = gradient_noise_scale(model, loss, singles, [(x, y)])
    assert result.trace_sigma == pytest.approx(trace_cov, rel=1e-10)
    assert result.grad_sq_norm == pytest.approx(float(mean @ mean) - trace_cov / n, rel=1e-10)
    assert result.num_passes == n + 1

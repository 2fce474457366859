"""Stochastic Lanczos quadrature: weights, moments, cluster masses, summaries."""

import numpy as np
import pytest
import torch

from ml2bench.flatness.analytic import quadratic_hessian, symmetric_matrix
from ml2bench.flatness.slq import count_outliers, spectral_density


def operator_for(matrix):
    return quadratic_hessian(matrix)


def rotated(eigenvalues, seed=0):
    return symmetric_matrix(eigenvalues, torch.Generator().manual_seed(seed))


def test_weights_sum_to_one_and_density_normalised():
    eigenvalues = np.linspace(-2.0, 6.0, 120)
    result = spectral_density(operator_for(rotated(eigenvalues)), num_runs=3, num_steps=30)
    for weights in result.run_weights:
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(weights >= 0)
    assert result.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.trapezoid(result.density, result.grid) == pytest.approx(1.0, abs=1e-3)
    spread = result.nodes.max() - result.nodes.min()
    assert result.sigma == pytest.approx(spread / 30)
    assert result.num_hvps == 90


def test_moments_exact_on_diagonal_matrix():
    # Normalised Rademacher probes see every eigenvector of a diagonal A with weight 1/P,
    # so Gauss quadrature reproduces tr(A^j)/P exactly for j < 2m.
    eigenvalues = np.linspace(-1.0, 3.0, 64) ** 3
    result = spectral_density(operator_for(torch.diag(torch.tensor(eigenvalues))),
                              num_runs=2, num_steps=20)
    for order in range(0, 5):
        assert result.moment(order) == pytest.approx(np.mean(eigenvalues**order), rel=1e-10, abs=1e-12)


def test_moments_statistical_on_rotated_matrix():
    eigenvalues = np.linspace(0.0, 4.0, 300)
    result = spectral_density(operator_for(rotated(eigenvalues, 1)), num_runs=5, num_steps=40)
    assert result.moment(1) == pytest.approx(np.mean(eigenvalues), rel=0.05)
    assert result.moment(2) == pytest.approx(np.mean(eigenvalues**2), rel=0.08)


def test_two_clusters_split_mass_evenly():
    gen = np.random.default_rng(0)
    eigenvalues = np.concatenate([1.0 + 0.05 * gen.standard_normal(150),
                                  10.0 + 0.05 * gen.standard_normal(150)])
    result = spectral_density(operator_for(rotated(eigenvalues, 2)), num_runs=5, num_steps=40)
    low = result.weights[result.nodes < 5.5].sum()
    assert low == pytest.approx(0.5, abs=0.08)
    assert result.num_outliers == 0


def test_outliers_and_negative_mass():
    gen = np.random.default_rng(1)
    bulk = np.concatenate([gen.uniform(-1.0, -0.1, 60), gen.uniform(0.1, 1.0, 140)])
    eigenvalues = np.concatenate([bulk, [10.0, 20.0, 30.0]])
    result = spectral_density(operator_for(rotated(eigenvalues, 3)), num_runs=5, num_steps=80)
    assert result.num_outliers == 3
    assert result.negative_mass == pytest.approx(60 / 203, abs=0.08)
    top = np.sort(result.run_nodes[0])[-3:]
    assert np.allclose(top, [10.0, 20.0, 30.0], atol=1e-8)


def test_outlier_rule():
    nodes = np.array([0.0, 0.1, 0.2, 0.3, 5.0, 9.0])
    weights = np.array([0.3, 0.3, 0.2, 0.18, 0.01, 0.01])
    assert count_outliers(nodes, weights, gap_fraction=0.1) == 2
    assert count_outliers(nodes, weights, gap_fraction=0.5) == 2  # {5, 9}: one light cluster
    assert count_outliers(nodes, weights, gap_fraction=0.6) == 0  # no gap above 5.4
    heavy = np.array([0.3, 0.3, 0.2, 0.0, 0.1, 0.1])
    assert count_outliers(nodes, heavy, gap_fraction=0.1) == 0  # a second bulk
    # an unconverged Ritz value (residual larger than its distance to the bulk) is no outlier
    residuals = np.array([0.0, 0.0, 0.0, 0.0, 6.0, 1e-9])
    assert count_outliers(nodes, weights, residuals, gap_fraction=0.1) == 1
    assert count_outliers(np.array([1.0]), np.array([1.0])) == 0

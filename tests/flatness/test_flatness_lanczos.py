"""Lanczos extreme eigenvalues: indefinite spectra, scalar linear net, ARPACK path."""

import numpy as np
import pytest
import torch
from torch import nn

from ml2bench.flatness.analytic import (
    QuadraticModel,
    dummy_batches,
    quadratic_loss,
    symmetric_matrix,
)
from ml2bench.flatness.hvp import HessianOperator, dense_matrix
from ml2bench.flatness.lanczos import (
    eigsh_extreme,
    hess_max,
    hess_min,
    lanczos_extreme,
)

SPECTRUM = np.concatenate([[-30.0, 20.0], np.linspace(-10.0, 10.0, 58)])


def quadratic_operator(eigenvalues, seed=0):
    gen = torch.Generator().manual_seed(seed)
    matrix = symmetric_matrix(eigenvalues, gen)
    size = len(eigenvalues)
    model = QuadraticModel(matrix, torch.zeros(size, dtype=torch.float64),
                           torch.randn(size, generator=gen, dtype=torch.float64))
    return HessianOperator(model, quadratic_loss, dummy_batches()), matrix


def test_indefinite_spectrum_largest_and_smallest_algebraic():
    op, _ = quadratic_operator(SPECTRUM)
    top = hess_max(op, tol=1e-8)
    bottom = hess_min(op, tol=1e-8)
    assert top.values[0] == pytest.approx(20.0, abs=1e-6)  # not −30 (largest magnitude)
    assert bottom.values[0] == pytest.approx(-30.0, abs=1e-6)
    assert top.converged and bottom.converged
    assert top.num_hvps < 60 and top.num_hvps + bottom.num_hvps == op.num_hvps


def test_default_tolerance_is_relative_residual():
    op, _ = quadratic_operator(SPECTRUM)
    result = lanczos_extreme(op, "LA")
    assert result.converged
    assert result.residuals[0] <= 1e-3 * abs(result.values[0])
    # the residual bound |β_m s_m| bounds the eigenvalue error
    assert abs(result.values[0] - 20.0) <= result.residuals[0] + 1e-12


@pytest.mark.parametrize("which", ["LA", "SA"])
def test_several_eigenvalues_and_ritz_vectors(which):
    op, matrix = quadratic_operator(SPECTRUM, seed=2)
    result = lanczos_extreme(op, which, k=3, tol=1e-9, return_vectors=True)
    expected = np.sort(SPECTRUM)[::-1][:3] if which == "LA" else np.sort(SPECTRUM)[:3]
    assert np.allclose(result.values, expected, atol=1e-6)
    for value, vector in zip(result.values, result.vectors):
        y = vector[0]
        assert torch.linalg.vector_norm(y).item() == pytest.approx(1.0, abs=1e-10)
        assert (matrix @ y - value * y).norm().item() < 1e-5


def test_small_operator_is_exhausted_exactly():
    op, _ = quadratic_operator([3.0, -2.0, 1.0, 0.0])
    result = lanczos_extreme(op, "LA", tol=1e-14, max_iter=50)
    assert result.num_hvps <= 4 and result.converged
    assert result.values[0] == pytest.approx(3.0, abs=1e-12)


def test_seeded_generator_is_deterministic_and_global_rng_untouched():
    op, _ = quadratic_operator(SPECTRUM)
    rng = torch.get_rng_state()
    first = hess_max(op, generator=torch.Generator().manual_seed(5))
    second = hess_max(op, generator=torch.Generator().manual_seed(5))
    assert torch.equal(rng, torch.get_rng_state())
    assert np.array_equal(first.values, second.values)


@pytest.mark.parametrize("which,expected", [("LA", 20.0), ("SA", -30.0)])
def test_eigsh_path(which, expected):
    op, _ = quadratic_operator(SPECTRUM)
    result = eigsh_extreme(op, which, tol=1e-10)
    assert result.values[0] == pytest.approx(expected, abs=1e-8)
    assert result.num_hvps > 0


def test_invalid_arguments():
    op, _ = quadratic_operator([1.0, 2.0])
    with pytest.raises(ValueError, match="which"):
        lanczos_extreme(op, "LM")
    with pytest.raises(ValueError):
        lanczos_extreme(op, k=0)
    with pytest.raises(ValueError):
        lanczos_extreme(op, tol=0.0)


class ScalarLinearNet(nn.Module):
    """f(x) = w₂ w₁ x with scalar weights."""

    def __init__(self, w1, w2):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor(w1, dtype=torch.float64))
        self.w2 = nn.Parameter(torch.tensor(w2, dtype=torch.float64))

    def forward(self, x):
        return self.w2 * self.w1 * x


def half_mse(model, batch):
    x, y = batch
    return 0.5 * ((model(x) - y) ** 2).mean()


def test_scalar_two_layer_linear_net_at_minimum():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, generator=gen, dtype=torch.float64)
    y = 1.7 * x + 0.3 * torch.randn(40, generator=gen, dtype=torch.float64)
    product = float((x * y).sum() / (x * x).sum())
    w1 = 1.3
    model = ScalarLinearNet(w1, product / w1)
    batches = list(zip(torch.split(x, 9), torch.split(y, 9)))
    op = HessianOperator(model, half_mse, batches)
    second_moment = float((x * x).mean())
    nonzero = second_moment * (w1**2 + (product / w1) ** 2)
    eig = np.linalg.eigvalsh(dense_matrix(op).numpy())
    assert np.allclose(eig, [0.0, nonzero], atol=1e-12)
    assert hess_max(op, tol=1e-10).values[0] == pytest.approx(nonzero, rel=1e-10)
    assert hess_min(op, tol=1e-10).values[0] == pytest.approx(0.0, abs=1e-10)

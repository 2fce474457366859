"""Block-restricted curvature R_d H R_dᵀ (per subdomain / per level)."""

import numpy as np
import pytest
import torch

from ml2bench.flatness.analytic import BlockQuadraticModel, dummy_batches, symmetric_matrix
from ml2bench.flatness.blocks import RestrictedOperator, block_curvature, block_curvatures
from ml2bench.flatness.hvp import HessianOperator, dense_matrix

SHAPES = [(3,), (2, 2), (4,)]  # θ = [a(0:3), b(3:7), c(7:11)]


def block_loss(model, batch):
    return model()


def setup(eigenvalues, seed=0):
    gen = torch.Generator().manual_seed(seed)
    matrix = symmetric_matrix(eigenvalues, gen)
    theta = torch.randn(11, generator=gen, dtype=torch.float64)
    model = BlockQuadraticModel(matrix, torch.zeros(11, dtype=torch.float64), theta, SHAPES)
    return HessianOperator(model, block_loss, dummy_batches()), matrix


def test_index_block_is_principal_submatrix():
    op, matrix = setup(np.linspace(-4.0, 6.0, 11))
    restricted = RestrictedOperator(op, [0, 2])
    index = torch.tensor([0, 1, 2, 7, 8, 9, 10])
    assert torch.allclose(dense_matrix(restricted), matrix[index][:, index], atol=1e-13, rtol=0)


def test_mask_block_is_principal_submatrix():
    op, matrix = setup(np.linspace(-4.0, 6.0, 11), seed=1)
    masks = [None, torch.tensor([[True, False], [False, True]]), torch.tensor([True, False, False, True])]
    restricted = RestrictedOperator(op, masks)
    index = torch.tensor([3, 6, 7, 10])
    assert torch.allclose(dense_matrix(restricted), matrix[index][:, index], atol=1e-13, rtol=0)


def test_block_curvature_matches_dense_submatrix():
    op, matrix = setup(np.linspace(-4.0, 6.0, 11), seed=2)
    result = block_curvature(op, [1, 2], num_probes=200, tol=1e-10)
    sub = matrix[3:, 3:]
    eig = torch.linalg.eigvalsh(sub)
    assert result.size == 8
    assert result.hess_max == pytest.approx(float(eig.max()), abs=1e-8)
    assert result.hess_min == pytest.approx(float(eig.min()), abs=1e-8)
    assert abs(result.trace - float(torch.trace(sub))) <= 3 * result.trace_stderr


def test_negative_definite_block_has_negative_max():
    # No spurious zero eigenvalues from the complement of the block.
    diagonal = torch.tensor([-3.0, -2.0, -1.0] + [5.0] * 8, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    model = BlockQuadraticModel(torch.diag(diagonal), torch.zeros(11, dtype=torch.float64),
                                torch.randn(11, generator=gen, dtype=torch.float64), SHAPES)
    op = HessianOperator(model, block_loss, dummy_batches())
    first, rest = block_curvatures(op, [[0], [1, 2]], num_probes=4, tol=1e-12)
    assert first.hess_max == pytest.approx(-1.0, abs=1e-10)
    assert first.trace == pytest.approx(-6.0, abs=1e-12)  # diagonal block: Rademacher exact
    assert rest.hess_min == pytest.approx(5.0, abs=1e-10) and rest.trace == pytest.approx(40.0)


def test_invalid_blocks():
    op, _ = setup(np.linspace(1.0, 2.0, 11))
    with pytest.raises(ValueError):
        RestrictedOperator(op, [3])
    with pytest.raises(ValueError):
        RestrictedOperator(op, [None, None])
    with pytest.raises(ValueError):
        RestrictedOperator(op, [None, None, torch.zeros(4, dtype=torch.bool)])
    with pytest.raises(ValueError):
        RestrictedOperator(op, [None, torch.ones(3, dtype=torch.bool), None])

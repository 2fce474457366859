"""Hutchinson and Hutch++ trace estimates on quadratics with known trace."""

import math

import numpy as np
import pytest
import torch

from ml2bench.flatness.analytic import quadratic_hessian, symmetric_matrix
from ml2bench.flatness.trace import hutchinson_trace, hutchpp_trace


def operator_for(matrix):
    return quadratic_hessian(matrix)


def rotated(eigenvalues, seed=0):
    return symmetric_matrix(eigenvalues, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hutchinson_within_three_standard_errors(seed):
    eigenvalues = np.linspace(-3.0, 12.0, 60)
    op = operator_for(rotated(eigenvalues, seed))
    result = hutchinson_trace(op, generator=torch.Generator().manual_seed(seed))
    assert result.num_hvps == 100 == op.num_hvps  # fixed count, no early stop
    assert abs(result.trace - eigenvalues.sum()) <= 3 * result.stderr
    assert result.stderr > 0
    assert result.trace_per_param == pytest.approx(result.trace / 60)


@pytest.mark.parametrize("num_probes", [1, 2, 7])
def test_rademacher_exact_on_diagonal(num_probes):
    diagonal = torch.linspace(-5.0, 9.0, 33, dtype=torch.float64)
    result = hutchinson_trace(operator_for(torch.diag(diagonal)), num_probes=num_probes)
    assert result.trace == pytest.approx(float(diagonal.sum()), abs=1e-12)
    if num_probes == 1:
        assert math.isnan(result.stderr)
    else:
        assert result.stderr < 1e-12


def test_standard_error_matches_theory():
    # Var(zᵀAz) = 2 Σ_{i≠j} A_ij² for Rademacher z.
    matrix = rotated(np.linspace(0.0, 4.0, 40), seed=3)
    result = hutchinson_trace(operator_for(matrix), num_probes=400)
    off = matrix - torch.diag(torch.diagonal(matrix))
    expected = math.sqrt(2 * float((off**2).sum()) / 400)
    assert result.stderr == pytest.approx(expected, rel=0.2)


def test_hutchpp_exact_for_low_rank_and_accurate_otherwise():
    low_rank = np.concatenate([np.linspace(5.0, 50.0, 6), np.zeros(44)])
    result = hutchpp_trace(operator_for(rotated(low_rank)), num_hvps=30)
    assert result.trace == pytest.approx(low_rank.sum(), rel=1e-10)
    assert result.num_hvps == 30
    decaying = 100.0 * 0.7 ** np.arange(50)
    plus = hutchpp_trace(operator_for(rotated(decaying, 1)), num_hvps=60)
    assert abs(plus.trace - decaying.sum()) < 1e-3 * decaying.sum()


def test_generator_controls_probes():
    op = operator_for(rotated(np.linspace(1.0, 2.0, 20)))
    state = torch.get_rng_state()
    a = hutchinson_trace(op, 10, torch.Generator().manual_seed(4))
    b = hutchinson_trace(op, 10, torch.Generator().manual_seed(4))
    c = hutchinson_trace(op, 10, torch.Generator().manual_seed(5))
    assert torch.equal(state, torch.get_rng_state())
    assert np.array_equal(a.samples, b.samples) and not np.array_equal(a.samples, c.samples)


def test_invalid_probe_counts():
    op = operator_for(torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError):
        hutchinson_trace(op, num_probes=0)
    with pytest.raises(ValueError):
        hutchpp_trace(op, num_hvps=3)

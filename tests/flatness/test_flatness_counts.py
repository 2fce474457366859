"""Counts and input checks of flatness metrics, as properties: a metric reports the
Hessian-vector products it really made, and a noise-scale batch size must be positive."""

import numpy as np
import pytest

from ml2bench.flatness.blocks import block_curvature
from ml2bench.flatness.dynamics import noise_scale_from_norms

from test_flatness_blocks import setup


@pytest.mark.parametrize("block,probes", [([1, 2], 7), ([0], 3), ([0, 1, 2], 5)])
def test_block_curvature_reports_the_hessian_products_it_made(block, probes):
    """Property: num_hvps is the number of products the operator was asked for."""
    op, _ = setup(np.linspace(-4.0, 6.0, 11), seed=3)
    before = op.num_hvps
    result = block_curvature(op, block, num_probes=probes, tol=1e-8, max_iter=20)
    assert result.num_hvps == op.num_hvps - before > probes


@pytest.mark.parametrize("small,big", [(0, 8), (-2, 8), (8, 8), (9, 8)])
def test_noise_scale_needs_0_lt_small_lt_big(small, big):
    with pytest.raises(ValueError):
        noise_scale_from_norms([1.0], [0.5], small, big)

"""ReLU rescaling (αW₁, αb₁, W₂/α): the function is unchanged, so are filter-normalised
curves and adaptive sharpness; the Hessian spectrum and trace are not."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ml2bench.flatness.hvp import HessianOperator, dense_matrix
from ml2bench.flatness.landscape import random_slices_1d
from ml2bench.flatness.lanczos import hess_max
from ml2bench.flatness.sharpness import sharp_avg, sharp_worst

ALPHA = 3.0


def relu_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()


def rescaled(model, alpha):
    other = relu_net()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other[0].weight.mul_(alpha)
        other[0].bias.mul_(alpha)
        other[2].weight.div_(alpha)
    return other


def loss_fn(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


@pytest.fixture(scope="module")
def pair():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=gen)
    batches = list(zip(torch.split(x, 8), torch.split(y, 8)))
    model = relu_net()
    return model, rescaled(model, ALPHA), batches


def test_loss_unchanged_but_curvature_changes(pair):
    model, other, batches = pair
    op, op2 = (HessianOperator(m, loss_fn, batches) for m in (model, other))
    assert op.loss() == pytest.approx(op2.loss(), abs=1e-12)
    top, top2 = hess_max(op, tol=1e-8).values[0], hess_max(op2, tol=1e-8).values[0]
    assert abs(top2 - top) > 0.05 * top
    trace, trace2 = float(torch.trace(dense_matrix(op))), float(torch.trace(dense_matrix(op2)))
    assert abs(trace2 - trace) > 0.05 * abs(trace)


def test_filter_normalised_curves_unchanged(pair):
    model, other, batches = pair
    curves = random_slices_1d(model, loss_fn, batches, num_points=11)
    curves2 = random_slices_1d(other, loss_fn, batches, num_points=11)
    for c, c2 in zip(curves, curves2):
        assert np.abs(c.losses - c2.losses).max() < 1e-5
    assert np.ptp(curves[0].losses) > 1e-2  # the curves are not trivially flat


def test_adaptive_sharpness_unchanged_absolute_not(pair):
    model, other, batches = pair

    def avg(m, adaptive):
        return sharp_avg(m, loss_fn, batches, rho=0.1, num_samples=8, adaptive=adaptive,
                         generator=torch.Generator().manual_seed(3)).value

    assert abs(avg(model, True) - avg(other, True)) < 1e-5
    assert abs(avg(model, False) - avg(other, False)) > 1e-3 * abs(avg(model, False))

    def worst(m):
        return sharp_worst(m, loss_fn, batches, rho=0.1, num_steps=5,
                           generator=torch.Generator().manual_seed(4)).value

    assert abs(worst(model) - worst(other)) < 1e-5
